package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// VerifyReplica reads a replica's block and meta files and checks every
// chunk's checksum: nil, a *ChecksumError (errors.Is ErrChecksum) naming
// the first bad chunk, or ErrReplicaNotFound.
func (s *Store) VerifyReplica(blockID uint64) error {
	return s.verify(context.Background(), blockID, nil)
}

// ScanAll verifies every finalized replica, at most bytesPerSec bytes a
// second (0: unbounded), calling fn with each block id and the result of
// its verification (nil when good). Replicas deleted meanwhile are
// skipped. The caller decides what to do with bad ones (report, then
// MarkCorrupt). It returns ctx.Err() when cancelled.
func (s *Store) ScanAll(ctx context.Context, bytesPerSec int64, fn func(blockID uint64, err error)) error {
	s.mu.RLock()
	if err := s.checkOpenLocked(); err != nil {
		s.mu.RUnlock()
		return err
	}
	ids := make([]uint64, 0, len(s.replicas))
	for id, ri := range s.replicas {
		if ri.state == StateFinalized {
			ids = append(ids, id)
		}
	}
	s.mu.RUnlock()
	slices.Sort(ids)
	lim := &limiter{rate: bytesPerSec, start: time.Now()}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, ok := s.Get(id); !ok {
			continue
		}
		err := s.verify(ctx, id, lim)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrReplicaNotFound) {
			if _, ok := s.Get(id); !ok && !errors.Is(err, errFileVanished) {
				continue // deleted while we were getting to it
			}
		}
		fn(id, err)
	}
	return nil
}

// limiter paces a scan to a byte rate.
type limiter struct {
	rate  int64
	start time.Time
	done  int64
}

// wait accounts n bytes and sleeps until the rate allows them.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil || l.rate <= 0 {
		return ctx.Err()
	}
	l.done += int64(n)
	due := time.Duration(float64(l.done) / float64(l.rate) * float64(time.Second))
	if d := due - time.Since(l.start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// verify checks one replica's chunks.
func (s *Store) verify(ctx context.Context, blockID uint64, lim *limiter) error {
	r, err := s.OpenReplica(blockID, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	bpc := r.spec.bpc
	per := max(1, (64<<10)/bpc)
	buf := make([]byte, per*bpc)
	for off := uint64(0); off < r.length; {
		n := min(uint64(len(buf)), r.length-off)
		data := buf[:n]
		if _, err := r.ReadAt(data, int64(off)); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		first := int(off / uint64(bpc))
		k := int(r.spec.chunks(n))
		sums, err := r.Checksums(first, k)
		if err != nil {
			return err
		}
		if err := r.spec.verifyChunks(blockID, off, data, sums); err != nil {
			return err
		}
		off += n
		if err := lim.wait(ctx, int(n)); err != nil {
			return err
		}
	}
	return nil
}

// MarkCorrupt takes a replica the scanner (or a client) found bad out of
// service: its files are kept aside as blk_<id>.corrupt and
// blk_<id>_<gs>.meta.corrupt, it leaves the reports, and a later
// Delete of the block removes the kept files.
func (s *Store) MarkCorrupt(blockID uint64) {
	ri, err := s.lookup(blockID)
	if err != nil {
		return
	}
	ri.opMu.Lock()
	defer ri.opMu.Unlock()
	if w := ri.writer; w != nil {
		w.kill(fmt.Errorf("storage: blk_%d was marked corrupt: %w", int64(blockID), ErrChecksum))
	}
	s.setAside(ri)
	s.log.WithFields(logrus.Fields{"block": int64(blockID)}).Warn("replica marked corrupt and set aside")
}

// setAside drops a replica from the map and sets its files aside.
// Caller holds ri.opMu; any writer is stopped.
func (s *Store) setAside(ri *replicaInfo) {
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
		return
	}
	s.dropLocked(ri)
	gs := ri.gs
	s.mu.Unlock()
	s.setAsideFiles(v, ri.id, st, gs)
}

// setAsideFiles renames a replica's files to *.corrupt and records them
// in the index. Caller holds the leaf's dirMu for a finalized replica.
func (s *Store) setAsideFiles(v *volume, id uint64, st State, gs uint64) {
	dir := v.lay.dirOf(id, st)
	for _, name := range []string{blockName(id), metaName(id, gs)} {
		p := filepath.Join(dir, name)
		if err := s.fs.Rename(p, p+corruptSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.WithField("file", p).WithError(err).Warn("cannot set corrupt file aside; removing it")
			s.fs.Remove(p)
		}
	}
	s.mu.Lock()
	s.corrupt[id] = append(s.corrupt[id], corruptRef{vol: v, gs: gs, state: st})
	s.mu.Unlock()
	ops := []ixOp{
		{key: replicaKey(s.bpid, id, v.storageID)},
		{key: corruptKey(s.bpid, id, v.storageID), val: encodeIndexRecord(indexRecord{State: st, GenStamp: gs, Checksum: s.spec})},
	}
	if st == StateFinalized {
		ops = append(ops, s.leafRecordOp(v, leafOf(id)))
	}
	s.ix.write(ops)
}

// deleteCorrupt removes the files MarkCorrupt set aside for a block.
func (s *Store) deleteCorrupt(id uint64) error {
	s.mu.Lock()
	refs := s.corrupt[id]
	delete(s.corrupt, id)
	s.mu.Unlock()
	for _, ref := range refs {
		v := ref.vol
		if v.failed.Load() {
			continue
		}
		func() {
			if ref.state == StateFinalized {
				v.dirMu[leafOf(id)].Lock()
				defer v.dirMu[leafOf(id)].Unlock()
			}
			dir := v.lay.dirOf(id, ref.state)
			for _, name := range []string{blockName(id), metaName(id, ref.gs)} {
				if err := s.fs.Remove(filepath.Join(dir, name+corruptSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					s.log.WithError(err).Warn("removing corrupt replica files")
				}
			}
			ops := []ixOp{{key: corruptKey(s.bpid, id, v.storageID)}}
			if ref.state == StateFinalized {
				ops = append(ops, s.leafRecordOp(v, leafOf(id)))
			}
			s.ix.write(ops)
		}()
	}
	return nil
}
