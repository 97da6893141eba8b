package datanode

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avatarfs/avatarfs/internal/rawio"
	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// A write pipeline as one DataNode sees it: packets come from upstream
// (the client or the previous DataNode), are checked, forwarded to the
// mirror (the next DataNode) and written locally; acks come back from the
// mirror and go upstream in packet order, with this node's status first.

// activeWriter is a replica being received. The registry of them lets a
// pipeline recovery, a deletion or a block recovery stop the writer of a
// block first.
type activeWriter struct {
	blockID  uint64
	stopOnce sync.Once
	stopFn   func()
	done     chan struct{}
}

func (w *activeWriter) stop() { w.stopOnce.Do(w.stopFn) }

// writer returns the active writer of a block, if any.
func (d *DataNode) writer(blockID uint64) *activeWriter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writers[blockID]
}

// stopWriter stops the active writer of a block, if any, and waits (a
// bounded time) for it to let go of the replica.
func (d *DataNode) stopWriter(blockID uint64) error {
	w := d.writer(blockID)
	if w == nil {
		return nil
	}
	w.stop()
	select {
	case <-w.done:
		return nil
	case <-time.After(d.set.SocketTimeout):
		return fmt.Errorf("writer of block %d did not stop", blockID)
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

// addWriter registers the writer of a block; the function returned
// unregisters it.
func (d *DataNode) addWriter(blockID uint64, stop func()) func() {
	w := &activeWriter{blockID: blockID, stopFn: stop, done: make(chan struct{})}
	d.mu.Lock()
	old := d.writers[blockID]
	d.writers[blockID] = w
	d.mu.Unlock()
	if old != nil {
		old.stop() // takes d.mu (untracking its connections): not under it
	}
	return func() {
		d.mu.Lock()
		if d.writers[blockID] == w {
			delete(d.writers, blockID)
		}
		d.mu.Unlock()
		close(w.done)
	}
}

// mirror is the connection to the next DataNode of a pipeline.
type mirror struct {
	addr         string
	c            net.Conn
	w            net.Conn // c with raw writes
	br           *bufio.Reader
	readTimeout  time.Duration
	writeTimeout time.Duration
	broken       atomic.Bool
	closeOnce    sync.Once
}

func (m *mirror) close() { m.closeOnce.Do(func() { m.c.Close() }) }

// fail marks the mirror unusable: from now on acks name it as failed.
func (m *mirror) fail() {
	m.broken.Store(true)
	m.close()
}

// send forwards a packet; a failure breaks the mirror, not the pipeline.
func (m *mirror) send(raw []byte) error {
	if m.broken.Load() {
		return nil
	}
	m.c.SetWriteDeadline(time.Now().Add(m.writeTimeout))
	if _, err := m.w.Write(raw); err != nil {
		m.fail()
		return fmt.Errorf("forward to %s: %w", m.addr, err)
	}
	return nil
}

// connectMirror dials the first of targets and sends it the op with the
// rest of the pipeline. When wantReply, it also reads the mirror's setup
// reply. A connection-level failure is returned as an error.
func (d *DataNode) connectMirror(op *hadooppb.OpWriteBlockProto, wantReply bool) (*mirror, *hadooppb.BlockOpResponseProto, error) {
	targets := op.GetTargets()
	addr := xferAddr(targets[0])
	ext := timeoutExtension * time.Duration(len(targets))
	c, err := d.dialDataNode(addr)
	if err != nil {
		return nil, nil, err
	}
	m := &mirror{addr: addr, c: c, w: rawio.Wrap(c), br: bufio.NewReaderSize(rawio.Wrap(c), 4<<10),
		readTimeout: d.set.SocketTimeout + ext, writeTimeout: d.set.WriteTimeout + ext}
	fwd := proto.Clone(op).(*hadooppb.OpWriteBlockProto)
	fwd.Targets = targets[1:]
	if ts := op.GetTargetStorageTypes(); len(ts) > 0 {
		fwd.StorageType = ts[0].Enum()
		fwd.TargetStorageTypes = ts[1:]
	} else {
		fwd.StorageType = nil
	}
	if ids := op.GetTargetStorageIds(); len(ids) > 0 {
		fwd.StorageId = proto.String(ids[0])
		fwd.TargetStorageIds = ids[1:]
	} else {
		fwd.StorageId = nil
	}
	if tp := op.GetTargetPinnings(); len(tp) > 0 {
		fwd.Pinning = proto.Bool(tp[0])
		fwd.TargetPinnings = tp[1:]
	}
	c.SetWriteDeadline(time.Now().Add(m.writeTimeout))
	if err := writeOp(c, opWriteBlock, fwd); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("send WRITE_BLOCK to %s: %w", addr, err)
	}
	if !wantReply {
		return m, nil, nil
	}
	c.SetReadDeadline(time.Now().Add(m.readTimeout))
	var r hadooppb.BlockOpResponseProto
	if err := readDelimited(m.br, &r, maxAckLength); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("setup reply from %s: %w", addr, err)
	}
	return m, &r, nil
}

