package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// The directory scanner, as Hadoop's DirectoryScanner: block reports are
// built from the replica map alone, and this scanner reconciles the map
// with the volumes in the background, on dfs.datanode.directoryscan.interval
// and once soon after start-up. It lists each directory holding replicas
// and stats each replica's block file; a replica whose block file vanished
// or changed size, or whose meta file vanished, goes to checkLost, which
// re-checks it under the replica's lock before dropping it and telling
// OnReplicaLost (a replica being written, or changed since it was sampled,
// is left alone). Finalized leaf directories whose mtime moved behind the
// store's back (files copied in) are listed again, adopting what they hold.
//
// The store's lock is held only in short stretches: to copy the block ids
// (a few thousand at a time, no file access under it), then to sample one
// batch of replicas at a time.

// Directory scanner defaults (Hadoop's for the interval).
const (
	DefaultDirScanInterval = 6 * time.Hour
	DefaultDirScanDelay    = 10 * time.Second
	// dirScanBatch is how many replicas are sampled under one read lock.
	dirScanBatch = 512
)

// dirScanYield is how many map entries the id snapshot walks before
// letting the store's lock go for a moment (a variable for tests).
var dirScanYield = 8192

// DirScanStats says what one directory scan found.
type DirScanStats struct {
	// Replicas is how many replicas not being written were checked.
	Replicas int
	// MissingBlock, WrongSize and MissingMeta count the replicas whose
	// block file was gone, whose block file had another size than the
	// replica's length, and whose meta file was gone, as first seen.
	MissingBlock, WrongSize, MissingMeta int
	// Lost is how many of them the re-check confirmed: dropped from the
	// map and handed to OnReplicaLost.
	Lost int
	// LeavesRelisted counts finalized leaf directories changed behind the
	// store's back and listed again (files found there are adopted).
	LeavesRelisted int
	// Elapsed is the scan's wall-clock time, throttling included.
	Elapsed time.Duration
}

func (a *DirScanStats) add(b DirScanStats) {
	a.Replicas += b.Replicas
	a.MissingBlock += b.MissingBlock
	a.WrongSize += b.WrongSize
	a.MissingMeta += b.MissingMeta
	a.Lost += b.Lost
	a.LeavesRelisted += b.LeavesRelisted
}

// ScanDirectories runs one directory scan now (after any scan already
// running) and says what it found. It stops early, returning ctx.Err() or
// ErrClosed, when ctx is cancelled or the store closes.
func (s *Store) ScanDirectories(ctx context.Context) (DirScanStats, error) {
	s.mu.RLock()
	if err := s.checkOpenLocked(); err != nil {
		s.mu.RUnlock()
		return DirScanStats{}, err
	}
	// Counted in wg under the lock Close takes to set closed, so Close
	// waits for this scan before closing the index.
	s.wg.Add(1)
	s.mu.RUnlock()
	defer s.wg.Done()
	s.dirScanMu.Lock()
	defer s.dirScanMu.Unlock()
	return s.scanDirs(ctx)
}

// dirScanLoop runs a scan first after delay, then every interval after
// the previous one ends, until Close (which also stops a scan running).
func (s *Store) dirScanLoop(delay, interval time.Duration) {
	defer s.wg.Done()
	s.log.WithFields(logrus.Fields{"first": delay, "interval": interval}).Info("directory scanner started")
	wait := delay
	for {
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		s.dirScanMu.Lock()
		_, err := s.scanDirs(context.Background())
		s.dirScanMu.Unlock()
		if err != nil && !errors.Is(err, ErrClosed) {
			s.log.WithError(err).Error("directory scan")
		}
		wait = interval
	}
}

