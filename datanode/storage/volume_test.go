package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// under tells whether path lies in dir.
func under(path, dir string) bool { return strings.HasPrefix(path, dir+string(filepath.Separator)) }

func TestVolumeFull(t *testing.T) {
	opts := testOptions(t, 2)
	inj := vfs.NewInjectFS(vfs.Default)
	opts.FS = inj
	s := openStore(t, opts)
	full, other := opts.Volumes[0].Path, opts.Volumes[1].Path
	// Block data writes on the first volume meet a full disk.
	inj.SetRule(func(op vfs.Op, path string) error {
		if op == vfs.OpWrite && under(path, full) && !strings.HasSuffix(path, ".meta") {
			return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return nil
	})
	data := randBytes(1, 3000)
	hitFull := false
	for id := uint64(1); id <= 2 && !hitFull; id++ {
		w, err := s.CreateRBW(id, 1, StorageDisk)
		if err != nil {
			t.Fatal(err)
		}
		err = w.WriteChunks(0, data, pieceSums(0, data, 512))
		if volumeOf(t, s, w.Replica().StorageID) == full {
			hitFull = true
			if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), full) {
				t.Fatalf("write on the full volume: %v (want ErrNoSpace naming %s)", err, full)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finalize(); err != nil {
			t.Fatal(err)
		}
	}
	if !hitFull {
		t.Fatal("round robin never chose the first volume")
	}
	for id := uint64(10); id < 14; id++ {
		r := putReplica(t, s, id, 1, data)
		if volumeOf(t, s, r.StorageID) != other {
			t.Fatalf("blk %d went to the full volume", id)
		}
	}
	for _, v := range s.Volumes() {
		if v.Failed {
			t.Fatalf("a full volume was failed: %+v", v)
		}
	}
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}

	// Now the whole disk is full, creates included: a create meeting
	// ENOSPC moves on to the next volume within the same call.
	s.vols[0].fullAt.Store(0)
	inj.SetRule(func(op vfs.Op, path string) error {
		if under(path, full) {
			return vfs.DiskFull(op, path)
		}
		return nil
	})
	for id := uint64(20); id < 24; id++ {
		r := putReplica(t, s, id, 1, data)
		if volumeOf(t, s, r.StorageID) != other {
			t.Fatalf("blk %d went to the full volume", id)
		}
	}
	// Both full: ErrNoSpace.
	inj.SetRule(vfs.DiskFull)
	s.vols[0].fullAt.Store(0)
	if _, err := s.CreateRBW(30, 1, StorageDisk); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("create with every volume full: %v", err)
	}
	// Space freed: deleting a replica makes the volume eligible again.
	inj.SetRule(nil)
	if err := s.Delete(20); err != nil {
		t.Fatal(err)
	}
	putReplica(t, s, 31, 1, data)
}

func TestReservedSpace(t *testing.T) {
	opts := testOptions(t, 2)
	tight, roomy := opts.Volumes[0].Path, opts.Volumes[1].Path
	opts.StatFS = func(path string) (uint64, uint64, error) {
		if path == tight {
			return 100 << 20, 10 << 20, nil
		}
		return 100 << 20, 80 << 20, nil
	}
	opts.Reserved = 9<<20 + 512<<10 // leaves the tight volume half a block
	s := openStore(t, opts)
	for id := uint64(1); id <= 4; id++ {
		r := putReplica(t, s, id, 1, []byte("data"))
		if volumeOf(t, s, r.StorageID) != roomy {
			t.Fatalf("blk %d went to the volume whose free space is reserved", id)
		}
	}
	for _, v := range s.Volumes() {
		if v.Capacity != 100<<20-uint64(opts.Reserved) {
			t.Fatalf("capacity %d", v.Capacity)
		}
		if v.Path == tight && v.Remaining != 512<<10 {
			t.Fatalf("tight volume remaining %d", v.Remaining)
		}
		if v.Path == roomy && (v.DfsUsed != 4*(4+7+4) || v.Remaining != 80<<20-uint64(opts.Reserved)) {
			t.Fatalf("roomy volume %+v", v)
		}
		if v.NonDfsUsed == 0 {
			t.Fatalf("non-DFS used %+v", v)
		}
	}
	// An open writer holds a block's worth of space: with room for one
	// block only, a second concurrent create finds none.
	opts2 := testOptions(t, 1)
	opts2.StatFS = func(string) (uint64, uint64, error) { return 10 << 20, 1<<20 + 1000, nil }
	s2 := openStore(t, opts2)
	w, err := s2.CreateRBW(1, 1, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.CreateRBW(2, 1, StorageDisk); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("second create: %v", err)
	}
	w.Abort()
	if _, err := s2.CreateRBW(2, 1, StorageDisk); err != nil {
		t.Fatalf("create after the writer went: %v", err)
	}
}

