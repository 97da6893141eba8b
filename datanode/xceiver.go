package datanode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// The transfer server: one goroutine per connection (Hadoop's
// DataXceiver), each serving exactly one op. Every blocking read and write
// on a peer has a deadline, so a stalled peer frees its goroutine.

const (
	// readStatusWait bounds the wait for a reader's optional
	// ClientReadStatusProto after the last packet.
	readStatusWait = 5 * time.Second
	// timeoutExtension is added per downstream node to pipeline timeouts
	// (Hadoop's READ_TIMEOUT_EXTENSION / WRITE_TIMEOUT_EXTENSION).
	timeoutExtension = 5 * time.Second
	// connectTimeout bounds a dial to another DataNode.
	connectTimeout = 20 * time.Second
	// lingerTime and lingerBytes bound the draining of a connection that
	// is closed after an error reply.
	lingerTime  = time.Second
	lingerBytes = 4 << 20
)

// serve accepts connections on ln (the transfer port, or the domain
// socket of short-circuit reads) until it closes.
func (d *DataNode) serve(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if d.closing() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			d.log.WithError(err).Warn("accept failed")
			select {
			case <-time.After(delay):
			case <-d.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if !d.track(c) {
			c.Close()
			return
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer d.untrack(c)
			d.serveConn(c)
		}()
	}
}

// track records a connection so Close can cut it; false once closing.
func (d *DataNode) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *DataNode) untrack(c net.Conn) {
	c.Close()
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
}

// xconn is one served connection.
type xconn struct {
	d    *DataNode
	c    net.Conn
	br   *bufio.Reader
	log  logrus.FieldLogger
	peer string
}

func (x *xconn) setReadDeadline(t time.Duration) {
	x.c.SetReadDeadline(time.Now().Add(t))
}

func (x *xconn) setWriteDeadline(t time.Duration) {
	x.c.SetWriteDeadline(time.Now().Add(t))
}

// reply writes a BlockOpResponseProto. Replies always carry enough bytes
// for clients that read 5 bytes before decoding (colinmarc/hdfs).
func (x *xconn) reply(r *hadooppb.BlockOpResponseProto) error {
	if r.FirstBadLink == nil && r.Message == nil && r.ReadOpChecksumInfo == nil && r.ChecksumResponse == nil {
		r.FirstBadLink = proto.String("")
	}
	x.setWriteDeadline(x.d.set.WriteTimeout)
	if err := writeDelimited(x.c, r); err != nil {
		return fmt.Errorf("reply to %s: %w", x.peer, err)
	}
	return nil
}

// replyError answers with a status and message.
func (x *xconn) replyError(status hadooppb.Status, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return x.reply(&hadooppb.BlockOpResponseProto{Status: status.Enum(), Message: proto.String(msg), FirstBadLink: proto.String("")})
}

// serveConn reads one op and serves it.
func (d *DataNode) serveConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
	}
	x := &xconn{d: d, c: c, br: bufio.NewReaderSize(c, 64<<10), peer: c.RemoteAddr().String()}
	x.log = d.log.WithField("peer", x.peer)
	n := d.xceivers.Add(1)
	defer d.xceivers.Add(-1)
	defer func() {
		if r := recover(); r != nil {
			x.log.WithField("panic", r).Error("transfer handler panicked; connection closed")
		}
	}()

	x.setReadDeadline(d.set.SocketTimeout)
	op, msg, err := readOp(x.br)
	if err != nil {
		var oe *opError
		if errors.As(err, &oe) {
			x.log.WithField("op", opName(op)).Warn(oe.msg)
			x.replyError(oe.status, "%s", oe.msg)
			x.lingerClose()
			return
		}
		if !errors.Is(err, io.EOF) {
			x.log.WithError(err).Debug("reading op header failed")
		}
		return
	}
	x.log = x.log.WithField("op", opName(op))
	if int(n) > d.set.MaxTransferThreads {
		x.log.WithField("limit", d.set.MaxTransferThreads).Warn("too many transfers; op refused")
		x.replyError(hadooppb.Status_ERROR, "Xceiver count %d exceeds the limit of concurrent xceivers: %d (dfs.datanode.max.transfer.threads)", n, d.set.MaxTransferThreads)
		x.lingerClose()
		return
	}
	switch m := msg.(type) {
	case *hadooppb.OpReadBlockProto:
		err = x.readBlock(m)
	case *hadooppb.OpWriteBlockProto:
		err = x.writeBlock(m)
	case *hadooppb.OpBlockChecksumProto:
		err = x.blockChecksum(m)
	case *hadooppb.OpCopyBlockProto:
		err = x.copyBlock(m)
	case *hadooppb.OpTransferBlockProto:
		err = x.transferBlock(m)
	case *hadooppb.OpReplaceBlockProto:
		err = x.replaceBlock(m)
	case *hadooppb.OpRequestShortCircuitAccessProto:
		err = x.requestShortCircuitFds(m)
	case *hadooppb.ReleaseShortCircuitAccessRequestProto:
		err = x.releaseShortCircuitFds()
	case *hadooppb.ShortCircuitShmRequestProto:
		err = x.requestShortCircuitShm()
	}
	if err != nil {
		if d.closing() {
			x.log.WithError(err).Debug("op cut by shutdown")
			return
		}
		x.log.WithError(err).Info("op failed")
		x.lingerClose()
	}
}

// lingerClose ends a connection after an error reply without losing the
// reply: closing a socket with unread bytes resets it, and a reset can
// discard the reply before the peer reads it. So: half-close, then read
// and drop what the peer still sends, for a bounded time and amount.
func (x *xconn) lingerClose() {
	if tc, ok := x.c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	x.c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, x.br, lingerBytes)
}

// dialDataNode connects to another DataNode's transfer address. The
// connection is tracked, so Close cuts it.
func (d *DataNode) dialDataNode(addr string) (net.Conn, error) {
	dl := net.Dialer{Timeout: connectTimeout}
	c, err := dl.DialContext(d.ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to DataNode %s: %w", addr, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
	}
	if !d.track(c) {
		c.Close()
		return nil, fmt.Errorf("connect to DataNode %s: %w", addr, net.ErrClosed)
	}
	return &trackedConn{Conn: c, d: d}, nil
}

// trackedConn is an outgoing connection Close of the DataNode cuts.
type trackedConn struct {
	net.Conn
	d    *DataNode
	once sync.Once
}

// NetConn is the connection trackedConn wraps (for rawio).
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.d.untrack(c.Conn) })
	return err
}

// xferAddr is a DatanodeInfoProto's transfer address (ip:port).
func xferAddr(dn *hadooppb.DatanodeInfoProto) string {
	id := dn.GetId()
	return net.JoinHostPort(id.GetIpAddr(), fmt.Sprint(id.GetXferPort()))
}

// blockFields are the log fields of a block.
func blockFields(b *hadooppb.ExtendedBlockProto) logrus.Fields {
	return logrus.Fields{"block": b.GetBlockId(), "gs": b.GetGenerationStamp()}
}
