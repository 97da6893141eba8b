package ipc

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

func fuzzSeeds() [][]byte {
	sasl := frame(delimited(rpcHdr(callIDSASL)), delimited(&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_NEGOTIATE.Enum()}))
	return [][]byte{
		{},
		callFrame(1, "getFileInfo", "/a"),
		callFrame(2, "fail", "java.io.FileNotFoundException:x"),
		callFrame(3, "nope", "/"),
		frame(delimited(rpcHdr(callIDPing))),
		contextFrame("again"),
		sasl,
		frame(),
		{0x7f, 0xff, 0xff, 0xff},
		frame([]byte{50, 1, 2}),
		append(callFrame(4, "getFileInfo", "/b"), callFrame(5, "whoami", "/")...),
	}
}

// FuzzDecodeRequest checks that the frame decoders never panic and that the
// hand-written fast paths agree with proto.Unmarshal.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range fuzzSeeds() {
		if len(s) >= 4 {
			f.Add(s[4:])
		}
	}
	resp, _ := appendResponse(nil, &respHeader{callID: 3, status: statusError, class: "c", msg: "m",
		code: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION, clientID: testClientID}, nil)
	f.Add(resp[4:])
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRequest(data)
		msg, rest, serr := splitDelimited(data)
		if serr != nil {
			if err == nil {
				t.Fatalf("decodeRequest accepted a frame without a header: %+v", r)
			}
			return
		}
		fast, ferr := decodeRPCHeader(msg)
		slow, slowErr := decodeRPCHeaderSlow(msg)
		if (ferr == nil) != (slowErr == nil) {
			t.Fatalf("RpcRequestHeaderProto: fast error %v, proto.Unmarshal error %v", ferr, slowErr)
		}
		if ferr == nil && (fast.callID != slow.callID || fast.retryCount != slow.retryCount ||
			!bytes.Equal(fast.clientID, slow.clientID) || fast.kind != slow.kind || fast.op != slow.op ||
			fast.hasKind != slow.hasKind || fast.hasOp != slow.hasOp || fast.hasStateID != slow.hasStateID ||
			fast.stateID != slow.stateID) {
			t.Fatalf("RpcRequestHeaderProto: fast %+v, proto.Unmarshal %+v", fast, slow)
		}
		if (err == nil) != (ferr == nil) {
			t.Fatalf("decodeRequest error %v, header error %v", err, ferr)
		}
		if hmsg, _, err := splitDelimited(rest); err == nil {
			fast, ferr := decodeReqHeader(hmsg)
			slow, slowErr := decodeReqHeaderSlow(hmsg)
			if (ferr == nil) != (slowErr == nil) {
				t.Fatalf("RequestHeaderProto: fast error %v, proto.Unmarshal error %v", ferr, slowErr)
			}
			if ferr == nil && (!bytes.Equal(fast.method, slow.method) || !bytes.Equal(fast.protocol, slow.protocol) || fast.version != slow.version) {
				t.Fatalf("RequestHeaderProto: fast %+v, proto.Unmarshal %+v", fast, slow)
			}
		}
		// The client's response decoder must agree with proto.Unmarshal too.
		fr, ferr2 := decodeResponse(data)
		sr, serr2 := decodeResponseSlow(msg, rest)
		if (ferr2 == nil) != (serr2 == nil) {
			t.Fatalf("RpcResponseHeaderProto: fast error %v, proto.Unmarshal error %v", ferr2, serr2)
		}
		if ferr2 == nil && (fr.callID != sr.callID || fr.status != sr.status || fr.class != sr.class ||
			fr.msg != sr.msg || fr.code != sr.code || !bytes.Equal(fr.body, sr.body)) {
			t.Fatalf("RpcResponseHeaderProto: fast %+v, proto.Unmarshal %+v", fr, sr)
		}
	})
}

// FuzzServerConn feeds arbitrary bytes to a server connection, raw and
// after a valid preamble and connection context: the server must neither
// panic nor hang.
func FuzzServerConn(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Add(append([]byte{'h', 'r', 'p', 'c', 9, 0, authSASL}, frame(delimited(rpcHdr(callIDSASL)),
		delimited(&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_NEGOTIATE.Enum()}))...))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte{'h', 'r', 'p', 'c', 8, 0, 0})
	prefix := append(append([]byte{}, preamble...), contextFrame("fuzz")...)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewServer(Options{
			Logger:           quietLogger(),
			MaxDataLength:    1 << 20,
			Handlers:         2,
			QueueSize:        2,
			HandshakeTimeout: 5 * time.Second,
			WriteTimeout:     5 * time.Second,
			IdleTimeout:      -1,
		}, Protocol{Name: testProtocol, Methods: testMethods()})
		defer func() {
			closed := make(chan struct{})
			go func() { s.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Server.Close hangs")
			}
		}()
		for _, input := range [][]byte{data, append(prefix[:len(prefix):len(prefix)], data...)} {
			client, server := net.Pipe()
			done := make(chan struct{})
			go func() {
				s.serveConn(server, true)
				close(done)
			}()
			go io.Copy(io.Discard, client)
			for p := input; len(p) > 0; {
				n := min(len(p), 1+int(p[0])%512) // vary the write sizes
				if _, err := client.Write(p[:n]); err != nil {
					break
				}
				p = p[n:]
			}
			client.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("server connection still running 10 s after the client closed (input %q)", input)
			}
		}
	})
}

// TestDecodeRequestProtoEquivalence spot-checks the fast decoder on
// headers built by the generated code.
func TestDecodeRequestProtoEquivalence(t *testing.T) {
	hdrs := []*hadooppb.RpcRequestHeaderProto{
		rpcHdr(0),
		{CallId: proto.Int32(-33), ClientId: []byte{}},
		{RpcKind: hadooppb.RpcKindProto_RPC_WRITABLE.Enum(), CallId: proto.Int32(1 << 30), ClientId: testClientID,
			RetryCount: proto.Int32(-5), StateId: proto.Int64(-1)},
	}
	for _, h := range hdrs {
		b, err := proto.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := decodeRPCHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if fast.callID != h.GetCallId() || fast.retryCount != h.GetRetryCount() || !bytes.Equal(fast.clientID, h.GetClientId()) ||
			fast.hasKind != (h.RpcKind != nil) || fast.kind != int32(h.GetRpcKind()) || fast.stateID != h.GetStateId() {
			t.Fatalf("decoded %+v from %v", fast, h)
		}
	}
}
