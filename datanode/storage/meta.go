package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Meta file format, as Hadoop's BlockMetadataHeader: a 2-byte big-endian
// version (1), the DataChecksum header (1-byte type, 4-byte big-endian
// bytes per checksum), then one checksum per chunk of the block file.
const (
	metaVersion    = 1
	metaHeaderSize = 7

	// ChecksumNull is DataChecksum.Type.NULL: no checksums.
	ChecksumNull byte = 0
	// ChecksumCRC32 is DataChecksum.Type.CRC32 (IEEE).
	ChecksumCRC32 byte = 1
	// ChecksumCRC32C is DataChecksum.Type.CRC32C (Castagnoli), the default.
	ChecksumCRC32C byte = 2

	// DefaultBytesPerChecksum is dfs.bytes-per-checksum's default.
	DefaultBytesPerChecksum = 512

	// maxBytesPerChecksum bounds what a header may claim, so a corrupt
	// header cannot make us allocate gigabytes.
	maxBytesPerChecksum = 1 << 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksumSpec is a DataChecksum: type and chunk size.
type checksumSpec struct {
	typ byte
	bpc int
}

// size is the bytes of one checksum.
func (c checksumSpec) size() int {
	if c.typ == ChecksumNull {
		return 0
	}
	return 4
}

// sum is the checksum of one chunk.
func (c checksumSpec) sum(p []byte) uint32 {
	if c.typ == ChecksumCRC32 {
		return crc32.ChecksumIEEE(p)
	}
	return crc32.Checksum(p, castagnoli)
}

// update continues a checksum over more bytes.
func (c checksumSpec) update(crc uint32, p []byte) uint32 {
	if c.typ == ChecksumCRC32 {
		return crc32.Update(crc, crc32.IEEETable, p)
	}
	return crc32.Update(crc, castagnoli, p)
}

// chunks is the number of chunks of n bytes of data.
func (c checksumSpec) chunks(n uint64) uint64 {
	return (n + uint64(c.bpc) - 1) / uint64(c.bpc)
}

// metaSize is the size of the meta file of n bytes of data.
func (c checksumSpec) metaSize(n uint64) int64 {
	return metaHeaderSize + int64(c.chunks(n))*int64(c.size())
}

// chunkStart is the start of the chunk holding offset off.
func (c checksumSpec) chunkStart(off uint64) uint64 { return off - off%uint64(c.bpc) }

// header is the meta file header.
func (c checksumSpec) header() []byte {
	b := make([]byte, metaHeaderSize)
	binary.BigEndian.PutUint16(b[0:], metaVersion)
	b[2] = c.typ
	binary.BigEndian.PutUint32(b[3:], uint32(c.bpc))
	return b
}

// newChecksumSpec validates a type and chunk size.
func newChecksumSpec(typ byte, bpc int) (checksumSpec, error) {
	switch typ {
	case ChecksumNull, ChecksumCRC32, ChecksumCRC32C:
	default:
		return checksumSpec{}, fmt.Errorf("storage: unsupported checksum type %d", typ)
	}
	if bpc <= 0 || bpc > maxBytesPerChecksum {
		return checksumSpec{}, fmt.Errorf("storage: bytes per checksum %d out of range", bpc)
	}
	return checksumSpec{typ: typ, bpc: bpc}, nil
}

// decodeMetaHeader reads a meta file's first 7 bytes.
func decodeMetaHeader(b []byte) (checksumSpec, error) {
	if len(b) < metaHeaderSize {
		return checksumSpec{}, fmt.Errorf("storage: meta header is %d bytes, want %d", len(b), metaHeaderSize)
	}
	if v := binary.BigEndian.Uint16(b); v != metaVersion {
		return checksumSpec{}, fmt.Errorf("storage: meta version %d, want %d", v, metaVersion)
	}
	bpc := binary.BigEndian.Uint32(b[3:])
	if bpc > maxBytesPerChecksum {
		return checksumSpec{}, fmt.Errorf("storage: bytes per checksum %d out of range", bpc)
	}
	return newChecksumSpec(b[2], int(bpc))
}

// metaChunks is how many checksums a meta file of metaLen bytes holds.
func (c checksumSpec) metaChunks(metaLen int64) int64 {
	if c.size() == 0 || metaLen <= metaHeaderSize {
		return 0
	}
	return (metaLen - metaHeaderSize) / int64(c.size())
}

// checksumsIn slices checksums [first, first+n) out of a whole meta file.
func (c checksumSpec) checksumsIn(meta []byte, first, n int) ([]byte, error) {
	cs := c.size()
	if first < 0 || n < 0 || first > len(meta) || n > len(meta) {
		return nil, fmt.Errorf("storage: bad checksum range [%d,+%d)", first, n)
	}
	if cs == 0 {
		return []byte{}, nil
	}
	lo := int64(metaHeaderSize) + int64(first)*int64(cs)
	hi := lo + int64(n)*int64(cs)
	if hi > int64(len(meta)) {
		return nil, fmt.Errorf("storage: meta file holds %d checksums, want [%d,+%d)", c.metaChunks(int64(len(meta))), first, n)
	}
	return meta[lo:hi], nil
}

// pieces is how many checksums data of n bytes written at block offset off
// carries: the first piece ends at the next chunk boundary, the later ones
// are whole chunks (the last may be partial).
func (c checksumSpec) pieces(off uint64, n int) int {
	if n <= 0 {
		return 0
	}
	first := c.bpc - int(off%uint64(c.bpc))
	if n <= first {
		return 1
	}
	return 1 + (n-first+c.bpc-1)/c.bpc
}

// verify checks data written at block offset off against its checksums,
// piece by piece, and reports the first bad piece's offset.
func (c checksumSpec) verify(id, off uint64, data, sums []byte) error {
	cs := c.size()
	if cs == 0 {
		return nil
	}
	if want := c.pieces(off, len(data)) * cs; len(sums) != want {
		return &ChecksumError{BlockID: id, Offset: off, Detail: fmt.Sprintf("%d checksum bytes for %d data bytes, want %d", len(sums), len(data), want)}
	}
	k := 0
	for i := 0; i < len(data); k++ {
		end := i + c.bpc - int((off+uint64(i))%uint64(c.bpc))
		if end > len(data) {
			end = len(data)
		}
		if c.sum(data[i:end]) != binary.BigEndian.Uint32(sums[k*cs:]) {
			return &ChecksumError{BlockID: id, Offset: off + uint64(i)}
		}
		i = end
	}
	return nil
}

// verifyChunks checks whole chunks starting at the chunk-aligned block
// offset off (the last may be partial) against consecutive checksums.
func (c checksumSpec) verifyChunks(id, off uint64, data, sums []byte) error {
	cs := c.size()
	if cs == 0 {
		return nil
	}
	k := 0
	for i := 0; i < len(data); k++ {
		end := min(i+c.bpc, len(data))
		if (k+1)*cs > len(sums) {
			return &ChecksumError{BlockID: id, Offset: off + uint64(i), Detail: "meta file too short"}
		}
		if c.sum(data[i:end]) != binary.BigEndian.Uint32(sums[k*cs:]) {
			return &ChecksumError{BlockID: id, Offset: off + uint64(i)}
		}
		i = end
	}
	return nil
}

// String names the checksum as Hadoop does.
func (c checksumSpec) String() string {
	switch c.typ {
	case ChecksumNull:
		return "NULL"
	case ChecksumCRC32:
		return fmt.Sprintf("CRC32:%d", c.bpc)
	case ChecksumCRC32C:
		return fmt.Sprintf("CRC32C:%d", c.bpc)
	}
	return fmt.Sprintf("type%d:%d", c.typ, c.bpc)
}
