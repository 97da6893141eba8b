package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// reportIDs lists the reported block ids with their states.
func reportIDs(s *Store) map[uint64]Replica {
	out := map[uint64]Replica{}
	for _, rs := range s.Report() {
		for _, r := range rs {
			out[r.BlockID] = r
		}
	}
	return out
}

func TestRestart(t *testing.T) {
	opts := testOptions(t, 2)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, v := range s.Volumes() {
		ids[v.Path] = v.StorageID
	}
	want := map[uint64][]byte{}
	for i := uint64(0); i < 20; i++ {
		data := randBytes(i, int(i*300))
		putReplica(t, s, 1000+i, 7, data)
		want[1000+i] = data
	}
	// An RBW replica whose last chunk was torn (crash mid-write).
	rbwData := randBytes(99, 2000)
	w, err := s.CreateRBW(2000, 8, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, rbwData)
	rd, err := s.OpenReplica(2000, 8)
	if err != nil {
		t.Fatal(err)
	}
	rbwBlock := rd.BlockFile()
	rd.Close()
	// A clean RBW (writer closed) of 1000 bytes, and a torn one of 1500.
	w2, err := s.CreateRBW(2001, 8, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w2, rbwData[:1000])
	w2.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Tear the first RBW: garbage bytes past its last chunk, and a flipped
	// byte in that last (partial) chunk so it no longer verifies.
	f, err := os.OpenFile(rbwBlock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("garbage"), 2000)
	f.WriteAt([]byte{rbwData[1900] ^ 0xff}, 1900)
	f.Close()

	start := time.Now()
	s = openStore(t, opts)
	t.Logf("restart with %d replicas took %v", len(want)+2, time.Since(start))
	for _, v := range s.Volumes() {
		if ids[v.Path] != v.StorageID {
			t.Fatalf("volume %s changed storage id %s -> %s", v.Path, ids[v.Path], v.StorageID)
		}
	}
	for id, data := range want {
		r, ok := s.Get(id)
		if !ok || r.State != StateFinalized || r.NumBytes != uint64(len(data)) || r.GenStamp != 7 {
			t.Fatalf("blk %d after restart: %+v %v", id, r, ok)
		}
		mustEqual(t, fmt.Sprint("blk ", id), readReplica(t, s, id, 7), data)
	}
	r, ok := s.Get(2000)
	if !ok || r.State != StateRWR || r.NumBytes != 1536 {
		t.Fatalf("torn rbw after restart: %+v %v, want RWR of 1536 bytes", r, ok)
	}
	mustEqual(t, "rwr data", readReplica(t, s, 2000, 8), rbwData[:1536])
	if err := s.VerifyReplica(2000); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(rbwBlock); fi.Size() != 1536 {
		t.Fatalf("rbw block file not cut: %d", fi.Size())
	}
	r, ok = s.Get(2001)
	if !ok || r.State != StateRWR || r.NumBytes != 1000 {
		t.Fatalf("clean rbw after restart: %+v %v", r, ok)
	}
	rep := reportIDs(s)
	if len(rep) != len(want)+2 || rep[2000].State != StateRWR {
		t.Fatalf("report after restart: %d replicas", len(rep))
	}
	// An RWR replica recovers into a new pipeline and finalizes.
	w, err = s.RecoverRBW(2000, 9, 1536, 1536)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, rbwData[1536:])
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "recovered rwr", readReplica(t, s, 2000, 9), rbwData)
}