func TestVolumeFailure(t *testing.T) {
	opts := testOptions(t, 3)
	opts.FailedVolumesTolerated = 1
	inj := vfs.NewInjectFS(vfs.Default)
	opts.FS = inj
	var mu sync.Mutex
	var failed []string
	opts.OnVolumeFailed = func(v VolumeInfo) {
		mu.Lock()
		failed = append(failed, v.Path)
		mu.Unlock()
	}
	s := openStore(t, opts)
	a, b := opts.Volumes[0].Path, opts.Volumes[1].Path
	where := map[uint64]string{}
	for id := uint64(1); id <= 6; id++ {
		where[id] = volumeOf(t, s, putReplica(t, s, id, 1, []byte("abc")).StorageID)
	}
	// A writer on volume a is mid-block when the disk dies.
	var wa *ReplicaWriter
	for id := uint64(100); wa == nil; id++ {
		w, err := s.CreateRBW(id, 1, StorageDisk)
		if err != nil {
			t.Fatal(err)
		}
		if volumeOf(t, s, w.Replica().StorageID) == a {
			wa = w
		} else {
			w.Abort()
		}
	}
	inj.SetRule(func(op vfs.Op, path string) error {
		if under(path, a) {
			return &fs.PathError{Op: "write", Path: path, Err: syscall.EIO}
		}
		return nil
	})
	data := []byte("payload")
	if err := wa.WriteChunks(0, data, pieceSums(0, data, 512)); !errors.Is(err, ErrVolumeFailed) {
		t.Fatalf("write on a dying disk: %v", err)
	}
	if err := wa.WriteChunks(0, data, pieceSums(0, data, 512)); err == nil {
		t.Fatal("writer goes on after its volume failed")
	}
	var aID string
	for _, v := range s.Volumes() {
		if v.Path == a {
			if !v.Failed || !strings.Contains(v.FailureCause, "input/output error") {
				t.Fatalf("volume a: %+v", v)
			}
			aID = v.StorageID
		}
	}
	rep := s.Report()
	if _, ok := rep[aID]; ok {
		t.Fatal("failed volume in the report")
	}
	for id, vol := range where {
		_, ok := s.Get(id)
		if (vol == a) == ok {
			t.Fatalf("blk %d on %s: held=%v", id, vol, ok)
		}
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("one failed volume of one tolerated: %v", err)
	}
	// New replicas avoid the failed volume.
	for id := uint64(200); id < 204; id++ {
		if volumeOf(t, s, putReplica(t, s, id, 1, data).StorageID) == a {
			t.Fatal("replica placed on a failed volume")
		}
	}
	// Volume b's directory vanishes: the next create on it fails it, and
	// moves on to volume c.
	if err := os.RemoveAll(filepath.Join(b, "current")); err != nil {
		t.Fatal(err)
	}
	for id := uint64(300); id < 303; id++ {
		if _, err := s.CreateRBW(id, 1, StorageDisk); err != nil {
			t.Fatalf("create with b vanished: %v", err)
		}
	}
	if err := s.Healthy(); err == nil || !strings.Contains(err.Error(), "2 volumes failed, 1 tolerated") {
		t.Fatalf("Healthy with two failed volumes: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := append([]string(nil), failed...)
		mu.Unlock()
		sort.Strings(got)
		want := []string{a, b}
		sort.Strings(want)
		if reflect.DeepEqual(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OnVolumeFailed told %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailedVolumeAtStart(t *testing.T) {
	opts := testOptions(t, 2)
	// The second volume's path is a file: it cannot be used.
	bad := filepath.Join(t.TempDir(), "file")
	os.WriteFile(bad, []byte("x"), 0o644)
	opts.Volumes[1].Path = bad
	if _, err := Open(opts); err == nil {
		t.Fatal("opened with a failed volume and none tolerated")
	}
	opts.FailedVolumesTolerated = 1
	s := openStore(t, opts)
	vols := s.Volumes()
	if !vols[1].Failed || vols[0].Failed {
		t.Fatalf("volumes %+v", vols)
	}
	putReplica(t, s, 1, 1, []byte("x"))
}

func TestStorageTypes(t *testing.T) {
	opts := testOptions(t, 2)
	opts.Volumes[0].Type = StorageSSD
	s := openStore(t, opts)
	for i, tc := range []struct {
		want, got StorageType
	}{
		{StorageSSD, StorageSSD},
		{StorageDisk, StorageDisk},
		{StorageSSD, StorageSSD},
		{StorageDisk, StorageDisk},
	} {
		w, err := s.CreateRBW(uint64(i+1), 1, tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if r := w.Replica(); r.Type != tc.got {
			t.Fatalf("wanted %v, got a %v volume", tc.want, r.Type)
		}
		w.Abort()
	}
	// No ARCHIVE volume: any type with room.
	w, err := s.CreateRBW(999, 1, StorageArchive)
	if err != nil {
		t.Fatalf("fallback: %v", err)
	}
	w.Abort()
}

func TestAvailableSpacePolicy(t *testing.T) {
	opts := testOptions(t, 2)
	big := opts.Volumes[0].Path
	free := map[string]uint64{big: 100 << 30, opts.Volumes[1].Path: 20 << 30}
	var mu sync.Mutex
	opts.StatFS = func(p string) (uint64, uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		return 200 << 30, free[p], nil
	}
	opts.Policy = PolicyAvailableSpace
	s := openStore(t, opts)
	onBig := 0
	const n = 200
	for id := uint64(1); id <= n; id++ {
		w, err := s.CreateRBW(id, 1, StorageDisk)
		if err != nil {
			t.Fatal(err)
		}
		if volumeOf(t, s, w.Replica().StorageID) == big {
			onBig++
		}
		w.Abort()
	}
	if onBig < 120 || onBig > 180 {
		t.Fatalf("%d of %d replicas on the roomier volume, want about 75%%", onBig, n)
	}
	// Balanced volumes: round robin.
	mu.Lock()
	free[big] = 25 << 30
	mu.Unlock()
	onBig = 0
	for id := uint64(1000); id < 1010; id++ {
		w, err := s.CreateRBW(id, 1, StorageDisk)
		if err != nil {
			t.Fatal(err)
		}
		if volumeOf(t, s, w.Replica().StorageID) == big {
			onBig++
		}
		w.Abort()
	}
	if onBig != 5 {
		t.Fatalf("balanced: %d of 10 on one volume", onBig)
	}
	if _, err := Open(Options{Volumes: opts.Volumes, Policy: "random"}); err == nil {
		t.Fatal("unknown policy accepted")
	}
}
