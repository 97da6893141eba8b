package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
)

// Append reopens a finalized replica for appending: it moves to rbw/
// with the new generation stamp (which may equal the old one), and the
// writer continues at its length.
func (s *Store) Append(blockID, oldGenStamp, newGenStamp uint64) (*ReplicaWriter, error) {
	ri, err := s.lookup(blockID)
	if err != nil {
		return nil, err
	}
	ri.opMu.Lock()
	defer ri.opMu.Unlock()
	s.mu.RLock()
	v, st, gs, n, removed := ri.vol, ri.state, ri.gs, ri.numBytes, ri.removed
	s.mu.RUnlock()
	switch {
	case removed:
		return nil, fmt.Errorf("storage: append blk_%d: %w", int64(blockID), ErrReplicaNotFound)
	case st != StateFinalized:
		return nil, fmt.Errorf("storage: append blk_%d: replica is %s, not FINALIZED: %w", int64(blockID), st, ErrReplicaState)
	case gs != oldGenStamp:
		return nil, fmt.Errorf("storage: append blk_%d: replica has genstamp %d, not %d: %w", int64(blockID), gs, oldGenStamp, ErrGenStampMismatch)
	case newGenStamp < gs:
		// Equal is allowed, as Hadoop's DataNode does: the Go client
		// appends with the block's current generation stamp.
		return nil, fmt.Errorf("storage: append blk_%d: new genstamp %d is older than %d: %w", int64(blockID), newGenStamp, gs, ErrGenStampMismatch)
	case v.failed.Load():
		return nil, fmt.Errorf("storage: append blk_%d: %w", int64(blockID), ErrVolumeFailed)
	}
	leaf := leafOf(blockID)
	dir := v.lay.leafDir(leaf)
	bp, mp := filepath.Join(v.lay.rbw, blockName(blockID)), filepath.Join(v.lay.rbw, metaName(blockID, newGenStamp))
	// Block first, then meta: interrupted, it looks like an interrupted
	// finalize and start-up puts it back in finalized/.
	err = func() error {
		v.dirMu[leaf].Lock()
		defer v.dirMu[leaf].Unlock()
		if err := s.fs.Rename(filepath.Join(dir, blockName(blockID)), bp); err != nil {
			return err
		}
		if err := s.fs.Rename(filepath.Join(dir, metaName(blockID, gs)), mp); err != nil {
			s.fs.Rename(bp, filepath.Join(dir, blockName(blockID)))
			return err
		}
		s.mu.Lock()
		ri.state, ri.gs = StateRBW, newGenStamp
		ri.version++
		s.mu.Unlock()
		s.ix.write([]ixOp{s.recordOp(ri, StateRBW, newGenStamp, n), s.leafRecordOp(v, leaf)})
		return nil
	}()
	if errors.Is(err, fs.ErrNotExist) {
		s.mu.RLock()
		ver := ri.version
		s.mu.RUnlock()
		ri.opMu.Unlock()
		s.checkLost(ri, ver)
		ri.opMu.Lock()
		return nil, fmt.Errorf("storage: append blk_%d: %w: %w", int64(blockID), ErrReplicaNotFound, err)
	}
	if err != nil {
		return nil, s.ioErr(v, err, "append: move blk_%d to rbw", int64(blockID))
	}
	return s.reopen(ri, v, n)
}

