package datanode

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// Chunk checksums: every bytesPerChecksum bytes of a replica carry a CRC
// (CRC32C by default, CRC32 when a client asks for it, none for NULL),
// big-endian, 4 bytes.

const checksumSize = 4

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	ieee       = crc32.IEEETable
)

// checksumSpec is a checksum type (storage.ChecksumCRC32C, ...) and chunk
// size.
type checksumSpec struct {
	typ byte
	bpc int
}

// specFromProto validates a ChecksumProto from a peer.
func specFromProto(p *hadooppb.ChecksumProto) (checksumSpec, error) {
	bpc := int(p.GetBytesPerChecksum())
	if bpc <= 0 || bpc > 1<<20 {
		return checksumSpec{}, fmt.Errorf("bytes per checksum %d out of range", p.GetBytesPerChecksum())
	}
	switch t := p.GetType(); t {
	case hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C:
		return checksumSpec{storage.ChecksumCRC32C, bpc}, nil
	case hadooppb.ChecksumTypeProto_CHECKSUM_CRC32:
		return checksumSpec{storage.ChecksumCRC32, bpc}, nil
	case hadooppb.ChecksumTypeProto_CHECKSUM_NULL:
		return checksumSpec{storage.ChecksumNull, bpc}, nil
	default:
		return checksumSpec{}, fmt.Errorf("checksum type %v is not supported", t)
	}
}

// protoType is the spec's type as the wire names it.
func (c checksumSpec) protoType() hadooppb.ChecksumTypeProto {
	switch c.typ {
	case storage.ChecksumCRC32:
		return hadooppb.ChecksumTypeProto_CHECKSUM_CRC32
	case storage.ChecksumNull:
		return hadooppb.ChecksumTypeProto_CHECKSUM_NULL
	}
	return hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C
}

func (c checksumSpec) proto() *hadooppb.ChecksumProto {
	return &hadooppb.ChecksumProto{Type: c.protoType().Enum(), BytesPerChecksum: proto.Uint32(uint32(c.bpc))}
}

func (c checksumSpec) table() *crc32.Table {
	if c.typ == storage.ChecksumCRC32 {
		return ieee
	}
	return castagnoli
}

// size is the bytes of one chunk's checksum (0 for NULL).
func (c checksumSpec) size() int {
	if c.typ == storage.ChecksumNull {
		return 0
	}
	return checksumSize
}

// sumsLen is the checksum bytes of n data bytes chunked from their start.
func (c checksumSpec) sumsLen(n int) int { return numChunks(n, c.bpc) * c.size() }

// verify checks data, chunked from its first byte, against checksums. It
// returns the index of the first bad chunk, or -1.
func (c checksumSpec) verify(data, checksums []byte) int {
	if c.size() == 0 {
		return -1
	}
	tab := c.table()
	for i := 0; len(data) > 0; i++ {
		n := min(c.bpc, len(data))
		if 4*i+4 > len(checksums) || crc32.Checksum(data[:n], tab) != binary.BigEndian.Uint32(checksums[4*i:]) {
			return i
		}
		data = data[n:]
	}
	return -1
}

// appendSums appends the checksums of data written at offset off of a
// replica, chunked on the replica's chunk boundaries: the first chunk runs
// to the next boundary.
func (c checksumSpec) appendSums(dst, data []byte, off uint64) []byte {
	if c.size() == 0 {
		return dst
	}
	tab := c.table()
	first := c.bpc - int(off%uint64(c.bpc))
	for len(data) > 0 {
		n := min(first, len(data))
		dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(data[:n], tab))
		data = data[n:]
		first = c.bpc
	}
	return dst
}

// numChunks is how many chunks of bpc bytes n bytes make.
func numChunks(n, bpc int) int { return (n + bpc - 1) / bpc }

// verifyChunks checks CRC32C chunks (the default spec).
func verifyChunks(data, checksums []byte, bpc int) int {
	return checksumSpec{storage.ChecksumCRC32C, bpc}.verify(data, checksums)
}

// chunkSums computes CRC32C chunk checksums (the default spec).
func chunkSums(dst, data []byte, off uint64, bpc int) []byte {
	return checksumSpec{storage.ChecksumCRC32C, bpc}.appendSums(dst, data, off)
}

// readerSpec is a replica reader's checksum spec.
func readerSpec(r replicaSource) checksumSpec {
	typ, bpc := r.ChecksumType()
	return checksumSpec{typ, bpc}
}

