// Package editlog is the NameNode's edit log: a sequence of records with
// consecutive transaction ids (txids, starting at 1), kept in segment files
// in one or more edits directories (redundant copies).
//
// # Files
//
// In each directory a segment is named edits_inprogress_<first> while it is
// being written and edits_<first>-<last> once finalized, txids zero-padded to
// 19 digits, like Hadoop's.
//
// # Segment format (big-endian)
//
//	header (32 bytes): magic "AVFSEDIT" | uint32 layout version (1) |
//	                   uint64 epoch | uint64 firstTxID | uint32 CRC32C of the previous 28 bytes
//	record:            uint8 opcode | uint32 payload length | uint64 txid | payload |
//	                   uint32 CRC32C (Castagnoli) of opcode+length+txid+payload
//
// Opcode 0 is reserved: [OpFiller] records are written only by [Recover]
// when the operator chose to skip unreadable records; readers count their
// txids but never hand them to callers.
//
// # Torn tails and corruption
//
// A reader tells a torn tail (the writer died mid-append) from corruption:
//
//   - torn: the last record is incomplete (fewer bytes than its header or its
//     declared length plus CRC) and no valid record follows it; or a complete
//     record has a bad CRC and everything after it, up to end of file, is zero
//     bytes (this covers a bad final record ending exactly at EOF and a zero
//     filled tail). A torn tail is cut at the end of the last good record.
//   - corruption: a bad record (CRC, txid, opcode) with more non-zero data
//     after it; an oversized length (> [MaxRecordSize]) that fits in the file;
//     a bad header in a finalized segment; a finalized segment not holding
//     exactly the txids its name promises; a txid gap between segments.
//     Corruption is reported as a [*CorruptionError] wrapping [ErrCorrupt].
//
// An incomplete record followed somewhere by a valid record (a CRC-correct
// record with a plausible larger txid) is corruption, not a torn tail: a
// damaged length field in the middle of a segment must not silently drop
// the records after it.
package editlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Format constants.
const (
	// Magic opens every segment file.
	Magic = "AVFSEDIT"
	// LayoutVersion is the segment layout this package writes and reads.
	LayoutVersion uint32 = 1
	// HeaderSize is the size of a segment header in bytes.
	HeaderSize = 32
	// RecordHeaderSize is the size of a record's opcode, length and txid.
	RecordHeaderSize = 1 + 4 + 8
	// RecordOverhead is the number of bytes a record takes besides its payload.
	RecordOverhead = RecordHeaderSize + 4
	// MaxRecordSize is the largest payload a record may carry (16 MiB).
	MaxRecordSize = 16 << 20
	// OpFiller is the reserved opcode of the records Recover writes in place
	// of skipped, unreadable records, so txids stay consecutive. Readers
	// never pass filler records to callers; the namenode must not use it.
	OpFiller uint8 = 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is the sentinel every [*CorruptionError] wraps.
var ErrCorrupt = errors.New("editlog: corrupt edit log")

// CorruptionError reports a damaged edit log: a bad record with data after
// it, a bad header in a finalized segment, a missing txid.
type CorruptionError struct {
	// Path is the segment file (or, for a gap, the segment after it).
	Path string
	// Offset is the byte offset of the bad record or header in Path.
	Offset int64
	// TxID is the txid expected at Offset.
	TxID uint64
	// Reason says what is wrong.
	Reason string
}

// Error names the file, offset, expected txid and reason.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("editlog: corrupt edit log %s at offset %d (txid %d): %s", e.Path, e.Offset, e.TxID, e.Reason)
}

// Unwrap returns [ErrCorrupt], so errors.Is(err, ErrCorrupt) holds.
func (e *CorruptionError) Unwrap() error { return ErrCorrupt }

// Record is one edit log entry.
type Record struct {
	// TxID is the record's transaction id.
	TxID uint64
	// Op is the namenode's opcode (never 0).
	Op uint8
	// Payload is the encoded operation, opaque to this package.
	Payload []byte
}

// segmentHeader is the decoded 32-byte segment header.
type segmentHeader struct {
	Version uint32
	Epoch   uint64
	First   uint64
}

func encodeHeader(epoch, first uint64) []byte {
	b := make([]byte, HeaderSize)
	copy(b, Magic)
	binary.BigEndian.PutUint32(b[8:], LayoutVersion)
	binary.BigEndian.PutUint64(b[12:], epoch)
	binary.BigEndian.PutUint64(b[20:], first)
	binary.BigEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// decodeHeader checks and decodes a header; the error is a plain reason.
func decodeHeader(b []byte) (segmentHeader, error) {
	if len(b) < HeaderSize {
		return segmentHeader{}, fmt.Errorf("short header (%d bytes)", len(b))
	}
	if string(b[:8]) != Magic {
		return segmentHeader{}, errors.New("bad magic")
	}
	if got, want := binary.BigEndian.Uint32(b[28:]), crc32.Checksum(b[:28], castagnoli); got != want {
		return segmentHeader{}, fmt.Errorf("header checksum mismatch (stored %08x, computed %08x)", got, want)
	}
	h := segmentHeader{
		Version: binary.BigEndian.Uint32(b[8:]),
		Epoch:   binary.BigEndian.Uint64(b[12:]),
		First:   binary.BigEndian.Uint64(b[20:]),
	}
	if h.Version != LayoutVersion {
		return h, fmt.Errorf("unsupported layout version %d", h.Version)
	}
	return h, nil
}

// appendRecord appends the encoding of one record to buf.
func appendRecord(buf []byte, op uint8, txid uint64, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, op)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.BigEndian.AppendUint64(buf, txid)
	buf = append(buf, payload...)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf[start:], castagnoli))
}

// recordHeader is the decoded fixed part of a record.
type recordHeader struct {
	Op     uint8
	Length uint32
	TxID   uint64
}

func decodeRecordHeader(b []byte) recordHeader {
	return recordHeader{
		Op:     b[0],
		Length: binary.BigEndian.Uint32(b[1:]),
		TxID:   binary.BigEndian.Uint64(b[5:]),
	}
}

// recordCRCOK reports whether a whole encoded record (header, payload, CRC)
// carries a correct checksum.
func recordCRCOK(rec []byte) bool {
	n := len(rec) - 4
	return binary.BigEndian.Uint32(rec[n:]) == crc32.Checksum(rec[:n], castagnoli)
}
