package ipc

import (
	"bytes"
	"testing"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

func TestAppendResponse(t *testing.T) {
	body := &hadooppb.GetFileInfoResponseProto{Fs: fileStatus("/x")}
	tests := []struct {
		name string
		h    respHeader
		body proto.Message
	}{
		{"success", respHeader{callID: 7, status: statusSuccess, clientID: testClientID, retryCount: 0}, body},
		{"success empty body", respHeader{callID: 1 << 30, status: statusSuccess, clientID: []byte{}, retryCount: 3}, nil},
		{"error", respHeader{callID: 8, status: statusError, class: ClassStandby, msg: "standby",
			code: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION, clientID: testClientID, retryCount: -1}, nil},
		{"fatal negative call id", respHeader{callID: -1, status: statusFatal, class: ClassRPCServer, msg: "bad",
			code: codeInvalidHeader, clientID: []byte{}, retryCount: -1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := appendResponse([]byte("junk"), &tc.h, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			b = b[4:]
			if n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3]); n != len(b)-4 {
				t.Fatalf("length %d, frame %d", n, len(b)-4)
			}
			msg, rest, err := splitDelimited(b[4:])
			if err != nil {
				t.Fatal(err)
			}
			var got hadooppb.RpcResponseHeaderProto
			if err := proto.Unmarshal(msg, &got); err != nil {
				t.Fatal(err)
			}
			want := &hadooppb.RpcResponseHeaderProto{
				CallId:              proto.Uint32(uint32(tc.h.callID)),
				Status:              tc.h.status.Enum(),
				ServerIpcVersionNum: proto.Uint32(9),
				ClientId:            tc.h.clientID,
				RetryCount:          proto.Int32(tc.h.retryCount),
			}
			if tc.h.status != statusSuccess {
				want.ExceptionClassName, want.ErrorMsg, want.ErrorDetail = proto.String(tc.h.class), proto.String(tc.h.msg), tc.h.code.Enum()
			}
			if !proto.Equal(&got, want) {
				t.Fatalf("header %v, want %v", &got, want)
			}
			if tc.h.status == statusSuccess {
				var gotBody hadooppb.GetFileInfoResponseProto
				if err := unmarshalDelimited(rest, &gotBody); err != nil {
					t.Fatal(err)
				}
				if tc.body != nil && !proto.Equal(&gotBody, tc.body) {
					t.Fatalf("body %v, want %v", &gotBody, tc.body)
				}
			} else if len(rest) != 0 {
				t.Fatalf("%d bytes after an error header", len(rest))
			}
			r, err := decodeResponse(b[4:])
			if err != nil || r.callID != tc.h.callID || r.status != tc.h.status || r.class != tc.h.class || r.msg != tc.h.msg || r.code != got.GetErrorDetail() {
				t.Fatalf("decodeResponse: %+v, %v", r, err)
			}
		})
	}
}

func TestClientRequestEncoding(t *testing.T) {
	for _, callID := range []int32{0, 1, 1<<31 - 1, callIDContext, callIDSASL} {
		b := appendRPCHeader(nil, callID, 2, testClientID)
		b = appendReqHeader(b, "getFileInfo", testProtocol, 1)
		b, err := appendDelimited(b, &hadooppb.GetFileInfoRequestProto{Src: proto.String("/z")})
		if err != nil {
			t.Fatal(err)
		}
		msg, _, err := splitDelimited(b)
		if err != nil {
			t.Fatal(err)
		}
		var rh hadooppb.RpcRequestHeaderProto
		if err := proto.Unmarshal(msg, &rh); err != nil {
			t.Fatal(err)
		}
		want := rpcHdr(callID)
		want.RetryCount = proto.Int32(2)
		if !proto.Equal(&rh, want) {
			t.Fatalf("got %v, want %v", &rh, want)
		}
		r, err := decodeRequest(b)
		if err != nil || r.rpc.callID != callID || r.rpc.retryCount != 2 || !bytes.Equal(r.rpc.clientID, testClientID) ||
			!r.rpc.hasKind || !r.rpc.hasOp || r.rpc.kind != kindProtobuf || r.rpc.op != opFinal {
			t.Fatalf("decodeRequest: %+v, %v", r, err)
		}
		if callID >= 0 && (string(r.hdr.method) != "getFileInfo" || string(r.hdr.protocol) != testProtocol || r.hdr.version != 1 || r.hdrErr != nil) {
			t.Fatalf("request header %+v (%v)", r.hdr, r.hdrErr)
		}
	}
}
