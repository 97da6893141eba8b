package client

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strconv"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// DataTransferProtocol as the writer speaks it (see REFERENCES.md):
//
//	op:     int16 version (28) | uint8 opcode | varint length | Op*Proto
//	reply:  varint length | BlockOpResponseProto
//	packet: uint32 (4 + checksums + data) | uint16 header length |
//	        PacketHeaderProto | checksums | data
//	ack:    varint length | PipelineAckProto
const (
	dataTransferVersion = 28

	opWriteBlock    byte = 80
	opTransferBlock byte = 86

	// heartbeatSeqno marks a keep-alive packet of an idle pipeline.
	heartbeatSeqno = -1

	// maxReplyLength bounds a reply or ack read from a DataNode.
	maxReplyLength = 64 << 10

	// packetHeadroom is the room before a packet's checksums: the 6-byte
	// length prefix and the PacketHeaderProto (at most 27 bytes).
	packetHeadroom = 64

	// timeoutExtension is added to socket timeouts per pipeline node, as
	// Hadoop's READ_TIMEOUT_EXTENSION / WRITE_TIMEOUT_EXTENSION.
	timeoutExtension = 5 // seconds
)

// writeOp sends an op header and its message in one write.
func writeOp(w io.Writer, op byte, msg proto.Message) error {
	b, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("marshal op %d: %w", op, err)
	}
	buf := make([]byte, 0, 3+binary.MaxVarintLen64+len(b))
	buf = binary.BigEndian.AppendUint16(buf, dataTransferVersion)
	buf = append(buf, op)
	buf = protowire.AppendVarint(buf, uint64(len(b)))
	buf = append(buf, b...)
	_, err = w.Write(buf)
	return err
}

// readDelimited reads one varint-length-delimited message.
func readDelimited(r *bufio.Reader, msg proto.Message) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if n > maxReplyLength {
		return fmt.Errorf("message of %d bytes from DataNode exceeds %d", n, maxReplyLength)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return proto.Unmarshal(b, msg)
}

// readAck reads one PipelineAckProto: the packet's seqno and one status
// per pipeline node, in pipeline order.
func readAck(r *bufio.Reader) (int64, []pb.Status, error) {
	var a pb.PipelineAckProto
	if err := readDelimited(r, &a); err != nil {
		return 0, nil, err
	}
	replies := a.GetReply()
	if len(replies) == 0 {
		// Hadoop 3 may carry the statuses only in the low bits of flag.
		for _, f := range a.GetFlag() {
			replies = append(replies, pb.Status(f&0xf))
		}
	}
	return a.GetSeqno(), replies, nil
}

// checksummer computes the per-chunk checksums of packets.
type checksummer struct {
	typ   pb.ChecksumTypeProto
	bpc   int
	table *crc32.Table
}

func newChecksummer(typ string, bpc int) (checksummer, error) {
	if bpc <= 0 {
		return checksummer{}, fmt.Errorf("dfs.bytes-per-checksum must be positive, not %d", bpc)
	}
	switch typ {
	case "", "CRC32C":
		return checksummer{typ: pb.ChecksumTypeProto_CHECKSUM_CRC32C, bpc: bpc, table: crc32.MakeTable(crc32.Castagnoli)}, nil
	case "CRC32":
		return checksummer{typ: pb.ChecksumTypeProto_CHECKSUM_CRC32, bpc: bpc, table: crc32.IEEETable}, nil
	}
	return checksummer{}, fmt.Errorf("unsupported dfs.checksum.type %q (CRC32C or CRC32)", typ)
}

func (c checksummer) proto() *pb.ChecksumProto {
	return &pb.ChecksumProto{Type: c.typ.Enum(), BytesPerChecksum: proto.Uint32(uint32(c.bpc))}
}

// chunks is how many checksums cover n bytes whose first chunk holds
// first bytes (less than bpc when the data starts inside a chunk).
func (c checksummer) chunks(n, first int) int {
	if n <= 0 {
		return 0
	}
	if n <= first {
		return 1
	}
	return 1 + (n-first+c.bpc-1)/c.bpc
}

// sum writes the checksums of data into dst (4 bytes each, big-endian);
// the first chunk holds first bytes.
func (c checksummer) sum(dst, data []byte, first int) {
	for len(data) > 0 {
		k := min(first, len(data))
		binary.BigEndian.PutUint32(dst, crc32.Checksum(data[:k], c.table))
		dst, data, first = dst[4:], data[k:], c.bpc
	}
}

// nodeAddr is where a DataNode serves DataTransferProtocol.
func nodeAddr(d *pb.DatanodeInfoProto, useHostname bool) string {
	id := d.GetId()
	host := id.GetIpAddr()
	if useHostname && id.GetHostName() != "" {
		host = id.GetHostName()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(id.GetXferPort())))
}

// sameNode reports whether a and b are the same DataNode.
func sameNode(a, b *pb.DatanodeInfoProto) bool {
	ia, ib := a.GetId(), b.GetId()
	if ia.GetDatanodeUuid() != "" && ib.GetDatanodeUuid() != "" {
		return ia.GetDatanodeUuid() == ib.GetDatanodeUuid()
	}
	return ia.GetIpAddr() == ib.GetIpAddr() && ia.GetXferPort() == ib.GetXferPort()
}

// matchesAddr reports whether addr (as a DataNode names a peer in
// firstBadLink) is DataNode d.
func matchesAddr(d *pb.DatanodeInfoProto, addr string) bool {
	return addr == nodeAddr(d, false) || addr == nodeAddr(d, true)
}
