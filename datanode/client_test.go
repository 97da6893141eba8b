package datanode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// A minimal DataTransferProtocol client for the tests, behaving as the Go
// client github.com/colinmarc/hdfs/v2 does on the wire: it reads at least
// five bytes before decoding any varint-prefixed reply, sends 64 KiB
// packets of 512-byte CRC32C chunks (a short packet first to realign after
// an unaligned offset), numbers packets from 1, ends with an empty last
// packet, and keeps at most five packets unacknowledged.

const (
	clientPacketSize = 64 << 10
	clientChunkSize  = 512
	clientInFlight   = 5
)

// readPrefixedGoClient decodes a varint-prefixed message the way the Go
// client does: it first reads at least five bytes, so a reply shorter than
// that would hang it, and one followed by other bytes would be refused.
func readPrefixedGoClient(r io.Reader, msg proto.Message) error {
	head := make([]byte, binary.MaxVarintLen32)
	n, err := io.ReadAtLeast(r, head, binary.MaxVarintLen32)
	if err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	l, vl := binary.Uvarint(head)
	if vl < 1 || vl+int(l) < n {
		return errors.New("invalid response from datanode (message shorter than 5 bytes)")
	}
	body := make([]byte, l)
	k := copy(body, head[vl:n])
	if _, err := io.ReadFull(r, body[k:]); err != nil {
		return fmt.Errorf("read reply body: %w", err)
	}
	return proto.Unmarshal(body, msg)
}

func dnInfo(d *DataNode) *hadooppb.DatanodeInfoProto {
	return &hadooppb.DatanodeInfoProto{Id: toHadoopID(d.ID())}
}

func testBlock(id, gs, n uint64) *hadooppb.ExtendedBlockProto {
	return &hadooppb.ExtendedBlockProto{PoolId: proto.String(testPool), BlockId: proto.Uint64(id), GenerationStamp: proto.Uint64(gs), NumBytes: proto.Uint64(n)}
}

// pipeWriter is a client's write pipeline.
type pipeWriter struct {
	cs    checksumSpec
	c     net.Conn
	seqno int64
	off   int64
}

type writeSetup struct {
	stage     stage
	offset    int64  // bytes already in the block (append/recovery)
	latestGS  uint64 // 0 as the Go client sends for create
	minBytes  uint64
	client    string
	checksums *hadooppb.ChecksumProto
}