func TestRestartNoticesChanges(t *testing.T) {
	opts := testOptions(t, 1)
	opts.FS = noSyncFS{opts.FS}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 600; i++ { // 3 leaf directories
		putReplica(t, s, 1073741824+i, 1, randBytes(i, 10))
	}
	vol := opts.Volumes[0].Path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Behind the store's back: a block deleted, and an orphan finalized
	// replica copied in (as from another disk).
	gone := uint64(1073741824 + 5)
	os.Remove(finalizedPath(vol, gone))
	os.Remove(filepath.Join(filepath.Dir(finalizedPath(vol, gone)), metaName(gone, 1)))
	src := uint64(1073741824 + 7)
	orphan := uint64(1073741824 + 900)
	copyFile(t, finalizedPath(vol, src), finalizedPath(vol, orphan))
	copyFile(t, filepath.Join(filepath.Dir(finalizedPath(vol, src)), metaName(src, 1)), filepath.Join(filepath.Dir(finalizedPath(vol, orphan)), metaName(orphan, 3)))

	s = openStore(t, opts)
	if _, ok := s.Get(gone); ok {
		t.Fatal("deleted block still held after restart")
	}
	if r, ok := s.Get(orphan); !ok || r.GenStamp != 3 || r.NumBytes != 10 {
		t.Fatalf("orphan not adopted: %+v %v", r, ok)
	}
	if n := len(reportIDs(s)); n != 600 {
		t.Fatalf("report holds %d", n)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(to), 0o755)
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLostReplicaNoticed(t *testing.T) {
	opts := testOptions(t, 1)
	var mu sync.Mutex
	var lost []uint64
	opts.OnReplicaLost = func(r Replica, err error) {
		mu.Lock()
		lost = append(lost, r.BlockID)
		mu.Unlock()
	}
	s := openStore(t, opts)
	vol := opts.Volumes[0].Path
	for i := uint64(1); i <= 3; i++ {
		putReplica(t, s, i, 1, randBytes(i, 2000))
	}
	// 1: deleted behind our back; read notices.
	os.Remove(finalizedPath(vol, 1))
	if _, err := s.OpenReplica(1, 1); !errors.Is(err, ErrReplicaNotFound) {
		t.Fatalf("open of a vanished replica: %v", err)
	}
	if _, ok := s.Get(1); ok {
		t.Fatal("vanished replica still held")
	}
	// 2: truncated behind our back; the directory scanner notices and
	// sets it aside (the report itself touches no file).
	os.Truncate(finalizedPath(vol, 2), 100)
	if _, err := s.ScanDirectories(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep := reportIDs(s)
	if _, ok := rep[2]; ok || len(rep) != 1 {
		t.Fatalf("report: %v", rep)
	}
	if _, err := os.Stat(finalizedPath(vol, 2) + corruptSuffix); err != nil {
		t.Fatalf("wrong-sized replica not set aside: %v", err)
	}
	// 3: deleted; the verifier notices.
	os.Remove(finalizedPath(vol, 3))
	if err := s.VerifyReplica(3); !errors.Is(err, ErrReplicaNotFound) {
		t.Fatalf("verify of a vanished replica: %v", err)
	}
	mu.Lock()
	sort.Slice(lost, func(i, j int) bool { return lost[i] < lost[j] })
	got := fmt.Sprint(lost)
	mu.Unlock()
	if got != "[1 2 3]" {
		t.Fatalf("OnReplicaLost told about %s", got)
	}
}

func TestRefreshCertifiesAndRelists(t *testing.T) {
	opts := testOptions(t, 1)
	s := openStore(t, opts)
	vol := opts.Volumes[0].Path
	var lost []uint64
	s.opts.OnReplicaLost = func(r Replica, err error) { lost = append(lost, r.BlockID) }
	for i := uint64(0); i < 3; i++ {
		putReplica(t, s, 5000+i, 1, []byte("abc"))
	}
	v := s.vols[0]
	leaf := leafOf(5000)
	if len(v.dirty) != 1 {
		t.Fatalf("dirty leaves %v", v.dirty)
	}
	// Age the directory's mtime so the record can be certified.
	old := time.Now().Add(-time.Minute)
	dir := v.lay.leafDir(leaf)
	os.Chtimes(dir, old, old)
	v.lastRec[leaf] = old.UnixNano()
	s.setupMu.Lock()
	s.refreshDirty()
	s.setupMu.Unlock()
	if len(v.dirty) != 0 {
		t.Fatalf("leaf not certified: %v", v.dirty)
	}
	// A file removed behind our back while the leaf is dirty: relisted.
	v.markDirty(leaf)
	os.Remove(finalizedPath(vol, 5001))
	s.setupMu.Lock()
	s.refreshDirty()
	s.setupMu.Unlock()
	if _, ok := s.Get(5001); ok || fmt.Sprint(lost) != "[5001]" {
		t.Fatalf("refresh missed the removal: lost %v", lost)
	}
}

func TestRescan(t *testing.T) {
	opts := testOptions(t, 2)
	s := openStore(t, opts)
	for i := uint64(0); i < 10; i++ {
		putReplica(t, s, 7000+i, 1, randBytes(i, 700))
	}
	r, _ := s.Get(7003)
	vol := volumeOf(t, s, r.StorageID)
	os.Remove(finalizedPath(vol, 7003))
	if err := s.Rescan(r.StorageID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(7003); ok {
		t.Fatal("rescan kept a replica without files")
	}
	if n := len(reportIDs(s)); n != 9 {
		t.Fatalf("after rescan %d replicas", n)
	}
	if err := s.Rescan("DS-nope"); err == nil {
		t.Fatal("rescan of an unknown volume")
	}
}

func TestIndexLostRebuilds(t *testing.T) {
	opts := testOptions(t, 2)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 50; i++ {
		putReplica(t, s, 9000+i, 2, randBytes(i, 100))
	}
	w, err := s.CreateRBW(9999, 2, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, randBytes(1, 600))
	s.Close()
	if err := os.RemoveAll(filepath.Join(opts.Volumes[0].Path, "current", "replica-index")); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, opts)
	rep := reportIDs(s)
	if len(rep) != 51 || rep[9999].State != StateRWR || rep[9999].NumBytes != 600 {
		t.Fatalf("rebuilt report: %d replicas, rwr %+v", len(rep), rep[9999])
	}
}

func TestInterruptedMoves(t *testing.T) {
	opts := testOptions(t, 1)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(1, 1000)
	putReplica(t, s, 300, 4, data)
	putReplica(t, s, 301, 4, data)
	s.Close()
	lay := newBPLayout(opts.Volumes[0].Path, testBP)
	leafDir := lay.leafDir(leafOf(300))
	// 300: finalize interrupted after moving the meta file.
	os.Rename(filepath.Join(leafDir, blockName(300)), filepath.Join(lay.rbw, blockName(300)))
	// 301: the reverse half-move.
	os.Rename(filepath.Join(leafDir, metaName(301, 4)), filepath.Join(lay.rbw, metaName(301, 4)))
	s = openStore(t, opts)
	for _, id := range []uint64{300, 301} {
		r, ok := s.Get(id)
		if !ok || r.State != StateFinalized || r.NumBytes != 1000 {
			t.Fatalf("blk %d after an interrupted move: %+v %v", id, r, ok)
		}
		mustEqual(t, "data", readReplica(t, s, id, 4), data)
	}
}

func TestSetBlockPoolLater(t *testing.T) {
	opts := testOptions(t, 1)
	opts.BlockPoolID, opts.ClusterID = "", ""
	s := openStore(t, opts)
	if _, err := s.CreateRBW(1, 1, StorageDisk); !errors.Is(err, ErrNoBlockPool) {
		t.Fatalf("create before the block pool: %v", err)
	}
	if len(s.Volumes()) != 1 || s.Volumes()[0].StorageID == "" || s.DatanodeUUID() == "" {
		t.Fatalf("volumes before the block pool: %+v", s.Volumes())
	}
	if err := s.SetBlockPool(testBP, "CID-1"); err != nil {
		t.Fatal(err)
	}
	putReplica(t, s, 1, 1, []byte("x"))
	if err := s.SetBlockPool(testBP, "CID-1"); err != nil {
		t.Fatalf("same pool again: %v", err)
	}
	if err := s.SetBlockPool("BP-other", "CID-1"); err == nil {
		t.Fatal("a second block pool accepted")
	}
	uuid := s.DatanodeUUID()
	s.Close()
	opts.ClusterID = "CID-2"
	if _, err := Open(opts); err == nil {
		t.Fatal("opened with another cluster id")
	}
	opts.ClusterID = ""
	opts.BlockPoolID = testBP
	s2 := openStore(t, opts)
	if s2.DatanodeUUID() != uuid {
		t.Fatalf("datanode uuid %s -> %s", uuid, s2.DatanodeUUID())
	}
	if _, ok := s2.Get(1); !ok {
		t.Fatal("replica lost across restart")
	}
	vv, _, _ := s2.vols[0].readVersion(s2.fs)
	if vv.ClusterID != "CID-1" || vv.DatanodeUUID != uuid {
		t.Fatalf("VERSION %+v", vv)
	}
}

func TestSecondStoreLocked(t *testing.T) {
	opts := testOptions(t, 1)
	openStore(t, opts)
	opts.IndexDir = t.TempDir()
	if _, err := Open(opts); err == nil {
		t.Fatal("a second store opened a locked volume")
	}
}

// TestRestart10k shows the index at work: a restart with 10,000 replicas
// reads the index instead of listing and stat-ing every file. The times
// are logged, not asserted.
func TestRestart10k(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	opts := testOptions(t, 2)
	const n = 10000
	start := time.Now()
	layOut10k(t, opts, n)
	t.Logf("laid out %d replicas in %v", n, time.Since(start))
	start = time.Now()
	s, err := Open(opts) // no index yet: every directory is listed
	if err != nil {
		t.Fatal(err)
	}
	listed := time.Since(start)
	if got := len(reportIDs(s)); got != n {
		t.Fatalf("%d replicas after the first start", got)
	}
	s.Close()
	ageLeaves(t, opts)
	start = time.Now()
	s = openStore(t, opts)
	indexed := time.Since(start)
	if s.leavesListed != 0 {
		t.Fatalf("restart listed %d leaves", s.leavesListed)
	}
	if got := len(reportIDs(s)); got != n {
		t.Fatalf("%d replicas after restart", got)
	}
	t.Logf("restart with %d replicas: %v from the index, %v listing every directory (no index)", n, indexed, listed)
}

// layOut10k writes n finalized replicas straight into the volumes, as a
// DataNode that ran before would have left them.
func layOut10k(t testing.TB, opts Options, n int) {
	t.Helper()
	data := []byte("0123456789")
	meta := checksumSpec{ChecksumCRC32C, 512}.header()
	meta = append(meta, pieceSums(0, data, 512)...)
	made := map[string]bool{}
	for i := 0; i < n; i++ {
		id := uint64(1073741825 + i)
		dir := newBPLayout(opts.Volumes[i%len(opts.Volumes)].Path, testBP).leafDir(leafOf(id))
		if !made[dir] {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			made[dir] = true
		}
		if err := os.WriteFile(filepath.Join(dir, blockName(id)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, metaName(id, 1001)), meta, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ageLeaves backdates every leaf directory's mtime and lets a clean
// close certify the records, as a minute of quiet would; freshly
// written leaves are otherwise racy and listed at the next start.
func ageLeaves(t testing.TB, opts Options) {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	for _, v := range s.vols {
		for l := uint16(0); l < numLeaves; l++ {
			if err := os.Chtimes(v.lay.leafDir(l), old, old); err == nil {
				v.lastRec[l] = old.UnixNano()
				v.markDirty(l)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCertifiedLeavesAreNotListed(t *testing.T) {
	opts := testOptions(t, 1)
	opts.FS = noSyncFS{opts.FS}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 300; i++ { // two leaves
		putReplica(t, s, 1<<20+i, 1, randBytes(i, 600))
	}
	s.Close()
	ageLeaves(t, opts)
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.leavesListed != 0 || len(reportIDs(s)) != 300 {
		t.Fatalf("certified restart listed %d leaves, holds %d replicas", s.leavesListed, len(reportIDs(s)))
	}
	s.Close()
	vol := opts.Volumes[0].Path
	// Behind the store's back: one block removed (its leaf's mtime moves),
	// one truncated in place (no directory change).
	os.Remove(finalizedPath(vol, 1<<20+3))
	os.Truncate(finalizedPath(vol, 1<<20+290), 10)
	s = openStore(t, opts)
	if s.leavesListed != 1 {
		t.Fatalf("listed %d leaves, want the one that changed", s.leavesListed)
	}
	if _, ok := s.Get(1<<20 + 3); ok {
		t.Fatal("removed replica loaded")
	}
	if _, ok := s.Get(1<<20 + 290); !ok {
		t.Fatal("the truncated replica is trusted from the index until checked")
	}
	if _, err := s.OpenReplica(1<<20+290, 0); !errors.Is(err, ErrReplicaNotFound) {
		t.Fatalf("open of the truncated replica: %v", err)
	}
	if n := len(reportIDs(s)); n != 298 {
		t.Fatalf("report holds %d", n)
	}
}
