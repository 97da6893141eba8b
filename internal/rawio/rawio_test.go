package rawio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, the first
// wrapped.
func tcpPair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	w, ok := Wrap(c).(*Conn)
	if !ok {
		t.Fatal("a TCP connection was not wrapped")
	}
	return w, peer
}

func randBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestWritevAndReadStream writes more than the socket buffers hold, in
// buffers of every size (so writes are short and wait for room), and reads
// it back through a raw Read on the other side's wrapper.
func TestWritevAndReadStream(t *testing.T) {
	w, peer := tcpPair(t)
	r := Wrap(peer)
	data := randBytes(16 << 20)
	var bufs [][]byte
	for off, n := 0, 1; off < len(data); n = n*3%70001 + 1 {
		end := min(off+n, len(data))
		bufs = append(bufs, data[off:end], nil) // empty buffers in between
		off = end
	}
	done := make(chan error, 1)
	go func() {
		total := 0
		for i := 0; i < len(bufs); i += 1500 { // more than IOV_MAX per call
			n, err := w.Writev(bufs[i:min(i+1500, len(bufs))])
			total += n
			if err != nil {
				done <- err
				return
			}
		}
		if total != len(data) {
			done <- errors.New("short write")
			return
		}
		done <- w.Close()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(data))
	}
}

// TestDeadlines: a read with nothing coming and a write nobody drains end
// at their deadlines with os.ErrDeadlineExceeded, as net.Conn's do.
func TestDeadlines(t *testing.T) {
	w, _ := tcpPair(t)
	w.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := w.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v", err)
	}
	w.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := w.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past its deadline: %v", err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("a write cut by its deadline reports %d bytes written", n)
	}
}

// TestPeerGone: a closed peer is io.EOF to a reader, and an error (not a
// crash by SIGPIPE) to a writer.
func TestPeerGone(t *testing.T) {
	w, peer := tcpPair(t)
	peer.Close()
	if _, err := w.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("read from a closed peer: %v, want io.EOF", err)
	}
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = w.Write(make([]byte, 1<<20))
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write to a closed peer: %v, want EPIPE or ECONNRESET", err)
	}
}

// TestWrapLeavesOthers: connections without a descriptor stay as they are;
// wrappers are looked through; wrapping twice is wrapping once.
func TestWrapLeavesOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("net.Pipe was wrapped")
	}
	w, _ := tcpPair(t)
	if Wrap(w) != net.Conn(w) {
		t.Fatal("a wrapped connection was wrapped again")
	}
	if _, ok := Wrap(wrapper{w.Conn}).(*Conn); !ok {
		t.Fatal("a wrapper with NetConn was not looked through")
	}
}

type wrapper struct{ net.Conn }

func (w wrapper) NetConn() net.Conn { return w.Conn }

// TestPwritev writes a file raw and, after a slow write, the ordinary way;
// both leave the same bytes.
func TestPwritev(t *testing.T) {
	for _, name := range []string{"raw", "ordinary"} {
		t.Run(name, func(t *testing.T) {
			if name == "ordinary" {
				ordinaryUntil.Store(time.Now().Add(time.Minute).UnixNano())
				defer ordinaryUntil.Store(0)
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data := randBytes(1 << 20)
			bufs := [][]byte{data[:1000], nil, data[1000:70000], data[70000:]}
			n, err := Pwritev(f.Fd(), bufs, 4096)
			if err != nil || n != len(data) {
				t.Fatalf("pwritev: %d bytes, %v", n, err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 4096+len(data) || !bytes.Equal(got[4096:], data) {
				t.Fatal("the file does not hold the buffers at the offset")
			}
			if _, err := Pwritev(^uintptr(0), bufs, 0); !errors.Is(err, syscall.EBADF) {
				t.Fatalf("pwritev to a bad descriptor: %v", err)
			}
		})
	}
}
