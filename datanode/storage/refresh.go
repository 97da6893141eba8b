package storage

import (
	"errors"
	"io/fs"
	"time"

	"github.com/sirupsen/logrus"
)

// How the index stays trustworthy without listing directories.
//
// Every change we make to a finalized leaf directory (finalize, delete,
// append, set aside) happens under that leaf's lock, and the index
// transaction recording the replica also records the leaf's mtime as
// observed right after the change, and the wall-clock time of the
// observation. A leaf record (M, R) with R >= M + racyWindow certifies
// the leaf: all changes up to R are in the index (they are earlier in
// badger's log than the record), and any later change makes the mtime
// larger than M, as R is later than M by more than the file system's
// timestamp granularity. A record written right after a change has R ≈ M:
// racy, because another change within the same timestamp tick would leave
// the same mtime. The refresher re-observes racy leaves once racyWindow
// has passed (and Close does), turning their records into certificates.
//
// At start-up a leaf is listed again when it has no record, its mtime
// differs from the record's, or the record is racy. After a crash that
// is the leaves changed in the last refresh interval; after a clean stop,
// the leaves changed in the last racyWindow. Files changed in place
// (same directory entries) are not seen here but by the size check on
// read, by the directory scanner (dirscan.go) and by the block scanner.
const racyWindow = 2 * time.Second

// certified tells whether a leaf record certifies the leaf.
func (r dirRecord) certified() bool { return r.RecordedAt-r.MTime >= int64(racyWindow) }

// leafRecordOp observes a leaf directory after a change made under its
// lock and returns the index op recording it. Caller holds dirMu[leaf].
func (s *Store) leafRecordOp(v *volume, leaf uint16) ixOp {
	key := dirKey(s.bpid, v.storageID, leaf)
	st, err := s.fs.Stat(v.lay.leafDir(leaf))
	if err != nil {
		v.lastRec[leaf] = 0
		return ixOp{key: key}
	}
	rec := dirRecord{MTime: st.ModTime().UnixNano(), RecordedAt: time.Now().UnixNano()}
	v.lastRec[leaf] = rec.MTime
	if !rec.certified() {
		v.markDirty(leaf)
	}
	return ixOp{key: key, val: encodeDirRecord(rec)}
}

// refreshLoop certifies racy leaf records every interval.
func (s *Store) refreshLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if !s.setupMu.TryLock() {
				continue
			}
			s.mu.RLock()
			ready := s.ready && !s.closed
			s.mu.RUnlock()
			if ready {
				s.refreshDirty()
			}
			s.setupMu.Unlock()
		}
	}
}

// refreshDirty re-observes every racy leaf: unchanged and old enough, its
// record becomes a certificate; changed behind our back, it is listed
// again; too recent, it stays racy. Caller holds setupMu.
func (s *Store) refreshDirty() {
	for _, v := range s.vols {
		if v.failed.Load() {
			continue
		}
		var relist []uint16
		certified := 0
		for _, leaf := range v.takeDirty() {
			v.dirMu[leaf].Lock()
			st, err := s.fs.Stat(v.lay.leafDir(leaf))
			now := time.Now()
			switch {
			case err != nil && !errors.Is(err, fs.ErrNotExist):
				v.dirMu[leaf].Unlock()
				s.ioErr(v, err, "stat leaf %s", leafRel(leaf))
				continue
			case err != nil || v.lastRec[leaf] == 0 || st.ModTime().UnixNano() != v.lastRec[leaf]:
				relist = append(relist, leaf)
			case now.Sub(st.ModTime()) >= racyWindow:
				rec := dirRecord{MTime: st.ModTime().UnixNano(), RecordedAt: now.UnixNano()}
				s.ix.write([]ixOp{{key: dirKey(s.bpid, v.storageID, leaf), val: encodeDirRecord(rec)}})
				certified++
			default:
				v.markDirty(leaf)
			}
			v.dirMu[leaf].Unlock()
		}
		if len(relist) > 0 {
			s.log.WithFields(logrus.Fields{"volume": v.path, "leaves": len(relist)}).Warn("finalized directories changed behind the store's back; listing them again")
			if err := s.relistLeaves(v, relist, false); err != nil {
				s.log.WithField("volume", v.path).WithError(err).Error("relisting changed directories")
			}
		}
		if certified > 0 {
			s.log.WithFields(logrus.Fields{"volume": v.path, "leaves": certified}).Debug("leaf records certified")
		}
	}
}
