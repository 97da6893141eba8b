package ipc

import (
	"errors"
	"fmt"
	"math"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Wire constants of Hadoop IPC (RPC engine v2).
const (
	ipcVersion = 9    // the only version spoken
	authNone   = 0x00 // auth protocol byte: simple, no SASL
	authSASL   = 0xDF // auth protocol byte: SASL exchange follows

	callIDInvalid = -1  // Hadoop's id for responses not tied to a call
	callIDContext = -3  // IpcConnectionContextProto
	callIDPing    = -4  // keep-alive, never answered
	callIDSASL    = -33 // RpcSaslProto exchange

	// DefaultMaxDataLength is ipc.maximum.data.length's default (64 MiB).
	DefaultMaxDataLength = 64 << 20
)

var rpcMagic = [4]byte{'h', 'r', 'p', 'c'}

// Enum values of the wire messages, as plain numbers for the hand codecs.
const (
	kindBuiltin  = int32(hadooppb.RpcKindProto_RPC_BUILTIN)
	kindWritable = int32(hadooppb.RpcKindProto_RPC_WRITABLE)
	kindProtobuf = int32(hadooppb.RpcKindProto_RPC_PROTOCOL_BUFFER)

	opFinal        = int32(hadooppb.RpcRequestHeaderProto_RPC_FINAL_PACKET)
	opContinuation = int32(hadooppb.RpcRequestHeaderProto_RPC_CONTINUATION_PACKET)
	opClose        = int32(hadooppb.RpcRequestHeaderProto_RPC_CLOSE_CONNECTION)

	statusSuccess = hadooppb.RpcResponseHeaderProto_SUCCESS
	statusError   = hadooppb.RpcResponseHeaderProto_ERROR
	statusFatal   = hadooppb.RpcResponseHeaderProto_FATAL
)

var (
	errTruncated = errors.New("the input ended unexpectedly in the middle of a field")
	errMissing   = errors.New("message missing required fields")
)

// splitDelimited splits one varint-length-delimited message off the front of b.
func splitDelimited(b []byte) (msg, rest []byte, err error) {
	n, l := protowire.ConsumeVarint(b)
	if l < 0 {
		return nil, nil, errTruncated
	}
	b = b[l:]
	if n > uint64(len(b)) {
		return nil, nil, errTruncated
	}
	return b[:n], b[n:], nil
}

// rpcHeader is a decoded RpcRequestHeaderProto. clientID may alias the frame.
type rpcHeader struct {
	callID     int32
	retryCount int32
	clientID   []byte
	kind, op   int32
	hasKind    bool
	hasOp      bool
	hasStateID bool
	stateID    int64
}

// decodeRPCHeader decodes an RpcRequestHeaderProto (without its length
// prefix). The common shape (fields 1-5 and 8) is decoded by hand without
// allocating; anything else goes through proto.Unmarshal, so the result
// always equals what the generated code would decode.
func decodeRPCHeader(b []byte) (rpcHeader, error) {
	h := rpcHeader{retryCount: -1}
	var hasCallID, hasClientID bool
	for p := b; len(p) > 0; {
		num, typ, l := protowire.ConsumeTag(p)
		if l < 0 {
			return h, errTruncated
		}
		p = p[l:]
		if typ == protowire.BytesType && num == 4 {
			v, l := protowire.ConsumeBytes(p)
			if l < 0 {
				return h, errTruncated
			}
			p = p[l:]
			h.clientID, hasClientID = v, true
			continue
		}
		if typ != protowire.VarintType {
			return decodeRPCHeaderSlow(b)
		}
		v, l := protowire.ConsumeVarint(p)
		if l < 0 {
			return h, errTruncated
		}
		p = p[l:]
		switch num {
		case 1:
			if v <= uint64(kindProtobuf) {
				h.kind, h.hasKind = int32(v), true
			} else {
				return decodeRPCHeaderSlow(b)
			}
		case 2:
			if v <= uint64(opClose) {
				h.op, h.hasOp = int32(v), true
			} else {
				return decodeRPCHeaderSlow(b)
			}
		case 3:
			h.callID, hasCallID = int32(protowire.DecodeZigZag(v&math.MaxUint32)), true
		case 5:
			h.retryCount = int32(protowire.DecodeZigZag(v & math.MaxUint32))
		case 8:
			h.stateID, h.hasStateID = int64(v), true
		default:
			return decodeRPCHeaderSlow(b)
		}
	}
	if !hasCallID || !hasClientID {
		return h, errMissing
	}
	return h, nil
}

func decodeRPCHeaderSlow(b []byte) (rpcHeader, error) {
	var m hadooppb.RpcRequestHeaderProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return rpcHeader{}, err
	}
	h := rpcHeader{
		callID:     m.GetCallId(),
		retryCount: m.GetRetryCount(),
		clientID:   m.GetClientId(),
		kind:       int32(m.GetRpcKind()),
		op:         int32(m.GetRpcOp()),
		hasKind:    m.RpcKind != nil,
		hasOp:      m.RpcOp != nil,
		hasStateID: m.StateId != nil,
		stateID:    m.GetStateId(),
	}
	if h.clientID == nil {
		h.clientID = []byte{}
	}
	return h, nil
}