// scanDirs is one scan (caller holds dirScanMu).
func (s *Store) scanDirs(ctx context.Context) (DirScanStats, error) {
	start := time.Now()
	work := s.dirScanWork()
	if len(work) == 0 {
		return DirScanStats{}, s.scanStopped(ctx)
	}
	limit := time.Duration(s.opts.DirScanThrottleMsPerSec) * time.Millisecond // 1..1000, see Open
	var (
		mu       sync.Mutex
		total    DirScanStats
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan *volumeWork)
	for range min(s.opts.DirScanThreads, len(work)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range next {
				th := &throttle{limit: limit, since: time.Now()}
				st, err := s.scanVolume(ctx, w, th)
				mu.Lock()
				total.add(st)
				if err != nil && firstErr == nil && !errors.Is(err, ErrVolumeFailed) {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, w := range work {
		next <- w
	}
	close(next)
	wg.Wait()
	total.Elapsed = time.Since(start)
	if err := s.scanStopped(ctx); err != nil {
		return total, err
	}
	s.log.WithFields(logrus.Fields{"replicas": total.Replicas, "missingBlockFiles": total.MissingBlock,
		"wrongSize": total.WrongSize, "missingMetaFiles": total.MissingMeta, "lost": total.Lost,
		"leavesRelisted": total.LeavesRelisted, "elapsed": total.Elapsed.Round(time.Millisecond)}).Info("directory scan done")
	return total, firstErr
}

// volumeWork is what a scan checks on one volume: finalized replicas
// grouped by leaf directory, and the others (in rbw/).
type volumeWork struct {
	v *volume
	// fin holds the finalized block ids ordered by leaf; leafEnd[l] is
	// where leaf l's ids end in it.
	fin     []uint64
	leafEnd [numLeaves]int
	rbw     []uint64
}

// dirScanWork takes the ids of every replica not being written, per
// working volume. The store's lock is held only to copy the ids, and let
// go every dirScanYield replicas so writers are not held up: replicas
// added meanwhile may be missed (they were just written), removed ones
// are skipped by the check.
func (s *Store) dirScanWork() []*volumeWork {
	s.mu.RLock()
	if s.closed || !s.ready {
		s.mu.RUnlock()
		return nil
	}
	work := make([]*volumeWork, 0, len(s.vols))
	fins := make([][]uint64, len(s.vols))
	for i, v := range s.vols {
		work = append(work, &volumeWork{v: v})
		fins[i] = make([]uint64, 0, v.count)
	}
	n := 0
	for id, ri := range s.replicas {
		if n++; n%dirScanYield == 0 {
			// Ranging over a map that changes between steps is allowed;
			// the lock orders those changes with the steps.
			s.mu.RUnlock()
			s.mu.RLock()
		}
		if ri.writer != nil {
			continue
		}
		i := slices.Index(s.vols, ri.vol)
		if i < 0 {
			continue
		}
		if ri.state == StateFinalized {
			fins[i] = append(fins[i], id)
		} else {
			work[i].rbw = append(work[i].rbw, id)
		}
	}
	s.mu.RUnlock()
	out := work[:0]
	for i, w := range work {
		if w.v.failed.Load() {
			continue
		}
		w.fin, w.leafEnd = byLeaf(fins[i])
		slices.Sort(w.rbw)
		out = append(out, w)
	}
	return out
}

// byLeaf orders block ids by leaf directory, then id (a counting sort on
// the leaf), and says where each leaf's ids end.
func byLeaf(ids []uint64) ([]uint64, [numLeaves]int) {
	var end [numLeaves]int
	for _, id := range ids {
		end[leafOf(id)]++
	}
	for l := 1; l < numLeaves; l++ {
		end[l] += end[l-1]
	}
	out := make([]uint64, len(ids))
	pos := end
	for i := len(ids) - 1; i >= 0; i-- {
		l := leafOf(ids[i])
		pos[l]--
		out[pos[l]] = ids[i]
	}
	for l := 0; l < numLeaves; l++ {
		lo := 0
		if l > 0 {
			lo = end[l-1]
		}
		slices.Sort(out[lo:end[l]])
	}
	return out, end
}

// scanVolume checks one volume: every finalized leaf holding replicas or
// present on disk, then rbw/. Leaves changed behind the store's back are
// listed again at the end.
func (s *Store) scanVolume(ctx context.Context, w *volumeWork, th *throttle) (DirScanStats, error) {
	v := w.v
	var st DirScanStats
	onDisk, err := s.listLeaves(v)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			onDisk = nil // finalized/ itself vanished: every replica is missing
		} else {
			return st, s.ioErr(v, err, "list %s", v.lay.finalized)
		}
	}
	var changed []uint16
	for leaf := range uint16(numLeaves) {
		lo := 0
		if leaf > 0 {
			lo = w.leafEnd[leaf-1]
		}
		ids := w.fin[lo:w.leafEnd[leaf]]
		_, on := onDisk[leaf]
		if len(ids) == 0 && !on {
			continue
		}
		if err := s.scanStopped(ctx); err != nil {
			return st, err
		}
		if v.failed.Load() {
			return st, fmt.Errorf("storage: volume %s: %w", v.path, ErrVolumeFailed)
		}
		if len(ids) > 0 {
			if err := s.checkDir(ctx, v, v.lay.leafDir(leaf), true, ids, th, &st); err != nil {
				return st, err
			}
		}
		if on && s.leafChanged(v, leaf) {
			changed = append(changed, leaf)
		}
		if err := th.pause(ctx, s.stop); err != nil {
			return st, err
		}
	}
	if len(w.rbw) > 0 {
		if err := s.checkDir(ctx, v, v.lay.rbw, false, w.rbw, th, &st); err != nil {
			return st, err
		}
	}
	if len(changed) > 0 {
		if err := s.relistChanged(ctx, v, changed); err != nil {
			return st, err
		}
		st.LeavesRelisted = len(changed)
	}
	return st, nil
}

// leafChanged tells whether a leaf directory's mtime differs from the one
// its latest index record holds: something other than the store changed
// it (the store's own changes update the record under dirMu).
func (s *Store) leafChanged(v *volume, leaf uint16) bool {
	v.dirMu[leaf].Lock()
	defer v.dirMu[leaf].Unlock()
	fi, err := s.fs.Stat(v.lay.leafDir(leaf))
	if err != nil {
		return false // gone: its replicas were just checked
	}
	return fi.ModTime().UnixNano() != v.lastRec[leaf]
}

// relistChanged lists changed leaves again (as the refresher does), with
// setupMu so no Rescan or Close runs meanwhile; it waits for one running.
func (s *Store) relistChanged(ctx context.Context, v *volume, leaves []uint16) error {
	for !s.setupMu.TryLock() {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.stop:
			t.Stop()
			return fmt.Errorf("storage: %w", ErrClosed)
		case <-t.C:
		}
	}
	defer s.setupMu.Unlock()
	s.log.WithFields(logrus.Fields{"volume": v.path, "leaves": len(leaves)}).Warn("directory scan: finalized directories changed behind the store's back; listing them again")
	return s.relistLeaves(v, leaves, false)
}

