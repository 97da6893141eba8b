package ipc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

type errCode = hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto

func TestCalls(t *testing.T) {
	_, addr := startServer(t, Options{}, nil)
	c := dialClient(t, addr, ClientOptions{User: "alice"})
	ctx := context.Background()

	tests := []struct {
		name      string
		method    string
		src       string
		protocol  string
		wantOwner string
		wantGroup string
		wantClass string
		wantMsg   string
		wantCode  errCode
	}{
		{name: "success", method: "getFileInfo", src: "/a/b", wantOwner: "hdfs"},
		{name: "caller identity", method: "whoami", wantOwner: "alice", wantGroup: testProtocol + "#whoami"},
		{name: "handler error class", method: "fail", src: "java.io.FileNotFoundException:File does not exist: /x",
			wantClass: "java.io.FileNotFoundException", wantMsg: "File does not exist: /x",
			wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION},
		{name: "plain error", method: "fail", src: "plain:disk on fire",
			wantClass: ClassIOException, wantMsg: "disk on fire", wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION},
		{name: "standby", method: "fail", src: ClassStandby + ":Operation category READ is not supported in state standby",
			wantClass: ClassStandby, wantMsg: "Operation category READ is not supported in state standby",
			wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION},
		{name: "unknown method", method: "frobnicate", wantClass: ClassNoSuchMethod,
			wantMsg:  "Unknown method frobnicate called on " + testProtocol + " protocol.",
			wantCode: hadooppb.RpcResponseHeaderProto_ERROR_NO_SUCH_METHOD},
		{name: "unknown protocol", method: "getFileInfo", protocol: "org.example.Nope", wantClass: ClassNoSuchProtocol,
			wantMsg: "Unknown protocol: org.example.Nope", wantCode: hadooppb.RpcResponseHeaderProto_ERROR_NO_SUCH_PROTOCOL},
		{name: "nil response", method: "empty"},
		{name: "still usable", method: "getFileInfo", src: "/after", wantOwner: "hdfs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := new(hadooppb.GetFileInfoResponseProto)
			err := c.CallWith(ctx, tc.method, CallOpts{Protocol: tc.protocol},
				&hadooppb.GetFileInfoRequestProto{Src: proto.String(tc.src)}, resp)
			if tc.wantClass != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("got %v, want an *Error", err)
				}
				if e.Class != tc.wantClass || e.Message != tc.wantMsg || e.Code != tc.wantCode || e.Fatal {
					t.Fatalf("got %+v, want class %q message %q code %v", e, tc.wantClass, tc.wantMsg, tc.wantCode)
				}
				if !IsClass(fmt.Errorf("wrapped: %w", err), tc.wantClass) {
					t.Fatalf("IsClass(%v, %q) = false", err, tc.wantClass)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantOwner == "" {
				if resp.Fs != nil {
					t.Fatalf("got %v, want an empty response", resp)
				}
				return
			}
			if got := resp.GetFs().GetOwner(); got != tc.wantOwner {
				t.Fatalf("owner %q, want %q", got, tc.wantOwner)
			}
			if tc.wantGroup != "" && resp.GetFs().GetGroup() != tc.wantGroup {
				t.Fatalf("group %q, want %q", resp.GetFs().GetGroup(), tc.wantGroup)
			}
			if tc.src != "" && string(resp.GetFs().GetPath()) != tc.src {
				t.Fatalf("path %q, want %q", resp.GetFs().GetPath(), tc.src)
			}
		})
	}
}

