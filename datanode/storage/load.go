package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// errMetaFormat marks a meta file whose header is not Hadoop's.
var errMetaFormat = errors.New("bad meta file")

// fileSet is one directory's replica files.
type fileSet struct {
	blocks map[uint64]int64    // id -> block file size
	metas  map[uint64][]uint64 // id -> generation stamps of meta files
	mtimes map[uint64]time.Time
}

// listReplicaFiles lists a directory's block and meta files; .corrupt and
// other files are ignored. ok is false when the directory does not exist.
func (s *Store) listReplicaFiles(dir string) (fileSet, bool, error) {
	fsx := fileSet{blocks: map[uint64]int64{}, metas: map[uint64][]uint64{}, mtimes: map[uint64]time.Time{}}
	ents, err := s.fs.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fsx, false, nil
	}
	if err != nil {
		return fsx, false, err
	}
	for _, e := range ents {
		name := e.Name()
		if id, ok := parseBlockName(name); ok {
			fi, err := e.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			fsx.blocks[id] = fi.Size()
			fsx.mtimes[id] = fi.ModTime()
		} else if id, gs, ok := parseMetaName(name); ok {
			fsx.metas[id] = append(fsx.metas[id], gs)
		}
	}
	return fsx, true, nil
}

// better tells whether replica a should win over a duplicate b: newer
// generation stamp, then finalized over not, then longer.
func better(a, b *replicaInfo) bool {
	if a.gs != b.gs {
		return a.gs > b.gs
	}
	if (a.state == StateFinalized) != (b.state == StateFinalized) {
		return a.state == StateFinalized
	}
	return a.numBytes > b.numBytes
}

// insertLocked puts a replica in the map (caller holds s.mu; the id is free).
func (s *Store) insertLocked(ri *replicaInfo) {
	s.replicas[ri.id] = ri
	ri.vol.count++
	s.account(ri, ri.numBytes)
}

// account sets the bytes a replica counts in its volume's dfsUsed: the
// block of n bytes and its meta file.
func (s *Store) account(ri *replicaInfo, n uint64) {
	b := int64(n) + ri.spec.metaSize(n)
	ri.vol.dfsUsed.Add(b - ri.acct.Swap(b))
}

// loser is a duplicate replica whose files go.
type loser struct {
	v     *volume
	id    uint64
	state State
	gs    uint64
}

