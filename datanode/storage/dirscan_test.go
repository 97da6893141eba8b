package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// countFS counts every call that reaches the file system, and can slow
// down stats of block files.
type countFS struct {
	vfs.FS
	calls, stats atomic.Int64
	statDelay    atomic.Int64 // nanoseconds per stat of a blk_ file
}

func (c *countFS) call() { c.calls.Add(1) }

func (c *countFS) Create(name string) (vfs.File, error) { c.call(); return c.FS.Create(name) }
func (c *countFS) Open(name string) (vfs.File, error)   { c.call(); return c.FS.Open(name) }
func (c *countFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	c.call()
	return c.FS.OpenFile(name, flag, perm)
}
func (c *countFS) Rename(o, n string) error    { c.call(); return c.FS.Rename(o, n) }
func (c *countFS) Remove(name string) error    { c.call(); return c.FS.Remove(name) }
func (c *countFS) RemoveAll(name string) error { c.call(); return c.FS.RemoveAll(name) }
func (c *countFS) MkdirAll(name string, perm fs.FileMode) error {
	c.call()
	return c.FS.MkdirAll(name, perm)
}
func (c *countFS) ReadDir(name string) ([]fs.DirEntry, error) { c.call(); return c.FS.ReadDir(name) }
func (c *countFS) SyncDir(name string) error                  { c.call(); return c.FS.SyncDir(name) }
func (c *countFS) Stat(name string) (fs.FileInfo, error) {
	c.call()
	c.stats.Add(1)
	if d := c.statDelay.Load(); d > 0 && strings.HasPrefix(filepath.Base(name), blockPrefix) {
		time.Sleep(time.Duration(d))
	}
	return c.FS.Stat(name)
}

// lostLog records OnReplicaLost calls.
type lostLog struct {
	mu   sync.Mutex
	errs map[uint64]error
}

func (l *lostLog) record(r Replica, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.errs == nil {
		l.errs = map[uint64]error{}
	}
	l.errs[r.BlockID] = err
}

func (l *lostLog) get() map[uint64]error {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[uint64]error{}
	for k, v := range l.errs {
		out[k] = v
	}
	return out
}

// metaPath is where a finalized replica's meta file lives.
func metaPath(vol string, id, gs uint64) string {
	return filepath.Join(filepath.Dir(finalizedPath(vol, id)), metaName(id, gs))
}

// TestReportTouchesNoFile: a full block report is built from the map
// alone; whatever happened on disk, Report makes no file-system call and
// still lists the replica (the directory scanner is what notices).
func TestReportTouchesNoFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, vol string, id uint64)
	}{
		{"untouched", func(*testing.T, string, uint64) {}},
		{"block file deleted", func(t *testing.T, vol string, id uint64) { os.Remove(finalizedPath(vol, id)) }},
		{"block file truncated", func(t *testing.T, vol string, id uint64) { os.Truncate(finalizedPath(vol, id), 3) }},
		{"meta file deleted", func(t *testing.T, vol string, id uint64) { os.Remove(metaPath(vol, id, 1)) }},
		{"leaf directory deleted", func(t *testing.T, vol string, id uint64) {
			os.RemoveAll(filepath.Dir(finalizedPath(vol, id)))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfs := &countFS{FS: vfs.Default}
			opts := testOptions(t, 2)
			opts.FS = cfs
			s := openStore(t, opts)
			for i := uint64(0); i < 6; i++ {
				putReplica(t, s, 100+i, 1, randBytes(i, 1000))
			}
			w, err := s.CreateRBW(200, 1, StorageDisk)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, w, randBytes(9, 700))
			r, _ := s.Get(103)
			tc.damage(t, volumeOf(t, s, r.StorageID), 103)
			before := cfs.calls.Load()
			rep := s.Report()
			if n := cfs.calls.Load() - before; n != 0 {
				t.Fatalf("Report made %d file-system calls", n)
			}
			if len(rep) != 2 {
				t.Fatalf("report has %d volumes, want 2", len(rep))
			}
			ids := reportIDs(s)
			if len(ids) != 7 || ids[103].NumBytes != 1000 || ids[200].State != StateRBW || ids[200].NumBytes != 700 {
				t.Fatalf("report: %d replicas, blk 103 %+v, rbw %+v", len(ids), ids[103], ids[200])
			}
			for sid, rs := range rep {
				for i := 1; i < len(rs); i++ {
					if rs[i-1].BlockID >= rs[i].BlockID {
						t.Fatalf("volume %s: report not sorted by block id", sid)
					}
				}
			}
		})
	}
}

