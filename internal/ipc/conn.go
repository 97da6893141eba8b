package ipc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

const (
	codeInvalidHeader = hadooppb.RpcResponseHeaderProto_FATAL_INVALID_RPC_HEADER
	codeDeserializing = hadooppb.RpcResponseHeaderProto_FATAL_DESERIALIZING_REQUEST
	codeUnauthorized  = hadooppb.RpcResponseHeaderProto_FATAL_UNAUTHORIZED

	classSaslException = "javax.security.sasl.SaslException"

	// Requests above this size are read in growing chunks, so a client that
	// announces a huge frame and sends nothing does not cost its full size.
	readChunk = 1 << 20
)

// httpResponse is what Hadoop answers an HTTP request on an IPC port.
const httpResponse = "HTTP/1.1 404 Not Found\r\nContent-type: text/plain\r\n\r\n" +
	"It looks like you are making an HTTP request to a Hadoop IPC port. " +
	"This is not the correct port for the web interface on this daemon.\r\n"

var errConnClosed = errors.New("ipc: connection closed")

// conn is one client connection. Its reader goroutine (serve) decodes
// frames and queues calls; handlers reply through w.
type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	w      *frameWriter
	ctx    context.Context
	cancel context.CancelFunc
	remote net.Addr
	log    logrus.FieldLogger

	// Reader goroutine state.
	user        string
	protocol    string // from the connection context
	sasl        bool   // SASL requested and not yet switched to simple
	negotiated  bool   // a SASL NEGOTIATE was answered
	contextRead bool
	lenBuf      [4]byte

	inFlight   atomic.Int32
	lastActive atomic.Int64 // unix nanoseconds
	closeOnce  sync.Once
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		s:      s,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, 16<<10),
		ctx:    ctx,
		cancel: cancel,
		remote: nc.RemoteAddr(),
	}
	c.log = s.log.WithField("remote", addrString(c.remote))
	c.w = newFrameWriter(nc, s.opts.WriteTimeout, func(err error) {
		c.log.WithError(err).Info("ipc: write failed, closing connection")
		c.abort()
	})
	c.lastActive.Store(time.Now().UnixNano())
	return c
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// abort closes the connection; the reader then exits.
func (c *conn) abort() {
	c.closeOnce.Do(func() {
		c.w.fail(errConnClosed)
		c.cancel()
		c.nc.Close()
	})
}

// serve is the reader goroutine.
func (c *conn) serve() {
	defer c.s.removeConn(c)
	defer c.abort()
	if d := c.s.opts.HandshakeTimeout; d > 0 {
		c.nc.SetReadDeadline(time.Now().Add(d))
	}
	if c.s.debug {
		c.log.Debug("ipc: connection accepted")
	}
	if !c.readPreamble() {
		return
	}
	for {
		bufp, frame, ferr, err := c.readFrame()
		if err == nil && ferr == nil {
			ferr = c.process(bufp, frame)
		}
		if ferr != nil {
			c.log.WithFields(logrus.Fields{"callId": ferr.callID, "class": ferr.class}).
				Info("ipc: fatal error, closing connection: ", ferr.msg)
			c.sendFatal(ferr)
			return
		}
		if err != nil {
			var ne net.Error
			if !c.contextRead && errors.As(err, &ne) && ne.Timeout() {
				c.log.Info("ipc: handshake timed out, closing connection")
			} else if c.s.debug {
				c.log.WithError(err).Debug("ipc: connection closed")
			}
			return
		}
	}
}

// readPreamble reads and checks "hrpc", version, service class, auth protocol.
func (c *conn) readPreamble() bool {
	var p [7]byte
	if _, err := io.ReadFull(c.br, p[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.log.Info("ipc: handshake timed out, closing connection")
		} else if c.s.debug {
			c.log.WithError(err).Debug("ipc: no preamble")
		}
		return false
	}
	switch {
	case string(p[:4]) == "GET ":
		c.w.writeLast([]byte(httpResponse))
		return false
	case [4]byte(p[:4]) != rpcMagic:
		c.log.WithField("magic", fmt.Sprintf("%q", p[:4])).Info("ipc: not an IPC connection")
		return false
	case p[4] != ipcVersion:
		c.log.WithField("version", p[4]).Info("ipc: version mismatch")
		c.sendFatal(&fatalError{
			callID: callIDInvalid,
			class:  ClassVersionMismatch,
			msg:    fmt.Sprintf("Server IPC version %d cannot communicate with client version %d", ipcVersion, p[4]),
			code:   hadooppb.RpcResponseHeaderProto_FATAL_VERSION_MISMATCH,
		})
		return false
	}
	switch p[6] {
	case authNone:
	case authSASL:
		c.sasl = true
	default:
		c.sendFatal(&fatalError{callID: callIDInvalid, class: ClassIPCException,
			msg: fmt.Sprintf("Unknown auth protocol:%d", int8(p[6])), code: codeUnauthorized})
		return false
	}
	return true
}

