package ipc

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// MaxResponseLength is the largest response frame the client accepts
// (ipc.maximum.response.length's default, 128 MiB).
const MaxResponseLength = 128 << 20

// ErrClientClosed is returned (wrapped) by calls on a closed Client.
var ErrClientClosed = errors.New("ipc: client closed")

// ClientOptions configures a Client.
type ClientOptions struct {
	// User is the effective user sent in the connection context (default:
	// $HADOOP_USER_NAME, else the OS user).
	User string
	// Protocol is the protocol name of the connection context and the
	// default declaringClassProtocolName of calls.
	Protocol string
	// ProtocolVersion is the clientProtocolVersion sent with calls (default 1).
	ProtocolVersion uint64
	// ClientID is the 16-byte client id; random if nil.
	ClientID []byte
	// DialTimeout bounds the dial and the connection handshake (default 20 s).
	DialTimeout time.Duration
	// WriteTimeout bounds each write of a request; when it expires the
	// connection fails (default 60 s).
	WriteTimeout time.Duration
	// SASL makes the client announce SASL and send a NEGOTIATE, which a
	// server with simple authentication answers with SUCCESS. Our servers
	// never need it; it exercises the path hdfs-native takes.
	SASL bool
	// LocalAddr, when set, is the local address to dial from (a client
	// "on" a given host, for locality tests and multi-homed machines).
	LocalAddr net.Addr
}

// CallOpts are per-call options for Client.CallWith.
type CallOpts struct {
	// CallID, when non-zero, is used instead of the next id (retry-cache
	// tests resend a call id). It must not be in flight already. Negative
	// ids are the protocol's out-of-band ids and get no normal reply.
	CallID int32
	// RetryCount is sent in the request header (0 for a first attempt).
	RetryCount int32
	// Protocol overrides ClientOptions.Protocol for this call.
	Protocol string
}

// Client is a Hadoop IPC client connection. It is safe for concurrent use:
// many calls may be in flight, their replies matched by callId.
type Client struct {
	opts     ClientOptions
	nc       net.Conn
	br       *bufio.Reader
	w        *frameWriter
	clientID []byte
	nextID   atomic.Int32
	done     chan struct{}

	mu      sync.Mutex
	pending map[int32]chan result
	err     error // why the connection ended; set once
}

type result struct {
	buf  *[]byte // frame buffer holding body, for the pool
	body []byte
	err  error
}

// Dial connects to a Hadoop IPC server at addr and sends the connection
// preamble and context.
func Dial(ctx context.Context, addr string, opts ClientOptions) (*Client, error) {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 20 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.ProtocolVersion == 0 {
		opts.ProtocolVersion = 1
	}
	if opts.User == "" {
		opts.User = defaultUser()
	}
	c := &Client{
		opts:     opts,
		clientID: slices.Clone(opts.ClientID),
		done:     make(chan struct{}),
		pending:  make(map[int32]chan result),
	}
	if c.clientID == nil {
		c.clientID = make([]byte, 16)
		rand.Read(c.clientID)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	nc, err := (&net.Dialer{LocalAddr: opts.LocalAddr}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", addr, err)
	}
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, 16<<10)
	c.w = newFrameWriter(nc, opts.WriteTimeout, func(err error) { c.fail(err) })
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if err := c.handshake(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("ipc: handshake with %s: %w", addr, err)
	}
	nc.SetDeadline(time.Time{})
	go c.readLoop()
	return c, nil
}

func defaultUser() string {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "nobody"
}

func (c *Client) handshake() error {
	auth := byte(authNone)
	if c.opts.SASL {
		auth = authSASL
	}
	b := append(rpcMagic[:], ipcVersion, 0, auth)
	if c.opts.SASL {
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		b = appendRPCHeader(b, callIDSASL, -1, []byte{})
		b, _ = appendDelimited(b, &hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_NEGOTIATE.Enum()})
		putFrameLength(b[start:])
		if _, err := c.nc.Write(b); err != nil {
			return err
		}
		frame, err := readResponseFrame(c.br)
		if err != nil {
			return err
		}
		r, err := decodeResponse(frame)
		if err != nil {
			return err
		}
		if r.status != statusSuccess {
			return &Error{Class: r.class, Message: r.msg, Code: r.code, Fatal: r.status == statusFatal}
		}
		var sasl hadooppb.RpcSaslProto
		if err := unmarshalDelimited(r.body, &sasl); err != nil {
			return err
		}
		if r.callID != callIDSASL || sasl.GetState() != hadooppb.RpcSaslProto_SUCCESS {
			return fmt.Errorf("server requires SASL authentication (state %v), which is not supported", sasl.GetState())
		}
		b = b[:0]
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = appendRPCHeader(b, callIDContext, -1, c.clientID)
	b, _ = appendDelimited(b, &hadooppb.IpcConnectionContextProto{
		UserInfo: &hadooppb.UserInformationProto{EffectiveUser: proto.String(c.opts.User)},
		Protocol: proto.String(c.opts.Protocol),
	})
	putFrameLength(b[start:])
	_, err := c.nc.Write(b)
	return err
}