// pendingAck is a packet received (and written) whose ack is owed
// upstream.
type pendingAck struct {
	seqno     int64
	end       uint64 // offset in block after the packet's data
	last      bool
	heartbeat bool
	// status is this node's verdict; anything but SUCCESS ends the stream.
	status hadooppb.Status
	// finalized delivers the outcome of finalizing the replica (last
	// packet only).
	finalized <-chan error
}

// respond sends acks upstream in packet order (Hadoop's PacketResponder):
// this node's status, then the mirror's statuses; a mirror that fails or
// answers out of order shows as ERROR after this node, so the client
// knows which node to drop. It returns when the last packet is acked, the
// queue is closed, or writing upstream fails.
func (rc *receiver) respond() {
	defer close(rc.respDone)
	buf := make([]byte, 0, 64)
	for pa := range rc.acks {
		replies := append(rc.ackReplies[:0], pa.status)
		if pa.status == hadooppb.Status_SUCCESS && rc.mirror != nil {
			m := rc.mirror
			if !m.broken.Load() {
				m.c.SetReadDeadline(time.Now().Add(m.readTimeout))
				a, err := readAck(m.br, rc.mirrorReplies)
				rc.mirrorReplies = a.replies[:0]
				if err == nil && a.seqno != pa.seqno {
					err = fmt.Errorf("ack for seqno %d, expected %d", a.seqno, pa.seqno)
				}
				if err != nil {
					rc.log.WithError(err).WithField("mirror", m.addr).Warn("downstream DataNode failed")
					m.fail()
				} else {
					replies = append(replies, a.replies...)
				}
			}
			if m.broken.Load() {
				if rc.d.closing() {
					// The mirror broke because this DataNode is shutting
					// down and cut it: blaming the mirror would make the
					// client drop a healthy node and keep this one. No
					// more acks; upstream sees this node go.
					rc.abort()
					return
				}
				replies = []hadooppb.Status{hadooppb.Status_SUCCESS, hadooppb.Status_ERROR}
			}
		}
		if pa.last && pa.status == hadooppb.Status_SUCCESS {
			if err := <-pa.finalized; err != nil {
				rc.log.WithError(err).Error("finalizing the replica failed")
				replies[0] = hadooppb.Status_ERROR
			}
		}
		if !pa.heartbeat && !pa.last && replies[0] == hadooppb.Status_SUCCESS {
			// What the pipeline acknowledged is what readers may see.
			rc.w.SetAcked(pa.end)
		}
		buf = appendAck(buf, ack{seqno: pa.seqno, replies: replies})
		rc.ackReplies = replies[:0]
		end := pa.last || pa.status != hadooppb.Status_SUCCESS
		if end || !rc.moreAcksReady() || len(buf) >= 4<<10 {
			// Acks that are ready together go up in one write: on a busy
			// pipeline a system call per packet and hop is what costs.
			rc.up.SetWriteDeadline(time.Now().Add(rc.d.set.WriteTimeout))
			if _, err := rc.up.Write(buf); err != nil {
				rc.log.WithError(err).Info("cannot ack upstream")
				rc.abort()
				return
			}
			buf = buf[:0]
		}
		if end {
			return
		}
	}
}

// moreAcksReady tells whether the next ack can be built without waiting:
// a packet is queued and its mirror's ack (if any) is already buffered.
func (rc *receiver) moreAcksReady() bool {
	if len(rc.acks) == 0 {
		return false
	}
	m := rc.mirror
	return m == nil || m.broken.Load() || m.br.Buffered() > 0
}

// ackInline builds the ack of pa on the last node of a pipeline: this
// node's status only, after the replica is finalized for the last packet.
// Acks of one batch go up together (flushAcks); the last one, or a
// failure, at once.
func (rc *receiver) ackInline(pa pendingAck) {
	status := pa.status
	if pa.last && status == hadooppb.Status_SUCCESS {
		if err := <-pa.finalized; err != nil {
			rc.log.WithError(err).Error("finalizing the replica failed")
			status = hadooppb.Status_ERROR
		}
	}
	if !pa.heartbeat && !pa.last && status == hadooppb.Status_SUCCESS {
		rc.w.SetAcked(pa.end)
	}
	rc.ackReplies = append(rc.ackReplies[:0], status)
	rc.ackBuf = appendAck(rc.ackBuf, ack{seqno: pa.seqno, replies: rc.ackReplies})
	if pa.last || status != hadooppb.Status_SUCCESS {
		rc.flushAcks()
	}
}

// flushAcks writes the acks built inline upstream.
func (rc *receiver) flushAcks() error {
	if len(rc.ackBuf) == 0 {
		return nil
	}
	rc.up.SetWriteDeadline(time.Now().Add(rc.d.set.WriteTimeout))
	_, err := rc.up.Write(rc.ackBuf)
	rc.ackBuf = rc.ackBuf[:0]
	if err != nil {
		rc.log.WithError(err).Info("cannot ack upstream")
		rc.abort()
		return fmt.Errorf("ack upstream: %w", err)
	}
	return nil
}