// RecoverRBW reopens an RBW or RWR replica for pipeline recovery with a
// new generation stamp: any writer still on it is stopped, bytes past the
// acknowledged length are cut, and the replica's length must be within
// [minLen, maxLen].
func (s *Store) RecoverRBW(blockID, newGenStamp uint64, minLen, maxLen uint64) (*ReplicaWriter, error) {
	ri, err := s.lookup(blockID)
	if err != nil {
		return nil, err
	}
	ri.opMu.Lock()
	defer ri.opMu.Unlock()
	s.mu.RLock()
	v, st, gs, n, removed, w := ri.vol, ri.state, ri.gs, ri.numBytes, ri.removed, ri.writer
	s.mu.RUnlock()
	switch {
	case removed:
		return nil, fmt.Errorf("storage: recover blk_%d: %w", int64(blockID), ErrReplicaNotFound)
	case st != StateRBW && st != StateRWR:
		return nil, fmt.Errorf("storage: recover blk_%d: replica is %s, not RBW or RWR: %w", int64(blockID), st, ErrReplicaState)
	case newGenStamp < gs:
		return nil, fmt.Errorf("storage: recover blk_%d: new genstamp %d is older than %d: %w", int64(blockID), newGenStamp, gs, ErrGenStampMismatch)
	case v.failed.Load():
		return nil, fmt.Errorf("storage: recover blk_%d: %w", int64(blockID), ErrVolumeFailed)
	}
	onDisk, acked := n, n
	if w != nil {
		w.kill(fmt.Errorf("storage: blk_%d is under pipeline recovery: %w", int64(blockID), ErrReplicaNotFound))
		onDisk, acked = w.lengths() // final: the writer is stopped
	}
	if acked < minLen || onDisk > maxLen {
		return nil, fmt.Errorf("storage: recover blk_%d: %d bytes on disk, %d acknowledged, want within [%d, %d]: %w",
			int64(blockID), onDisk, acked, minLen, maxLen, ErrReplicaState)
	}
	bp := filepath.Join(v.lay.rbw, blockName(blockID))
	mp := filepath.Join(v.lay.rbw, metaName(blockID, gs))
	fi, err := s.fs.Stat(bp)
	if err != nil {
		return nil, s.ioErr(v, err, "recover: stat blk_%d", int64(blockID))
	}
	if uint64(fi.Size()) < acked {
		return nil, fmt.Errorf("storage: recover blk_%d: block file holds %d bytes, %d expected: %w", int64(blockID), fi.Size(), acked, ErrReplicaState)
	}
	if uint64(fi.Size()) != acked {
		if err := s.cutFiles(ri, bp, mp, acked); err != nil {
			return nil, s.ioErr(v, err, "recover: truncate blk_%d", int64(blockID))
		}
	}
	if newGenStamp != gs {
		if err := s.fs.Rename(mp, filepath.Join(v.lay.rbw, metaName(blockID, newGenStamp))); err != nil {
			return nil, s.ioErr(v, err, "recover: rename meta of blk_%d", int64(blockID))
		}
	}
	s.mu.Lock()
	ri.state, ri.gs, ri.numBytes = StateRBW, newGenStamp, acked
	ri.version++
	s.mu.Unlock()
	s.account(ri, acked)
	s.ix.write([]ixOp{s.recordOp(ri, StateRBW, newGenStamp, acked)})
	s.log.WithFields(logrus.Fields{"block": int64(blockID), "genstamp": newGenStamp, "length": acked}).Info("rbw replica recovered for a new pipeline")
	return s.reopen(ri, v, acked)
}

