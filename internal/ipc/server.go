// Package ipc implements Hadoop IPC (RPC engine v2, protobuf) as spoken by
// the NameNode: a server that real Hadoop clients (Java Hadoop,
// github.com/colinmarc/hdfs/v2, hdfs-native) talk to unchanged, and a small
// client for our own tools.
//
// A connection starts with the preamble "hrpc", version 9, service class and
// auth protocol, then carries frames: a 4-byte big-endian length followed by
// varint-delimited protobuf messages (RpcRequestHeaderProto,
// RequestHeaderProto, request). Responses carry an RpcResponseHeaderProto
// and, on success, the response message. Many calls may be in flight on one
// connection; replies are matched by callId and may come in any order.
package ipc

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// Call describes the RPC call a handler is serving. A handler may keep it.
type Call struct {
	// Protocol is the declaringClassProtocolName, e.g.
	// "org.apache.hadoop.hdfs.protocol.ClientProtocol".
	Protocol string
	// Method is the method name, e.g. "getFileInfo".
	Method string
	// User is the caller's identity from the connection context
	// (effectiveUser, else realUser); simple auth trusts it.
	User string
	// ClientID is the client's 16-byte id (a private copy); with CallID it
	// identifies a call for the retry cache.
	ClientID []byte
	// CallID is the call's id on its connection.
	CallID int32
	// RetryCount is the client's retry count (-1 when the client has no retry cache support).
	RetryCount int32
	// RemoteAddr is the client's address.
	RemoteAddr net.Addr

	srv      *Server
	detached bool
}

// Detach hands the caller's handler slot to a new handler goroutine, so a
// call that will now only wait (for an fsync shared by many calls, say)
// does not hold one of the Handlers while it waits; its reply is still
// sent when the handler returns. This is how the server gives the effect
// of Hadoop's asynchronous edit logging without making handlers reply out
// of band. Calling it more than once, or outside a server, does nothing.
func (c *Call) Detach() {
	if c == nil || c.srv == nil || c.detached {
		return
	}
	c.detached = true
	c.srv.wg.Add(1)
	go c.srv.handlerLoop()
}

// Method is one RPC method of a protocol.
type Method struct {
	// NewRequest returns an empty request message to unmarshal into.
	NewRequest func() proto.Message
	// Handle serves the call. Returning an *Error (or an error wrapping one)
	// sends that exception class and message; any other error is sent as
	// java.io.IOException. A nil response is sent as an empty message.
	// ctx is cancelled when the client's connection closes.
	Handle func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error)
}

// Protocol is a table of methods served under one protocol name.
type Protocol struct {
	// Name is the declaringClassProtocolName the clients send.
	Name string
	// Methods maps method names to their implementations.
	Methods map[string]Method
}

// Options configures a Server. Zero values mean the defaults, which are
// Hadoop's.
type Options struct {
	// MaxDataLength is the largest request frame accepted
	// (ipc.maximum.data.length, default 64 MiB).
	MaxDataLength int
	// Handlers is the number of worker goroutines serving calls
	// (dfs.namenode.handler.count, default 10).
	Handlers int
	// QueueSize is the capacity of the call queue shared by the handlers
	// (default Handlers × 100, ipc.server.handler.queue.size being the
	// per-handler length). Calls beyond it are answered at once with
	// RetriableException "Server too busy".
	QueueSize int
	// IdleTimeout: once IdleThreshold connections are open, connections with
	// no call in flight for this long are closed (2 ×
	// ipc.client.connection.maxidletime, default 20 s). Negative disables.
	IdleTimeout time.Duration
	// IdleThreshold is the number of open connections from which idle ones
	// are closed (ipc.client.idlethreshold, default 4000).
	IdleThreshold int
	// HandshakeTimeout bounds the time from accept to the end of the
	// connection context (default 10 s). Negative disables.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a client; a client that stops
	// reading is disconnected (default 60 s). Negative disables.
	WriteTimeout time.Duration
	// Logger receives the server's logs (default logrus.StandardLogger()).
	Logger logrus.FieldLogger
}

func (o *Options) setDefaults() {
	if o.MaxDataLength <= 0 {
		o.MaxDataLength = DefaultMaxDataLength
	}
	if o.Handlers <= 0 {
		o.Handlers = 10
	}
	if o.QueueSize <= 0 {
		o.QueueSize = o.Handlers * 100
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 20 * time.Second
	}
	if o.IdleThreshold <= 0 {
		o.IdleThreshold = 4000
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = logrus.StandardLogger()
	}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("ipc: server closed")

type methodEntry struct {
	protocol, name string
	Method
}

type protocolTable struct {
	name    string
	methods map[string]*methodEntry
}

// Server serves Hadoop IPC calls. Create it with NewServer.
type Server struct {
	opts      Options
	log       logrus.FieldLogger
	debug     bool
	protocols map[string]*protocolTable
	queue     chan *serverCall
	quit      chan struct{}
	startOnce sync.Once

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup
}

// NewServer returns a server for the given protocols. It panics if a method
// lacks NewRequest or Handle (a programming error).
func NewServer(opts Options, protocols ...Protocol) *Server {
	opts.setDefaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		debug:     levelEnabled(opts.Logger, logrus.DebugLevel),
		protocols: make(map[string]*protocolTable, len(protocols)),
		queue:     make(chan *serverCall, opts.QueueSize),
		quit:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	for _, p := range protocols {
		t := s.protocols[p.Name]
		if t == nil {
			t = &protocolTable{name: p.Name, methods: make(map[string]*methodEntry, len(p.Methods))}
			s.protocols[p.Name] = t
		}
		for name, m := range p.Methods {
			if m.NewRequest == nil || m.Handle == nil {
				panic("ipc: method " + p.Name + "." + name + " lacks NewRequest or Handle")
			}
			t.methods[name] = &methodEntry{protocol: p.Name, name: name, Method: m}
		}
	}
	return s
}

// levelEnabled reports whether l logs at level (true when it cannot tell).
func levelEnabled(l logrus.FieldLogger, level logrus.Level) bool {
	switch l := l.(type) {
	case *logrus.Logger:
		return l.IsLevelEnabled(level)
	case *logrus.Entry:
		return l.Logger.IsLevelEnabled(level)
	}
	return true
}

// start launches the handlers and the idle scanner once.
func (s *Server) start() {
	s.startOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		s.wg.Add(s.opts.Handlers)
		for i := 0; i < s.opts.Handlers; i++ {
			go s.handlerLoop()
		}
		if s.opts.IdleTimeout > 0 {
			s.wg.Add(1)
			go s.idleScanner()
		}
	})
}