// readFrame reads one request frame. ferr is a FATAL to answer; err a
// connection error.
func (c *conn) readFrame() (bufp *[]byte, frame []byte, ferr *fatalError, err error) {
	if _, err = io.ReadFull(c.br, c.lenBuf[:]); err != nil {
		return nil, nil, nil, err
	}
	n := int32(uint32(c.lenBuf[0])<<24 | uint32(c.lenBuf[1])<<16 | uint32(c.lenBuf[2])<<8 | uint32(c.lenBuf[3]))
	if n < 0 {
		return nil, nil, &fatalError{callID: callIDInvalid, class: ClassIOException, code: codeInvalidHeader,
			msg: fmt.Sprintf("Unexpected data length %d!! from %s", n, addrString(c.remote))}, nil
	}
	if int(n) > c.s.opts.MaxDataLength {
		return nil, nil, &fatalError{callID: callIDInvalid, class: ClassIOException, code: codeInvalidHeader,
			msg: fmt.Sprintf("Requested data length %d is longer than maximum configured RPC length %d.  RPC came from %s",
				n, c.s.opts.MaxDataLength, addrString(c.remote))}, nil
	}
	if n <= maxPooledBuffer {
		bufp = getFrameBuf()
		*bufp = slices.Grow((*bufp)[:0], int(n))[:n]
		if _, err = io.ReadFull(c.br, *bufp); err != nil {
			putFrameBuf(bufp)
			return nil, nil, nil, err
		}
		return bufp, *bufp, nil, nil
	}
	buf := make([]byte, 0, min(int(n), readChunk))
	for len(buf) < int(n) {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(int(n)-len(buf), len(buf)))
		}
		k, err := io.ReadFull(c.br, buf[len(buf):min(int(n), cap(buf))])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return nil, buf, nil, nil
}

// process handles one frame. It owns bufp: it passes it on with a queued
// call or returns it to the pool.
func (c *conn) process(bufp *[]byte, frame []byte) *fatalError {
	queued := false
	defer func() {
		if !queued {
			putFrameBuf(bufp)
		}
	}()
	c.lastActive.Store(time.Now().UnixNano())
	r, err := decodeRequest(frame)
	if err != nil {
		return fatalf(callIDInvalid, codeDeserializing, "Error decoding RpcRequestHeaderProto: %v", err)
	}
	h := &r.rpc
	switch {
	case !h.hasOp:
		return fatalf(h.callID, codeInvalidHeader, " IPC Server: No rpc op in rpcRequestHeader")
	case h.op != opFinal:
		return fatalf(h.callID, codeInvalidHeader, "IPC Server does not implement rpc header operation%s",
			hadooppb.RpcRequestHeaderProto_OperationProto(h.op))
	case !h.hasKind:
		return fatalf(h.callID, codeInvalidHeader, " IPC Server: No rpc kind in rpcRequestHeader")
	case h.callID < 0:
		return c.processOutOfBand(h, r.body)
	case !c.contextRead:
		return fatalf(h.callID, codeInvalidHeader, "Connection context not established")
	case h.kind != kindProtobuf:
		return fatalf(h.callID, codeInvalidHeader, "Unknown rpc kind in rpc header%s", hadooppb.RpcKindProto(h.kind))
	}

	// From here on failures are ERRORs: the connection stays usable.
	if r.hdrErr != nil {
		c.replyError(h, ClassInvalidProtobuf, "Error decoding RequestHeaderProto: "+r.hdrErr.Error(),
			hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION)
		return nil
	}
	p := c.s.protocols[string(r.hdr.protocol)]
	if p == nil {
		c.replyError(h, ClassNoSuchProtocol, "Unknown protocol: "+string(r.hdr.protocol),
			hadooppb.RpcResponseHeaderProto_ERROR_NO_SUCH_PROTOCOL)
		return nil
	}
	m := p.methods[string(r.hdr.method)]
	if m == nil {
		on := c.protocol
		if on == "" {
			on = p.name
		}
		c.replyError(h, ClassNoSuchMethod, "Unknown method "+string(r.hdr.method)+" called on "+on+" protocol.",
			hadooppb.RpcResponseHeaderProto_ERROR_NO_SUCH_METHOD)
		return nil
	}
	body, _, err := splitDelimited(r.body)
	if err != nil {
		c.replyError(h, ClassInvalidProtobuf, err.Error(), hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION)
		return nil
	}
	sc := serverCallPool.Get().(*serverCall)
	*sc = serverCall{c: c, m: m, callID: h.callID, retry: h.retryCount,
		client: slices.Clone(h.clientID), body: body, buf: bufp}
	c.inFlight.Add(1)
	select {
	case c.s.queue <- sc:
		queued = true
	default:
		c.inFlight.Add(-1)
		*sc = serverCall{}
		serverCallPool.Put(sc)
		c.replyError(h, ClassRetriable, "Server too busy", hadooppb.RpcResponseHeaderProto_ERROR_RPC_SERVER)
	}
	return nil
}

