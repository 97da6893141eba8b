package main

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/client"
	"github.com/avatarfs/avatarfs/conf"
)

// fakeFS is an in-memory file system behind the shell, for tests of the
// commands' output without a cluster. It answers the NameNode's errors the
// commands rely on; permissions are not checked.
type fakeFS struct {
	dfsFS // methods not overridden panic
	user  string
	now   int64
	nodes map[string]*client.FileStatus
	data  map[string][]byte
	trash time.Duration
}

func newFakeFS(user string) *fakeFS {
	f := &fakeFS{user: user, now: time.Date(2026, 11, 25, 14, 5, 0, 0, time.UTC).UnixMilli(),
		nodes: map[string]*client.FileStatus{}, data: map[string][]byte{}}
	f.nodes["/"] = &client.FileStatus{Path: "/", IsDir: true, Perm: 0o755, Owner: user, Group: "supergroup", Mtime: f.now}
	return f
}

func (f *fakeFS) User() string            { return f.user }
func (f *fakeFS) Home() string            { return "/user/" + f.user }
func (f *fakeFS) DefaultFS() string       { return "hdfs://nn:8020" }
func (f *fakeFS) Qualify(p string) string { return f.DefaultFS() + p }
func (f *fakeFS) FileMode() uint16        { return 0o644 }
func (f *fakeFS) DirMode() uint16         { return 0o755 }
func (f *fakeFS) Close() error            { return nil }
func (f *fakeFS) Abs(p string) (string, error) {
	return client.ResolvePath(f.DefaultFS(), f.Home(), p)
}

func fnf(format string, args ...any) error {
	return &client.RemoteError{Class: client.ExFileNotFound, Message: fmt.Sprintf(format, args...)}
}

func (f *fakeFS) Stat(p string) (*client.FileStatus, error) {
	n, ok := f.nodes[p]
	if !ok {
		return nil, fnf("File does not exist: %s", p)
	}
	c := *n
	return &c, nil
}

func (f *fakeFS) List(p string) ([]client.FileStatus, error) {
	n, ok := f.nodes[p]
	if !ok {
		return nil, fnf("File %s does not exist.", p)
	}
	if !n.IsDir {
		return []client.FileStatus{*n}, nil
	}
	var out []client.FileStatus
	for q, c := range f.nodes {
		if q != "/" && path.Dir(q) == p {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (f *fakeFS) add(p string, dir bool, size int64) *client.FileStatus {
	if parent := path.Dir(p); parent != p {
		if _, ok := f.nodes[parent]; !ok {
			f.add(parent, true, 0)
		}
	}
	st := &client.FileStatus{Path: p, IsDir: dir, Length: size, Perm: 0o644, Owner: f.user, Group: "supergroup",
		Mtime: f.now, Atime: f.now, Replication: 3, BlockSize: 128 << 20}
	if dir {
		st.Perm, st.Replication, st.BlockSize, st.Atime = 0o755, 0, 0, 0
	}
	f.nodes[p] = st
	return st
}

func (f *fakeFS) Mkdirs(p string, perm uint16, parents bool) error {
	for q := p; q != "/"; q = path.Dir(q) {
		if n, ok := f.nodes[q]; ok && !n.IsDir {
			return &client.RemoteError{Class: client.ExParentNotDir, Message: q + " (is not a directory)"}
		}
	}
	if _, ok := f.nodes[p]; !ok {
		f.add(p, true, 0).Perm = perm
	}
	return nil
}

func (f *fakeFS) CreateEmpty(p string, o client.CreateOptions) error {
	if n, ok := f.nodes[p]; ok && (n.IsDir || !o.Overwrite) {
		return &client.RemoteError{Class: client.ExFileAlreadyExists, Message: p + " for client 127.0.0.1 already exists"}
	}
	f.add(p, false, 0)
	return nil
}

func (f *fakeFS) Delete(p string, recursive bool) (bool, error) {
	if _, ok := f.nodes[p]; !ok {
		return false, nil
	}
	for q := range f.nodes {
		if strings.HasPrefix(q, p+"/") {
			if !recursive {
				return false, &client.RemoteError{Class: client.ExNotEmptyDir, Message: "`" + p + " is non empty': Directory is not empty"}
			}
			delete(f.nodes, q)
		}
	}
	delete(f.nodes, p)
	return true, nil
}

func (f *fakeFS) Rename(src, dst string) (bool, error) {
	if _, ok := f.nodes[src]; !ok {
		return false, nil
	}
	if _, ok := f.nodes[dst]; ok {
		return false, nil
	}
	if _, ok := f.nodes[path.Dir(dst)]; !ok {
		return false, nil
	}
	moved := map[string]*client.FileStatus{}
	for q, n := range f.nodes {
		if q == src || strings.HasPrefix(q, src+"/") {
			n.Path = dst + strings.TrimPrefix(q, src)
			moved[n.Path] = n
			delete(f.nodes, q)
		}
	}
	for q, n := range moved {
		f.nodes[q] = n
	}
	return true, nil
}

func (f *fakeFS) Rename2(src, dst string, overwrite, toTrash bool) error {
	ok, err := f.Rename(src, dst)
	if err == nil && !ok {
		err = &client.RemoteError{Class: "java.io.IOException", Message: "rename " + src + " failed"}
	}
	return err
}

func (f *fakeFS) SetPermission(p string, perm uint16) error {
	n, ok := f.nodes[p]
	if !ok {
		return fnf("File does not exist: %s", p)
	}
	n.Perm = perm
	return nil
}

func (f *fakeFS) ContentSummary(p string) (*client.ContentSummary, error) {
	if _, ok := f.nodes[p]; !ok {
		return nil, fnf("File does not exist: %s", p)
	}
	cs := &client.ContentSummary{Quota: -1, SpaceQuota: -1}
	for q, n := range f.nodes {
		if q == p || strings.HasPrefix(q, strings.TrimSuffix(p, "/")+"/") {
			if n.IsDir {
				cs.DirectoryCount++
			} else {
				cs.FileCount++
				cs.Length += n.Length
				cs.SpaceConsumed += n.Length * int64(n.Replication)
			}
		}
	}
	return cs, nil
}

func (f *fakeFS) FsStats() (*client.FsStats, error) {
	return &client.FsStats{Capacity: 3 << 40, Used: 1<<40 + 5<<30, Remaining: 1 << 40}, nil
}

func (f *fakeFS) ServerDefaults() (*client.ServerDefaults, error) {
	return &client.ServerDefaults{BlockSize: 128 << 20, BytesPerChecksum: 512, Replication: 3, TrashInterval: f.trash, ChecksumType: "CRC32C"}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (f *fakeFS) OpenFile(p string) (fileReader, error) {
	return nopCloser{bytes.NewReader(f.data[p])}, nil
}

// run runs `hdfs dfs args...` against fs and returns stdout, stderr and
// the exit code.
func runFake(t *testing.T, fs *fakeFS, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	s := newShell(conf.GenericOptions{Overrides: map[string]string{}}, &out, &errb)
	s.conf = conf.New()
	s.loc = time.UTC
	s.now = func() time.Time { return time.UnixMilli(fs.now) }
	s.sleep = func(time.Duration) {}
	s.stdin = strings.NewReader("")
	s.dial = func(*conf.Config) (dfsFS, error) { return fs, nil }
	code := s.run(args)
	s.out.Flush()
	return out.String(), errb.String(), code
}

var _ io.Reader = nopCloser{}