// ClientID returns the client id sent with every call.
func (c *Client) ClientID() []byte { return slices.Clone(c.clientID) }

// Call calls method with req and unmarshals the reply into resp. An ERROR or
// FATAL reply is returned as an *Error; a connection failure as a wrapped
// network error (or ErrClientClosed).
func (c *Client) Call(ctx context.Context, method string, req, resp proto.Message) error {
	return c.CallWith(ctx, method, CallOpts{}, req, resp)
}

// CallWith is Call with per-call options.
func (c *Client) CallWith(ctx context.Context, method string, opts CallOpts, req, resp proto.Message) error {
	id := opts.CallID
	if id == 0 {
		id = (c.nextID.Add(1) - 1) & 0x7fffffff
	}
	protocol := opts.Protocol
	if protocol == "" {
		protocol = c.opts.Protocol
	}
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("ipc: call %s: %w", method, err)
	}
	if _, busy := c.pending[id]; busy {
		c.mu.Unlock()
		return fmt.Errorf("ipc: call %s: call id %d already in flight", method, id)
	}
	c.pending[id] = ch
	c.mu.Unlock()

	bufp := getFrameBuf()
	b := append((*bufp)[:0], 0, 0, 0, 0)
	b = appendRPCHeader(b, id, opts.RetryCount, c.clientID)
	b = appendReqHeader(b, method, protocol, c.opts.ProtocolVersion)
	b, err := appendDelimited(b, req)
	if err == nil {
		putFrameLength(b)
		err = c.w.write(b)
	}
	*bufp = b
	putFrameBuf(bufp)
	if err != nil {
		c.forget(id)
		return fmt.Errorf("ipc: call %s: %w", method, err)
	}

	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		if c.forget(id) {
			return fmt.Errorf("ipc: call %s: %w", method, ctx.Err())
		}
		r = <-ch // the reply is being delivered
	}
	if r.err != nil {
		var e *Error
		if errors.As(r.err, &e) {
			return r.err
		}
		return fmt.Errorf("ipc: call %s: %w", method, r.err)
	}
	err = unmarshalDelimited(r.body, resp)
	putFrameBuf(r.buf)
	if err != nil {
		return fmt.Errorf("ipc: call %s: decoding response: %w", method, err)
	}
	return nil
}

// forget removes a pending call; it reports whether it was still pending.
func (c *Client) forget(id int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[id]; ok {
		delete(c.pending, id)
		return true
	}
	return false
}

func (c *Client) take(id int32) chan result {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.pending[id]
	delete(c.pending, id)
	return ch
}

// readResponseFrame reads one length-prefixed frame into a new buffer.
func readResponseFrame(br *bufio.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(br, l[:]); err != nil {
		return nil, err
	}
	n := int32(uint32(l[0])<<24 | uint32(l[1])<<16 | uint32(l[2])<<8 | uint32(l[3]))
	if n < 0 || n > MaxResponseLength {
		return nil, fmt.Errorf("invalid response length %d", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(br, b)
	return b, err
}

func (c *Client) readLoop() {
	defer close(c.done)
	var l [4]byte
	for {
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			c.fail(err)
			return
		}
		n := int32(uint32(l[0])<<24 | uint32(l[1])<<16 | uint32(l[2])<<8 | uint32(l[3]))
		if n < 0 || n > MaxResponseLength {
			c.fail(fmt.Errorf("invalid response length %d", n))
			return
		}
		var bufp *[]byte
		var frame []byte
		if n <= maxPooledBuffer {
			bufp = getFrameBuf()
			frame = slices.Grow((*bufp)[:0], int(n))[:n]
			*bufp = frame
		} else {
			frame = make([]byte, n)
		}
		if _, err := io.ReadFull(c.br, frame); err != nil {
			c.fail(err)
			return
		}
		r, err := decodeResponse(frame)
		if err != nil {
			c.fail(fmt.Errorf("invalid response: %w", err))
			return
		}
		switch r.status {
		case statusSuccess:
			if ch := c.take(r.callID); ch != nil {
				ch <- result{buf: bufp, body: r.body}
				continue
			}
		case statusError:
			if ch := c.take(r.callID); ch != nil {
				ch <- result{err: &Error{Class: r.class, Message: r.msg, Code: r.code}}
			}
		default:
			e := &Error{Class: r.class, Message: r.msg, Code: r.code, Fatal: true}
			if ch := c.take(r.callID); ch != nil {
				ch <- result{err: e}
			}
			c.fail(e)
			return
		}
		putFrameBuf(bufp)
	}
}

// fail ends the connection: pending and later calls get err.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	pending := c.pending
	c.pending = make(map[int32]chan result)
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- result{err: err}
	}
	c.w.fail(err)
	c.nc.Close()
}

// Close closes the connection; calls in flight fail with ErrClientClosed.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	<-c.done
	return nil
}
