package client

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"
)

// fakeRemote is a remoteFile over bytes that counts seeks and, like
// colinmarc/hdfs, pays for a seek with a reconnect.
type fakeRemote struct {
	*bytes.Reader
	seeks int
}

func (r *fakeRemote) Seek(off int64, whence int) (int64, error) {
	r.seeks++
	return r.Reader.Seek(off, whence)
}

func (r *fakeRemote) Close() error { return nil }

func (r *fakeRemote) Stat() os.FileInfo { return fakeInfo{int64(r.Size())} }

type fakeInfo struct{ size int64 }

func (i fakeInfo) Name() string       { return "f" }
func (i fakeInfo) Size() int64        { return i.size }
func (i fakeInfo) Mode() os.FileMode  { return 0o644 }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return false }
func (i fakeInfo) Sys() any           { return nil }

// TestRemoteReadsDoNotSeekInPlace: reading on from where the TCP reader
// stands never seeks it (a seek drops its DataNode connection); going
// elsewhere seeks once.
func TestRemoteReadsDoNotSeekInPlace(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	cases := []struct {
		name  string
		run   func(f *FileReader) ([]byte, error)
		want  []byte
		seeks int
	}{
		{"sequential reads", func(f *FileReader) ([]byte, error) {
			return io.ReadAll(struct{ io.Reader }{f})
		}, data, 0},
		{"sequential ReadAt", func(f *FileReader) ([]byte, error) {
			var out []byte
			buf := make([]byte, 10000)
			for off := int64(0); ; off += int64(len(buf)) {
				n, err := f.ReadAt(buf, off)
				out = append(out, buf[:n]...)
				if err == io.EOF {
					return out, nil
				}
				if err != nil {
					return out, err
				}
			}
		}, data, 0},
		{"seek then read", func(f *FileReader) ([]byte, error) {
			f.Seek(1000, io.SeekStart)
			b := make([]byte, 50)
			_, err := io.ReadFull(f, b)
			return b, err
		}, data[1000:1050], 1},
		{"ReadAt elsewhere, then read on", func(f *FileReader) ([]byte, error) {
			b := make([]byte, 20)
			if _, err := f.ReadAt(b, 5000); err != nil {
				return nil, err
			}
			c := make([]byte, 20)
			_, err := f.Read(c) // the position is still 0
			return append(b, c...), err
		}, append(append([]byte{}, data[5000:5020]...), data[:20]...), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRemote{Reader: bytes.NewReader(data)}
			f := &FileReader{path: "/f", remote: r, curIdx: -1, tried: map[int]bool{}, bad: map[string]bool{}}
			got, err := tc.run(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("read %d bytes, not the file's", len(got))
			}
			if r.seeks != tc.seeks {
				t.Fatalf("%d seeks of the TCP reader, want %d", r.seeks, tc.seeks)
			}
		})
	}
}
