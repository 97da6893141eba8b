package datanode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// packetStream reads the packets of a write stream into one buffer and
// hands them out where they landed: one read system call takes every
// packet that has arrived, and the receiver forwards a run of them
// downstream in one write and stores their data with one vectored write
// per file, without copying them out first.
type packetStream struct {
	src  io.Reader
	buf  []byte
	r, w int // unread bytes: buf[r:w]
	// pkts is reused between batches.
	pkts []packet
}

// newPacketStream reads from src after the bytes in held (what the op
// reader had already buffered), into buf (a larger one if held does not
// fit).
func newPacketStream(src io.Reader, held, buf []byte) *packetStream {
	if len(buf) < len(held) {
		buf = make([]byte, len(held))
	}
	s := &packetStream{src: src, buf: buf}
	s.w = copy(s.buf, held)
	return s
}

// bufFreeList keeps the stream buffers of finished writes for the next
// ones: a fresh streamBuffer is 128 page faults, and on a virtual machine
// a page fault costs about 15 µs.
type bufFreeList struct {
	mu   sync.Mutex
	bufs [][]byte
}

// maxFreeStreamBufs bounds the buffers kept (8 MiB).
const maxFreeStreamBufs = 16

// get returns a streamBuffer-sized buffer.
func (l *bufFreeList) get() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs[n-1] = nil
		l.bufs = l.bufs[:n-1]
		return b
	}
	return make([]byte, streamBuffer)
}

// put keeps b for a later stream, unless it grew for a large packet or
// enough are kept. Nothing may use b afterwards.
func (l *bufFreeList) put(b []byte) {
	if len(b) != streamBuffer {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bufs) < maxFreeStreamBufs {
		l.bufs = append(l.bufs, b)
	}
}

// next returns the complete packets buffered, reading once (or more,
// until one packet is complete) when there are none. The packets and
// their raw bytes alias the buffer: they are valid until the next call,
// and consecutive packets' raw bytes are adjacent. An error comes only
// with no packets: a malformed packet is errMalformed (wrapped), a stream
// cut inside a packet io.ErrUnexpectedEOF.
func (s *packetStream) next() ([]packet, error) {
	s.pkts = s.pkts[:0]
	for {
		for {
			p, ok, err := s.parse()
			if err != nil {
				if len(s.pkts) > 0 {
					return s.pkts, nil // the error comes back on the next call
				}
				return nil, err
			}
			if !ok {
				break
			}
			s.pkts = append(s.pkts, p)
		}
		if len(s.pkts) > 0 {
			return s.pkts, nil
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// parse decodes the packet at the read position if it is complete.
func (s *packetStream) parse() (packet, bool, error) {
	b := s.buf[s.r:s.w]
	if len(b) < 6 {
		return packet{}, false, nil
	}
	total, err := packetTotal(b)
	if err != nil {
		return packet{}, false, err
	}
	if len(b) < total {
		return packet{}, false, nil
	}
	p, err := decodePacket(b[:total:total])
	if err != nil {
		return packet{}, false, err
	}
	p.at = s.r
	s.r += total
	return *p, true, nil
}

// span returns the raw bytes of the packets from first to last, which
// next returned together: one slice of the buffer.
func (s *packetStream) span(first, last *packet) []byte {
	return s.buf[first.at : last.at+len(last.raw)]
}

// packetTotal validates a packet's length prefix and returns its whole
// size, prefix included.
func packetTotal(pre []byte) (int, error) {
	payloadLen := binary.BigEndian.Uint32(pre[:4])
	headerLen := int(binary.BigEndian.Uint16(pre[4:6]))
	if payloadLen < 4 || payloadLen-4 > maxPacketLength {
		return 0, fmt.Errorf("%w: packet payload length %d", errMalformed, payloadLen)
	}
	if headerLen == 0 || headerLen > maxPacketHeaderLength {
		return 0, fmt.Errorf("%w: packet header length %d", errMalformed, headerLen)
	}
	return 6 + headerLen + int(payloadLen-4), nil
}

// fill moves the partial packet to the front, grows the buffer if that
// packet cannot fit (doubling, so a peer that only claims a large packet
// cannot make us allocate it), and reads once.
func (s *packetStream) fill() error {
	if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	if s.w == len(s.buf) {
		need := len(s.buf) * 2
		if s.w >= 6 {
			total, err := packetTotal(s.buf)
			if err != nil {
				return err
			}
			need = min(need, total)
		}
		nb := make([]byte, need)
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	n, err := s.src.Read(s.buf[s.w:])
	s.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) && s.w > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}
