package datanode

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// DataTransferProtocol framing: the op header a peer opens a connection
// with, varint-delimited protobuf messages, and data packets.
//
//	op:     int16 version (28) | uint8 opcode | varint length | Op*Proto
//	reply:  varint length | BlockOpResponseProto
//	packet: uint32 payload length (checksums + data + 4) | uint16 header
//	        length | PacketHeaderProto | checksums | data
//	ack:    varint length | PipelineAckProto
const (
	// DataTransferVersion is the only protocol version spoken.
	DataTransferVersion = 28

	opWriteBlock     byte = 80
	opReadBlock      byte = 81
	opReadMetadata   byte = 82
	opReplaceBlock   byte = 83
	opCopyBlock      byte = 84
	opBlockChecksum  byte = 85
	opTransferBlock  byte = 86
	opRequestSCFds   byte = 87
	opReleaseSCFds   byte = 88
	opRequestSCShm   byte = 89
	opBlockGroupCsum byte = 90

	// maxOpLength bounds an op message; real ones are a few hundred bytes.
	maxOpLength = 1 << 20
	// maxAckLength bounds a PipelineAckProto or a reply read from a peer.
	maxAckLength = 64 << 10
	// maxPacketLength bounds a packet's checksums and data, as Hadoop's
	// PacketReceiver does (16 MiB).
	maxPacketLength = 16 << 20
	// maxPacketHeaderLength bounds the PacketHeaderProto (a few dozen bytes).
	maxPacketHeaderLength = 1 << 10

	// heartbeatSeqno marks a keep-alive packet of a write pipeline.
	heartbeatSeqno = -1
)

var (
	errMalformed    = errors.New("malformed message")
	errSpecMismatch = errors.New("checksum translation is not supported")
)

// opName names an opcode for logs and error messages.
func opName(op byte) string {
	switch op {
	case opWriteBlock:
		return "WRITE_BLOCK"
	case opReadBlock:
		return "READ_BLOCK"
	case opReadMetadata:
		return "READ_METADATA"
	case opReplaceBlock:
		return "REPLACE_BLOCK"
	case opCopyBlock:
		return "COPY_BLOCK"
	case opBlockChecksum:
		return "BLOCK_CHECKSUM"
	case opTransferBlock:
		return "TRANSFER_BLOCK"
	case opRequestSCFds:
		return "REQUEST_SHORT_CIRCUIT_FDS"
	case opReleaseSCFds:
		return "RELEASE_SHORT_CIRCUIT_FDS"
	case opRequestSCShm:
		return "REQUEST_SHORT_CIRCUIT_SHM"
	case opBlockGroupCsum:
		return "BLOCK_GROUP_CHECKSUM"
	}
	return fmt.Sprintf("op %d", op)
}

// newOpMessage returns an empty message for the ops this DataNode serves,
// nil for the others.
func newOpMessage(op byte) proto.Message {
	switch op {
	case opWriteBlock:
		return &hadooppb.OpWriteBlockProto{}
	case opReadBlock:
		return &hadooppb.OpReadBlockProto{}
	case opReplaceBlock:
		return &hadooppb.OpReplaceBlockProto{}
	case opCopyBlock:
		return &hadooppb.OpCopyBlockProto{}
	case opBlockChecksum:
		return &hadooppb.OpBlockChecksumProto{}
	case opTransferBlock:
		return &hadooppb.OpTransferBlockProto{}
	case opRequestSCFds:
		return &hadooppb.OpRequestShortCircuitAccessProto{}
	case opReleaseSCFds:
		return &hadooppb.ReleaseShortCircuitAccessRequestProto{}
	case opRequestSCShm:
		return &hadooppb.ShortCircuitShmRequestProto{}
	}
	return nil
}

// opError is a failure to read an op header: the status and message to
// answer with before closing.
type opError struct {
	status hadooppb.Status
	msg    string
}

func (e *opError) Error() string { return e.msg }

// readOp reads an op header and decodes its message. Any malformed input
// yields an *opError (never a panic); I/O errors are returned as they are.
func readOp(r *bufio.Reader) (byte, proto.Message, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	version := binary.BigEndian.Uint16(hdr[:2])
	op := hdr[2]
	if version != DataTransferVersion {
		return op, nil, &opError{hadooppb.Status_ERROR_INVALID,
			fmt.Sprintf("version mismatch: expected DataTransferProtocol version %d, got %d", DataTransferVersion, version)}
	}
	msg := newOpMessage(op)
	if msg == nil {
		return op, nil, &opError{hadooppb.Status_ERROR_UNSUPPORTED, fmt.Sprintf("unsupported operation %s", opName(op))}
	}
	if err := readDelimited(r, msg, maxOpLength); err != nil {
		if errors.Is(err, errMalformed) {
			return op, nil, &opError{hadooppb.Status_ERROR_INVALID, fmt.Sprintf("bad %s message: %v", opName(op), err)}
		}
		return op, nil, err
	}
	return op, msg, nil
}

