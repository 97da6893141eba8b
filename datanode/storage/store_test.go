package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseDataDirs(t *testing.T) {
	cwd, _ := os.Getwd()
	tests := []struct {
		in      string
		want    []VolumeConfig
		wantErr string
	}{
		{in: "/a", want: []VolumeConfig{{"/a", StorageDisk}}},
		{in: "[SSD]/a,/b,[DISK]file:///c", want: []VolumeConfig{{"/a", StorageSSD}, {"/b", StorageDisk}, {"/c", StorageDisk}}},
		{in: " [ARCHIVE] /x , [ram_disk]file:/y ,", want: []VolumeConfig{{"/x", StorageArchive}, {"/y", StorageRAMDisk}}},
		{in: "file://localhost/z", want: []VolumeConfig{{"/z", StorageDisk}}},
		{in: "rel/dir", want: []VolumeConfig{{filepath.Join(cwd, "rel/dir"), StorageDisk}}},
		{in: "/a/../b/", want: []VolumeConfig{{"/b", StorageDisk}}},
		{in: "[NVME]/a", wantErr: "[NVME]"},
		{in: "[SSD/a", wantErr: "unterminated"},
		{in: "hdfs://nn/a", wantErr: "hdfs"},
		{in: "file://otherhost/a", wantErr: "otherhost"},
		{in: "[SSD]", wantErr: "empty path"},
		{in: "/a,/a", wantErr: "twice"},
		{in: " , ", wantErr: "names no directory"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDataDirs(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLayoutNames(t *testing.T) {
	for _, id := range []uint64{0, 1, 1073741825, 1<<63 + 5, 0xffffffffffffffff} {
		got, ok := parseBlockName(blockName(id))
		if !ok || got != id {
			t.Fatalf("block name round trip %d: %v %v", id, got, ok)
		}
		gid, gs, ok := parseMetaName(metaName(id, 1001))
		if !ok || gid != id || gs != 1001 {
			t.Fatalf("meta name round trip %d: %d %d %v", id, gid, gs, ok)
		}
	}
	// Hadoop's DatanodeUtil.idToBlockDir: subdir((id>>16)&31)/subdir((id>>8)&31).
	if got := leafRel(leafOf(1073741825 + 0x12345)); got != filepath.Join("subdir1", "subdir3") {
		t.Fatalf("leaf of block: %s", got)
	}
	if blockName(uint64(1<<64-3)) != "blk_-3" {
		t.Fatalf("negative ids are written signed: %s", blockName(uint64(1<<64-3)))
	}
	for _, bad := range []string{"blk_", "blk_1_2", "blk_1.meta", "blk_x", "blk_1.corrupt"} {
		if _, ok := parseBlockName(bad); ok {
			t.Fatalf("parseBlockName(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"blk_1.meta", "blk__1.meta", "blk_1_x.meta", "blk_1_2.meta.corrupt"} {
		if _, _, ok := parseMetaName(bad); ok {
			t.Fatalf("parseMetaName(%q) accepted", bad)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s := openStore(t, testOptions(t, 2))
	for i, size := range []int{0, 1, 511, 512, 513, 65537, 1<<20 + 1} {
		id := uint64(1073741825 + i)
		data := randBytes(uint64(i), size)
		r := putReplica(t, s, id, 1001, data)
		if r.State != StateFinalized || r.NumBytes != uint64(size) || r.GenStamp != 1001 || r.StorageID == "" {
			t.Fatalf("size %d: finalized replica %+v", size, r)
		}
		mustEqual(t, "data", readReplica(t, s, id, 1001), data)

		rd, err := s.OpenReplica(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		typ, bpc := rd.ChecksumType()
		if typ != ChecksumCRC32C || bpc != 512 {
			t.Fatalf("checksum type %d/%d", typ, bpc)
		}
		chunks := (size + 511) / 512
		sums, err := rd.Checksums(0, chunks)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "checksums", sums, pieceSums(0, data, 512))
		if _, err := rd.Checksums(0, chunks+1); err == nil {
			t.Fatal("checksums past the end accepted")
		}
		if rd.VisibleLength() != uint64(size) {
			t.Fatalf("visible length %d", rd.VisibleLength())
		}
		// Layout: finalized/subdirN/subdirM/blk_<id> and blk_<id>_<gs>.meta.
		vol := volumeOf(t, s, r.StorageID)
		if rd.BlockFile() != finalizedPath(vol, id) || rd.MetaFile() != filepath.Join(filepath.Dir(rd.BlockFile()), metaName(id, 1001)) {
			t.Fatalf("files %s %s", rd.BlockFile(), rd.MetaFile())
		}
		meta, err := os.ReadFile(rd.MetaFile())
		if err != nil {
			t.Fatal(err)
		}
		// BlockMetadataHeader: version 1, CRC32C (2), 512 bytes per checksum.
		if !bytes.Equal(meta[:7], []byte{0, 1, 2, 0, 0, 2, 0}) || len(meta) != 7+4*chunks {
			t.Fatalf("meta header % x, %d bytes", meta[:7], len(meta))
		}
		rd.Close()
		if err := s.VerifyReplica(id); err != nil {
			t.Fatalf("size %d: verify: %v", size, err)
		}
	}
	total := 0
	for _, rs := range s.Report() {
		total += len(rs)
	}
	if total != 7 {
		t.Fatalf("report holds %d replicas", total)
	}
	// Round robin spread them over both volumes.
	for _, v := range s.Volumes() {
		if v.NumReplicas == 0 || v.DfsUsed == 0 || v.Capacity == 0 {
			t.Fatalf("volume %+v", v)
		}
	}
}

func TestBadChecksumWritesNothing(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	w, err := s.CreateRBW(7, 1, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	good := randBytes(1, 1024)
	writeAll(t, w, good)
	data := randBytes(2, 2000)
	sums := pieceSums(1024, data, 512)
	sums[9] ^= 0x40 // third chunk
	err = w.WriteChunks(1024, data, sums)
	var ce *ChecksumError
	if !errors.Is(err, ErrChecksum) || !errors.As(err, &ce) || ce.Offset != 1024+1024 {
		t.Fatalf("err = %v (%+v), want ErrChecksum at 2048", err, ce)
	}
	if w.BytesOnDisk() != 1024 {
		t.Fatalf("bytes on disk %d after a rejected write", w.BytesOnDisk())
	}
	rd, err := s.OpenReplica(7, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(rd.BlockFile()); fi.Size() != 1024 {
		t.Fatalf("block file is %d bytes", fi.Size())
	}
	if fi, _ := os.Stat(rd.MetaFile()); fi.Size() != 7+8 {
		t.Fatalf("meta file is %d bytes", fi.Size())
	}
	rd.Close()
	if err := w.WriteChunks(1024, data, pieceSums(1024, data, 512)[:8]); !errors.Is(err, ErrChecksum) {
		t.Fatalf("too few checksums: %v", err)
	}
	if err := w.WriteChunks(5000, data, pieceSums(5000, data, 512)); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("gap: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(7); ok {
		t.Fatal("aborted replica still there")
	}
	if _, err := w.Finalize(); err == nil {
		t.Fatal("finalized after abort")
	}
	if _, err := s.OpenReplica(7, 0); !errors.Is(err, ErrReplicaNotFound) {
		t.Fatalf("open aborted: %v", err)
	}
}

func TestPartialChunks(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	data := randBytes(3, 3000)
	w, err := s.CreateRBW(9, 1, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ off, end int }{
		{0, 700},     // one chunk and a partial one (hflush)
		{512, 900},   // resend from the partial chunk's start, longer
		{900, 1024},  // an append-style piece completing the chunk
		{1024, 1100}, // partial again
		{1100, 1300}, // continue mid-chunk, staying in it
		{1300, 3000}, // and on past several chunks
		{2048, 2500}, // a resend wholly inside what is written: ignored
	}
	for _, st := range steps {
		chunk := data[st.off:st.end]
		if err := w.WriteChunks(uint64(st.off), chunk, pieceSums(uint64(st.off), chunk, 512)); err != nil {
			t.Fatalf("write [%d,%d): %v", st.off, st.end, err)
		}
		// A reader mid-write sees the data and a checksum for the partial chunk.
		rd, err := s.OpenReplica(9, 1)
		if err != nil {
			t.Fatal(err)
		}
		n := int(rd.Length())
		got := make([]byte, n)
		if _, err := rd.ReadAt(got, 0); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		mustEqual(t, "rbw data", got, data[:n])
		sums, err := rd.Checksums(0, (n+511)/512)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "rbw checksums", sums, pieceSums(0, data[:n], 512))
		rd.Close()
	}
	more := append(append([]byte{}, data[100:]...), 1, 2, 3)
	if err := w.WriteChunks(100, more, pieceSums(100, more, 512)); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("rewrite of finished chunks: %v", err)
	}
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "final", readReplica(t, s, 9, 1), data)
	if err := s.VerifyReplica(9); err != nil {
		t.Fatal(err)
	}
}

func TestChecksumTypes(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	data := randBytes(4, 1500)
	// CRC32 (IEEE), 256-byte chunks.
	w, err := s.CreateRBWWithChecksum(20, 1, StorageDisk, ChecksumCRC32, 256)
	if err != nil {
		t.Fatal(err)
	}
	var sums []byte
	for i := 0; i < len(data); i += 256 {
		sums = binary.BigEndian.AppendUint32(sums, crc32.ChecksumIEEE(data[i:min(i+256, len(data))]))
	}
	if err := w.WriteChunks(0, data, sums); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	rd, err := s.OpenReplica(20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if typ, bpc := rd.ChecksumType(); typ != ChecksumCRC32 || bpc != 256 {
		t.Fatalf("type %d bpc %d", typ, bpc)
	}
	rd.Close()
	if err := s.VerifyReplica(20); err != nil {
		t.Fatal(err)
	}
	// NULL: no checksums at all.
	w, err = s.CreateRBWWithChecksum(21, 1, StorageDisk, ChecksumNull, 512)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteChunks(0, data, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "null-checksum data", readReplica(t, s, 21, 1), data)
	if err := s.VerifyReplica(21); err != nil {
		t.Fatal(err)
	}
}

func TestCreateExisting(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	putReplica(t, s, 30, 5, []byte("hello"))
	if _, err := s.CreateRBW(30, 6, StorageDisk); !errors.Is(err, ErrReplicaExists) {
		t.Fatalf("create over finalized: %v", err)
	}
	w1, err := s.CreateRBW(31, 5, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w1, []byte("old pipeline"))
	if _, err := s.CreateRBW(31, 5, StorageDisk); !errors.Is(err, ErrReplicaExists) {
		t.Fatalf("create over rbw with the same genstamp: %v", err)
	}
	w2, err := s.CreateRBW(31, 6, StorageDisk)
	if err != nil {
		t.Fatalf("create over an older rbw: %v", err)
	}
	if err := w1.WriteChunks(12, []byte("x"), pieceSums(12, []byte("x"), 512)); !errors.Is(err, ErrReplicaNotFound) {
		t.Fatalf("the replaced writer goes on: %v", err)
	}
	writeAll(t, w2, []byte("new"))
	if _, err := w2.Finalize(); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replaced", readReplica(t, s, 31, 6), []byte("new"))
	if _, err := w1.Finalize(); err == nil {
		t.Fatal("the replaced writer finalized")
	}
}

func TestAppendAndRecover(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	first := randBytes(5, 1000)
	putReplica(t, s, 40, 1, first)

	if _, err := s.Append(40, 2, 3); !errors.Is(err, ErrGenStampMismatch) {
		t.Fatalf("append with a wrong genstamp: %v", err)
	}
	w, err := s.Append(40, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if w.BytesOnDisk() != 1000 || w.Replica().State != StateRBW || w.Replica().GenStamp != 2 {
		t.Fatalf("append writer %+v", w.Replica())
	}
	more := randBytes(6, 700)
	writeAll(t, w, more) // starts mid-chunk: the first piece completes it
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	all := append(append([]byte{}, first...), more...)
	mustEqual(t, "appended", readReplica(t, s, 40, 2), all)
	if err := s.VerifyReplica(40); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenReplica(40, 1); !errors.Is(err, ErrGenStampMismatch) {
		t.Fatalf("stale genstamp read: %v", err)
	}
	if _, err := s.Append(40, 2, 1); !errors.Is(err, ErrGenStampMismatch) {
		t.Fatalf("append with an older genstamp: %v", err)
	}
	// The same genstamp is accepted, as Hadoop's DataNode does (the Go
	// client appends that way).
	w, err = s.Append(40, 2, 2)
	if err != nil {
		t.Fatalf("append with the same genstamp: %v", err)
	}
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}

	// Pipeline recovery: the writer dies mid-block; its acknowledged bytes stay.
	data := randBytes(7, 3000)
	w, err = s.CreateRBW(41, 10, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data[:2500])
	w.SetAcked(2100)
	if got := w.Replica().VisibleLength; got != 2100 {
		t.Fatalf("visible length %d", got)
	}
	if _, err := s.RecoverRBW(41, 11, 2200, 4000); !errors.Is(err, ErrReplicaState) {
		t.Fatalf("recovery with a too-large minimum: %v", err)
	}
	if _, err := s.RecoverRBW(40, 11, 0, 4000); !errors.Is(err, ErrReplicaState) {
		t.Fatalf("recovery of a finalized replica: %v", err)
	}
	w2, err := s.RecoverRBW(41, 11, 2000, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if w2.BytesOnDisk() != 2100 {
		t.Fatalf("recovered at %d, want the acknowledged 2100", w2.BytesOnDisk())
	}
	if err := w.WriteChunks(2500, data[2500:], pieceSums(2500, data[2500:], 512)); err == nil {
		t.Fatal("the old pipeline's writer goes on")
	}
	if _, err := s.OpenReplica(41, 10); !errors.Is(err, ErrGenStampMismatch) {
		t.Fatalf("read with the old genstamp: %v", err)
	}
	writeAll(t, w2, data[2100:])
	r, err := w2.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	if r.GenStamp != 11 || r.NumBytes != 3000 {
		t.Fatalf("recovered replica %+v", r)
	}
	mustEqual(t, "recovered", readReplica(t, s, 41, 11), data)
	if err := s.VerifyReplica(41); err != nil {
		t.Fatal(err)
	}

	// A closed (RBW, no writer) replica recovers at its length.
	w, err = s.CreateRBW(42, 1, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data[:777])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(42); r.State != StateRBW || r.NumBytes != 777 {
		t.Fatalf("closed writer left %+v", r)
	}
	w, err = s.RecoverRBW(42, 2, 777, 777)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data[777:1200])
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "closed then recovered", readReplica(t, s, 42, 2), data[:1200])
}

func TestVerifyAndMarkCorrupt(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	data := randBytes(8, 5000)
	r := putReplica(t, s, 50, 1, data)
	putReplica(t, s, 51, 1, data[:100])
	path := finalizedPath(volumeOf(t, s, r.StorageID), 50)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{data[3000] ^ 1}, 3000)
	f.Close()
	err = s.VerifyReplica(50)
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Offset != 2560 || !errors.Is(err, ErrChecksum) {
		t.Fatalf("verify: %v, want ErrChecksum at chunk 2560", err)
	}
	var bad []uint64
	if err := s.ScanAll(t.Context(), 0, func(id uint64, err error) {
		if err != nil {
			bad = append(bad, id)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bad, []uint64{50}) {
		t.Fatalf("scan found %v", bad)
	}
	s.MarkCorrupt(50)
	for _, rs := range s.Report() {
		for _, r := range rs {
			if r.BlockID == 50 {
				t.Fatal("corrupt replica still reported")
			}
		}
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatalf("corrupt file not kept aside: %v", err)
	}
	if err := s.VerifyReplica(50); !errors.Is(err, ErrReplicaNotFound) {
		t.Fatalf("verify after MarkCorrupt: %v", err)
	}
	if err := s.Delete(50); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".corrupt"); !os.IsNotExist(err) {
		t.Fatalf("Delete left the corrupt file: %v", err)
	}
	if err := s.Delete(50); err != nil {
		t.Fatalf("deleting a missing replica: %v", err)
	}
}

func TestScanRate(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	for i := uint64(0); i < 4; i++ {
		putReplica(t, s, 60+i, 1, randBytes(i, 64<<10))
	}
	n := 0
	if err := s.ScanAll(t.Context(), 1<<30, func(id uint64, err error) {
		if err != nil {
			t.Errorf("blk %d: %v", id, err)
		}
		n++
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("scanned %d", n)
	}
	// A slow rate is cut short by the context.
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := s.ScanAll(ctx, 64<<10, func(uint64, error) {
		calls++
		if calls == 1 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan: %v", err)
	}
}

func TestFinalizeRecovered(t *testing.T) {
	s := openStore(t, testOptions(t, 1))
	data := randBytes(9, 3000)
	// A replica being written, cut to what all replicas hold.
	w, err := s.CreateRBW(80, 1, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data)
	r, err := s.FinalizeRecovered(80, 2, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != StateFinalized || r.GenStamp != 2 || r.NumBytes != 2000 {
		t.Fatalf("recovered %+v", r)
	}
	if err := w.WriteChunks(3000, []byte("x"), pieceSums(3000, []byte("x"), 512)); err == nil {
		t.Fatal("the writer goes on after block recovery")
	}
	mustEqual(t, "recovered rbw", readReplica(t, s, 80, 2), data[:2000])
	if err := s.VerifyReplica(80); err != nil {
		t.Fatal(err)
	}
	// A finalized replica, cut in place.
	putReplica(t, s, 81, 1, data[:1000])
	if r, err = s.FinalizeRecovered(81, 3, 700); err != nil || r.NumBytes != 700 {
		t.Fatalf("recover finalized: %+v %v", r, err)
	}
	mustEqual(t, "recovered finalized", readReplica(t, s, 81, 3), data[:700])
	if err := s.VerifyReplica(81); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinalizeRecovered(81, 4, 701); !errors.Is(err, ErrReplicaState) {
		t.Fatalf("recovery past the replica's end: %v", err)
	}
	if _, err := s.FinalizeRecovered(81, 2, 700); !errors.Is(err, ErrGenStampMismatch) {
		t.Fatalf("recovery with an older genstamp: %v", err)
	}
}