// reqHeader is a decoded RequestHeaderProto; the names alias the frame.
type reqHeader struct {
	method, protocol []byte
	version          uint64
}

// decodeReqHeader decodes a RequestHeaderProto, by hand when it has the
// usual shape, else through proto.Unmarshal.
func decodeReqHeader(b []byte) (reqHeader, error) {
	var h reqHeader
	var seen uint8
	for p := b; len(p) > 0; {
		num, typ, l := protowire.ConsumeTag(p)
		if l < 0 {
			return h, errTruncated
		}
		p = p[l:]
		switch {
		case (num == 1 || num == 2) && typ == protowire.BytesType:
			v, l := protowire.ConsumeBytes(p)
			if l < 0 {
				return h, errTruncated
			}
			p = p[l:]
			if num == 1 {
				h.method = v
			} else {
				h.protocol = v
			}
		case num == 3 && typ == protowire.VarintType:
			v, l := protowire.ConsumeVarint(p)
			if l < 0 {
				return h, errTruncated
			}
			p = p[l:]
			h.version = v
		default:
			return decodeReqHeaderSlow(b)
		}
		seen |= 1 << (num - 1)
	}
	if seen != 7 {
		return h, errMissing
	}
	return h, nil
}

func decodeReqHeaderSlow(b []byte) (reqHeader, error) {
	var m hadooppb.RequestHeaderProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return reqHeader{}, err
	}
	return reqHeader{
		method:   []byte(m.GetMethodName()),
		protocol: []byte(m.GetDeclaringClassProtocolName()),
		version:  m.GetClientProtocolVersion(),
	}, nil
}

// request is one decoded request frame.
type request struct {
	rpc  rpcHeader
	hdr  reqHeader // only for RPC_PROTOCOL_BUFFER calls with callID >= 0
	body []byte    // the rest of the frame after the RPC header (and request header)
	// hdrErr is set when the RequestHeaderProto could not be decoded. Hadoop
	// decodes it in the handler, so it is an ERROR, not a FATAL.
	hdrErr error
}

// decodeRequest decodes a whole request frame (without the 4-byte length).
// An error means a FATAL response (the RpcRequestHeaderProto is unreadable).
func decodeRequest(frame []byte) (request, error) {
	var r request
	msg, rest, err := splitDelimited(frame)
	if err != nil {
		return r, err
	}
	if r.rpc, err = decodeRPCHeader(msg); err != nil {
		return r, err
	}
	r.body = rest
	if r.rpc.callID >= 0 && r.rpc.hasKind && r.rpc.kind == kindProtobuf {
		msg, rest, err := splitDelimited(rest)
		if err != nil {
			r.hdrErr = err
			return r, nil
		}
		if r.hdr, err = decodeReqHeader(msg); err != nil {
			r.hdrErr = err
			return r, nil
		}
		r.body = rest
	}
	return r, nil
}

// respHeader holds the fields of an RpcResponseHeaderProto that we send.
type respHeader struct {
	callID     int32
	status     hadooppb.RpcResponseHeaderProto_RpcStatusProto
	class, msg string
	code       hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto
	clientID   []byte
	retryCount int32
}

func (h *respHeader) size() int {
	n := 1 + protowire.SizeVarint(uint64(uint32(h.callID))) +
		1 + protowire.SizeVarint(uint64(h.status)) +
		1 + 1 + // serverIpcVersionNum
		1 + protowire.SizeBytes(len(h.clientID)) +
		1 + protowire.SizeVarint(protowire.EncodeZigZag(int64(h.retryCount)))
	if h.status != statusSuccess {
		n += 1 + protowire.SizeBytes(len(h.class)) +
			1 + protowire.SizeBytes(len(h.msg)) +
			1 + protowire.SizeVarint(uint64(h.code))
	}
	return n
}

// appendResponse appends a whole response frame (length, header and, for
// SUCCESS, the delimited body) to b. body may be nil (an empty message).
func appendResponse(b []byte, h *respHeader, body proto.Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	hs := h.size()
	b = protowire.AppendVarint(b, uint64(hs))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(uint32(h.callID)))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(h.status))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, ipcVersion)
	if h.status != statusSuccess {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, h.class)
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendString(b, h.msg)
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(h.code))
	}
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, h.clientID)
	b = protowire.AppendTag(b, 8, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(h.retryCount)))
	if h.status == statusSuccess {
		var err error
		if b, err = appendDelimited(b, body); err != nil {
			return b[:start], err
		}
	}
	putFrameLength(b[start:])
	return b, nil
}