// writeOp writes an op header and its message.
func writeOp(w io.Writer, op byte, msg proto.Message) error {
	b, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", opName(op), err)
	}
	buf := make([]byte, 0, 3+binary.MaxVarintLen64+len(b))
	buf = binary.BigEndian.AppendUint16(buf, DataTransferVersion)
	buf = append(buf, op)
	buf = protowire.AppendVarint(buf, uint64(len(b)))
	buf = append(buf, b...)
	_, err = w.Write(buf)
	return err
}

// readDelimited reads one varint-length-delimited message of at most max
// bytes. A bad length or message is errMalformed (wrapped); a short read
// is io.ErrUnexpectedEOF.
func readDelimited(r io.ByteReader, msg proto.Message, max int) error {
	n, err := readUvarint(r)
	if err != nil {
		return err
	}
	if n > uint64(max) {
		return fmt.Errorf("%w: message of %d bytes exceeds %d", errMalformed, n, max)
	}
	b := make([]byte, n)
	if rr, ok := r.(io.Reader); ok {
		if _, err := io.ReadFull(rr, b); err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	} else {
		for i := range b {
			c, err := r.ReadByte()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			b[i] = c
		}
	}
	if err := proto.Unmarshal(b, msg); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	return nil
}

// readUvarint reads a protobuf varint. Reader errors are returned as they
// are (io.EOF as io.ErrUnexpectedEOF); an over-long varint is errMalformed.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: varint length prefix overflows", errMalformed)
}

// appendDelimited appends msg with its varint length prefix.
func appendDelimited(buf []byte, msg proto.Message) ([]byte, error) {
	b, err := proto.Marshal(msg)
	if err != nil {
		return buf, err
	}
	buf = protowire.AppendVarint(buf, uint64(len(b)))
	return append(buf, b...), nil
}

// writeDelimited writes msg with its varint length prefix in one write.
func writeDelimited(w io.Writer, msg proto.Message) error {
	buf, err := appendDelimited(nil, msg)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// packetHeader is a decoded PacketHeaderProto.
type packetHeader struct {
	offset  int64
	seqno   int64
	last    bool
	dataLen int32
	sync    bool
}

// packet is one data packet as read off the wire. raw holds the whole
// packet as received (for forwarding downstream); checksums and data
// alias it.
type packet struct {
	hdr       packetHeader
	checksums []byte
	data      []byte
	raw       []byte
	// at is where raw starts in a packetStream's buffer.
	at int
}

func (p *packet) heartbeat() bool { return p.hdr.seqno == heartbeatSeqno }

// decodePacket decodes a whole packet held in b (prefix included).
func decodePacket(b []byte) (*packet, error) {
	if len(b) < 6 {
		return nil, fmt.Errorf("%w: short packet", errMalformed)
	}
	payloadLen := binary.BigEndian.Uint32(b[:4])
	headerLen := int(binary.BigEndian.Uint16(b[4:6]))
	if payloadLen < 4 || uint64(len(b)) != 6+uint64(headerLen)+uint64(payloadLen-4) {
		return nil, fmt.Errorf("%w: packet lengths (payload %d, header %d) do not match %d bytes", errMalformed, payloadLen, headerLen, len(b))
	}
	h, err := decodePacketHeader(b[6 : 6+headerLen])
	if err != nil {
		return nil, fmt.Errorf("%w: packet header: %v", errMalformed, err)
	}
	rest := b[6+headerLen:]
	dataLen := h.dataLen
	if dataLen < 0 || int64(dataLen) > int64(len(rest)) {
		return nil, fmt.Errorf("%w: packet data length %d with %d payload bytes", errMalformed, dataLen, len(rest))
	}
	if h.offset < 0 {
		return nil, fmt.Errorf("%w: negative packet offset %d", errMalformed, h.offset)
	}
	if h.seqno < heartbeatSeqno {
		return nil, fmt.Errorf("%w: packet seqno %d", errMalformed, h.seqno)
	}
	split := len(rest) - int(dataLen)
	return &packet{
		hdr:       h,
		checksums: rest[:split],
		data:      rest[split:],
		raw:       b,
	}, nil
}

// appendPacket appends an encoded packet to buf.
func appendPacket(buf []byte, h packetHeader, checksums, data []byte) []byte {
	ph := &hadooppb.PacketHeaderProto{
		OffsetInBlock:     proto.Int64(h.offset),
		Seqno:             proto.Int64(h.seqno),
		LastPacketInBlock: proto.Bool(h.last),
		DataLen:           proto.Int32(int32(len(data))),
	}
	if h.sync {
		ph.SyncBlock = proto.Bool(true)
	}
	hb, err := proto.Marshal(ph)
	if err != nil {
		// Only fixed-size scalar fields: marshalling cannot fail.
		panic(fmt.Sprintf("datanode: marshal packet header: %v", err))
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(4+len(checksums)+len(data)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(hb)))
	buf = append(buf, hb...)
	buf = append(buf, checksums...)
	return append(buf, data...)
}

// ack is a decoded PipelineAckProto.
type ack struct {
	seqno   int64
	replies []hadooppb.Status
}