// openPipeline sends WRITE_BLOCK to the first node with the others as
// targets and returns the setup reply.
func openPipeline(addrs []*DataNode, blk *hadooppb.ExtendedBlockProto, s writeSetup) (*pipeWriter, *hadooppb.BlockOpResponseProto, error) {
	c, err := net.DialTimeout("tcp", addrs[0].XferAddr(), 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var targets []*hadooppb.DatanodeInfoProto
	for _, d := range addrs[1:] {
		targets = append(targets, dnInfo(d))
	}
	if s.client == "" {
		s.client = "DFSClient_test"
	}
	if s.checksums == nil {
		s.checksums = &hadooppb.ChecksumProto{Type: hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C.Enum(), BytesPerChecksum: proto.Uint32(clientChunkSize)}
	}
	op := &hadooppb.OpWriteBlockProto{
		Header: &hadooppb.ClientOperationHeaderProto{
			BaseHeader: &hadooppb.BaseHeaderProto{Block: blk},
			ClientName: proto.String(s.client),
		},
		Targets:               targets,
		Stage:                 s.stage.Enum(),
		PipelineSize:          proto.Uint32(uint32(len(targets))),
		MinBytesRcvd:          proto.Uint64(s.minBytes),
		MaxBytesRcvd:          proto.Uint64(uint64(s.offset)),
		LatestGenerationStamp: proto.Uint64(s.latestGS),
		RequestedChecksum:     s.checksums,
	}
	if err := writeOp(c, opWriteBlock, op); err != nil {
		c.Close()
		return nil, nil, err
	}
	var resp hadooppb.BlockOpResponseProto
	if err := readPrefixedGoClient(c, &resp); err != nil {
		c.Close()
		return nil, nil, err
	}
	cs, err := specFromProto(s.checksums)
	if err != nil {
		cs = checksumSpec{2, clientChunkSize}
	}
	return &pipeWriter{cs: cs, c: c, seqno: 1, off: s.offset}, &resp, nil
}

// sendPacket sends one data packet of the next seqno at the current offset.
func (w *pipeWriter) sendPacket(data []byte, last, corrupt, sync bool) (int64, error) {
	var sums []byte
	for p := 0; p < len(data) && w.cs.size() > 0; p += w.cs.bpc {
		sums = binary.BigEndian.AppendUint32(sums, crc32.Checksum(data[p:min(p+w.cs.bpc, len(data))], w.cs.table()))
	}
	if corrupt && len(sums) > 0 {
		sums[len(sums)-1] ^= 0xff
	}
	seq := w.seqno
	buf := appendPacket(nil, packetHeader{offset: w.off, seqno: seq, last: last, sync: sync}, sums, data)
	if _, err := w.c.Write(buf); err != nil {
		return seq, err
	}
	w.seqno++
	w.off += int64(len(data))
	return seq, nil
}

func (w *pipeWriter) sendHeartbeat() error {
	_, err := w.c.Write(appendPacket(nil, packetHeader{seqno: heartbeatSeqno}, nil, nil))
	return err
}

func (w *pipeWriter) readAck() (ack, error) {
	var a hadooppb.PipelineAckProto
	if err := readPrefixedGoClient(w.c, &a); err != nil {
		return ack{}, err
	}
	return ack{seqno: a.GetSeqno(), replies: a.GetReply()}, nil
}

// ackError is a non-SUCCESS status in an ack.
type ackError struct {
	seqno  int64
	index  int
	status hadooppb.Status
}

func (e *ackError) Error() string {
	return fmt.Sprintf("ack %d: node %d answered %s", e.seqno, e.index, e.status)
}

// writeData streams data as the Go client does (packets cut at 64 KiB,
// realigned to chunks after an unaligned start, at most five in flight),
// then the empty last packet, checking every ack has want replies.
// beforeLast, when set, runs before the last packet is sent.
func (w *pipeWriter) writeData(data []byte, want int, beforeLast func()) error {
	inflight := make(chan int64, clientInFlight)
	errc := make(chan error, 1)
	go func() {
		for seq := range inflight {
			for {
				a, err := w.readAck()
				if err != nil {
					errc <- err
					return
				}
				for i, st := range a.replies {
					if st != hadooppb.Status_SUCCESS {
						errc <- &ackError{a.seqno, i, st}
						return
					}
				}
				if a.seqno == heartbeatSeqno {
					continue
				}
				if a.seqno != seq {
					errc <- fmt.Errorf("ack seqno %d, want %d", a.seqno, seq)
					return
				}
				if len(a.replies) != want {
					errc <- fmt.Errorf("ack %d has %d replies, want %d", a.seqno, len(a.replies), want)
					return
				}
				break
			}
		}
		errc <- nil
	}()
	fail := func(err error) error {
		close(inflight)
		if e := <-errc; e != nil {
			return e
		}
		return err
	}
	for len(data) > 0 {
		n := min(clientPacketSize, len(data))
		if a := int(w.off % int64(w.cs.bpc)); a != 0 && n > w.cs.bpc-a {
			n = w.cs.bpc - a
		}
		select {
		case err := <-errc:
			return err
		case inflight <- w.seqno:
		}
		if _, err := w.sendPacket(data[:n], false, false, false); err != nil {
			return fail(err)
		}
		data = data[n:]
	}
	if beforeLast != nil {
		beforeLast()
	}
	select {
	case err := <-errc:
		return err
	case inflight <- w.seqno:
	}
	if _, err := w.sendPacket(nil, true, false, false); err != nil {
		return fail(err)
	}
	close(inflight)
	return <-errc
}

// writeBlockTo writes a whole new block through the pipeline of nodes.
func writeBlockTo(nodes []*DataNode, id, gs uint64, data []byte) error {
	w, resp, err := openPipeline(nodes, testBlock(id, gs, 0), writeSetup{stage: stageCreate})
	if err != nil {
		return err
	}
	defer w.c.Close()
	if resp.GetStatus() != hadooppb.Status_SUCCESS {
		return fmt.Errorf("setup: %s %s (first bad link %q)", resp.GetStatus(), resp.GetMessage(), resp.GetFirstBadLink())
	}
	return w.writeData(data, len(nodes), nil)
}

// readBlockFrom reads [off, off+n) of a block as the Go client does and
// checks every chunk against the sent checksums; it reads on to the last
// packet to check the stream's end too.
func readBlockFrom(d *DataNode, blk *hadooppb.ExtendedBlockProto, off, n uint64) ([]byte, error) {
	c, err := net.DialTimeout("tcp", d.XferAddr(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	op := &hadooppb.OpReadBlockProto{
		Header: &hadooppb.ClientOperationHeaderProto{BaseHeader: &hadooppb.BaseHeaderProto{Block: blk}, ClientName: proto.String("DFSClient_test")},
		Offset: proto.Uint64(off),
		Len:    proto.Uint64(n),
	}
	if err := writeOp(c, opReadBlock, op); err != nil {
		return nil, err
	}
	var resp hadooppb.BlockOpResponseProto
	if err := readPrefixedGoClient(c, &resp); err != nil {
		return nil, err
	}
	if resp.GetStatus() != hadooppb.Status_SUCCESS {
		return nil, fmt.Errorf("read: %s: %s", resp.GetStatus(), resp.GetMessage())
	}
	info := resp.GetReadOpChecksumInfo()
	cs, err := specFromProto(info.GetChecksum())
	if err != nil {
		return nil, err
	}
	bpc := cs.bpc
	start := info.GetChunkOffset()
	if start > off || off-start >= uint64(bpc) || start%uint64(bpc) != 0 {
		return nil, fmt.Errorf("chunk offset %d for a read at %d", start, off)
	}
	var got []byte
	pos := start
	pr := &packetReader{s: newPacketStream(c, nil, make([]byte, 64<<10))}
	for {
		p, err := pr.read()
		if err != nil {
			return nil, fmt.Errorf("packet at %d: %w", pos, err)
		}
		if uint64(p.hdr.offset) != pos {
			return nil, fmt.Errorf("packet offset %d, want %d", p.hdr.offset, pos)
		}
		if len(p.checksums) != cs.sumsLen(len(p.data)) {
			return nil, fmt.Errorf("packet at %d: %d checksum bytes for %d data bytes", pos, len(p.checksums), len(p.data))
		}
		if bad := cs.verify(p.data, p.checksums); bad >= 0 {
			return nil, fmt.Errorf("packet at %d: bad checksum in chunk %d", pos, bad)
		}
		got = append(got, p.data...)
		pos += uint64(len(p.data))
		if p.hdr.last {
			if len(p.data) != 0 {
				return nil, errors.New("last packet carries data")
			}
			break
		}
	}
	skip := off - start
	if uint64(len(got)) < skip+n {
		return nil, fmt.Errorf("got %d bytes from %d, want %d from %d", len(got), start, n, off)
	}
	return got[skip : skip+n], nil
}
