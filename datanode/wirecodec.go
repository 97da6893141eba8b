package datanode

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
)

// The two messages every packet of a write pipeline carries through every
// DataNode — its PacketHeaderProto and the PipelineAckProto that answers
// it — are decoded and encoded here by hand, without allocating: the
// generated code allocates a message and a pointer per optional field,
// several allocations per packet and hop. FuzzPacketHeader and FuzzAck
// hold these to the generated code's decoding.

// Field numbers of PacketHeaderProto and PipelineAckProto.
const (
	phOffset   = 1 // required sfixed64 offsetInBlock
	phSeqno    = 2 // required sfixed64 seqno
	phLast     = 3 // required bool lastPacketInBlock
	phDataLen  = 4 // required sfixed32 dataLen
	phSync     = 5 // optional bool syncBlock
	ackSeqno   = 1 // required sint64 seqno
	ackReply   = 2 // repeated Status reply
	ackDownNs  = 3 // optional uint64 downstreamAckTimeNanos
	ackFlag    = 4 // repeated uint32 flag [packed]
	phRequired = 1<<phOffset | 1<<phSeqno | 1<<phLast | 1<<phDataLen
)

var errWire = errors.New("bad protobuf encoding")

// decodePacketHeader decodes a PacketHeaderProto. Unknown fields are
// skipped; a field of a known number with another wire type counts as
// unknown, as in the generated code; the last occurrence of a field wins.
func decodePacketHeader(b []byte) (packetHeader, error) {
	var h packetHeader
	seen := 0
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return h, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == phOffset || num == phSeqno) && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return h, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			if num == phOffset {
				h.offset = int64(v)
			} else {
				h.seqno = int64(v)
			}
			b, seen = b[n:], seen|1<<num
		case num == phDataLen && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return h, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			h.dataLen = int32(v)
			b, seen = b[n:], seen|1<<num
		case (num == phLast || num == phSync) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			if num == phLast {
				h.last = v != 0
			} else {
				h.sync = v != 0
			}
			b, seen = b[n:], seen|1<<num
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return h, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if seen&phRequired != phRequired {
		return h, fmt.Errorf("%w: packet header lacks a required field", errWire)
	}
	return h, nil
}

// decodeAck decodes a PipelineAckProto, appending its statuses to
// replies[:0]. When the ack has no reply field, the statuses come from the
// low bits of flag (Hadoop 3 may send only those).
func decodeAck(b []byte, replies []hadooppb.Status) (ack, error) {
	a := ack{replies: replies[:0]}
	var flags []hadooppb.Status // only when there are no replies: rare
	seen := false
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return a, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == ackSeqno && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return a, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			a.seqno, seen, b = protowire.DecodeZigZag(v), true, b[n:]
		case (num == ackReply || num == ackFlag) && (typ == protowire.VarintType || typ == protowire.BytesType):
			var vals []byte
			if typ == protowire.BytesType {
				v, n := protowire.ConsumeBytes(b)
				if n < 0 {
					return a, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
				}
				vals, b = v, b[n:]
			} else {
				_, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return a, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
				}
				vals, b = b[:n], b[n:]
			}
			for len(vals) > 0 {
				v, n := protowire.ConsumeVarint(vals)
				if n < 0 {
					return a, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
				}
				vals = vals[n:]
				if num == ackReply {
					a.replies = append(a.replies, hadooppb.Status(int32(v)))
				} else {
					flags = append(flags, hadooppb.Status(uint32(v)&0xf))
				}
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return a, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !seen {
		return a, fmt.Errorf("%w: ack lacks its seqno", errWire)
	}
	if len(a.replies) == 0 {
		a.replies = append(a.replies, flags...)
	}
	return a, nil
}

// readAck reads one varint-delimited pipeline ack from r, decoding it in
// r's buffer; replies is reused for the statuses.
func readAck(r *bufio.Reader, replies []hadooppb.Status) (ack, error) {
	n, err := readUvarint(r)
	if err != nil {
		return ack{}, err
	}
	if n > maxAckLength {
		return ack{}, fmt.Errorf("%w: ack of %d bytes exceeds %d", errMalformed, n, maxAckLength)
	}
	b, err := r.Peek(int(n))
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return ack{}, fmt.Errorf("%w: ack of %d bytes exceeds the buffer", errMalformed, n)
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return ack{}, err
	}
	a, err := decodeAck(b, replies)
	r.Discard(int(n))
	if err != nil {
		return ack{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return a, nil
}

// appendAck appends a's PipelineAckProto with its length prefix: the
// seqno, each status as a reply, and each status again as a flag (Hadoop 3
// reads the flags; their ECN bits are zero).
func appendAck(buf []byte, a ack) []byte {
	flagsLen := 0
	for _, r := range a.replies {
		flagsLen += protowire.SizeVarint(uint64(uint32(r)))
	}
	size := protowire.SizeTag(ackSeqno) + protowire.SizeVarint(protowire.EncodeZigZag(a.seqno))
	for _, r := range a.replies {
		size += protowire.SizeTag(ackReply) + protowire.SizeVarint(uint64(int64(r)))
	}
	if len(a.replies) > 0 {
		size += protowire.SizeTag(ackFlag) + protowire.SizeBytes(flagsLen)
	}
	buf = protowire.AppendVarint(buf, uint64(size))
	buf = protowire.AppendTag(buf, ackSeqno, protowire.VarintType)
	buf = protowire.AppendVarint(buf, protowire.EncodeZigZag(a.seqno))
	for _, r := range a.replies {
		buf = protowire.AppendTag(buf, ackReply, protowire.VarintType)
		buf = protowire.AppendVarint(buf, uint64(int64(r)))
	}
	if len(a.replies) > 0 {
		buf = protowire.AppendTag(buf, ackFlag, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(flagsLen))
		for _, r := range a.replies {
			buf = protowire.AppendVarint(buf, uint64(uint32(r)))
		}
	}
	return buf
}

// consumeTag is protowire.ConsumeTag refusing field numbers above the
// largest valid one, as the generated code does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}
