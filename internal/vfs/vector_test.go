package vfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// plainFile hides *os.File so WriteVectorAt takes its WriteAt fallback.
type plainFile struct{ File }

func TestWriteVectorAt(t *testing.T) {
	many := make([][]byte, 3000) // more than IOV_MAX in one call
	for i := range many {
		many[i] = bytes.Repeat([]byte{byte(i)}, i%7)
	}
	cases := []struct {
		name string
		bufs [][]byte
		off  int64
	}{
		{"none", nil, 0},
		{"empties", [][]byte{{}, []byte("ab"), {}, {}, []byte("cde"), {}}, 3},
		{"one", [][]byte{bytes.Repeat([]byte("x"), 100000)}, 4096},
		{"more than IOV_MAX", many, 10},
	}
	wraps := map[string]func(File) File{
		"os":     func(f File) File { return f },
		"plain":  func(f File) File { return plainFile{f} },
		"inject": func(f File) File { return &injectFile{File: f, fs: NewInjectFS(Default)} },
	}
	for _, tc := range cases {
		for wname, wrap := range wraps {
			t.Run(tc.name+"/"+wname, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "f")
				f, err := Default.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				n, err := WriteVectorAt(wrap(f), tc.bufs, tc.off)
				want := bytes.Join(tc.bufs, nil)
				if err != nil || n != len(want) {
					t.Fatalf("wrote %d of %d bytes: %v", n, len(want), err)
				}
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if len(want) > 0 && (int64(len(got)) != tc.off+int64(len(want)) || !bytes.Equal(got[tc.off:], want)) {
					t.Fatalf("file holds %d bytes, not the buffers at %d", len(got), tc.off)
				}
			})
		}
	}
}

func TestWriteVectorAtInjected(t *testing.T) {
	fsys := NewInjectFS(Default)
	f, err := fsys.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys.SetRule(DiskFull)
	if _, err := WriteVectorAt(f, [][]byte{[]byte("a"), []byte("b")}, 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
}
