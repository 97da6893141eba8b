// Package rawio moves the data of write pipelines — packets through
// sockets, replicas into files — with raw system calls, which do not tell
// the Go scheduler that the goroutine is entering the kernel.
//
// Why: when every P of a process has been idle, the runtime's monitor
// thread (sysmon) sleeps; the next ordinary system call wakes it, and it
// then polls every 20 µs until the process has stayed busy for a
// millisecond. A DataNode on a shared machine alternates between idle and
// a few hundred microseconds of work per batch of packets, so sysmon
// polled almost all the time: on the 2-core test VM it took 17 % of a
// DataNode's CPU. With the pipelines' system calls raw, replication-3
// writes went from 362-366 to 420-437 MB/s and the DataNodes' and the
// client's CPU per GiB fell by 14 % (BenchmarkWritePipeline, 4 alternating
// pairs).
//
// Raw calls keep their P while in the kernel. Socket calls are safe: Go
// sockets are non-blocking, the calls return at once, and waiting for data
// or room still goes through the poller, so deadlines hold. A file write
// may block (dirty-page throttling, a partial page read from disk): such a
// write would hold its P, and a stop-the-world phase of the garbage
// collector would wait for it. So file writes are raw only while they are
// quick: one that takes longer than SlowFileWrite (20 ms) turns them
// ordinary for a second.
//
// AVATARFS_RAWIO=off turns all of it off.
package rawio

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Enabled tells whether raw system calls are used (AVATARFS_RAWIO=off
// turns them off, for comparison or in case of doubt).
var Enabled = os.Getenv("AVATARFS_RAWIO") != "off"

// iovMax is the most buffers one writev takes (IOV_MAX on Linux).
const iovMax = 1024

// Conn is a net.Conn whose Read, Write and Writev are raw system calls
// through the connection's poller. Everything else is the wrapped
// connection's.
type Conn struct {
	net.Conn
	rc syscall.RawConn
}

// Wrap returns c with raw reads and writes. c itself comes back when raw
// calls are off or c has no descriptor (net.Pipe, TLS); wrappers with a
// NetConn method are looked through.
func Wrap(c net.Conn) net.Conn {
	if !Enabled {
		return c
	}
	if _, ok := c.(*Conn); ok {
		return c
	}
	inner := c
	for {
		w, ok := inner.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		inner = w.NetConn()
	}
	sc, ok := inner.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{Conn: c, rc: rc}
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads what is there (at least one byte), waiting through the
// poller when nothing is; io.EOF when the peer has closed.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until readable
			}
			n, errno = int(r), e
			return true
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("read", errno)
	}
	if err != nil {
		return 0, c.opError("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b.
func (c *Conn) Write(b []byte) (int, error) {
	return c.Writev([][]byte{b})
}

// Writev writes bufs back to back, all of them, waiting through the
// poller for room; on an error it returns what was written.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	var small [8]syscall.Iovec
	iov := small[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	total := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for len(iov) > 0 {
			cnt := min(len(iov), iovMax)
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(cnt))
			switch e {
			case 0:
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until writable
			default:
				errno = e
				return true
			}
			total += int(r)
			iov = advance(iov, int(r))
		}
		return true
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("writev", errno)
	}
	if err != nil {
		return total, c.opError("write", err)
	}
	return total, nil
}

// advance drops n written bytes from the front of iov.
func advance(iov []syscall.Iovec, n int) []syscall.Iovec {
	for n > 0 && len(iov) > 0 {
		if uint64(n) >= iov[0].Len {
			n -= int(iov[0].Len)
			iov = iov[1:]
			continue
		}
		iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
		iov[0].SetLen(int(iov[0].Len) - n)
		n = 0
	}
	return iov
}

// SlowFileWrite is how long a raw file write may take before file writes
// turn ordinary for slowBackoff: the file system is throttling or reading,
// and a raw call holds its P meanwhile. It is wall time, which includes
// the time the thread waited for a CPU: on a busy machine a quick write
// can take a few milliseconds, hence the margin.
const (
	SlowFileWrite = 20 * time.Millisecond
	slowBackoff   = time.Second
)

// ordinaryUntil is the time (Unix nanoseconds) until which file writes use
// ordinary system calls.
var ordinaryUntil atomic.Int64

// Pwritev writes bufs at off in the file fd with one pwritev(2) (at most
// IOV_MAX buffers; the count written comes back, the caller goes on after
// a short write).
func Pwritev(fd uintptr, bufs [][]byte, off int64) (int, error) {
	if !Enabled || time.Now().UnixNano() < ordinaryUntil.Load() {
		return unix.Pwritev(int(fd), bufs, off)
	}
	var small [8]unix.Iovec
	iov := small[:0]
	for _, b := range bufs[:min(len(bufs), iovMax)] {
		if len(b) > 0 {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	if len(iov) == 0 {
		return 0, nil
	}
	start := time.Now()
	r, _, e := unix.RawSyscall6(unix.SYS_PWRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(off), 0, 0)
	if time.Since(start) > SlowFileWrite {
		ordinaryUntil.Store(time.Now().Add(slowBackoff).UnixNano())
	}
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
