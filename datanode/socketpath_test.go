package datanode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSocketPathSecurity: Hadoop's rules for the directories above
// dfs.domain.socket.path, with the sticky-bit exception above the
// socket's own directory.
func TestSocketPathSecurity(t *testing.T) {
	root := os.Geteuid() == 0
	cases := []struct {
		name     string
		setup    func(t *testing.T, base string) string // returns the socket path
		uid      uint32                                 // the DataNode's user; 0 means os.Geteuid()
		want     string                                 // "" for accepted
		needRoot bool
	}{
		{"private directory", func(t *testing.T, base string) string {
			return filepath.Join(mkdirMode(t, base, "a", 0o755), "dn.9866")
		}, 0, "", false},
		{"socket directory world-writable", func(t *testing.T, base string) string {
			return filepath.Join(mkdirMode(t, base, "a", 0o777), "dn.9866")
		}, 0, "It is not protected because it is world-writable. This might help: 'chmod o-w", false},
		{"socket directory sticky and world-writable", func(t *testing.T, base string) string {
			return filepath.Join(mkdirMode(t, base, "a", 0o777|os.ModeSticky), "dn.9866")
		}, 0, "world-writable", false},
		{"sticky world-writable above a private directory", func(t *testing.T, base string) string {
			up := mkdirMode(t, base, "tmp", 0o777|os.ModeSticky)
			return filepath.Join(mkdirMode(t, up, "a", 0o700), "dn.9866")
		}, 0, "", false},
		{"world-writable above without the sticky bit", func(t *testing.T, base string) string {
			up := mkdirMode(t, base, "open", 0o777)
			return filepath.Join(mkdirMode(t, up, "a", 0o700), "dn.9866")
		}, 0, "world-writable", false},
		{"a component is a file", func(t *testing.T, base string) string {
			f := filepath.Join(base, "file")
			os.WriteFile(f, nil, 0o644)
			return filepath.Join(f, "dn.9866")
		}, 0, "is not a directory", false},
		{"missing directory", func(t *testing.T, base string) string {
			return filepath.Join(base, "missing", "dn.9866")
		}, 0, "failed to stat a path component", false},
		{"group-writable, group root", func(t *testing.T, base string) string {
			d := mkdirMode(t, base, "a", 0o775)
			os.Chown(d, -1, 0)
			return filepath.Join(d, "dn.9866")
		}, 0, "", true},
		{"group-writable, another group", func(t *testing.T, base string) string {
			d := mkdirMode(t, base, "a", 0o775)
			if err := os.Chown(d, -1, 12345); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(d, "dn.9866")
		}, 0, "group-writable and not owned by root", true},
		{"owned by another user", func(t *testing.T, base string) string {
			d := mkdirMode(t, base, "a", 0o755)
			if err := os.Chown(d, 12345, -1); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(d, "dn.9866")
		}, 0, "owned by a user who is not root and not the effective user", true},
		{"owned by the DataNode's user", func(t *testing.T, base string) string {
			d := mkdirMode(t, base, "a", 0o755)
			if err := os.Chown(d, 12345, -1); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(d, "dn.9866")
		}, 12345, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && !root {
				t.Skip("needs root to change owners")
			}
			base := mkdirMode(t, t.TempDir(), "base", 0o755)
			path := tc.setup(t, base)
			uid := tc.uid
			if uid == 0 {
				uid = uint32(os.Geteuid())
			}
			err := checkSocketPathSecurity(path, uid)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestUnsafeSocketPathStopsTheDataNode: a DataNode asked to serve its
// socket in a world-writable directory does not start.
func TestUnsafeSocketPathStopsTheDataNode(t *testing.T) {
	dir := mkdirMode(t, t.TempDir(), "open", 0o777)
	nn := newFakeNN(t)
	c, _ := testConf(t, "127.0.0.11", []string{nn.addr}, map[string]string{
		"dfs.domain.socket.path": filepath.Join(dir, "dn._PORT"),
	})
	d, err := New(Options{Conf: c, NameNodes: []string{nn.addr}, Logger: quietLogger()})
	if err == nil {
		defer d.Close()
		err = d.Start()
	}
	if err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Fatalf("start with a world-writable socket directory: %v", err)
	}
}

// mkdirMode makes dir/name with exactly mode (no umask).
func mkdirMode(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
