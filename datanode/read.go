package datanode

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// maxPacketData is the data carried by one packet sent to a reader.
const maxPacketData = 64 << 10

// replicaSource is what sending a replica needs of a storage reader.
type replicaSource interface {
	Replica() storage.Replica
	ReadAt(p []byte, off int64) (int, error)
	Checksums(firstChunk, n int) ([]byte, error)
	ChecksumType() (typ byte, bytesPerChecksum int)
	VisibleLength() uint64
	Close() error
}

// statusFor maps a storage error to the status a peer is answered with.
func statusFor(err error) hadooppb.Status {
	switch {
	case errors.Is(err, storage.ErrChecksum):
		return hadooppb.Status_ERROR_CHECKSUM
	case errors.Is(err, storage.ErrReplicaExists):
		return hadooppb.Status_ERROR_EXISTS
	}
	return hadooppb.Status_ERROR
}

// openReplica opens a replica for reading. A reader holding an older
// generation stamp (it located the block before an append or a recovery)
// may read the newer replica, as in Hadoop; an older replica than asked
// for is refused.
func (d *DataNode) openReplica(blockID, genStamp uint64) (*storage.ReplicaReader, error) {
	r, err := d.store.OpenReplica(blockID, genStamp)
	if errors.Is(err, storage.ErrGenStampMismatch) {
		if rep, ok := d.store.Get(blockID); ok && rep.GenStamp > genStamp {
			r, err = d.store.OpenReplica(blockID, rep.GenStamp)
		}
	}
	return r, err
}

// readBlock serves READ_BLOCK: a reply with the checksum type and the
// chunk-aligned start, then packets of at most 64 KiB, then an empty last
// packet.
func (x *xconn) readBlock(op *hadooppb.OpReadBlockProto) error {
	b := op.GetHeader().GetBaseHeader().GetBlock()
	log := x.log.WithFields(blockFields(b))
	r, err := x.d.openReplica(b.GetBlockId(), b.GetGenerationStamp())
	if err != nil {
		x.replyError(statusFor(err), "cannot read block %d gs %d: %v", b.GetBlockId(), b.GetGenerationStamp(), err)
		return fmt.Errorf("read block %d: %w", b.GetBlockId(), err)
	}
	defer r.Close()
	visible := r.VisibleLength()
	off, length := op.GetOffset(), op.GetLen()
	if off > visible || length > visible-off {
		x.replyError(hadooppb.Status_ERROR, "offset %d and length %d don't match block %d (visible length %d)", off, length, b.GetBlockId(), visible)
		return fmt.Errorf("read block %d: range %d+%d beyond visible length %d", b.GetBlockId(), off, length, visible)
	}
	spec := readerSpec(r)
	bpc := spec.bpc
	start := off - off%uint64(bpc)
	end := off + length
	if rem := end % uint64(bpc); rem != 0 {
		end += uint64(bpc) - rem
	}
	end = min(end, visible)
	sendSums := op.SendChecksums == nil || op.GetSendChecksums()
	ctype := spec.protoType()
	if !sendSums {
		ctype = hadooppb.ChecksumTypeProto_CHECKSUM_NULL
	}
	if err := x.reply(&hadooppb.BlockOpResponseProto{
		Status: hadooppb.Status_SUCCESS.Enum(),
		ReadOpChecksumInfo: &hadooppb.ReadOpChecksumInfoProto{
			Checksum:    &hadooppb.ChecksumProto{Type: ctype.Enum(), BytesPerChecksum: proto.Uint32(uint32(bpc))},
			ChunkOffset: proto.Uint64(start),
		},
	}); err != nil {
		return err
	}
	if err := x.d.sendReplica(x.c, r, start, end, sendSums, log); err != nil {
		return err
	}
	// The reader may answer with a ClientReadStatusProto, or just close.
	x.setReadDeadline(readStatusWait)
	var st hadooppb.ClientReadStatusProto
	if err := readDelimited(x.br, &st, maxAckLength); err == nil && st.GetStatus() == hadooppb.Status_ERROR_CHECKSUM {
		log.Warn("reader reports a checksum error in what we sent")
	}
	return nil
}

