package storage

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// Get describes a replica.
func (s *Store) Get(blockID uint64) (Replica, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ri := s.replicas[blockID]
	if ri == nil || s.closed {
		return Replica{}, false
	}
	return s.replicaLocked(ri), true
}

// replicaLocked builds the public view of a replica (caller holds s.mu).
func (s *Store) replicaLocked(ri *replicaInfo) Replica {
	r := Replica{BlockID: ri.id, GenStamp: ri.gs, NumBytes: ri.numBytes, State: ri.state,
		StorageID: ri.vol.storageID, Type: ri.vol.typ, VisibleLength: ri.numBytes}
	if w := ri.writer; w != nil {
		r.NumBytes, r.VisibleLength = w.lengths()
	}
	return r
}

// Report lists the replicas of every working volume for a block report:
// finalized, RBW and RWR, each volume's sorted by block id. Every volume
// that works has an entry, possibly empty. It is built from the replica
// map alone, touching no file, as Hadoop's is: files that vanish or change
// behind the store's back are found by reads, the block scanner and the
// directory scanner (dirscan.go), which hand them to OnReplicaLost.
func (s *Store) Report() map[string][]Replica {
	out := map[string][]Replica{}
	s.mu.RLock()
	if !s.ready {
		s.mu.RUnlock()
		return out
	}
	lists := make([][]Replica, len(s.vols))
	for i, v := range s.vols {
		if !v.failed.Load() && v.storageID != "" {
			n := v.count
			if s.closed {
				n = 0
			}
			lists[i] = make([]Replica, 0, n)
		}
	}
	if !s.closed {
		for _, ri := range s.replicas {
			i := slices.Index(s.vols, ri.vol)
			if i < 0 || lists[i] == nil || ri.vol.failed.Load() {
				continue
			}
			lists[i] = append(lists[i], s.replicaLocked(ri))
		}
	}
	s.mu.RUnlock()
	for i, v := range s.vols {
		if lists[i] == nil || v.failed.Load() { // failed meanwhile
			continue
		}
		slices.SortFunc(lists[i], func(a, b Replica) int { return cmp.Compare(a.BlockID, b.BlockID) })
		out[v.storageID] = lists[i]
	}
	return out
}

// lookup finds a replica; the store must be ready.
func (s *Store) lookup(blockID uint64) (*replicaInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return nil, err
	}
	ri := s.replicas[blockID]
	if ri == nil {
		return nil, fmt.Errorf("storage: blk_%d: %w", int64(blockID), ErrReplicaNotFound)
	}
	return ri, nil
}

// Delete removes a replica (the NameNode invalidated it): its files and
// its index record. A replica being written is stopped. A missing replica
// is not an error; files MarkCorrupt set aside for the block go too.
func (s *Store) Delete(blockID uint64) error {
	ri, err := s.lookup(blockID)
	if errors.Is(err, ErrReplicaNotFound) {
		return s.deleteCorrupt(blockID)
	}
	if err != nil {
		return err
	}
	ri.opMu.Lock()
	defer ri.opMu.Unlock()
	if ri.removed {
		return nil
	}
	if w := ri.writer; w != nil {
		w.kill(fmt.Errorf("storage: blk_%d was deleted: %w", int64(blockID), ErrReplicaNotFound))
	}
	if err := s.unlink(ri); err != nil {
		return err
	}
	// Space was freed: a volume that met ENOSPC may take replicas again.
	ri.vol.fullAt.Store(0)
	s.log.WithFields(logrus.Fields{"block": int64(blockID)}).Debug("replica deleted")
	return s.deleteCorrupt(blockID)
}

// unlink takes a replica out of the map and removes its files and index
// record. Caller holds ri.opMu; any writer is already stopped.
func (s *Store) unlink(ri *replicaInfo) error {
	s.mu.RLock()
	v, st := ri.vol, ri.state
	s.mu.RUnlock()
	if st == StateFinalized {
		v.dirMu[leafOf(ri.id)].Lock()
		defer v.dirMu[leafOf(ri.id)].Unlock()
	}
	s.mu.Lock()
	if ri.removed {
		s.mu.Unlock()
		return nil
	}
	s.dropLocked(ri)
	st, gs := ri.state, ri.gs
	s.mu.Unlock()
	return s.removeFiles(v, ri.id, st, gs, true)
}

// dropLocked takes a replica out of the map (caller holds s.mu).
func (s *Store) dropLocked(ri *replicaInfo) {
	if s.replicas[ri.id] == ri {
		delete(s.replicas, ri.id)
		ri.vol.count--
	}
	ri.vol.dfsUsed.Add(-ri.acct.Swap(0))
	ri.removed = true
	ri.version++
	ri.writer = nil
}

