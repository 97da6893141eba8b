package ipc

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func newLoopbackListener() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func withoutField(m *hadooppb.RpcRequestHeaderProto, clear func(*hadooppb.RpcRequestHeaderProto)) *hadooppb.RpcRequestHeaderProto {
	m = proto.Clone(m).(*hadooppb.RpcRequestHeaderProto)
	clear(m)
	return m
}

// TestFatalFrames sends malformed input after a valid preamble (and
// context, unless noContext) and expects one FATAL response, then the close.
func TestFatalFrames(t *testing.T) {
	_, addr := startServer(t, Options{MaxDataLength: 1024}, nil)
	ctxFrame := contextFrame("mallory")
	tests := []struct {
		name      string
		noContext bool
		send      []byte
		wantCall  int32
		wantClass string
		wantCode  errCode
		wantMsg   string
	}{
		{name: "frame over max length", send: binary.BigEndian.AppendUint32(nil, 2000),
			wantCall: -1, wantClass: ClassIOException, wantCode: codeInvalidHeader,
			wantMsg: "Requested data length 2000 is longer than maximum configured RPC length 1024"},
		{name: "negative length", send: []byte{0x80, 0, 0, 1},
			wantCall: -1, wantClass: ClassIOException, wantCode: codeInvalidHeader, wantMsg: "Unexpected data length -2147483647"},
		{name: "zero-length frame", send: frame(),
			wantCall: -1, wantClass: ClassRPCServer, wantCode: codeDeserializing, wantMsg: "Error decoding RpcRequestHeaderProto"},
		{name: "truncated length varint", send: frame([]byte{0x80}),
			wantCall: -1, wantClass: ClassRPCServer, wantCode: codeDeserializing, wantMsg: "Error decoding RpcRequestHeaderProto"},
		{name: "truncated varint inside header", send: frame([]byte{2, 0x18, 0x80}),
			wantCall: -1, wantClass: ClassRPCServer, wantCode: codeDeserializing, wantMsg: "Error decoding RpcRequestHeaderProto"},
		{name: "header length larger than frame", send: frame([]byte{50, 1, 2, 3}),
			wantCall: -1, wantClass: ClassRPCServer, wantCode: codeDeserializing, wantMsg: "Error decoding RpcRequestHeaderProto"},
		{name: "missing clientId", send: frame(delimited(withoutField(rpcHdr(5), func(m *hadooppb.RpcRequestHeaderProto) { m.ClientId = nil }))),
			wantCall: -1, wantClass: ClassRPCServer, wantCode: codeDeserializing, wantMsg: "Error decoding RpcRequestHeaderProto"},
		{name: "garbage header", send: frame([]byte{3, 0xff, 0xff, 0xff}),
			wantCall: -1, wantClass: ClassRPCServer, wantCode: codeDeserializing, wantMsg: "Error decoding RpcRequestHeaderProto"},
		{name: "call before context", noContext: true, send: callFrame(5, "getFileInfo", "/"),
			wantCall: 5, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "Connection context not established"},
		{name: "no rpc op", send: frame(delimited(withoutField(rpcHdr(5), func(m *hadooppb.RpcRequestHeaderProto) { m.RpcOp = nil }))),
			wantCall: 5, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "No rpc op in rpcRequestHeader"},
		{name: "continuation op", send: frame(delimited(withoutField(rpcHdr(5), func(m *hadooppb.RpcRequestHeaderProto) {
			m.RpcOp = hadooppb.RpcRequestHeaderProto_RPC_CONTINUATION_PACKET.Enum()
		}))), wantCall: 5, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "does not implement rpc header operationRPC_CONTINUATION_PACKET"},
		{name: "no rpc kind", send: frame(delimited(withoutField(rpcHdr(5), func(m *hadooppb.RpcRequestHeaderProto) { m.RpcKind = nil }))),
			wantCall: 5, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "No rpc kind in rpcRequestHeader"},
		{name: "writable rpc kind", send: frame(delimited(withoutField(rpcHdr(5), func(m *hadooppb.RpcRequestHeaderProto) {
			m.RpcKind = hadooppb.RpcKindProto_RPC_WRITABLE.Enum()
		}))), wantCall: 5, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "Unknown rpc kind in rpc headerRPC_WRITABLE"},
		{name: "unknown out of band call", send: frame(delimited(rpcHdr(-7))),
			wantCall: -7, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "Unknown out of band call #-7"},
		{name: "second context", send: ctxFrame,
			wantCall: -3, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "Connection context already processed"},
		{name: "bad context", noContext: true, send: frame(delimited(rpcHdr(callIDContext)), []byte{5, 1, 2}),
			wantCall: -3, wantClass: ClassRPCServer, wantCode: codeDeserializing, wantMsg: "Error decoding IpcConnectionContextProto"},
		{name: "sasl not requested", send: frame(delimited(rpcHdr(callIDSASL)),
			delimited(&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_NEGOTIATE.Enum()})),
			wantCall: callIDSASL, wantClass: ClassRPCServer, wantCode: codeInvalidHeader, wantMsg: "SASL protocol not requested by client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := dialRaw(t, addr)
			r.write(preamble)
			if !tc.noContext {
				r.write(ctxFrame)
			}
			r.write(tc.send)
			h, body := r.read()
			if h.GetStatus() != hadooppb.RpcResponseHeaderProto_FATAL || int32(h.GetCallId()) != tc.wantCall ||
				h.GetExceptionClassName() != tc.wantClass || h.GetErrorDetail() != tc.wantCode ||
				!strings.Contains(h.GetErrorMsg(), tc.wantMsg) || len(body) != 0 || h.GetServerIpcVersionNum() != 9 {
				t.Fatalf("got %v (body %d bytes), want FATAL call %d %s %v %q", h, len(body), tc.wantCall, tc.wantClass, tc.wantCode, tc.wantMsg)
			}
			r.expectClosed(5 * time.Second)
		})
	}
}