// load builds the replica map of the block pool: index records first,
// then each volume is checked against them (reconcileVolume).
func (s *Store) load() error {
	start := time.Now()
	vols := map[string]*volume{}
	for _, v := range s.vols {
		if !v.failed.Load() {
			vols[v.storageID] = v
		}
	}
	forced := map[*volume]map[uint16]bool{}
	force := func(v *volume, leaf uint16) {
		if forced[v] == nil {
			forced[v] = map[uint16]bool{}
		}
		forced[v][leaf] = true
	}
	var drop []ixOp
	var losers []loser
	prefix := replicaPrefix(s.bpid)
	indexed := 0
	s.mu.Lock()
	err := s.ix.scan(prefix, func(k, val []byte) error {
		id, sid, ok := parseReplicaKey(prefix, k)
		if !ok {
			drop = append(drop, ixOp{key: slices.Clone(k)})
			return nil
		}
		v := vols[sid]
		if v == nil {
			return nil // a volume not configured now, or failed: keep its records
		}
		rec, err := decodeIndexRecord(val)
		if err != nil {
			drop = append(drop, ixOp{key: slices.Clone(k)})
			force(v, leafOf(id))
			return nil
		}
		indexed++
		ri := &replicaInfo{id: id, gs: rec.GenStamp, numBytes: rec.NumBytes, state: rec.State, vol: v, spec: rec.Checksum}
		if ri.state != StateFinalized {
			ri.state = StateRWR // verified against rbw/ below
		}
		if old := s.replicas[id]; old != nil {
			if !better(ri, old) {
				losers = append(losers, loser{v, id, rec.State, rec.GenStamp})
				return nil
			}
			losers = append(losers, loser{old.vol, id, old.state, old.gs})
			s.dropLocked(old)
		}
		s.insertLocked(ri)
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("storage: read replica index: %w", err)
	}
	s.ix.write(drop)
	cp := corruptPrefix(s.bpid)
	s.mu.Lock()
	s.ix.scan(cp, func(k, val []byte) error {
		id, sid, ok := parseReplicaKey(cp, k)
		rec, err := decodeIndexRecord(val)
		if ok && err == nil && vols[sid] != nil {
			s.corrupt[id] = append(s.corrupt[id], corruptRef{vol: vols[sid], gs: rec.GenStamp, state: rec.State})
		}
		return nil
	})
	s.mu.Unlock()
	for _, l := range losers {
		s.log.WithFields(logrus.Fields{"block": int64(l.id), "volume": l.v.path, "genstamp": l.gs}).Warn("duplicate replica in index; removing the older copy")
		s.removeLoser(l)
	}
	relisted := 0
	for _, v := range s.vols {
		if v.failed.Load() {
			continue
		}
		n, err := s.reconcileVolume(v, forced[v], false, true)
		relisted += n
		if err != nil {
			s.log.WithField("volume", v.path).WithError(err).Error("loading volume")
		}
	}
	s.mu.RLock()
	total := len(s.replicas)
	s.mu.RUnlock()
	s.leavesListed = relisted
	s.log.WithFields(logrus.Fields{"replicas": total, "indexed": indexed, "leavesListed": relisted,
		"elapsed": time.Since(start).Round(time.Millisecond)}).Info("block pool loaded")
	return nil
}

// removeLoser removes a duplicate's files, and its index record unless
// the winner has the same key (same volume).
func (s *Store) removeLoser(l loser) {
	leaf := leafOf(l.id)
	if l.state == StateFinalized {
		l.v.dirMu[leaf].Lock()
		defer l.v.dirMu[leaf].Unlock()
	}
	if err := s.removeFiles(l.v, l.id, l.state, l.gs, false); err != nil {
		s.log.WithError(err).Warn("removing duplicate replica")
	}
	var ops []ixOp
	s.mu.RLock()
	cur := s.replicas[l.id]
	s.mu.RUnlock()
	if cur == nil || cur.vol != l.v {
		ops = append(ops, ixOp{key: replicaKey(s.bpid, l.id, l.v.storageID)})
	}
	if l.state == StateFinalized {
		ops = append(ops, s.leafRecordOp(l.v, leaf))
	}
	s.ix.write(ops)
}

// reconcileVolume checks a volume against the map: rbw/ always, each
// finalized leaf whose record does not certify it (all leaves when full).
// It returns how many leaves it listed.
func (s *Store) reconcileVolume(v *volume, forced map[uint16]bool, full, startup bool) (int, error) {
	moved, err := s.reconcileRBW(v, startup)
	if err != nil {
		return 0, err
	}
	recs := map[uint16]dirRecord{}
	dp := dirPrefix(s.bpid, v.storageID)
	s.ix.scan(dp, func(k, val []byte) error {
		if len(k) != len(dp)+2 {
			return nil
		}
		leaf := uint16(k[len(dp)])<<8 | uint16(k[len(dp)+1])
		if rec, err := decodeDirRecord(val); err == nil && leaf < numLeaves {
			recs[leaf] = rec
		}
		return nil
	})
	present, err := s.listLeaves(v)
	if err != nil {
		return 0, s.ioErr(v, err, "list %s", v.lay.finalized)
	}
	var withEntries [numLeaves]bool
	s.mu.RLock()
	for _, ri := range s.replicas {
		if ri.vol == v && ri.state == StateFinalized {
			withEntries[leafOf(ri.id)] = true
		}
	}
	s.mu.RUnlock()
	var todo []uint16
	for l := uint16(0); l < numLeaves; l++ {
		mt, on := present[l]
		rec, has := recs[l]
		var need bool
		switch {
		case full || forced[l] || moved[l]:
			need = on || has || withEntries[l]
		case on:
			need = !has || rec.MTime != mt || !rec.certified()
		default:
			need = has || withEntries[l]
		}
		if need {
			todo = append(todo, l)
		} else if on {
			v.dirMu[l].Lock()
			v.lastRec[l] = rec.MTime
			v.dirMu[l].Unlock()
		}
	}
	if err := s.relistLeaves(v, todo, startup); err != nil {
		return len(todo), err
	}
	if full {
		s.purgeIndex(v)
	}
	return len(todo), nil
}

// listLeaves finds the finalized leaf directories and their mtimes.
func (s *Store) listLeaves(v *volume) (map[uint16]int64, error) {
	out := map[uint16]int64{}
	tops, err := s.fs.ReadDir(v.lay.finalized)
	if err != nil {
		return nil, err
	}
	for _, t := range tops {
		hi, ok := parseSubdir(t.Name())
		if !ok || !t.IsDir() {
			continue
		}
		subs, err := s.fs.ReadDir(filepath.Join(v.lay.finalized, t.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, e := range subs {
			lo, ok := parseSubdir(e.Name())
			if !ok || !e.IsDir() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			leaf := hi<<5 | lo
			out[leaf] = fi.ModTime().UnixNano()
			v.leafMade[leaf].Store(true)
		}
	}
	return out, nil
}

// relistLeaves lists leaf directories and makes the map and the index
// agree with them.
func (s *Store) relistLeaves(v *volume, leaves []uint16, startup bool) error {
	if len(leaves) == 0 {
		return nil
	}
	var need [numLeaves]bool
	for _, l := range leaves {
		need[l] = true
	}
	type known struct {
		ri  *replicaInfo
		ver uint64
	}
	group := map[uint16][]known{}
	s.mu.RLock()
	for _, ri := range s.replicas {
		if ri.vol == v && ri.state == StateFinalized && need[leafOf(ri.id)] {
			group[leafOf(ri.id)] = append(group[leafOf(ri.id)], known{ri, ri.version})
		}
	}
	s.mu.RUnlock()
	var lost []Replica
	for _, leaf := range leaves {
		if v.failed.Load() {
			return fmt.Errorf("storage: volume %s: %w", v.path, ErrVolumeFailed)
		}
		var kn []*replicaInfo
		var vers []uint64
		for _, k := range group[leaf] {
			kn, vers = append(kn, k.ri), append(vers, k.ver)
		}
		v.dirMu[leaf].Lock()
		l, losers, err := s.relistLeaf(v, leaf, kn, vers)
		v.dirMu[leaf].Unlock()
		lost = append(lost, l...)
		for _, x := range losers {
			s.removeLoser(x)
		}
		if err != nil {
			return err
		}
	}
	if len(lost) > 0 {
		s.log.WithFields(logrus.Fields{"volume": v.path, "missing": len(lost)}).Warn("indexed replicas missing from disk; dropped")
		if cb := s.opts.OnReplicaLost; cb != nil && !startup {
			for _, r := range lost {
				cb(r, fmt.Errorf("storage: blk_%d: block file vanished: %w", int64(r.BlockID), ErrReplicaNotFound))
			}
		}
	}
	return nil
}

// relistLeaf reconciles one leaf directory (caller holds its dirMu):
// files not in the map are adopted (or lose to a better duplicate), map
// entries without files are dropped, and the leaf's record is rewritten.
func (s *Store) relistLeaf(v *volume, leaf uint16, known []*replicaInfo, vers []uint64) (lost []Replica, losers []loser, err error) {
	dir := v.lay.leafDir(leaf)
	files, _, err := s.listReplicaFiles(dir)
	if err != nil {
		return nil, nil, s.ioErr(v, err, "list %s", dir)
	}
	var ops []ixOp
	seen := map[uint64]bool{}
	for _, id := range sortedIDs(files.blocks) {
		size := uint64(files.blocks[id])
		if leafOf(id) != leaf {
			continue // not where our layout puts it: not ours
		}
		gss := files.metas[id]
		if len(gss) == 0 {
			s.log.WithFields(logrus.Fields{"block": int64(id), "dir": dir}).Warn("block file without meta file; setting it aside")
			s.setAsideFiles(v, id, StateFinalized, 0)
			continue
		}
		gs := slices.Max(gss)
		s.removeStaleMetas(dir, id, gs, gss)
		s.mu.RLock()
		ri := s.replicas[id]
		cur := ri != nil && ri.vol == v && ri.state == StateFinalized && ri.gs == gs && ri.numBytes == size
		s.mu.RUnlock()
		if cur {
			seen[id] = true
			continue
		}
		spec, metaLen, err := s.readMetaHeader(filepath.Join(dir, metaName(id, gs)))
		if err != nil || metaLen < spec.metaSize(size) {
			if err != nil && !errors.Is(err, errMetaFormat) {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return lost, losers, s.ioErr(v, err, "read meta of blk_%d", int64(id))
			}
			s.log.WithFields(logrus.Fields{"block": int64(id), "dir": dir}).WithError(err).Warn("meta file unusable or too short; setting replica aside")
			s.setAsideFiles(v, id, StateFinalized, gs)
			continue
		}
		nri := &replicaInfo{id: id, gs: gs, numBytes: size, state: StateFinalized, vol: v, spec: spec}
		s.mu.Lock()
		old := s.replicas[id]
		switch {
		case old == nil:
		case old.vol == v && old.state == StateFinalized:
			s.log.WithFields(logrus.Fields{"block": int64(id), "dir": dir, "was": old.numBytes, "now": size}).Warn("replica changed on disk; taking the disk's version")
			s.dropLocked(old)
		case old.writer == nil && better(nri, old):
			losers = append(losers, loser{old.vol, id, old.state, old.gs})
			s.dropLocked(old)
		default:
			s.mu.Unlock()
			s.log.WithFields(logrus.Fields{"block": int64(id), "dir": dir}).Warn("older duplicate replica; removing it")
			if err := s.removeFiles(v, id, StateFinalized, gs, false); err != nil {
				return lost, losers, err
			}
			continue
		}
		s.insertLocked(nri)
		s.mu.Unlock()
		seen[id] = true
		ops = append(ops, s.recordOp(nri, StateFinalized, gs, size))
	}
	for i, ri := range known {
		if seen[ri.id] {
			continue
		}
		s.mu.Lock()
		if ri.removed || ri.version != vers[i] || ri.vol != v || ri.state != StateFinalized {
			s.mu.Unlock()
			continue
		}
		lost = append(lost, s.replicaLocked(ri))
		s.dropLocked(ri)
		s.mu.Unlock()
		ops = append(ops, ixOp{key: replicaKey(s.bpid, ri.id, v.storageID)})
	}
	for id, gss := range files.metas {
		if _, ok := files.blocks[id]; ok {
			continue
		}
		for _, gs := range gss {
			s.log.WithFields(logrus.Fields{"block": int64(id), "dir": dir}).Warn("meta file without block file; removing it")
			s.fs.Remove(filepath.Join(dir, metaName(id, gs)))
		}
	}
	ops = append(ops, s.leafRecordOp(v, leaf))
	s.ix.write(ops)
	return lost, losers, nil
}

func sortedIDs[T any](m map[uint64]T) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// removeStaleMetas removes meta files of older generation stamps.
func (s *Store) removeStaleMetas(dir string, id, keep uint64, gss []uint64) {
	for _, g := range gss {
		if g != keep {
			s.log.WithFields(logrus.Fields{"block": int64(id), "genstamp": g, "dir": dir}).Info("removing stale meta file")
			s.fs.Remove(filepath.Join(dir, metaName(id, g)))
		}
	}
}

// recordOp is the index put of a replica's record.
func (s *Store) recordOp(ri *replicaInfo, st State, gs, n uint64) ixOp {
	rec := indexRecord{State: st, GenStamp: gs, NumBytes: n, FileSize: n, MetaSize: uint64(ri.spec.metaSize(n)),
		MTime: time.Now().UnixNano(), Checksum: ri.spec}
	return ixOp{key: replicaKey(s.bpid, ri.id, ri.vol.storageID), val: encodeIndexRecord(rec)}
}

// readMetaHeader reads a meta file's header and size.
func (s *Store) readMetaHeader(path string) (checksumSpec, int64, error) {
	f, err := s.fs.Open(path)
	if err != nil {
		return checksumSpec{}, 0, err
	}
	defer f.Close()
	var b [metaHeaderSize]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return checksumSpec{}, 0, fmt.Errorf("%w: %s: short header", errMetaFormat, path)
		}
		return checksumSpec{}, 0, err
	}
	spec, err := decodeMetaHeader(b[:])
	if err != nil {
		return checksumSpec{}, 0, fmt.Errorf("%w: %s: %v", errMetaFormat, path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return checksumSpec{}, 0, err
	}
	return spec, st.Size(), nil
}

// purgeIndex deletes a volume's index records that the map does not hold
// (after a full rescan).
func (s *Store) purgeIndex(v *volume) {
	prefix := replicaPrefix(s.bpid)
	var ops []ixOp
	s.mu.RLock()
	s.ix.scan(prefix, func(k, _ []byte) error {
		id, sid, ok := parseReplicaKey(prefix, k)
		if !ok || sid != v.storageID {
			return nil
		}
		if ri := s.replicas[id]; ri == nil || ri.vol != v {
			ops = append(ops, ixOp{key: slices.Clone(k)})
		}
		return nil
	})
	s.mu.RUnlock()
	s.ix.write(ops)
}

// Rescan rebuilds a volume's part of the index from its directories:
// every finalized leaf and rbw/ are listed, the map and the index are made
// to agree with them, and index records of replicas no longer there are
// purged. It runs alongside reads and writes.
func (s *Store) Rescan(storageID string) error {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	s.mu.RLock()
	err := s.checkOpenLocked()
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	for _, v := range s.vols {
		if v.storageID != storageID || storageID == "" {
			continue
		}
		if v.failed.Load() {
			return fmt.Errorf("storage: rescan %s: %w", v.path, ErrVolumeFailed)
		}
		start := time.Now()
		n, err := s.reconcileVolume(v, nil, true, false)
		if err != nil {
			return fmt.Errorf("storage: rescan %s: %w", v.path, err)
		}
		s.log.WithFields(logrus.Fields{"volume": v.path, "leaves": n, "elapsed": time.Since(start).Round(time.Millisecond)}).Info("volume rescanned")
		return nil
	}
	return fmt.Errorf("storage: rescan: no volume has storage id %q", storageID)
}

// String names a loser for logs.
func (l loser) String() string {
	return strings.Join([]string{blockName(l.id), l.state.String(), l.v.path}, " ")
}
