package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDFSIO writes and reads files of 64 MiB with replication 3 on
// three local DataNodes through the Go Hadoop client, and in the same run
// measures what the machine can do: a sequential write of the same size to
// the same disk with fdatasync, loopback TCP, and memory copy. It reports
// MB/s for each and the ratios. Run with
// `go test -run '^$' -bench DFSIO -benchtime 1x ./integration/`.
func BenchmarkDFSIO(b *testing.B) {
	const files, size = 4, 64 << 20
	c := newDataCluster(b, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	cl := c.Client(currentUserName())
	cl.MkdirAll("/dfsio", 0o755)
	data := randomBytes(42, size)
	mbps := func(n int, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for f := 0; f < files; f++ {
			w, err := cl.CreateFile(fmt.Sprintf("/dfsio/%d-%d", i, f), 3, 128<<20, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		write := mbps(files*size, time.Since(start))
		start = time.Now()
		for f := 0; f < files; f++ {
			r, err := cl.Open(fmt.Sprintf("/dfsio/%d-%d", i, f))
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			r.Close()
			if err != nil || n != size {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
		read := mbps(files*size, time.Since(start))
		disk := diskLimit(b, c.Dir, size)
		cache := pageCacheLimit(b, c.Dir, size)
		tcp := loopbackLimit(b, 256<<20)
		mem := memcopyLimit(size)
		b.ReportMetric(write, "write-MB/s")
		b.ReportMetric(read, "read-MB/s")
		b.ReportMetric(disk, "disk-fdatasync-MB/s")
		b.ReportMetric(cache, "pagecache-write-MB/s")
		b.ReportMetric(write*3/cache, "3xwrite/pagecache")
		b.ReportMetric(tcp, "loopback-MB/s")
		b.ReportMetric(mem, "memcopy-MB/s")
		b.ReportMetric(write/disk, "write/disk")
		b.ReportMetric(read/tcp, "read/loopback")
	}
}

func diskLimit(b *testing.B, dir string, size int) float64 {
	p := filepath.Join(dir, "disk-probe")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(p)
	buf := make([]byte, 1<<20)
	start := time.Now()
	for n := 0; n < size; n += len(buf) {
		f.Write(buf)
	}
	syscall.Fdatasync(int(f.Fd()))
	f.Close()
	return float64(size) / (1 << 20) / time.Since(start).Seconds()
}

func loopbackLimit(b *testing.B, size int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for n := 0; n < size; n += len(buf) {
		c.Write(buf)
	}
	c.Close()
	return float64(size) / (1 << 20) / time.Since(start).Seconds()
}

// pageCacheLimit writes size bytes to a new file without syncing: what
// the DataNodes' replica writes cost before any disk I/O.
func pageCacheLimit(b *testing.B, dir string, size int) float64 {
	p := filepath.Join(dir, "cache-probe")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(p)
	buf := make([]byte, 1<<20)
	start := time.Now()
	for n := 0; n < size; n += len(buf) {
		f.Write(buf)
	}
	f.Close()
	return float64(size) / (1 << 20) / time.Since(start).Seconds()
}

func memcopyLimit(size int) float64 {
	src, dst := bytes.Repeat([]byte{1}, size), make([]byte, size)
	copy(dst, src) // touch every page first: measure copying, not page faults
	start := time.Now()
	for i := 0; i < 4; i++ {
		copy(dst, src)
	}
	return float64(4*size) / (1 << 20) / time.Since(start).Seconds()
}
