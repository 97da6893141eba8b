package storage

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// reconcileRBW makes the map agree with rbw/. At start-up every replica
// there becomes RWR, its tail cut to the last chunk that verifies; a
// replica half-moved by an interrupted finalize or append (block in
// rbw/, meta in its leaf, or the reverse) is put back together in the
// leaf. Live (Rescan), replicas the store manages are only checked with a
// stat, and files nobody claims are adopted once a minute old. It returns
// the leaves it moved files into.
func (s *Store) reconcileRBW(v *volume, startup bool) (map[uint16]bool, error) {
	moved := map[uint16]bool{}
	files, ok, err := s.listReplicaFiles(v.lay.rbw)
	if err != nil {
		return moved, s.ioErr(v, err, "list %s", v.lay.rbw)
	}
	if !ok {
		if err := s.fs.MkdirAll(v.lay.rbw, 0o755); err != nil {
			return moved, s.ioErr(v, err, "create %s", v.lay.rbw)
		}
	}
	var ops []ixOp
	seen := map[uint64]bool{}
	for _, id := range sortedIDs(files.blocks) {
		if !startup {
			s.mu.RLock()
			_, claimed := s.replicas[id]
			s.mu.RUnlock()
			if claimed || time.Since(files.mtimes[id]) < time.Minute {
				continue
			}
		}
		gss := files.metas[id]
		if len(gss) == 0 {
			if s.rejoin(v, id, blockName(id), "") {
				moved[leafOf(id)] = true
				continue
			}
			s.log.WithFields(logrus.Fields{"block": int64(id), "dir": v.lay.rbw}).Warn("rbw block without meta file; removing it")
			s.fs.Remove(filepath.Join(v.lay.rbw, blockName(id)))
			continue
		}
		gs := slices.Max(gss)
		s.removeStaleMetas(v.lay.rbw, id, gs, gss)
		n, spec, err := s.recoverTail(v, id, gs)
		if err != nil {
			if errors.Is(err, errMetaFormat) {
				s.log.WithFields(logrus.Fields{"block": int64(id)}).WithError(err).Warn("rbw replica unusable; setting it aside")
				s.setAsideFiles(v, id, StateRWR, gs)
				continue
			}
			return moved, s.ioErr(v, err, "recover rbw blk_%d", int64(id))
		}
		nri := &replicaInfo{id: id, gs: gs, numBytes: n, state: StateRWR, vol: v, spec: spec}
		var lose *loser
		s.mu.Lock()
		old := s.replicas[id]
		switch {
		case old == nil:
		case old.vol == v && old.state != StateFinalized && startup:
			s.dropLocked(old) // the index's hint, replaced by what the disk says
		case old.writer == nil && better(nri, old):
			lose = &loser{old.vol, id, old.state, old.gs}
			s.dropLocked(old)
		default:
			s.mu.Unlock()
			s.log.WithFields(logrus.Fields{"block": int64(id)}).Warn("older duplicate rbw replica; removing it")
			s.removeFiles(v, id, StateRWR, gs, false)
			continue
		}
		s.insertLocked(nri)
		s.mu.Unlock()
		if lose != nil {
			s.removeLoser(*lose)
		}
		seen[id] = true
		ops = append(ops, s.recordOp(nri, StateRWR, gs, n))
	}
	for id, gss := range files.metas {
		if _, ok := files.blocks[id]; ok {
			continue
		}
		if !startup {
			s.mu.RLock()
			_, claimed := s.replicas[id]
			s.mu.RUnlock()
			if claimed {
				continue
			}
		}
		gs := slices.Max(gss)
		if s.rejoin(v, id, "", metaName(id, gs)) {
			moved[leafOf(id)] = true
			continue
		}
		for _, g := range gss {
			s.fs.Remove(filepath.Join(v.lay.rbw, metaName(id, g)))
		}
	}
	var stale []*replicaInfo
	var vers []uint64
	s.mu.Lock()
	for _, ri := range s.replicas {
		if ri.vol != v || ri.state == StateFinalized || seen[ri.id] {
			continue
		}
		if startup {
			s.dropLocked(ri)
			ops = append(ops, ixOp{key: replicaKey(s.bpid, ri.id, v.storageID)})
		} else if ri.writer == nil {
			stale, vers = append(stale, ri), append(vers, ri.version)
		}
	}
	s.mu.Unlock()
	s.ix.write(ops)
	for i, ri := range stale {
		p := filepath.Join(v.lay.rbw, blockName(ri.id))
		if _, err := s.fs.Stat(p); err != nil {
			s.checkLost(ri, vers[i])
		}
	}
	return moved, nil
}