// removeFiles removes a replica's block and meta files and (withIndex)
// its index record. For a finalized replica the caller holds the leaf's
// dirMu, and the leaf's new mtime is recorded.
func (s *Store) removeFiles(v *volume, id uint64, st State, gs uint64, withIndex bool) error {
	dir := v.lay.dirOf(id, st)
	var firstErr error
	for _, name := range []string{blockName(id), metaName(id, gs)} {
		err := s.fs.Remove(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	if withIndex {
		ops := []ixOp{{key: replicaKey(s.bpid, id, v.storageID)}}
		if st == StateFinalized {
			ops = append(ops, s.leafRecordOp(v, leafOf(id)))
		}
		s.ix.write(ops)
	}
	if firstErr != nil {
		return s.ioErr(v, firstErr, "remove blk_%d", int64(id))
	}
	return nil
}

// ioErr classifies an I/O error on a volume: ENOSPC marks it full (the
// next replica goes elsewhere), EIO/EROFS fail it, anything else fails it
// when a probe of the volume fails too. Never call with s.mu held.
func (s *Store) ioErr(v *volume, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch {
	case isNoSpace(err):
		v.fullAt.Store(time.Now().UnixNano())
		s.log.WithFields(logrus.Fields{"volume": v.path}).WithError(err).Warn("volume full: " + what)
		return fmt.Errorf("storage: %s: volume %s is full: %w: %w", what, v.path, ErrNoSpace, err)
	case isFatalIO(err):
		s.failVolume(v, fmt.Errorf("%s: %w", what, err))
		return fmt.Errorf("storage: %s on volume %s: %w: %w", what, v.path, ErrVolumeFailed, err)
	}
	if perr := v.probe(); perr != nil {
		s.failVolume(v, fmt.Errorf("%s: %v; volume check: %w", what, err, perr))
		return fmt.Errorf("storage: %s on volume %s: %w: %w", what, v.path, ErrVolumeFailed, err)
	}
	return fmt.Errorf("storage: %s on volume %s: %w", what, v.path, err)
}

// failVolume takes a volume out of service: its replicas leave the map
// (and the reports), writers on it fail at their next call.
func (s *Store) failVolume(v *volume, cause error) {
	if v.failed.Swap(true) {
		return
	}
	v.failCause.Store(cause.Error())
	s.mu.Lock()
	n := 0
	for _, ri := range s.replicas {
		if ri.vol == v {
			s.dropLocked(ri)
			n++
		}
	}
	s.mu.Unlock()
	s.log.WithFields(logrus.Fields{"volume": v.path, "storageID": v.storageID, "replicas": n}).WithError(cause).Error("volume failed; taken out of service")
	if err := s.Healthy(); err != nil {
		s.log.WithError(err).Error("too many failed volumes")
	}
	if cb := s.opts.OnVolumeFailed; cb != nil {
		// Asynchronously: the failing call may hold the store's locks.
		vi := s.volumeInfo(v)
		go cb(vi)
	}
}

// checkLost re-checks a replica whose block file looked missing or of the
// wrong size, or whose meta file looked missing: if it still does (and
// nobody changed the replica since the caller looked at version ver, and
// no writer has it), it is dropped, a wrong-sized file or a block without
// its meta file is set aside as corrupt, and OnReplicaLost is told. It
// reports whether the replica was dropped (or its volume failed).
func (s *Store) checkLost(ri *replicaInfo, ver uint64) bool {
	ri.opMu.Lock()
	s.mu.RLock()
	current := !ri.removed && ri.version == ver && ri.writer == nil
	removed := ri.removed
	v, st, want, gs := ri.vol, ri.state, ri.numBytes, ri.gs
	r := Replica{}
	if current {
		r = s.replicaLocked(ri)
	}
	s.mu.RUnlock()
	if !current {
		ri.opMu.Unlock()
		return removed
	}
	dir := v.lay.dirOf(ri.id, st)
	path := filepath.Join(dir, blockName(ri.id))
	fi, err := s.fs.Stat(path)
	metaGone := false
	if err == nil && uint64(fi.Size()) == want {
		_, err = s.fs.Stat(filepath.Join(dir, metaName(ri.id, gs)))
		if err == nil {
			ri.opMu.Unlock()
			return false
		}
		metaGone = errors.Is(err, fs.ErrNotExist)
	}
	var reason error
	switch {
	case metaGone:
		reason = fmt.Errorf("storage: blk_%d: meta file %s vanished: %w", int64(ri.id), metaName(ri.id, gs), ErrReplicaNotFound)
		s.setAside(ri)
	case err == nil:
		reason = fmt.Errorf("storage: blk_%d: block file %s is %d bytes, expected %d: %w", int64(ri.id), path, fi.Size(), want, ErrChecksum)
		s.setAside(ri)
	case errors.Is(err, fs.ErrNotExist):
		reason = fmt.Errorf("storage: blk_%d: block file %s vanished: %w", int64(ri.id), path, ErrReplicaNotFound)
		s.unlink(ri)
	default:
		ri.opMu.Unlock()
		s.ioErr(v, err, "stat files of blk_%d", int64(ri.id))
		return v.failed.Load()
	}
	ri.opMu.Unlock()
	s.log.WithFields(logrus.Fields{"block": int64(ri.id), "volume": v.path}).WithError(reason).Warn("replica lost")
	if cb := s.opts.OnReplicaLost; cb != nil {
		cb(r, reason)
	}
	return true
}