// TestReportOfManyReplicasIsQuick reports 200,000 replicas held in memory
// (no files at all: it would fail if it looked at the disk).
func TestReportOfManyReplicasIsQuick(t *testing.T) {
	cfs := &countFS{FS: vfs.Default}
	opts := testOptions(t, 2)
	opts.FS = cfs
	s := openStore(t, opts)
	const n = 200000
	fakeReplicas(s, n)
	before := cfs.calls.Load()
	start := time.Now()
	rep := s.Report()
	took := time.Since(start)
	if c := cfs.calls.Load() - before; c != 0 {
		t.Fatalf("Report made %d file-system calls", c)
	}
	got := 0
	for _, rs := range rep {
		got += len(rs)
	}
	if got != n {
		t.Fatalf("report of %d replicas, want %d", got, n)
	}
	t.Logf("report of %d in-memory replicas: %v", n, took)
	if took > 10*time.Second { // generous: race detector, loaded machine
		t.Fatalf("report of %d replicas took %v", n, took)
	}
}

// fakeReplicas puts n finalized replicas in the map without files.
func fakeReplicas(s *Store, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		id := uint64(1073741825 + i)
		s.insertLocked(&replicaInfo{id: id, gs: 1001, numBytes: 10, state: StateFinalized,
			vol: s.vols[i%len(s.vols)], spec: s.spec})
	}
}

