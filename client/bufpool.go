package client

import "sync"

// bufPool keeps packet buffers between one writer and the next. A new
// writer would otherwise fault in a fresh window of packet buffers (80
// packets of 64 KiB: 1,300 pages), and on a virtual machine a page fault
// costs about 15 µs: 20 ms per file, as much as writing 5 MiB.
type bufPool struct {
	mu   sync.Mutex
	size int // the size of the buffers kept; another size replaces them
	bufs [][]byte
}

// maxPooledBytes bounds what the pool keeps.
const maxPooledBytes = 16 << 20

// get returns a buffer of size bytes: a kept one, else a new one.
func (p *bufPool) get(size int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.bufs); n > 0 && p.size == size {
		b := p.bufs[n-1]
		p.bufs[n-1] = nil
		p.bufs = p.bufs[:n-1]
		return b
	}
	return make([]byte, size)
}

// put keeps bufs (all of one size) for later writers, up to
// maxPooledBytes.
func (p *bufPool) put(bufs [][]byte) {
	if len(bufs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	size := len(bufs[0])
	if size != p.size {
		p.size, p.bufs = size, nil
	}
	for _, b := range bufs {
		if len(b) != size || (len(p.bufs)+1)*size > maxPooledBytes {
			break
		}
		p.bufs = append(p.bufs, b)
	}
}
