package datanode

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// FuzzOpHeader: the op decoder never panics, and whatever it accepts is an
// op this DataNode serves with a message that re-encodes.
func FuzzOpHeader(f *testing.F) {
	var buf bytes.Buffer
	writeOp(&buf, opReadBlock, &hadooppb.OpReadBlockProto{
		Header: &hadooppb.ClientOperationHeaderProto{BaseHeader: &hadooppb.BaseHeaderProto{Block: testBlock(1, 2, 3)}, ClientName: proto.String("c")},
		Offset: proto.Uint64(0), Len: proto.Uint64(3),
	})
	f.Add(buf.Bytes())
	buf.Reset()
	writeOp(&buf, opWriteBlock, &hadooppb.OpWriteBlockProto{
		Header:                &hadooppb.ClientOperationHeaderProto{BaseHeader: &hadooppb.BaseHeaderProto{Block: testBlock(1, 2, 0)}, ClientName: proto.String("c")},
		Stage:                 stageCreate.Enum(),
		PipelineSize:          proto.Uint32(1),
		MinBytesRcvd:          proto.Uint64(0),
		MaxBytesRcvd:          proto.Uint64(0),
		LatestGenerationStamp: proto.Uint64(0),
		RequestedChecksum:     &hadooppb.ChecksumProto{Type: hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C.Enum(), BytesPerChecksum: proto.Uint32(512)},
	})
	f.Add(buf.Bytes())
	f.Add([]byte{0, 28, opBlockChecksum, 0})
	f.Add([]byte{0, 28, opCopyBlock, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0, 27, opReadBlock})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, msg, err := readOp(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if newOpMessage(op) == nil {
			t.Fatalf("accepted unsupported op %d", op)
		}
		if _, err := proto.Marshal(msg); err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
	})
}

// FuzzPacket: the packet decoder never panics, and an accepted packet's
// parts fit in what was read and re-encode to an equivalent packet.
func FuzzPacket(f *testing.F) {
	data := randomData(1, 1000)
	f.Add(appendPacket(nil, packetHeader{offset: 512, seqno: 3}, chunkSums(nil, data, 0, 512), data))
	f.Add(appendPacket(nil, packetHeader{seqno: heartbeatSeqno}, nil, nil))
	f.Add(appendPacket(nil, packetHeader{offset: 7, seqno: 9, last: true, sync: true}, nil, nil))
	f.Add([]byte{0, 0, 0, 4, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePacket(b)
		if err == nil {
			if len(p.data) != int(p.hdr.dataLen) || len(p.checksums)+len(p.data) > len(b) {
				t.Fatalf("inconsistent packet: %d data bytes for dataLen %d", len(p.data), p.hdr.dataLen)
			}
			again, err := decodePacket(appendPacket(nil, p.hdr, p.checksums, p.data))
			if err != nil || again.hdr != p.hdr || !bytes.Equal(again.data, p.data) || !bytes.Equal(again.checksums, p.checksums) {
				t.Fatalf("re-encoded packet differs: %v", err)
			}
		}
		// The stream, fed in uneven pieces, agrees with the whole-buffer
		// decoder on every packet it returns, and they tile its input.
		s := newPacketStream(&piecewiseReader{b: b}, nil, make([]byte, 64))
		pos := 0
		for {
			pkts, err := s.next()
			if err != nil {
				break
			}
			for i := range pkts {
				q := &pkts[i]
				if pos+len(q.raw) > len(b) || !bytes.Equal(q.raw, b[pos:pos+len(q.raw)]) {
					t.Fatalf("stream packet at %d is not the input's bytes", pos)
				}
				r, err := decodePacket(b[pos : pos+len(q.raw)])
				if err != nil || r.hdr != q.hdr || !bytes.Equal(r.data, q.data) || !bytes.Equal(r.checksums, q.checksums) {
					t.Fatalf("stream and decodePacket disagree at %d: %v", pos, err)
				}
				pos += len(q.raw)
			}
			if span := s.span(&pkts[0], &pkts[len(pkts)-1]); !bytes.Equal(span, b[pos-len(span):pos]) {
				t.Fatal("span of a batch is not its packets' bytes")
			}
		}
	})
}

// piecewiseReader returns its bytes in pieces of 1, 2, 3, ... bytes.
type piecewiseReader struct {
	b []byte
	n int
}

func (r *piecewiseReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	r.n++
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// FuzzPacketHeader: the hand decoder of PacketHeaderProto agrees with the
// generated code on every input: both accept or both refuse, with the
// same fields.
func FuzzPacketHeader(f *testing.F) {
	for _, h := range []packetHeader{{offset: 512, seqno: 3, dataLen: 100}, {seqno: heartbeatSeqno}, {offset: 7, seqno: 9, last: true, sync: true}} {
		p := appendPacket(nil, h, nil, make([]byte, h.dataLen))
		f.Add(p[6 : 6+(int(p[4])<<8|int(p[5]))])
	}
	f.Add([]byte{0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodePacketHeader(b)
		var want hadooppb.PacketHeaderProto
		werr := proto.Unmarshal(b, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("hand decoder: %v; generated code: %v", err, werr)
		}
		if err != nil {
			return
		}
		if got != (packetHeader{offset: want.GetOffsetInBlock(), seqno: want.GetSeqno(), last: want.GetLastPacketInBlock(),
			dataLen: want.GetDataLen(), sync: want.GetSyncBlock()}) {
			t.Fatalf("hand decoder %+v, generated code %v", got, &want)
		}
	})
}

// FuzzAck: the hand decoder of PipelineAckProto agrees with the generated
// code, and what appendAck encodes the generated code decodes back.
func FuzzAck(f *testing.F) {
	f.Add(appendAck(nil, ack{seqno: 5, replies: []hadooppb.Status{hadooppb.Status_SUCCESS, hadooppb.Status_ERROR}})[1:])
	f.Add(appendAck(nil, ack{seqno: heartbeatSeqno})[1:])
	flagsOnly, _ := proto.Marshal(&hadooppb.PipelineAckProto{Seqno: proto.Int64(3), Flag: []uint32{0, 2 | 1<<4}})
	f.Add(flagsOnly)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeAck(b, nil)
		var want hadooppb.PipelineAckProto
		werr := proto.Unmarshal(b, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("hand decoder: %v; generated code: %v", err, werr)
		}
		if err != nil {
			return
		}
		replies := want.GetReply()
		if len(replies) == 0 {
			for _, fl := range want.GetFlag() {
				replies = append(replies, hadooppb.Status(fl&0xf))
			}
		}
		if got.seqno != want.GetSeqno() || !slices.Equal(got.replies, replies) {
			t.Fatalf("hand decoder %+v, generated code %v", got, &want)
		}
		// Encoding what was decoded round-trips through the generated code.
		enc := appendAck(nil, got)
		var back hadooppb.PipelineAckProto
		n, k := protowire.ConsumeVarint(enc)
		if k < 0 || int(n) != len(enc)-k {
			t.Fatalf("appendAck length prefix %d for %d bytes", n, len(enc)-k)
		}
		if err := proto.Unmarshal(enc[k:], &back); err != nil || back.GetSeqno() != got.seqno || !slices.Equal(back.GetReply(), got.replies) {
			t.Fatalf("appendAck %+v decodes as %v (%v)", got, &back, err)
		}
		for i, fl := range back.GetFlag() {
			if hadooppb.Status(fl) != got.replies[i] {
				t.Fatalf("flag %d is %d, status %s", i, fl, got.replies[i])
			}
		}
	})
}