// Serve accepts connections on ln and serves them until Close (then it
// returns ErrServerClosed) or until ln fails.
func (s *Server) Serve(ln net.Listener) error {
	s.start()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.WithError(err).WithField("retry_in", backoff).Warn("ipc: accept failed")
			select {
			case <-time.After(backoff):
			case <-s.quit:
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		s.serveConn(nc, false)
	}
}

// serveConn starts serving nc; with wait it blocks until nc is done.
func (s *Server) serveConn(nc net.Conn, wait bool) {
	s.start()
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if wait {
		c.serve()
		return
	}
	go c.serve()
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// numConns returns the number of open connections.
func (s *Server) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops accepting, closes every connection and waits for the
// server's goroutines, including running handlers, to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	close(s.quit)
	lns := make([]net.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var err error
	for _, ln := range lns {
		if e := ln.Close(); e != nil && !errors.Is(e, net.ErrClosed) && err == nil {
			err = e
		}
	}
	for _, c := range conns {
		c.abort()
	}
	s.wg.Wait()
	return err
}

// idleScanner closes idle connections once there are too many of them,
// as Hadoop's ConnectionManager does.
func (s *Server) idleScanner() {
	defer s.wg.Done()
	interval := min(s.opts.IdleTimeout/2, 10*time.Second)
	t := time.NewTicker(max(interval, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if len(s.conns) < s.opts.IdleThreshold {
			s.mu.Unlock()
			continue
		}
		cutoff := time.Now().Add(-s.opts.IdleTimeout).UnixNano()
		var idle []*conn
		for c := range s.conns {
			if c.inFlight.Load() == 0 && c.lastActive.Load() < cutoff {
				idle = append(idle, c)
			}
		}
		s.mu.Unlock()
		for _, c := range idle {
			if s.debug {
				c.log.Debug("ipc: closing idle connection")
			}
			c.abort()
		}
	}
}

// serverCall is a decoded call waiting in the queue for a handler.
type serverCall struct {
	c      *conn
	m      *methodEntry
	callID int32
	retry  int32
	client []byte
	body   []byte  // the request message (without its length prefix)
	buf    *[]byte // the frame buffer holding body, returned to the pool after decoding
}

var serverCallPool = sync.Pool{New: func() any { return new(serverCall) }}

func (s *Server) handlerLoop() {
	defer s.wg.Done()
	for {
		select {
		case sc := <-s.queue:
			if s.runCall(sc) {
				return // a replacement took this handler's place
			}
		case <-s.quit:
			return
		}
	}
}

// runCall decodes the request, runs the handler and writes the reply. It
// reports whether the handler detached (see Call.Detach).
func (s *Server) runCall(sc *serverCall) bool {
	c, m := sc.c, sc.m
	call := &Call{
		Protocol:   m.protocol,
		Method:     m.name,
		User:       c.user,
		ClientID:   sc.client,
		CallID:     sc.callID,
		RetryCount: sc.retry,
		RemoteAddr: c.remote,
		srv:        s,
	}
	req := m.NewRequest()
	err := proto.Unmarshal(sc.body, req)
	putFrameBuf(sc.buf)
	*sc = serverCall{}
	serverCallPool.Put(sc)

	h := respHeader{callID: call.CallID, clientID: call.ClientID, retryCount: call.RetryCount}
	var resp proto.Message
	if err != nil {
		h.status, h.class, h.code = statusError, ClassInvalidProtobuf, hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION
		h.msg = err.Error()
	} else if resp, err = m.Handle(c.ctx, call, req); err != nil {
		h.status = statusError
		h.class, h.msg, h.code = errorFor(err)
		if s.debug {
			c.log.WithFields(logrus.Fields{"callId": call.CallID, "method": m.name}).WithError(err).Debug("ipc: call failed")
		}
	}
	c.reply(&h, resp)
	c.lastActive.Store(time.Now().UnixNano())
	c.inFlight.Add(-1)
	return call.detached
}

// Frame buffers: small ones are pooled, large ones left to the GC.
const (
	frameBufSize    = 4 << 10
	maxPooledBuffer = 64 << 10
)

var frameBufPool = sync.Pool{New: func() any { b := make([]byte, 0, frameBufSize); return &b }}

func getFrameBuf() *[]byte { return frameBufPool.Get().(*[]byte) }

func putFrameBuf(b *[]byte) {
	if b == nil || cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	frameBufPool.Put(b)
}