// cutFiles truncates a replica's files to n bytes, rewriting the checksum of
// a new partial last chunk.
func (s *Store) cutFiles(ri *replicaInfo, bp, mp string, n uint64) error {
	spec := ri.spec
	bf, err := s.fs.OpenFile(bp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer bf.Close()
	mf, err := s.fs.OpenFile(mp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mf.Close()
	if err := bf.Truncate(int64(n)); err != nil {
		return err
	}
	if err := mf.Truncate(spec.metaSize(n)); err != nil {
		return err
	}
	if cs := spec.chunkStart(n); cs < n && spec.size() > 0 {
		chunk := make([]byte, n-cs)
		if _, err := bf.ReadAt(chunk, int64(cs)); err != nil {
			return err
		}
		if _, err := mf.Seek(metaHeaderSize+int64(cs/uint64(spec.bpc))*int64(spec.size()), io.SeekStart); err != nil {
			return err
		}
		if _, err := mf.Write(binary.BigEndian.AppendUint32(nil, spec.sum(chunk))); err != nil {
			return err
		}
	}
	if err := bf.Sync(); err != nil {
		return err
	}
	return mf.Sync()
}

// reopen opens an RBW replica's files for a writer at n bytes. Caller
// holds ri.opMu.
func (s *Store) reopen(ri *replicaInfo, v *volume, n uint64) (*ReplicaWriter, error) {
	s.mu.RLock()
	gs := ri.gs
	s.mu.RUnlock()
	bp := filepath.Join(v.lay.rbw, blockName(ri.id))
	mp := filepath.Join(v.lay.rbw, metaName(ri.id, gs))
	blk, err := s.fs.OpenFile(bp, os.O_RDWR, 0)
	if err != nil {
		return nil, s.ioErr(v, err, "reopen blk_%d", int64(ri.id))
	}
	meta, err := s.fs.OpenFile(mp, os.O_RDWR, 0)
	if err != nil {
		blk.Close()
		return nil, s.ioErr(v, err, "reopen meta of blk_%d", int64(ri.id))
	}
	var tail []byte
	if cs := ri.spec.chunkStart(n); cs < n {
		tail = make([]byte, n-cs)
		if _, err := blk.ReadAt(tail, int64(cs)); err != nil {
			blk.Close()
			meta.Close()
			return nil, s.ioErr(v, err, "read last chunk of blk_%d", int64(ri.id))
		}
	}
	return s.newWriter(ri, blk, meta, n, tail), nil
}

// FinalizeRecovered ends a block (lease) recovery on this replica, as
// Hadoop's updateReplicaUnderRecovery: any writer is stopped, the replica
// (RBW, RWR or finalized) is cut to newLength, takes newGenStamp and is
// finalized. A replica shorter than newLength is an error.
func (s *Store) FinalizeRecovered(blockID, newGenStamp, newLength uint64) (Replica, error) {
	ri, err := s.lookup(blockID)
	if err != nil {
		return Replica{}, err
	}
	ri.opMu.Lock()
	defer ri.opMu.Unlock()
	if w := ri.writerLocked(s); w != nil {
		w.kill(fmt.Errorf("storage: blk_%d is under block recovery: %w", int64(blockID), ErrReplicaNotFound))
	}
	s.mu.Lock()
	v, st, gs, removed := ri.vol, ri.state, ri.gs, ri.removed
	if ri.writer != nil {
		ri.numBytes, _ = ri.writer.lengths()
		ri.writer = nil
	}
	s.mu.Unlock()
	switch {
	case removed:
		return Replica{}, fmt.Errorf("storage: recover blk_%d: %w", int64(blockID), ErrReplicaNotFound)
	case newGenStamp < gs:
		return Replica{}, fmt.Errorf("storage: recover blk_%d: new genstamp %d is older than %d: %w", int64(blockID), newGenStamp, gs, ErrGenStampMismatch)
	case v.failed.Load():
		return Replica{}, fmt.Errorf("storage: recover blk_%d: %w", int64(blockID), ErrVolumeFailed)
	}
	leaf := leafOf(blockID)
	dir := v.lay.dirOf(blockID, st)
	if st == StateFinalized {
		v.dirMu[leaf].Lock()
		defer v.dirMu[leaf].Unlock()
	}
	bp, mp := filepath.Join(dir, blockName(blockID)), filepath.Join(dir, metaName(blockID, gs))
	fi, err := s.fs.Stat(bp)
	if err != nil {
		return Replica{}, s.ioErr(v, err, "recover: stat blk_%d", int64(blockID))
	}
	if uint64(fi.Size()) < newLength {
		return Replica{}, fmt.Errorf("storage: recover blk_%d: replica holds %d bytes, recovery wants %d: %w", int64(blockID), fi.Size(), newLength, ErrReplicaState)
	}
	if uint64(fi.Size()) != newLength {
		if err := s.cutFiles(ri, bp, mp, newLength); err != nil {
			return Replica{}, s.ioErr(v, err, "recover: truncate blk_%d", int64(blockID))
		}
	}
	if newGenStamp != gs {
		if err := s.fs.Rename(mp, filepath.Join(dir, metaName(blockID, newGenStamp))); err != nil {
			return Replica{}, s.ioErr(v, err, "recover: rename meta of blk_%d", int64(blockID))
		}
	}
	s.mu.Lock()
	ri.gs, ri.numBytes = newGenStamp, newLength
	ri.version++
	r := s.replicaLocked(ri)
	s.mu.Unlock()
	s.account(ri, newLength)
	s.log.WithFields(logrus.Fields{"block": int64(blockID), "genstamp": newGenStamp, "length": newLength, "was": st}).Info("replica recovered")
	if st == StateFinalized {
		s.ix.write([]ixOp{s.recordOp(ri, StateFinalized, newGenStamp, newLength), s.leafRecordOp(v, leaf)})
		return r, nil
	}
	return s.moveToFinalized(ri, v, newGenStamp, newLength)
}

// writerLocked reads a replica's writer.
func (ri *replicaInfo) writerLocked(s *Store) *ReplicaWriter {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return ri.writer
}