func TestPreamble(t *testing.T) {
	_, addr := startServer(t, Options{}, nil)
	t.Run("wrong version", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{'h', 'r', 'p', 'c', 7, 0, 0})
		h, _ := r.read()
		if h.GetStatus() != hadooppb.RpcResponseHeaderProto_FATAL ||
			h.GetErrorDetail() != hadooppb.RpcResponseHeaderProto_FATAL_VERSION_MISMATCH ||
			h.GetExceptionClassName() != "org.apache.hadoop.ipc.RPC$VersionMismatch" ||
			h.GetErrorMsg() != "Server IPC version 9 cannot communicate with client version 7" {
			t.Fatalf("got %v", h)
		}
		r.expectClosed(5 * time.Second)
	})
	t.Run("garbage magic", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte("SSH-2.0-OpenSSH\r\n"))
		r.expectClosed(5 * time.Second)
	})
	t.Run("http", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte("GET / HTTP/1.1\r\n\r\n"))
		line, err := r.br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 404 Not Found\r\n" {
			t.Fatalf("got %q, %v", line, err)
		}
	})
	t.Run("unknown auth protocol", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{'h', 'r', 'p', 'c', 9, 0, 5})
		h, _ := r.read()
		if h.GetStatus() != hadooppb.RpcResponseHeaderProto_FATAL || h.GetExceptionClassName() != ClassIPCException ||
			h.GetErrorMsg() != "Unknown auth protocol:5" || h.GetErrorDetail() != codeUnauthorized {
			t.Fatalf("got %v", h)
		}
		r.expectClosed(5 * time.Second)
	})
}

// TestErrorFrames: request problems past the RPC header are ERRORs (as in
// Hadoop, where the request is decoded by the handler); the connection stays.
func TestErrorFrames(t *testing.T) {
	_, addr := startServer(t, Options{}, nil)
	hdr := delimited(rpcHdr(9))
	tests := []struct {
		name      string
		send      []byte
		wantClass string
		wantCode  errCode
		wantMsg   string
	}{
		{name: "no request header", send: frame(hdr),
			wantClass: ClassInvalidProtobuf, wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION, wantMsg: "Error decoding RequestHeaderProto"},
		{name: "request header missing fields", send: frame(hdr, delimited(&hadooppb.RequestHeaderProto{MethodName: proto.String("getFileInfo")})),
			wantClass: ClassInvalidProtobuf, wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION, wantMsg: "missing required"},
		{name: "no request body", send: frame(hdr, delimited(reqHdr("getFileInfo"))),
			wantClass: ClassInvalidProtobuf, wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION, wantMsg: "ended unexpectedly"},
		{name: "request body truncated", send: frame(hdr, delimited(reqHdr("getFileInfo")), []byte{10, 10, 3}),
			wantClass: ClassInvalidProtobuf, wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION, wantMsg: "ended unexpectedly"},
		{name: "request missing required field", send: frame(hdr, delimited(reqHdr("getFileInfo")), delimited(&hadooppb.GetFileInfoRequestProto{})),
			wantClass: ClassInvalidProtobuf, wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION, wantMsg: "src"},
		{name: "request body garbage", send: frame(hdr, delimited(reqHdr("getFileInfo")), []byte{3, 0xff, 0xff, 0xff}),
			wantClass: ClassInvalidProtobuf, wantCode: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := dialRaw(t, addr)
			r.write(preamble, contextFrame("x"), tc.send)
			h, _ := r.read()
			if h.GetStatus() != hadooppb.RpcResponseHeaderProto_ERROR || h.GetCallId() != 9 ||
				h.GetExceptionClassName() != tc.wantClass || h.GetErrorDetail() != tc.wantCode ||
				!strings.Contains(h.GetErrorMsg(), tc.wantMsg) {
				t.Fatalf("got %v, want ERROR %s %v %q", h, tc.wantClass, tc.wantCode, tc.wantMsg)
			}
			r.write(callFrame(10, "getFileInfo", "/ok"))
			if h, _ := r.read(); h.GetCallId() != 10 || h.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
				t.Fatalf("next call: %v", h)
			}
		})
	}
}

// TestUnknownFieldsAccepted: headers with fields we do not know (newer
// clients, e.g. routerFederatedState) take the slow decoding path.
func TestUnknownFieldsAccepted(t *testing.T) {
	_, addr := startServer(t, Options{}, nil)
	hdr, _ := proto.Marshal(rpcHdr(11))
	hdr = protowire.AppendTag(hdr, 9, protowire.BytesType)
	hdr = protowire.AppendBytes(hdr, []byte("router state"))
	hdr = protowire.AppendTag(hdr, 6, protowire.BytesType) // traceInfo
	hdr = protowire.AppendBytes(hdr, nil)
	r := dialRaw(t, addr)
	r.write(preamble, contextFrame("x"), frame(protowire.AppendBytes(nil, hdr), delimited(reqHdr("getFileInfo")),
		delimited(&hadooppb.GetFileInfoRequestProto{Src: proto.String("/u")})))
	if h, _ := r.read(); h.GetCallId() != 11 || h.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
		t.Fatalf("got %v", h)
	}
}