// blockChecksum serves BLOCK_CHECKSUM: the MD5 of the replica's chunk
// CRCs (Hadoop's MD5CRC), over the whole replica, or over the first
// numBytes of the op's block when that is shorter (the last chunk's CRC
// computed over just those bytes).
func (x *xconn) blockChecksum(op *hadooppb.OpBlockChecksumProto) error {
	b := op.GetHeader().GetBlock()
	if t := op.GetBlockChecksumOptions().GetBlockChecksumType(); t != hadooppb.BlockChecksumTypeProto_MD5CRC {
		return x.replyError(hadooppb.Status_ERROR_UNSUPPORTED, "block checksum type %s is not supported (only MD5CRC)", t)
	}
	r, err := x.d.openReplica(b.GetBlockId(), b.GetGenerationStamp())
	if err != nil {
		x.replyError(statusFor(err), "cannot open replica of block %d: %v", b.GetBlockId(), err)
		return fmt.Errorf("block checksum of %d: %w", b.GetBlockId(), err)
	}
	defer r.Close()
	sum, err := x.d.md5crc(r, b.GetNumBytes())
	if err != nil {
		if errors.Is(err, storage.ErrChecksum) {
			x.d.reportCorrupt(r.Replica(), err)
		}
		x.replyError(statusFor(err), "checksum of block %d: %v", b.GetBlockId(), err)
		return fmt.Errorf("block checksum of %d: %w", b.GetBlockId(), err)
	}
	return x.reply(&hadooppb.BlockOpResponseProto{
		Status: hadooppb.Status_SUCCESS.Enum(),
		ChecksumResponse: &hadooppb.OpBlockChecksumResponseProto{
			BytesPerCrc:   proto.Uint32(uint32(sum.bpc)),
			CrcPerBlock:   proto.Uint64(sum.crcPerBlock),
			BlockChecksum: sum.md5[:],
			CrcType:       sum.spec.protoType().Enum(),
			BlockChecksumOptions: &hadooppb.BlockChecksumOptionsProto{
				BlockChecksumType: hadooppb.BlockChecksumTypeProto_MD5CRC.Enum(),
			},
		},
	})
}

// md5crcSum is a replica's MD5CRC checksum.
type md5crcSum struct {
	spec        checksumSpec
	bpc         int
	crcPerBlock uint64
	md5         [md5.Size]byte
}

// md5crc computes a replica's MD5CRC over its visible length, or over the
// first want bytes when want is shorter.
func (d *DataNode) md5crc(r replicaSource, want uint64) (md5crcSum, error) {
	spec := readerSpec(r)
	bpc := spec.bpc
	visible := r.VisibleLength()
	length := min(want, visible)
	out := md5crcSum{spec: spec, bpc: bpc}
	h := md5.New()
	if spec.size() == 0 {
		h.Sum(out.md5[:0])
		return out, nil
	}
	out.crcPerBlock = uint64(numChunks(int(visible), bpc))
	full := int(length / uint64(bpc))
	const batch = 1024 // chunks per read
	for first := 0; first < full; first += batch {
		n := min(batch, full-first)
		sums, err := r.Checksums(first, n)
		if err != nil {
			return out, fmt.Errorf("read checksums of chunks %d-%d: %w", first, first+n, err)
		}
		h.Write(sums)
	}
	if tail := int(length % uint64(bpc)); tail > 0 {
		// The last, partial chunk: its CRC over exactly the bytes counted.
		buf := make([]byte, tail)
		off := int64(full) * int64(bpc)
		if _, err := io.ReadFull(io.NewSectionReader(r, off, int64(tail)), buf); err != nil {
			return out, fmt.Errorf("read last chunk at %d: %w", off, err)
		}
		if uint64(off)+uint64(tail) == visible && r.Replica().State == storage.StateFinalized {
			// A whole finalized replica: the stored CRC must agree.
			sums, err := r.Checksums(full, 1)
			if err != nil {
				return out, fmt.Errorf("read checksum of last chunk: %w", err)
			}
			if spec.verify(buf, sums) >= 0 {
				return out, &storage.ChecksumError{BlockID: r.Replica().BlockID, Offset: uint64(off)}
			}
		}
		h.Write(spec.appendSums(nil, buf, 0))
	}
	h.Sum(out.md5[:0])
	return out, nil
}