// copyBlock serves COPY_BLOCK (balancer, mover, REPLACE_BLOCK of another
// DataNode): the whole finalized replica, sent as a read.
func (x *xconn) copyBlock(op *hadooppb.OpCopyBlockProto) error {
	b := op.GetHeader().GetBlock()
	log := x.log.WithFields(blockFields(b))
	r, err := x.d.openReplica(b.GetBlockId(), b.GetGenerationStamp())
	if err != nil {
		x.replyError(statusFor(err), "cannot copy block %d gs %d: %v", b.GetBlockId(), b.GetGenerationStamp(), err)
		return fmt.Errorf("copy block %d: %w", b.GetBlockId(), err)
	}
	defer r.Close()
	if st := r.Replica().State; st != storage.StateFinalized {
		x.replyError(hadooppb.Status_ERROR, "block %d is %v, not finalized: cannot copy", b.GetBlockId(), st)
		return fmt.Errorf("copy block %d: replica is %v", b.GetBlockId(), st)
	}
	_, bpc := r.ChecksumType()
	end := r.VisibleLength()
	if err := x.reply(&hadooppb.BlockOpResponseProto{
		Status: hadooppb.Status_SUCCESS.Enum(),
		ReadOpChecksumInfo: &hadooppb.ReadOpChecksumInfoProto{
			Checksum:    &hadooppb.ChecksumProto{Type: hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C.Enum(), BytesPerChecksum: proto.Uint32(uint32(bpc))},
			ChunkOffset: proto.Uint64(0),
		},
	}); err != nil {
		return err
	}
	return x.d.sendReplica(x.c, r, 0, end, true, log)
}

// sendReplica sends bytes [start, end) of a replica as packets (start on a
// chunk boundary), then the empty last packet. Each chunk is verified
// against the stored checksum on the way: a corrupt replica stops the
// stream, is marked corrupt and reported to the NameNodes, so the reader
// turns to another replica.
func (d *DataNode) sendReplica(c net.Conn, r replicaSource, start, end uint64, sendSums bool, log logrus.FieldLogger) error {
	spec := readerSpec(r)
	bpc := spec.bpc
	rep := r.Replica()
	perPacket := uint64(maxPacketData - maxPacketData%bpc)
	if perPacket == 0 {
		perPacket = uint64(bpc)
	}
	data := make([]byte, perPacket)
	buf := make([]byte, 0, 64+perPacket+uint64(spec.sumsLen(int(perPacket))))
	seqno := int64(0)
	for pos := start; pos < end; {
		n := min(perPacket, end-pos)
		chunk := data[:n]
		if k, err := r.ReadAt(chunk, int64(pos)); k < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read block %d at %d: %w", rep.BlockID, pos, err)
		}
		var sums []byte
		if spec.size() > 0 {
			first := int(pos / uint64(bpc))
			nc := numChunks(int(n), bpc)
			stored, err := r.Checksums(first, nc)
			if err != nil {
				return fmt.Errorf("read checksums of block %d at %d: %w", rep.BlockID, pos, err)
			}
			sums = append(sums[:0], stored...)
			if len(sums) != nc*checksumSize {
				return fmt.Errorf("block %d at %d: %d checksum bytes for %d chunks", rep.BlockID, pos, len(sums), nc)
			}
			full := nc
			if tail := int(n) % bpc; tail != 0 && rep.State != storage.StateFinalized {
				// A partial last chunk of a replica still being written: the
				// stored CRC may cover more bytes than are visible; send one
				// computed over what is sent.
				full--
				copy(sums[checksumSize*full:], spec.appendSums(nil, chunk[full*bpc:], 0))
			}
			if bad := spec.verify(chunk[:min(int(n), full*bpc)], sums); bad >= 0 {
				cerr := &storage.ChecksumError{BlockID: rep.BlockID, Offset: pos + uint64(bad*bpc), Detail: "checksum mismatch while sending"}
				d.reportCorrupt(rep, cerr)
				return fmt.Errorf("send block %d: %w", rep.BlockID, cerr)
			}
		}
		if !sendSums {
			sums = nil
		}
		buf = appendPacket(buf[:0], packetHeader{offset: int64(pos), seqno: seqno}, sums, chunk)
		c.SetWriteDeadline(time.Now().Add(d.set.WriteTimeout))
		if _, err := c.Write(buf); err != nil {
			return fmt.Errorf("send block %d at %d: %w", rep.BlockID, pos, err)
		}
		seqno++
		pos += n
	}
	buf = appendPacket(buf[:0], packetHeader{offset: int64(end), seqno: seqno, last: true}, nil, nil)
	c.SetWriteDeadline(time.Now().Add(d.set.WriteTimeout))
	if _, err := c.Write(buf); err != nil {
		// Readers that have all they asked for may close without reading it.
		log.WithError(err).Debug("last packet not delivered")
	}
	return nil
}