func TestConcurrentCallsOutOfOrder(t *testing.T) {
	var maxInFlight, inFlight atomic.Int32
	methods := testMethods()
	methods["getFileInfo"] = Method{
		NewRequest: newGetFileInfo,
		Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			return echoMethod.Handle(ctx, call, req)
		},
	}
	_, addr := startServer(t, Options{Handlers: 8}, methods)
	c := dialClient(t, addr, ClientOptions{})

	const goroutines, perGoroutine = 40, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perGoroutine {
				src := fmt.Sprintf("/g%d/f%d", g, i)
				resp, err := getFileInfo(context.Background(), c, "getFileInfo", src)
				if err != nil {
					errs <- err
					return
				}
				if got := string(resp.GetFs().GetPath()); got != src {
					errs <- fmt.Errorf("got reply for %q, want %q", got, src)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxInFlight.Load() < 2 {
		t.Errorf("at most %d calls ran at once; want concurrency on one connection", maxInFlight.Load())
	}
}

func TestOutOfOrderReplies(t *testing.T) {
	// Call 1 blocks until call 2 has been answered: replies must not be
	// serialized per connection.
	release := make(chan struct{})
	methods := testMethods()
	methods["block"] = Method{
		NewRequest: newGetFileInfo,
		Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
			<-release
			return nil, nil
		},
	}
	_, addr := startServer(t, Options{Handlers: 2}, methods)
	r := dialRaw(t, addr)
	r.write(preamble, contextFrame("bob"), callFrame(1, "block", "/"), callFrame(2, "getFileInfo", "/x"))
	h, _ := r.read()
	if h.GetCallId() != 2 || h.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
		t.Fatalf("first reply %v, want call 2 SUCCESS", h)
	}
	close(release)
	if h, _ = r.read(); h.GetCallId() != 1 {
		t.Fatalf("second reply %v, want call 1", h)
	}
}

func TestPingIgnored(t *testing.T) {
	_, addr := startServer(t, Options{}, nil)
	r := dialRaw(t, addr)
	ping := frame(delimited(rpcHdr(callIDPing)))
	r.write(preamble, ping, contextFrame("bob"), ping, callFrame(7, "getFileInfo", "/p"), ping)
	h, body := r.read()
	if h.GetCallId() != 7 || h.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
		t.Fatalf("got %v, want a SUCCESS for call 7", h)
	}
	var resp hadooppb.GetFileInfoResponseProto
	if err := unmarshalDelimited(body, &resp); err != nil || string(resp.GetFs().GetPath()) != "/p" {
		t.Fatalf("body %v (%v)", &resp, err)
	}
	if h.GetServerIpcVersionNum() != 9 || !bytes.Equal(h.GetClientId(), testClientID) || h.GetRetryCount() != -1 {
		t.Fatalf("header %v: want serverIpcVersionNum 9 and the call's clientId and retryCount", h)
	}
	// Nothing answers the pings.
	r.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := r.br.ReadByte(); err == nil || !isTimeout(err) {
		t.Fatalf("got %v, want no data (timeout)", err)
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func TestQueueFull(t *testing.T) {
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	methods := testMethods()
	methods["block"] = Method{
		NewRequest: newGetFileInfo,
		Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
			started <- struct{}{}
			<-release
			return nil, nil
		},
	}
	s, addr := startServer(t, Options{Handlers: 1, QueueSize: 1}, methods)
	c := dialClient(t, addr, ClientOptions{})
	ctx := context.Background()

	done := make(chan error, 2)
	go func() { _, err := getFileInfo(ctx, c, "block", "/a"); done <- err }()
	<-started // the only handler is busy
	go func() { _, err := getFileInfo(ctx, c, "block", "/b"); done <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.queue) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("second call never queued")
		}
		time.Sleep(time.Millisecond)
	}
	_, err := getFileInfo(ctx, c, "getFileInfo", "/c")
	var e *Error
	if !errors.As(err, &e) || e.Class != ClassRetriable || e.Message != "Server too busy" ||
		e.Code != hadooppb.RpcResponseHeaderProto_ERROR_RPC_SERVER || e.Fatal {
		t.Fatalf("got %v, want RetriableException: Server too busy", err)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := getFileInfo(ctx, c, "getFileInfo", "/d"); err != nil {
		t.Fatalf("after the queue drained: %v", err)
	}
}

