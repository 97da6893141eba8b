package ipc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const testProtocol = "org.apache.hadoop.hdfs.protocol.ClientProtocol"

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.InfoLevel)
	return l
}

func quietLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.PanicLevel)
	return l
}

func fileStatus(path string) *hadooppb.HdfsFileStatusProto {
	return &hadooppb.HdfsFileStatusProto{
		FileType:         hadooppb.HdfsFileStatusProto_IS_FILE.Enum(),
		Path:             []byte(path),
		Length:           proto.Uint64(1234),
		Permission:       &hadooppb.FsPermissionProto{Perm: proto.Uint32(0o644)},
		Owner:            proto.String("hdfs"),
		Group:            proto.String("supergroup"),
		ModificationTime: proto.Uint64(1700000000000),
		AccessTime:       proto.Uint64(1700000000000),
		BlockReplication: proto.Uint32(3),
		Blocksize:        proto.Uint64(128 << 20),
		FileId:           proto.Uint64(16386),
	}
}

func newGetFileInfo() proto.Message { return new(hadooppb.GetFileInfoRequestProto) }

// echoMethod answers getFileInfo-shaped calls with a status for src.
var echoMethod = Method{
	NewRequest: newGetFileInfo,
	Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
		src := req.(*hadooppb.GetFileInfoRequestProto).GetSrc()
		return &hadooppb.GetFileInfoResponseProto{Fs: fileStatus(src)}, nil
	},
}

// testMethods is the default method table of test servers.
func testMethods() map[string]Method {
	return map[string]Method{
		"getFileInfo": echoMethod,
		// fail: src is "class:message" for an *Error, "plain:message" for a plain error.
		"fail": {
			NewRequest: newGetFileInfo,
			Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
				class, msg, _ := strings.Cut(req.(*hadooppb.GetFileInfoRequestProto).GetSrc(), ":")
				if class == "plain" {
					return nil, errors.New(msg)
				}
				return nil, Errorf(class, "%s", msg)
			},
		},
		// whoami: the status's owner is the caller, group the method.
		"whoami": {
			NewRequest: newGetFileInfo,
			Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
				st := fileStatus("/")
				st.Owner, st.Group = proto.String(call.User), proto.String(call.Protocol+"#"+call.Method)
				return &hadooppb.GetFileInfoResponseProto{Fs: st}, nil
			},
		},
		// empty returns a nil message.
		"empty": {
			NewRequest: newGetFileInfo,
			Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
				return nil, nil
			},
		},
	}
}

// startServer serves methods (under testProtocol) on a loopback port.
func startServer(t testing.TB, opts Options, methods map[string]Method) (*Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if methods == nil {
		methods = testMethods()
	}
	s := NewServer(opts, Protocol{Name: testProtocol, Methods: methods})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

func dialClient(t testing.TB, addr string, opts ClientOptions) *Client {
	t.Helper()
	if opts.Protocol == "" {
		opts.Protocol = testProtocol
	}
	if opts.User == "" {
		opts.User = "alice"
	}
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func getFileInfo(ctx context.Context, c *Client, method, src string) (*hadooppb.GetFileInfoResponseProto, error) {
	resp := new(hadooppb.GetFileInfoResponseProto)
	err := c.Call(ctx, method, &hadooppb.GetFileInfoRequestProto{Src: proto.String(src)}, resp)
	return resp, err
}

// ---- raw frames ----

var testClientID = []byte("0123456789abcdef")

func delimited(m proto.Message) []byte {
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return append(protowire.AppendVarint(nil, uint64(len(b))), b...)
}

// frame prefixes the concatenation of parts with its 4-byte length.
func frame(parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func rpcHdr(callID int32) *hadooppb.RpcRequestHeaderProto {
	return &hadooppb.RpcRequestHeaderProto{
		RpcKind:  hadooppb.RpcKindProto_RPC_PROTOCOL_BUFFER.Enum(),
		RpcOp:    hadooppb.RpcRequestHeaderProto_RPC_FINAL_PACKET.Enum(),
		CallId:   proto.Int32(callID),
		ClientId: testClientID,
	}
}

func reqHdr(method string) *hadooppb.RequestHeaderProto {
	return &hadooppb.RequestHeaderProto{
		MethodName:                 proto.String(method),
		DeclaringClassProtocolName: proto.String(testProtocol),
		ClientProtocolVersion:      proto.Uint64(1),
	}
}

var preamble = []byte{'h', 'r', 'p', 'c', 9, 0, 0}

func contextFrame(user string) []byte {
	return frame(delimited(rpcHdr(callIDContext)), delimited(&hadooppb.IpcConnectionContextProto{
		UserInfo: &hadooppb.UserInformationProto{EffectiveUser: proto.String(user)},
		Protocol: proto.String(testProtocol),
	}))
}

func callFrame(callID int32, method, src string) []byte {
	return frame(delimited(rpcHdr(callID)), delimited(reqHdr(method)),
		delimited(&hadooppb.GetFileInfoRequestProto{Src: proto.String(src)}))
}

type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) write(bs ...[]byte) {
	r.t.Helper()
	for _, b := range bs {
		if _, err := r.nc.Write(b); err != nil {
			r.t.Fatalf("write: %v", err)
		}
	}
}

// read reads one response frame within 5 s.
func (r *rawConn) read() (*hadooppb.RpcResponseHeaderProto, []byte) {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var l [4]byte
	if _, err := io.ReadFull(r.br, l[:]); err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(l[:]))
	if _, err := io.ReadFull(r.br, b); err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	msg, rest, err := splitDelimited(b)
	if err != nil {
		r.t.Fatalf("response header: %v", err)
	}
	h := new(hadooppb.RpcResponseHeaderProto)
	if err := proto.Unmarshal(msg, h); err != nil {
		r.t.Fatalf("response header: %v", err)
	}
	return h, rest
}

// expectClosed checks that the server closes the connection within d
// without sending anything more.
func (r *rawConn) expectClosed(d time.Duration) {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(d))
	b, err := r.br.ReadByte()
	if err == nil {
		r.t.Fatalf("got byte %#x, want the connection closed", b)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		r.t.Fatalf("got %v, want the connection closed", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