// rejoin completes an interrupted move between rbw/ and a leaf: the rbw
// file named (block or meta) joins its partner in the leaf directory.
func (s *Store) rejoin(v *volume, id uint64, blk, meta string) bool {
	leaf := leafOf(id)
	dir := v.lay.leafDir(leaf)
	v.dirMu[leaf].Lock()
	defer v.dirMu[leaf].Unlock()
	files, ok, err := s.listReplicaFiles(dir)
	if err != nil || !ok {
		return false
	}
	_, hasBlock := files.blocks[id]
	hasMeta := len(files.metas[id]) > 0
	var name string
	switch {
	case blk != "" && hasMeta && !hasBlock:
		name = blk
	case meta != "" && hasBlock && !hasMeta:
		name = meta
	default:
		return false
	}
	if err := s.fs.Rename(filepath.Join(v.lay.rbw, name), filepath.Join(dir, name)); err != nil {
		s.log.WithError(err).Warn("rejoining half-moved replica")
		return false
	}
	s.fs.SyncDir(dir)
	s.log.WithFields(logrus.Fields{"block": int64(id), "file": name, "dir": dir}).Info("completed an interrupted move into finalized")
	return true
}

// recoverTail finds an rbw replica's valid length: the end of the last
// chunk whose checksum verifies, within what both files hold. Both files
// are cut to it.
func (s *Store) recoverTail(v *volume, id, gs uint64) (uint64, checksumSpec, error) {
	bp := filepath.Join(v.lay.rbw, blockName(id))
	mp := filepath.Join(v.lay.rbw, metaName(id, gs))
	spec, metaLen, err := s.readMetaHeader(mp)
	if err != nil {
		return 0, spec, err
	}
	bf, err := s.fs.OpenFile(bp, os.O_RDWR, 0)
	if err != nil {
		return 0, spec, err
	}
	defer bf.Close()
	st, err := bf.Stat()
	if err != nil {
		return 0, spec, err
	}
	blkLen := uint64(st.Size())
	n := blkLen
	if spec.size() > 0 {
		chunks := min(spec.chunks(blkLen), uint64(spec.metaChunks(metaLen)))
		n = min(blkLen, chunks*uint64(spec.bpc))
		buf := make([]byte, spec.bpc)
		sum := make([]byte, spec.size())
		mf, err := s.fs.Open(mp)
		if err != nil {
			return 0, spec, err
		}
		for n > 0 {
			cs := spec.chunkStart(n - 1)
			chunk := buf[:n-cs]
			if _, err := bf.ReadAt(chunk, int64(cs)); err != nil {
				mf.Close()
				return 0, spec, err
			}
			if _, err := mf.ReadAt(sum, metaHeaderSize+int64(cs/uint64(spec.bpc))*int64(spec.size())); err != nil {
				mf.Close()
				return 0, spec, err
			}
			if spec.verifyChunks(id, cs, chunk, sum) == nil {
				break
			}
			n = cs
		}
		mf.Close()
	}
	if n < blkLen {
		if err := bf.Truncate(int64(n)); err != nil {
			return 0, spec, err
		}
		if err := bf.Sync(); err != nil {
			return 0, spec, err
		}
	}
	if want := spec.metaSize(n); metaLen > want {
		mf, err := s.fs.OpenFile(mp, os.O_RDWR, 0)
		if err != nil {
			return 0, spec, err
		}
		err = mf.Truncate(want)
		if err == nil {
			err = mf.Sync()
		}
		mf.Close()
		if err != nil {
			return 0, spec, err
		}
	}
	if n != blkLen || spec.metaSize(n) != metaLen {
		s.log.WithFields(logrus.Fields{"block": int64(id), "blockFile": blkLen, "metaFile": metaLen, "length": n}).Info("rbw replica cut to its last good chunk")
	}
	return n, spec, nil
}
