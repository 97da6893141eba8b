package integration

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDFSIO writes and reads files of 64 MiB with replication 3 on
// three local DataNodes, through the stock Go Hadoop client
// (colinmarc/hdfs) and through the project's client (its own writer; its
// reader with short-circuit local reads), reading once from page-cached
// replicas and once after their pages are dropped. In the same run it
// measures what the machine can do: a sequential write of the same size
// with fdatasync, a page-cache write, a cold read of the disk, one
// loopback TCP stream, memory copy, and relay3 — the bytes relayed
// through three TCP hops with a page-cache write at each, no checksums
// and no acks: the ceiling of a replication-3 pipeline on this machine.
// Run with `go test -run '^$' -bench DFSIO -benchtime 1x ./integration/`.
func BenchmarkDFSIO(b *testing.B) {
	const files, size = 4, 64 << 20
	c, sc := shortCircuitCluster(b)
	hc := c.Client(currentUserName())
	own := projectClient(b, c, sc)
	hc.MkdirAll("/dfsio", 0o755)
	data := randomBytes(42, size)
	mbps := func(d time.Duration) float64 { return float64(files*size) / (1 << 20) / d.Seconds() }
	name := func(i int, who string, f int) string { return fmt.Sprintf("/dfsio/%d-%s-%d", i, who, f) }
	for i := 0; i < b.N; i++ {
		// Writes, interleaved so page-cache writeback weighs on both alike.
		var theirs, ours time.Duration
		for f := 0; f < files; f++ {
			start := time.Now()
			w, err := hc.CreateFile(name(i, "colinmarc", f), 3, 128<<20, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			theirs += time.Since(start)
			start = time.Now()
			writeOwn(b, own, name(i, "own", f), 3, data)
			ours += time.Since(start)
		}
		// Both readers read 1 MiB at a time (TestDFSIO's buffer size).
		buf := make([]byte, 1<<20)
		sink := struct{ io.Writer }{io.Discard} // no ReaderFrom: buf is used
		readTCP := func() float64 {
			start := time.Now()
			for f := 0; f < files; f++ {
				r, err := hc.Open(name(i, "own", f))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(sink, struct{ io.Reader }{r}, buf)
				r.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
			return mbps(time.Since(start))
		}
		readLocal := func() float64 {
			start := time.Now()
			for f := 0; f < files; f++ {
				r, err := own.Open(name(i, "own", f))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(sink, struct{ io.Reader }{r}, buf)
				local := r.ShortCircuitBytes()
				r.Close()
				if err != nil || n != size || local != size {
					b.Fatalf("read %d bytes (%d short-circuit): %v", n, local, err)
				}
			}
			return mbps(time.Since(start))
		}
		b.ReportMetric(mbps(theirs), "write-colinmarc-MB/s")
		b.ReportMetric(mbps(ours), "write-own-MB/s")
		tcpRead, localRead := readTCP(), readLocal()
		b.ReportMetric(tcpRead, "read-colinmarc-MB/s")
		b.ReportMetric(localRead, "read-own-shortcircuit-MB/s")
		dropCache(b, c.Dir)
		b.ReportMetric(readTCP(), "coldread-colinmarc-MB/s")
		dropCache(b, c.Dir)
		b.ReportMetric(readLocal(), "coldread-own-shortcircuit-MB/s")

		relay := relay3Limit(b, c.Dir, files*size)
		disk := diskLimit(b, c.Dir, size)
		cache := pageCacheLimit(b, c.Dir, size)
		cold := coldReadLimit(b, c.Dir, size)
		tcp := loopbackLimit(b, 256<<20)
		mem := memcopyLimit(size)
		b.ReportMetric(relay, "relay3-MB/s")
		b.ReportMetric(disk, "disk-fdatasync-MB/s")
		b.ReportMetric(cache, "pagecache-write-MB/s")
		b.ReportMetric(cold, "disk-coldread-MB/s")
		b.ReportMetric(tcp, "loopback-MB/s")
		b.ReportMetric(mem, "memcopy-MB/s")
		b.ReportMetric(mbps(ours)/relay, "write-own/relay3")
		b.ReportMetric(tcpRead/tcp, "read-colinmarc/loopback")
	}
}

// dropCache writes back and drops the page cache of every file under dir
// (fdatasync, then POSIX_FADV_DONTNEED): the next reads come from disk.
func dropCache(b *testing.B, dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		syscall.Fdatasync(int(f.Fd()))
		fadviseDontNeed(f)
		return nil
	})
}

func fadviseDontNeed(f *os.File) {
	const posixFadvDontNeed = 4
	syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, posixFadvDontNeed, 0, 0)
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

// coldReadLimit reads a file of size bytes whose pages were dropped.
func coldReadLimit(b *testing.B, dir string, size int) float64 {
	p := filepath.Join(dir, "cold-probe")
	if err := os.WriteFile(p, bytes.Repeat([]byte{7}, size), 0o644); err != nil {
		b.Fatal(err)
	}
	defer os.Remove(p)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	syscall.Fdatasync(int(f.Fd()))
	fadviseDontNeed(f)
	buf := make([]byte, 4<<20)
	start := time.Now()
	for {
		if _, err := f.Read(buf); err != nil {
			break
		}
	}
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
	start := sendStream(b, ln.Addr().String(), size)
	return float64(size) / (1 << 20) / time.Since(start).Seconds()
}

// sendStream dials addr and sends size bytes in 64 KiB writes; it returns
// when the first write started.
func sendStream(b *testing.B, addr string, size int) time.Time {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	start := time.Now()
	for n := 0; n < size; n += len(buf) {
		c.Write(buf)
	}
	return start
}

// relay3Limit sends size bytes in 64 KiB writes through three relays on
// 127.0.0.11-13; each writes what it receives to a file and forwards it
// to the next. It returns MB/s from the first byte sent to the last one
// received by the third relay.
func relay3Limit(b *testing.B, dir string, size int) float64 {
	next := ""
	done := make(chan struct{})
	for i := 3; i >= 1; i-- {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 10+i))
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func(i int, downstream string) {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			var m net.Conn
			if downstream != "" {
				if m, err = net.Dial("tcp", downstream); err != nil {
					return
				}
				defer m.Close()
			}
			p := filepath.Join(dir, fmt.Sprintf("relay-probe-%d", i))
			f, err := os.Create(p)
			if err != nil {
				return
			}
			defer os.Remove(p)
			defer f.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := io.ReadFull(c, buf)
				if n > 0 {
					if m != nil {
						m.Write(buf[:n])
					}
					f.Write(buf[:n])
				}
				if err != nil {
					break
				}
			}
			if m == nil {
				close(done)
			}
		}(i, next)
		next = ln.Addr().String()
	}
	start := sendStream(b, next, size)
	<-done
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
