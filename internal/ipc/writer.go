package ipc

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"time"
)

// maxPending bounds the bytes queued behind a write in progress; writers
// beyond it wait (until the write times out and fails the connection).
const maxPending = 4 << 20

// Frames below coalesceLimit are held back for one scheduler round so that
// concurrent replies share one write.
const coalesceLimit = 64 << 10

// errWriterClosed is returned for frames written after the last one.
var errWriterClosed = errors.New("ipc: connection is closing")

// frameWriter writes whole frames to a connection from many goroutines.
// Frames are never interleaved. When a write is already in progress, later
// frames are appended to a pending buffer and the goroutine doing the write
// sends them too, in one system call: replies that complete together share
// a write.
type frameWriter struct {
	nc      net.Conn
	timeout time.Duration // per write; <= 0 means none

	mu       sync.Mutex
	drained  sync.Cond // signalled when pending shrinks or err is set
	pending  []byte
	spare    []byte
	flushing bool
	closed   bool // the last frame was written; later frames are refused
	err      error
	deadline time.Time // current write deadline, refreshed lazily
	onError  func(error)
}

func newFrameWriter(nc net.Conn, timeout time.Duration, onError func(error)) *frameWriter {
	w := &frameWriter{nc: nc, timeout: timeout, onError: onError}
	w.drained.L = &w.mu
	return w
}

// write sends one complete frame. It returns once the frame has been
// written or handed to the goroutine currently writing.
func (w *frameWriter) write(frame []byte) error { return w.send(frame, false) }

// writeLast sends a final frame (a FATAL response), waits until everything
// queued before it is written and refuses any later frame.
func (w *frameWriter) writeLast(frame []byte) error { return w.send(frame, true) }

func (w *frameWriter) send(frame []byte, last bool) error {
	w.mu.Lock()
	for !last && w.err == nil && !w.closed && w.flushing && len(w.pending) >= maxPending {
		w.drained.Wait()
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.closed {
		w.mu.Unlock()
		return errWriterClosed
	}
	w.closed = last
	if w.flushing {
		w.pending = append(w.pending, frame...)
		for last && w.flushing && w.err == nil {
			w.drained.Wait()
		}
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.flushing = true
	buf, fromPending := frame, false
	if len(frame) < coalesceLimit {
		// Let the goroutines that are about to reply run first, so that
		// their frames share this write. With nothing else runnable this
		// returns at once.
		w.pending = append(w.pending, frame...)
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
		buf, w.pending, w.spare, fromPending = w.pending, w.spare, nil, true
	}
	var err error
	for w.err == nil {
		dl := w.refreshDeadline()
		w.mu.Unlock()
		if !dl.IsZero() {
			err = w.nc.SetWriteDeadline(dl)
		}
		if err == nil {
			_, err = w.nc.Write(buf)
		}
		w.mu.Lock()
		if fromPending && cap(buf) <= 1<<20 {
			w.spare = buf[:0]
		}
		if err != nil || w.err != nil || len(w.pending) == 0 {
			break
		}
		buf, w.pending, w.spare, fromPending = w.pending, w.spare, nil, true
		w.drained.Broadcast()
	}
	w.flushing = false
	var onError func(error)
	if err != nil && w.err == nil {
		w.err = err
		w.pending = nil
		onError = w.onError
	}
	if err == nil {
		err = w.err // set by fail() while our frame was pending
	}
	w.drained.Broadcast()
	w.mu.Unlock()
	if onError != nil {
		onError(err)
	}
	return err
}

// refreshDeadline returns a new write deadline to set, or the zero time
// when the current one is still far enough away. Called with mu held.
func (w *frameWriter) refreshDeadline() time.Time {
	if w.timeout <= 0 {
		return time.Time{}
	}
	now := time.Now()
	if w.deadline.Sub(now) > w.timeout/2 {
		return time.Time{}
	}
	w.deadline = now.Add(w.timeout)
	return w.deadline
}

// fail makes every later write fail with err and wakes waiting writers.
func (w *frameWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.pending = nil
	}
	w.drained.Broadcast()
	w.mu.Unlock()
}