// dirItem is a replica sampled for a check.
type dirItem struct {
	ri       *replicaInfo
	ver      uint64
	gs, size uint64
}

// checkDir checks the replicas ids (finalized ones in a leaf, or the
// others in rbw/) against one listing of dir and a stat of each block
// file, in batches, handing suspects to checkLost.
func (s *Store) checkDir(ctx context.Context, v *volume, dir string, finalized bool, ids []uint64, th *throttle, st *DirScanStats) error {
	ents, err := s.fs.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.ioErr(v, err, "list %s", dir)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	if !sort.StringsAreSorted(names) {
		slices.Sort(names)
	}
	has := func(name string) bool {
		_, ok := slices.BinarySearch(names, name)
		return ok
	}
	items := make([]dirItem, 0, min(len(ids), dirScanBatch))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), dirScanBatch)]
		ids = ids[len(batch):]
		items = items[:0]
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return fmt.Errorf("storage: %w", ErrClosed)
		}
		for _, id := range batch {
			ri := s.replicas[id]
			if ri == nil || ri.vol != v || ri.writer != nil || ri.removed || (ri.state == StateFinalized) != finalized {
				continue // gone, moved or being written since the ids were taken
			}
			items = append(items, dirItem{ri: ri, ver: ri.version, gs: ri.gs, size: ri.numBytes})
		}
		s.mu.RUnlock()
		for _, it := range items {
			if err := s.scanStopped(ctx); err != nil {
				return err
			}
			st.Replicas++
			bname := blockName(it.ri.id)
			suspect := true
			if !has(bname) {
				st.MissingBlock++
			} else if fi, err := s.fs.Stat(filepath.Join(dir, bname)); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					st.MissingBlock++
				}
			} else if uint64(fi.Size()) != it.size {
				st.WrongSize++
			} else if !has(metaName(it.ri.id, it.gs)) {
				st.MissingMeta++
			} else {
				suspect = false
			}
			if suspect && s.checkLost(it.ri, it.ver) {
				st.Lost++
			}
		}
		if v.failed.Load() {
			return fmt.Errorf("storage: volume %s: %w", v.path, ErrVolumeFailed)
		}
		if err := th.pause(ctx, s.stop); err != nil {
			return err
		}
	}
	return nil
}

// scanStopped is ctx.Err(), or ErrClosed once the store is closing.
func (s *Store) scanStopped(ctx context.Context) error {
	select {
	case <-s.stop:
		return fmt.Errorf("storage: %w", ErrClosed)
	default:
	}
	return ctx.Err()
}

// throttle keeps a scanning thread to limit of running time per second
// of wall-clock time, as dfs.datanode.directoryscan.throttle.limit.ms.per.sec
// does in Hadoop: after running for limit, it rests in proportion.
type throttle struct {
	limit time.Duration // running time allowed per second; >= 1 s: none
	since time.Time     // start of the current running stretch
}

// restFor is how long to rest after running ran, to keep to limit of
// every second.
func restFor(limit, ran time.Duration) time.Duration {
	if limit <= 0 || limit >= time.Second || ran < limit {
		return 0
	}
	return time.Duration(float64(ran) * float64(time.Second-limit) / float64(limit))
}

// pause rests when the stretch so far calls for it.
func (t *throttle) pause(ctx context.Context, stop <-chan struct{}) error {
	d := restFor(t.limit, time.Since(t.since))
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return fmt.Errorf("storage: %w", ErrClosed)
	case <-tm.C:
	}
	t.since = time.Now()
	return nil
}

// String summarises the stats for logs and benchmarks.
func (a DirScanStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d replicas checked in %s", a.Replicas, a.Elapsed.Round(time.Millisecond))
	if n := a.MissingBlock + a.WrongSize + a.MissingMeta + a.LeavesRelisted; n > 0 {
		fmt.Fprintf(&b, " (missing block files %d, wrong size %d, missing meta files %d, lost %d, leaves relisted %d)",
			a.MissingBlock, a.WrongSize, a.MissingMeta, a.Lost, a.LeavesRelisted)
	}
	return b.String()
}