// appendDelimited appends m with its varint length prefix; nil is an empty message.
func appendDelimited(b []byte, m proto.Message) ([]byte, error) {
	if m == nil {
		return append(b, 0), nil
	}
	n := proto.MarshalOptions{}.Size(m)
	b = protowire.AppendVarint(b, uint64(n))
	start := len(b)
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, m)
	if err == nil && len(b)-start != n {
		err = fmt.Errorf("message size changed while marshaling (%d != %d)", len(b)-start, n)
	}
	return b, err
}

// putFrameLength writes len(frame)-4 into the first four bytes, big endian.
func putFrameLength(frame []byte) {
	n := uint32(len(frame) - 4)
	frame[0], frame[1], frame[2], frame[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

// appendRPCHeader appends a delimited RpcRequestHeaderProto as our client sends it.
func appendRPCHeader(b []byte, callID, retryCount int32, clientID []byte) []byte {
	n := 1 + 1 + 1 + 1 +
		1 + protowire.SizeVarint(protowire.EncodeZigZag(int64(callID))) +
		1 + protowire.SizeBytes(len(clientID)) +
		1 + protowire.SizeVarint(protowire.EncodeZigZag(int64(retryCount)))
	b = protowire.AppendVarint(b, uint64(n))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(kindProtobuf))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(opFinal))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(callID)))
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendBytes(b, clientID)
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(int64(retryCount)))
}

// appendReqHeader appends a delimited RequestHeaderProto.
func appendReqHeader(b []byte, method, protocol string, version uint64) []byte {
	n := 1 + protowire.SizeBytes(len(method)) +
		1 + protowire.SizeBytes(len(protocol)) +
		1 + protowire.SizeVarint(version)
	b = protowire.AppendVarint(b, uint64(n))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, method)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, protocol)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	return protowire.AppendVarint(b, version)
}

// response is a decoded response frame as the client sees it.
type response struct {
	callID     int32
	status     hadooppb.RpcResponseHeaderProto_RpcStatusProto
	class, msg string
	code       hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto
	body       []byte // the delimited response message and anything after it
}

// decodeResponse decodes a response frame (without its 4-byte length).
func decodeResponse(frame []byte) (response, error) {
	r := response{code: hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION} // proto2 default
	msg, rest, err := splitDelimited(frame)
	if err != nil {
		return r, err
	}
	r.body = rest
	var seen uint8
	for p := msg; len(p) > 0; {
		num, typ, l := protowire.ConsumeTag(p)
		if l < 0 {
			return r, errTruncated
		}
		p = p[l:]
		switch {
		case typ == protowire.VarintType && num <= 3 || num == 6 || num == 8 || num == 9:
			if typ != protowire.VarintType {
				return decodeResponseSlow(msg, rest)
			}
			v, l := protowire.ConsumeVarint(p)
			if l < 0 {
				return r, errTruncated
			}
			p = p[l:]
			switch num {
			case 1:
				r.callID = int32(uint32(v))
				seen |= 1
			case 2:
				if v > uint64(statusFatal) {
					return decodeResponseSlow(msg, rest)
				}
				r.status = hadooppb.RpcResponseHeaderProto_RpcStatusProto(v)
				seen |= 2
			case 6:
				if _, ok := hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto_name[int32(v)]; !ok || v > math.MaxInt32 {
					return decodeResponseSlow(msg, rest)
				}
				r.code = hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto(v)
			}
		case (num == 4 || num == 5 || num == 7) && typ == protowire.BytesType:
			v, l := protowire.ConsumeBytes(p)
			if l < 0 {
				return r, errTruncated
			}
			p = p[l:]
			switch num {
			case 4:
				r.class = string(v)
			case 5:
				r.msg = string(v)
			}
		default:
			return decodeResponseSlow(msg, rest)
		}
	}
	if seen != 3 {
		return r, errMissing
	}
	return r, nil
}

func decodeResponseSlow(msg, rest []byte) (response, error) {
	var m hadooppb.RpcResponseHeaderProto
	if err := proto.Unmarshal(msg, &m); err != nil {
		return response{}, err
	}
	return response{
		callID: int32(m.GetCallId()),
		status: m.GetStatus(),
		class:  m.GetExceptionClassName(),
		msg:    m.GetErrorMsg(),
		code:   m.GetErrorDetail(),
		body:   rest,
	}, nil
}