// processOutOfBand handles the connection context, SASL and pings.
func (c *conn) processOutOfBand(h *rpcHeader, body []byte) *fatalError {
	switch h.callID {
	case callIDContext:
		if c.sasl {
			return fatalf(h.callID, codeInvalidHeader, "Connection header sent during SASL negotiation")
		}
		if c.contextRead {
			return fatalf(h.callID, codeInvalidHeader, "Connection context already processed")
		}
		var cc hadooppb.IpcConnectionContextProto
		if err := unmarshalDelimited(body, &cc); err != nil {
			return fatalf(h.callID, codeDeserializing, "Error decoding IpcConnectionContextProto: %v", err)
		}
		c.user = cc.GetUserInfo().GetEffectiveUser()
		if c.user == "" {
			c.user = cc.GetUserInfo().GetRealUser()
		}
		c.protocol = cc.GetProtocol()
		c.contextRead = true
		if c.s.opts.HandshakeTimeout > 0 {
			c.nc.SetReadDeadline(time.Time{})
		}
		if c.s.debug {
			c.log.WithFields(logrus.Fields{"user": c.user, "protocol": c.protocol}).Debug("ipc: connection context")
		}
		return nil
	case callIDSASL:
		if !c.sasl {
			return fatalf(h.callID, codeInvalidHeader, "SASL protocol not requested by client")
		}
		return c.processSASL(h, body)
	case callIDPing:
		return nil
	}
	return fatalf(h.callID, codeInvalidHeader, "Unknown out of band call #%d", h.callID)
}

// processSASL answers a SASL exchange the way a Hadoop server with only
// SIMPLE authentication enabled does: the client is switched to simple auth.
func (c *conn) processSASL(h *rpcHeader, body []byte) *fatalError {
	var m hadooppb.RpcSaslProto
	if err := unmarshalDelimited(body, &m); err != nil {
		return fatalf(h.callID, codeDeserializing, "Error decoding RpcSaslProto: %v", err)
	}
	switch m.GetState() {
	case hadooppb.RpcSaslProto_NEGOTIATE:
		if c.negotiated {
			return &fatalError{callID: h.callID, class: ClassAccessControl, code: codeUnauthorized,
				msg: "Client already attempted negotiation"}
		}
	case hadooppb.RpcSaslProto_INITIATE:
		if len(m.GetAuths()) != 1 {
			return &fatalError{callID: h.callID, class: classSaslException, code: codeUnauthorized,
				msg: "Client mechanism is malformed"}
		}
		if method := m.GetAuths()[0].GetMethod(); c.negotiated && method != "SIMPLE" {
			return &fatalError{callID: h.callID, class: ClassAccessControl, code: codeUnauthorized,
				msg: method + " authentication is not enabled.  Available:[SIMPLE]"}
		}
		if m.GetAuths()[0].GetMethod() == "SIMPLE" {
			c.sasl = false // switched to simple, no answer
			return nil
		}
	default:
		return &fatalError{callID: h.callID, class: classSaslException, code: codeUnauthorized,
			msg: "Client sent unsupported state " + m.GetState().String()}
	}
	// A SIMPLE-only server answers SUCCESS, which switches the client to simple.
	c.negotiated, c.sasl = true, false
	resp := respHeader{callID: callIDSASL, status: statusSuccess, retryCount: -1, clientID: []byte{}}
	c.reply(&resp, &hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_SUCCESS.Enum()})
	return nil
}

func unmarshalDelimited(b []byte, m proto.Message) error {
	msg, _, err := splitDelimited(b)
	if err != nil {
		return err
	}
	return proto.Unmarshal(msg, m)
}

// replyError sends an ERROR response for the call described by h.
func (c *conn) replyError(h *rpcHeader, class, msg string, code hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto) {
	if c.s.debug {
		c.log.WithFields(logrus.Fields{"callId": h.callID, "class": class}).Debug("ipc: error reply: ", msg)
	}
	c.reply(&respHeader{callID: h.callID, status: statusError, class: class, msg: msg, code: code,
		clientID: h.clientID, retryCount: h.retryCount}, nil)
}

// reply encodes a response into a pooled buffer and writes it.
func (c *conn) reply(h *respHeader, body proto.Message) {
	bufp := getFrameBuf()
	b, err := appendResponse((*bufp)[:0], h, body)
	if err != nil {
		c.log.WithFields(logrus.Fields{"callId": h.callID}).WithError(err).Error("ipc: cannot serialize response")
		h.status, h.class, h.code = statusError, ClassIOException, hadooppb.RpcResponseHeaderProto_ERROR_SERIALIZING_RESPONSE
		h.msg = "Error serializing call response for call " + fmt.Sprint(h.callID) + ": " + err.Error()
		b, _ = appendResponse(b[:0], h, nil)
	}
	c.w.write(b)
	*bufp = b
	putFrameBuf(bufp)
}

// sendFatal writes a FATAL response and lets everything before it drain;
// the caller then closes the connection.
func (c *conn) sendFatal(fe *fatalError) {
	h := respHeader{callID: fe.callID, status: statusFatal, class: fe.class, msg: fe.msg, code: fe.code,
		clientID: []byte{}, retryCount: -1}
	b, _ := appendResponse(nil, &h, nil)
	c.w.writeLast(b)
}
