package storage

import (
	"encoding/binary"
	"testing"
)

// FuzzMetaHeader feeds arbitrary meta files to the header decoder and the
// checksum-area accessors: errors are fine, panics are not.
func FuzzMetaHeader(f *testing.F) {
	good := checksumSpec{typ: ChecksumCRC32C, bpc: 512}.header()
	good = binary.BigEndian.AppendUint32(good, 0xdeadbeef)
	f.Add(good, uint64(100), 0, 1)
	f.Add([]byte{0, 1, 0, 0, 0, 2, 0}, uint64(0), 0, 0)
	f.Add([]byte{0, 1, 1, 0, 0, 0, 1, 1, 2, 3, 4}, uint64(3), 1, 2)
	f.Add([]byte{0, 1, 2, 0xff, 0xff, 0xff, 0xff}, uint64(1<<40), -1, 5)
	f.Add([]byte{0, 2, 2, 0, 0, 2, 0}, uint64(1), 0, 1)
	f.Add([]byte{}, uint64(0), 0, 0)
	f.Fuzz(func(t *testing.T, meta []byte, dataLen uint64, first, n int) {
		spec, err := decodeMetaHeader(meta)
		if err != nil {
			return
		}
		if spec.bpc <= 0 || spec.bpc > maxBytesPerChecksum {
			t.Fatalf("decoded bpc %d", spec.bpc)
		}
		if !equalBytes(spec.header(), meta[:metaHeaderSize]) {
			t.Fatalf("header does not round trip: % x", meta[:metaHeaderSize])
		}
		chunks := spec.metaChunks(int64(len(meta)))
		if chunks < 0 {
			t.Fatalf("negative chunk count")
		}
		_ = spec.metaSize(dataLen % (1 << 50))
		sums, err := spec.checksumsIn(meta, first, n)
		if err == nil && len(sums) != n*spec.size() {
			t.Fatalf("got %d checksum bytes for %d chunks", len(sums), n)
		}
		// Verify whatever data the meta file's tail would be, against its
		// checksum area, at an arbitrary offset.
		data := meta[metaHeaderSize:]
		area, _ := spec.checksumsIn(meta, 0, int(chunks))
		off := dataLen % (1 << 40)
		_ = spec.verifyChunks(1, off-off%uint64(spec.bpc), data, area)
		_ = spec.verify(1, off, data, area)
		_ = spec.pieces(off, len(data))
	})
}

func equalBytes(a, b []byte) bool { return string(a) == string(b) }

// FuzzIndexRecord feeds arbitrary index values and keys to the decoders.
func FuzzIndexRecord(f *testing.F) {
	f.Add(encodeIndexRecord(indexRecord{State: StateFinalized, GenStamp: 1001, NumBytes: 1 << 27, FileSize: 1 << 27,
		MetaSize: 1<<20 + 7, MTime: 1700000000000000000, Checksum: checksumSpec{ChecksumCRC32C, 512}}))
	f.Add(encodeIndexRecord(indexRecord{State: StateRWR, Checksum: checksumSpec{ChecksumNull, 1}}))
	f.Add(encodeDirRecord(dirRecord{MTime: 1, RecordedAt: 2}))
	f.Add(replicaKey(testBP, 42, "DS-1"))
	f.Add([]byte{1, 0, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeIndexRecord(b); err == nil {
			again, err := decodeIndexRecord(encodeIndexRecord(r))
			if err != nil || again != r {
				t.Fatalf("record does not round trip: %+v -> %+v (%v)", r, again, err)
			}
		}
		if r, err := decodeDirRecord(b); err == nil {
			again, err := decodeDirRecord(encodeDirRecord(r))
			if err != nil || again != r {
				t.Fatalf("dir record does not round trip: %+v -> %+v", r, again)
			}
		}
		prefix := replicaPrefix(testBP)
		if id, sid, ok := parseReplicaKey(prefix, b); ok {
			if string(replicaKey(testBP, id, sid)) != string(b) {
				t.Fatalf("key does not round trip")
			}
		}
	})
}