// TestDirScanFindsLostReplicas damages one replica's files behind the
// store's back; one directory scan finds it, drops it, tells
// OnReplicaLost, and leaves the other replicas alone.
func TestDirScanFindsLostReplicas(t *testing.T) {
	const victim = 103
	cases := []struct {
		name    string
		damage  func(t *testing.T, s *Store, vol string)
		want    error // the OnReplicaLost error; nil: nothing lost
		aside   bool  // the block file is set aside as .corrupt
		check   func(st DirScanStats) bool
		adopted uint64 // a replica the scan adopts
		// leafGone: every replica (all in the victim's leaf) is lost.
		leafGone bool
	}{
		{name: "untouched", damage: func(*testing.T, *Store, string) {},
			check: func(st DirScanStats) bool { return st.Lost == 0 && st.MissingBlock+st.WrongSize+st.MissingMeta == 0 }},
		{name: "block file deleted", want: ErrReplicaNotFound,
			damage: func(t *testing.T, s *Store, vol string) { os.Remove(finalizedPath(vol, victim)) },
			check:  func(st DirScanStats) bool { return st.MissingBlock == 1 && st.Lost == 1 }},
		{name: "block file truncated", want: ErrChecksum, aside: true,
			damage: func(t *testing.T, s *Store, vol string) { os.Truncate(finalizedPath(vol, victim), 10) },
			check:  func(st DirScanStats) bool { return st.WrongSize == 1 && st.Lost == 1 }},
		{name: "block file grown", want: ErrChecksum, aside: true,
			damage: func(t *testing.T, s *Store, vol string) { os.Truncate(finalizedPath(vol, victim), 5000) },
			check:  func(st DirScanStats) bool { return st.WrongSize == 1 && st.Lost == 1 }},
		{name: "meta file deleted", want: ErrReplicaNotFound, aside: true,
			damage: func(t *testing.T, s *Store, vol string) { os.Remove(metaPath(vol, victim, 1)) },
			check:  func(st DirScanStats) bool { return st.MissingMeta == 1 && st.Lost == 1 }},
		{name: "leaf directory deleted", want: ErrReplicaNotFound, leafGone: true,
			damage: func(t *testing.T, s *Store, vol string) { os.RemoveAll(filepath.Dir(finalizedPath(vol, victim))) },
			check:  func(st DirScanStats) bool { return st.MissingBlock == 6 && st.Lost == 6 }},
		{name: "orphan copied in", adopted: 150,
			damage: func(t *testing.T, s *Store, vol string) {
				copyFile(t, finalizedPath(vol, victim), finalizedPath(vol, 150))
				copyFile(t, metaPath(vol, victim, 1), metaPath(vol, 150, 4))
				// As another tick of the clock would: the leaf's mtime moves.
				old := time.Now().Add(-time.Hour)
				os.Chtimes(filepath.Dir(finalizedPath(vol, 150)), old, old)
			},
			check: func(st DirScanStats) bool { return st.Lost == 0 && st.LeavesRelisted == 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, lost := lostOptions(t, 1)
			s := openStore(t, opts)
			vol := opts.Volumes[0].Path
			for i := uint64(0); i < 6; i++ {
				putReplica(t, s, 100+i, 1, randBytes(i, 1000))
			}
			tc.damage(t, s, vol)
			st, err := s.ScanDirectories(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(st) {
				t.Fatalf("scan stats: %+v", st)
			}
			got := lost.get()
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("OnReplicaLost told about %v", got)
				}
			} else {
				if err := got[victim]; !errors.Is(err, tc.want) {
					t.Fatalf("OnReplicaLost for blk %d: %v, want %v (all: %v)", victim, err, tc.want, got)
				}
				if _, ok := s.Get(victim); ok {
					t.Fatal("lost replica still held")
				}
				if _, ok := reportIDs(s)[victim]; ok {
					t.Fatal("lost replica still reported")
				}
				if _, err := s.OpenReplica(victim, 0); !errors.Is(err, ErrReplicaNotFound) {
					t.Fatalf("read of the lost replica: %v", err)
				}
			}
			if _, err := os.Stat(finalizedPath(vol, victim) + corruptSuffix); (err == nil) != tc.aside {
				t.Fatalf("block file set aside: %v, want %v", err == nil, tc.aside)
			}
			if tc.adopted != 0 {
				if r, ok := s.Get(tc.adopted); !ok || r.GenStamp != 4 {
					t.Fatalf("orphan not adopted: %+v %v", r, ok)
				}
			}
			if tc.leafGone {
				if n := len(reportIDs(s)); n != 0 || len(got) != 6 {
					t.Fatalf("leaf gone: %d replicas reported, %d lost", n, len(got))
				}
			}
			for i := uint64(100); i < 106 && !tc.leafGone; i++ {
				if i == victim && tc.want != nil {
					continue
				}
				mustEqual(t, fmt.Sprint("blk ", i), readReplica(t, s, i, 1), randBytes(i-100, 1000))
			}
			// A second scan finds nothing more.
			if st, err := s.ScanDirectories(context.Background()); err != nil || st.Lost != 0 || st.LeavesRelisted != 0 {
				t.Fatalf("second scan: %+v %v", st, err)
			}
		})
	}
}

// TestDirScanChecksRWRReplicas: a replica in rbw/ that nobody writes (RWR
// after a restart) is checked too.
func TestDirScanChecksRWRReplicas(t *testing.T) {
	opts, lost := lostOptions(t, 1)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{300, 301} {
		w, err := s.CreateRBW(id, 2, StorageDisk)
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, randBytes(id, 1024))
	}
	s.Close()
	s = openStore(t, opts)
	if r, ok := s.Get(300); !ok || r.State != StateRWR {
		t.Fatalf("after restart: %+v %v", r, ok)
	}
	lay := newBPLayout(opts.Volumes[0].Path, testBP)
	os.Remove(filepath.Join(lay.rbw, blockName(300)))
	st, err := s.ScanDirectories(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Replicas != 2 || st.Lost != 1 || !errors.Is(lost.get()[300], ErrReplicaNotFound) {
		t.Fatalf("scan %+v, lost %v", st, lost.get())
	}
	if _, ok := s.Get(301); !ok {
		t.Fatal("intact RWR replica dropped")
	}
}

