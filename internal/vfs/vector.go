package vfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/avatarfs/avatarfs/internal/rawio"
)

// VectorWriterAt is a File that writes several buffers to one contiguous
// range in one call (pwritev): the DataNode stores a run of packets from
// where they landed in its read buffer, one system call per file.
type VectorWriterAt interface {
	WriteVectorAt(bufs [][]byte, off int64) (int, error)
}

// WriteVectorAt writes bufs back to back at off: with one pwritev per
// batch of buffers for OS files (and files that implement
// VectorWriterAt), with a WriteAt per buffer for the others.
func WriteVectorAt(f File, bufs [][]byte, off int64) (int, error) {
	switch vf := f.(type) {
	case VectorWriterAt:
		return vf.WriteVectorAt(bufs, off)
	case *os.File:
		return pwritev(vf, bufs, off)
	}
	total := 0
	for _, b := range bufs {
		n, err := f.WriteAt(b, off+int64(total))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// pwritev writes bufs at off, going on after short writes (raw system
// calls while they are quick: package rawio).
func pwritev(f *os.File, bufs [][]byte, off int64) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("pwritev %s: %w", f.Name(), err)
	}
	total := 0
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return total, nil
		}
		var n int
		var werr error
		// IOV_MAX bounds one call; the rest goes in the next.
		batch := bufs[:min(len(bufs), 1024)]
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = rawio.Pwritev(fd, batch, off+int64(total))
			return true
		}); err != nil {
			return total, &os.PathError{Op: "pwritev", Path: f.Name(), Err: err}
		}
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			return total, &os.PathError{Op: "pwritev", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return total, &os.PathError{Op: "pwritev", Path: f.Name(), Err: unix.EIO}
		}
		total += n
		// Drop what was written: whole buffers, then the front of one.
		for n > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
			n = 0
		}
	}
}