func TestSASLNegotiateFallsBackToSimple(t *testing.T) {
	_, addr := startServer(t, Options{}, nil)
	t.Run("client", func(t *testing.T) {
		c := dialClient(t, addr, ClientOptions{SASL: true, User: "carol"})
		resp, err := getFileInfo(context.Background(), c, "whoami", "/")
		if err != nil || resp.GetFs().GetOwner() != "carol" {
			t.Fatalf("got %v, %v", resp, err)
		}
	})
	t.Run("raw negotiate", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{'h', 'r', 'p', 'c', 9, 0, authSASL},
			frame(delimited(rpcHdr(callIDSASL)), delimited(&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_NEGOTIATE.Enum()})))
		h, body := r.read()
		var sasl hadooppb.RpcSaslProto
		if err := unmarshalDelimited(body, &sasl); err != nil {
			t.Fatal(err)
		}
		if int32(h.GetCallId()) != callIDSASL || h.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS ||
			sasl.GetState() != hadooppb.RpcSaslProto_SUCCESS {
			t.Fatalf("got %v %v, want SASL SUCCESS", h, &sasl)
		}
		r.write(contextFrame("dave"), callFrame(0, "whoami", "/"))
		if h, _ := r.read(); h.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
			t.Fatalf("call after SASL: %v", h)
		}
	})
	t.Run("raw initiate simple", func(t *testing.T) {
		r := dialRaw(t, addr)
		initiate := &hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_INITIATE.Enum(),
			Auths: []*hadooppb.RpcSaslProto_SaslAuth{{Method: proto.String("SIMPLE"), Mechanism: proto.String("")}}}
		r.write([]byte{'h', 'r', 'p', 'c', 9, 0, authSASL}, frame(delimited(rpcHdr(callIDSASL)), delimited(initiate)),
			contextFrame("erin"), callFrame(3, "whoami", "/"))
		if h, _ := r.read(); h.GetCallId() != 3 || h.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
			t.Fatalf("got %v, want call 3 SUCCESS and no SASL reply", h)
		}
	})
}