// TestDirScanLeavesReplicasBeingWrittenAlone: a replica with a writer, or
// one changed since it was sampled, is never declared lost, whatever its
// files look like at that moment.
func TestDirScanLeavesReplicasBeingWrittenAlone(t *testing.T) {
	cases := []struct {
		name string
		// prepare damages a replica and returns the version the check
		// samples (a replica changed since then must be left alone).
		prepare func(t *testing.T, s *Store, vol string) (id uint64, ver func(ri *replicaInfo) uint64)
		scan    bool // run a whole scan rather than checkLost
	}{
		{name: "rbw with a writer, block file truncated", scan: true,
			prepare: func(t *testing.T, s *Store, vol string) (uint64, func(*replicaInfo) uint64) {
				w, err := s.CreateRBW(400, 1, StorageDisk)
				if err != nil {
					t.Fatal(err)
				}
				writeAll(t, w, randBytes(4, 3000))
				os.Truncate(filepath.Join(newBPLayout(vol, testBP).rbw, blockName(400)), 100)
				return 400, nil
			}},
		{name: "appended replica (moved to rbw, writer open)", scan: true,
			prepare: func(t *testing.T, s *Store, vol string) (uint64, func(*replicaInfo) uint64) {
				putReplica(t, s, 401, 1, randBytes(5, 2000))
				if _, err := s.Append(401, 1, 2); err != nil {
					t.Fatal(err)
				}
				return 401, nil
			}},
		{name: "version changed since sampled",
			prepare: func(t *testing.T, s *Store, vol string) (uint64, func(*replicaInfo) uint64) {
				putReplica(t, s, 402, 1, randBytes(6, 2000))
				os.Remove(finalizedPath(vol, 402))
				return 402, func(ri *replicaInfo) uint64 {
					s.mu.Lock()
					old := ri.version
					ri.version++ // as a finalize, append or recovery would
					s.mu.Unlock()
					return old
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, lost := lostOptions(t, 1)
			s := openStore(t, opts)
			id, sample := tc.prepare(t, s, opts.Volumes[0].Path)
			if tc.scan {
				st, err := s.ScanDirectories(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st.Lost != 0 {
					t.Fatalf("scan: %+v", st)
				}
			} else {
				ri, err := s.lookup(id)
				if err != nil {
					t.Fatal(err)
				}
				if s.checkLost(ri, sample(ri)) {
					t.Fatal("checkLost dropped a replica changed since it was sampled")
				}
			}
			if got := lost.get(); len(got) != 0 {
				t.Fatalf("OnReplicaLost told about %v", got)
			}
			if _, ok := s.Get(id); !ok {
				t.Fatal("replica dropped")
			}
		})
	}
}

// TestDirScanAfterRestart: a block file truncated while the store was
// down is still in the first report (taken from the index, at once) and
// is found by the start-up scan a moment later.
func TestDirScanAfterRestart(t *testing.T) {
	opts, lost := lostOptions(t, 1)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 5; i++ {
		putReplica(t, s, 500+i, 1, randBytes(i, 1500))
	}
	s.Close()
	ageLeaves(t, opts) // certified: the restart trusts the index
	os.Truncate(finalizedPath(opts.Volumes[0].Path, 502), 1000)
	opts.DirScanInterval = time.Hour
	opts.DirScanDelay = 200 * time.Millisecond
	s = openStore(t, opts)
	if s.leavesListed != 0 {
		t.Fatalf("restart listed %d leaves", s.leavesListed)
	}
	if r, ok := reportIDs(s)[502]; !ok || r.NumBytes != 1500 {
		t.Fatalf("first report: %+v %v", r, ok)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !errors.Is(lost.get()[502], ErrChecksum) {
		if time.Now().After(deadline) {
			t.Fatalf("start-up scan did not find the truncated replica: %v", lost.get())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(reportIDs(s)); n != 4 {
		t.Fatalf("report after the scan: %d replicas", n)
	}
}

// TestDirScanStoppedByClose: Close stops a scan in progress at once, and
// no scan runs after it.
func TestDirScanStoppedByClose(t *testing.T) {
	cfs := &countFS{FS: noSyncFS{vfs.Default}}
	opts := testOptions(t, 2)
	opts.FS = cfs
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 400; i++ {
		putReplica(t, s, 1<<20+i, 1, []byte("abc"))
	}
	s.Close()
	// A slow disk: the scan of 400 replicas would take 4 s.
	cfs.statDelay.Store(int64(10 * time.Millisecond))
	opts.DirScanInterval = time.Hour
	opts.DirScanDelay = time.Millisecond
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	base := cfs.stats.Load()
	deadline := time.Now().Add(10 * time.Second)
	for cfs.stats.Load() < base+5 {
		if time.Now().After(deadline) {
			t.Fatal("the start-up scan did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v with a scan running", took)
	}
	after := cfs.stats.Load()
	time.Sleep(100 * time.Millisecond)
	if n := cfs.stats.Load() - after; n != 0 {
		t.Fatalf("%d stats after Close", n)
	}
	if after-base >= 400 {
		t.Fatalf("the scan finished (%d stats) before Close stopped it", after-base)
	}
	if _, err := s.ScanDirectories(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("scan after Close: %v", err)
	}
}

// TestDirScanCancelled: a scan stops when its context is cancelled.
func TestDirScanCancelled(t *testing.T) {
	cfs := &countFS{FS: noSyncFS{vfs.Default}}
	opts := testOptions(t, 1)
	opts.FS = cfs
	s := openStore(t, opts)
	for i := uint64(0); i < 100; i++ {
		putReplica(t, s, 1<<20+i, 1, []byte("abc"))
	}
	cfs.statDelay.Store(int64(5 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	st, err := s.ScanDirectories(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || st.Replicas >= 100 {
		t.Fatalf("cancelled scan: %+v %v", st, err)
	}
}

func TestThrottleRest(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		limit, ran, want time.Duration
	}{
		{1000 * ms, 5 * time.Second, 0}, // 1000 ms per second: no throttle
		{0, time.Second, 0},
		{100 * ms, 50 * ms, 0}, // under the limit
		{100 * ms, 100 * ms, 900 * ms},
		{100 * ms, 200 * ms, 1800 * ms}, // overran: rests in proportion
		{500 * ms, 500 * ms, 500 * ms},
		{1 * ms, 1 * ms, 999 * ms},
	}
	for _, tc := range cases {
		if got := restFor(tc.limit, tc.ran); got != tc.want {
			t.Errorf("restFor(%v, %v) = %v, want %v", tc.limit, tc.ran, got, tc.want)
		}
	}
}

// TestDirScanThrottled: at 100 ms per second, a scan that needs 200 ms
// of work (or more) takes at least one and a half seconds.
func TestDirScanThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cfs := &countFS{FS: noSyncFS{vfs.Default}}
	opts := testOptions(t, 1)
	opts.FS = cfs
	opts.DirScanThrottleMsPerSec = 100
	s := openStore(t, opts)
	for i := uint64(0); i < 200; i++ {
		putReplica(t, s, 1<<20+i, 1, []byte("abc"))
	}
	cfs.statDelay.Store(int64(time.Millisecond))
	st, err := s.ScanDirectories(context.Background())
	if err != nil || st.Replicas != 200 {
		t.Fatalf("scan: %+v %v", st, err)
	}
	if st.Elapsed < 1500*time.Millisecond {
		t.Fatalf("throttled scan took only %v", st.Elapsed)
	}
	t.Logf("throttled scan: %v", st)
}

func TestDirScanOptions(t *testing.T) {
	cases := []struct {
		name                 string
		interval             time.Duration
		throttle, threads    int
		wantInterval         time.Duration
		wantThrottle, wantTh int
	}{
		{"defaults", 0, 0, 0, 6 * time.Hour, 1000, 1},
		{"off", -1, 0, 0, -1, 1000, 1},
		{"set", time.Minute, 250, 4, time.Minute, 250, 4},
		{"throttle too high", 0, 5000, 0, 6 * time.Hour, 1000, 1},
		{"throttle negative", 0, -3, 0, 6 * time.Hour, 1000, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t, 1)
			opts.DirScanInterval, opts.DirScanThrottleMsPerSec, opts.DirScanThreads = tc.interval, tc.throttle, tc.threads
			s := openStore(t, opts)
			o := s.opts
			if o.DirScanInterval != tc.wantInterval || o.DirScanDelay != DefaultDirScanDelay ||
				o.DirScanThreads != tc.wantTh || o.DirScanThrottleMsPerSec != tc.wantThrottle {
				t.Fatalf("interval %v delay %v threads %d throttle %d", o.DirScanInterval, o.DirScanDelay, o.DirScanThreads, o.DirScanThrottleMsPerSec)
			}
		})
	}
}

// TestDirScanVolumesInParallel: with two threads, both volumes are
// scanned and each one's damage found.
func TestDirScanVolumesInParallel(t *testing.T) {
	opts, lost := lostOptions(t, 3)
	opts.DirScanThreads = 2
	s := openStore(t, opts)
	byVol := map[string][]uint64{}
	for i := uint64(0); i < 30; i++ {
		r := putReplica(t, s, 600+i, 1, randBytes(i, 100))
		byVol[r.StorageID] = append(byVol[r.StorageID], r.BlockID)
	}
	want := map[uint64]bool{}
	for sid, ids := range byVol {
		os.Remove(finalizedPath(volumeOf(t, s, sid), ids[0]))
		want[ids[0]] = true
	}
	st, err := s.ScanDirectories(context.Background())
	if err != nil || st.Replicas != 30 || st.Lost != len(want) {
		t.Fatalf("scan: %+v %v", st, err)
	}
	for id := range want {
		if !errors.Is(lost.get()[id], ErrReplicaNotFound) {
			t.Fatalf("blk %d not reported lost: %v", id, lost.get())
		}
	}
}

// TestDirScanWhileWriting scans again and again while replicas are
// created, finalized, appended and deleted, with the id snapshot letting
// the lock go every few entries: nothing is ever declared lost.
func TestDirScanWhileWriting(t *testing.T) {
	defer func(n int) { dirScanYield = n }(dirScanYield)
	dirScanYield = 8
	opts, lost := lostOptions(t, 2)
	opts.FS = noSyncFS{opts.FS}
	opts.DirScanThreads = 2
	s := openStore(t, opts)
	for i := uint64(0); i < 200; i++ {
		putReplica(t, s, 1<<20+i, 1, randBytes(i, 300))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // new replicas, some left open, some appended, old ones deleted
		defer wg.Done()
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := 2<<20 + i
			putReplica(t, s, id, 1, randBytes(i, 700))
			if i%3 == 0 {
				w, err := s.Append(id, 1, 2)
				if err != nil {
					t.Error(err)
					return
				}
				writeAll(t, w, randBytes(i, 100))
				if _, err := w.Finalize(); err != nil {
					t.Error(err)
					return
				}
			}
			if i%2 == 0 {
				if err := s.Delete(1<<20 + i%200); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	go func() { // a writer that stays open
		defer wg.Done()
		w, err := s.CreateRBW(3<<20, 1, StorageDisk)
		if err != nil {
			t.Error(err)
			return
		}
		for off := 0; ; off++ {
			select {
			case <-stop:
				return
			default:
			}
			writeAll(t, w, randBytes(uint64(off), 512))
		}
	}()
	for i := 0; i < 20; i++ {
		if _, err := s.ScanDirectories(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := lost.get(); len(got) != 0 {
		t.Fatalf("OnReplicaLost told about %v", got)
	}
}

// lostOptions are testOptions whose OnReplicaLost records into the
// returned log.
func lostOptions(t *testing.T, volumes int) (Options, *lostLog) {
	lost := &lostLog{}
	opts := testOptions(t, volumes)
	opts.OnReplicaLost = lost.record
	return opts, lost
}