func TestHandshakeTimeout(t *testing.T) {
	_, addr := startServer(t, Options{HandshakeTimeout: 200 * time.Millisecond}, nil)
	tests := []struct {
		name string
		send [][]byte
	}{
		{"silent", nil},
		{"partial preamble", [][]byte{[]byte("hrp")}},
		{"preamble only", [][]byte{preamble}},
		{"half a context", [][]byte{preamble, contextFrame("x")[:6]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := dialRaw(t, addr)
			r.write(tc.send...)
			start := time.Now()
			r.expectClosed(3 * time.Second)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("closed after %v", d)
			}
		})
	}
	t.Run("established connection stays", func(t *testing.T) {
		t.Parallel()
		c := dialClient(t, addr, ClientOptions{})
		time.Sleep(500 * time.Millisecond)
		if _, err := getFileInfo(context.Background(), c, "getFileInfo", "/"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIdleConnections(t *testing.T) {
	tests := []struct {
		name      string
		threshold int
		wantOpen  bool
	}{
		{"below threshold stays open", 0, true},
		{"at threshold idle is closed", 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, addr := startServer(t, Options{IdleTimeout: 200 * time.Millisecond, IdleThreshold: tc.threshold}, nil)
			c := dialClient(t, addr, ClientOptions{})
			ctx := context.Background()
			if _, err := getFileInfo(ctx, c, "getFileInfo", "/"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(700 * time.Millisecond)
			_, err := getFileInfo(ctx, c, "getFileInfo", "/")
			if tc.wantOpen && err != nil {
				t.Fatalf("call on an idle connection below the threshold: %v", err)
			}
			if !tc.wantOpen && (err == nil || s.numConns() != 0) {
				t.Fatalf("idle connection not closed: err %v, %d connections", err, s.numConns())
			}
		})
	}
}

func TestBusyConnectionNotIdle(t *testing.T) {
	release := make(chan struct{})
	methods := testMethods()
	methods["block"] = Method{
		NewRequest: newGetFileInfo,
		Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
			<-release
			return nil, nil
		},
	}
	_, addr := startServer(t, Options{IdleTimeout: 100 * time.Millisecond, IdleThreshold: 1}, methods)
	c := dialClient(t, addr, ClientOptions{})
	go func() { time.Sleep(600 * time.Millisecond); close(release) }()
	if _, err := getFileInfo(context.Background(), c, "block", "/"); err != nil {
		t.Fatalf("a connection with a call in flight was closed: %v", err)
	}
}

func TestWriteTimeoutClosesStuckClient(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	methods := testMethods()
	methods["big"] = Method{
		NewRequest: newGetFileInfo,
		Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
			return &hadooppb.GetFileInfoResponseProto{Fs: fileStatus(big)}, nil
		},
	}
	s, addr := startServer(t, Options{WriteTimeout: 200 * time.Millisecond, Handlers: 2}, methods)
	r := dialRaw(t, addr)
	r.write(preamble, contextFrame("slow"))
	for i := range 64 { // far more than the socket buffers hold; never read
		r.write(callFrame(int32(i), "big", "/"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.numConns() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection of a client that stopped reading is still open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The server still serves others.
	c := dialClient(t, addr, ClientOptions{})
	if _, err := getFileInfo(context.Background(), c, "getFileInfo", "/"); err != nil {
		t.Fatal(err)
	}
}

func TestCallIDAndRetryCount(t *testing.T) {
	var mu sync.Mutex
	var seen []*Call
	methods := testMethods()
	methods["record"] = Method{
		NewRequest: newGetFileInfo,
		Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
			mu.Lock()
			seen = append(seen, call)
			mu.Unlock()
			return nil, nil
		},
	}
	_, addr := startServer(t, Options{}, methods)
	c := dialClient(t, addr, ClientOptions{ClientID: []byte("fedcba9876543210")})
	req := &hadooppb.GetFileInfoRequestProto{Src: proto.String("/")}
	for retry := range int32(2) {
		if err := c.CallWith(context.Background(), "record", CallOpts{CallID: 42, RetryCount: retry}, req,
			new(hadooppb.GetFileInfoResponseProto)); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("%d calls seen", len(seen))
	}
	for i, call := range seen {
		if call.CallID != 42 || call.RetryCount != int32(i) || !bytes.Equal(call.ClientID, c.ClientID()) ||
			call.User != "alice" || call.RemoteAddr == nil {
			t.Errorf("call %d: %+v", i, call)
		}
	}
}

func TestClientContextCancel(t *testing.T) {
	release := make(chan struct{})
	methods := testMethods()
	methods["block"] = Method{
		NewRequest: newGetFileInfo,
		Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
			<-release
			return nil, nil
		},
	}
	_, addr := startServer(t, Options{}, methods)
	defer close(release)
	c := dialClient(t, addr, ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := getFileInfo(ctx, c, "block", "/"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if _, err := getFileInfo(context.Background(), c, "getFileInfo", "/"); err != nil {
		t.Fatalf("connection unusable after a cancelled call: %v", err)
	}
}

func TestClientSeesServerClose(t *testing.T) {
	s, addr := startServer(t, Options{}, nil)
	c := dialClient(t, addr, ClientOptions{})
	if _, err := getFileInfo(context.Background(), c, "getFileInfo", "/"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := getFileInfo(context.Background(), c, "getFileInfo", "/")
	var e *Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("got %v, want a connection error", err)
	}
	ln, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		release := make(chan struct{})
		methods := testMethods()
		methods["slow"] = Method{
			NewRequest: newGetFileInfo,
			Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
				select {
				case <-release:
				case <-ctx.Done(): // the connection went away
				}
				return nil, nil
			},
		}
		s := NewServer(Options{Logger: quietLogger(), IdleTimeout: 50 * time.Millisecond}, Protocol{Name: testProtocol, Methods: methods})
		ln, err := newLoopbackListener()
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		addr := ln.Addr().String()
		var clients []*Client
		for range 4 {
			c, err := Dial(context.Background(), addr, ClientOptions{Protocol: testProtocol, User: "u"})
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
			if _, err := getFileInfo(context.Background(), c, "getFileInfo", "/"); err != nil {
				t.Fatal(err)
			}
		}
		// A call in flight during Close and a connection stuck in its handshake.
		inflight := make(chan error, 1)
		go func() { _, err := getFileInfo(context.Background(), clients[0], "slow", "/"); inflight <- err }()
		raw := dialRaw(t, addr)
		raw.write([]byte("hr"))
		time.Sleep(50 * time.Millisecond)
		s.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		if err := <-inflight; err == nil {
			t.Error("call in flight during Close succeeded")
		}
		for _, c := range clients {
			c.Close()
		}
		raw.nc.Close()
		close(release)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
