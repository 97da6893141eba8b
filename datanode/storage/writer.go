package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"io/fs"
	"path/filepath"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// ReplicaWriter writes one RBW replica. Its calls are serialised; readers
// of the replica see what it has written (see ReplicaReader).
type ReplicaWriter struct {
	s    *Store
	ri   *replicaInfo
	vol  *volume
	id   uint64
	spec checksumSpec

	mu       sync.Mutex // serialises calls; taken after ri.opMu
	blk      vfs.File
	meta     vfs.File
	onDisk   uint64
	tail     []byte // the bytes of the last partial chunk
	broken   error  // first failure; the writer is unusable after it
	done     bool
	reserved int64

	pubMu   sync.Mutex // what readers may see
	pubLen  uint64
	pubLast []byte // checksum of the last partial chunk at pubLen
	acked   uint64
	ackSet  bool
}

// CreateRBW creates a replica being written, with the store's checksum
// (CRC32C, 512 bytes per checksum by default), on a volume of the wanted
// type (any type with room when none of it has; noted in the log). An
// existing RBW/RWR replica with an older generation stamp is replaced;
// any other existing replica is ErrReplicaExists.
func (s *Store) CreateRBW(blockID, genStamp uint64, want StorageType) (*ReplicaWriter, error) {
	return s.CreateRBWWithChecksum(blockID, genStamp, want, s.spec.typ, s.spec.bpc)
}

// CreateRBWWithChecksum is CreateRBW with the client's checksum type
// (ChecksumCRC32C, ChecksumCRC32, ChecksumNull) and chunk size, as
// WRITE_BLOCK's requestedChecksum gives them.
func (s *Store) CreateRBWWithChecksum(blockID, genStamp uint64, want StorageType, typ byte, bytesPerChecksum int) (*ReplicaWriter, error) {
	spec, err := newChecksumSpec(typ, bytesPerChecksum)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	err = s.checkOpenLocked()
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	exclude := map[*volume]bool{}
	for {
		v, err := s.choose(want, exclude)
		if err != nil {
			return nil, fmt.Errorf("storage: create blk_%d: %w", int64(blockID), err)
		}
		ri := &replicaInfo{id: blockID, gs: genStamp, state: StateRBW, vol: v, spec: spec}
		ri.opMu.Lock()
		if err := s.claim(ri); err != nil {
			ri.opMu.Unlock()
			return nil, err
		}
		w, err := s.createFiles(ri)
		if err != nil {
			s.mu.Lock()
			s.dropLocked(ri)
			s.mu.Unlock()
			ri.opMu.Unlock()
			if errors.Is(err, ErrNoSpace) || errors.Is(err, ErrVolumeFailed) {
				exclude[v] = true
				continue // the next volume with room
			}
			return nil, err
		}
		s.ix.write([]ixOp{s.recordOp(ri, StateRBW, genStamp, 0)})
		ri.opMu.Unlock()
		s.log.WithFields(logrus.Fields{"block": int64(blockID), "genstamp": genStamp, "volume": v.path}).Debug("rbw replica created")
		return w, nil
	}
}

// claim puts a new replica in the map, replacing an RBW/RWR replica with
// an older generation stamp.
func (s *Store) claim(ri *replicaInfo) error {
	for {
		s.mu.Lock()
		if err := s.checkOpenLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
		old := s.replicas[ri.id]
		if old == nil {
			s.insertLocked(ri)
			s.mu.Unlock()
			return nil
		}
		if old.state == StateFinalized || old.gs >= ri.gs {
			st, gs := old.state, old.gs
			s.mu.Unlock()
			return fmt.Errorf("storage: create blk_%d genstamp %d: a %s replica with genstamp %d exists: %w",
				int64(ri.id), ri.gs, st, gs, ErrReplicaExists)
		}
		s.mu.Unlock()
		old.opMu.Lock()
		if !old.removed {
			s.log.WithFields(logrus.Fields{"block": int64(ri.id), "old": old.gs, "new": ri.gs}).Info("replacing rbw replica with an older generation stamp")
			if w := old.writer; w != nil {
				w.kill(fmt.Errorf("storage: blk_%d was replaced by a newer generation stamp: %w", int64(ri.id), ErrReplicaNotFound))
			}
			if err := s.unlink(old); err != nil {
				s.log.WithError(err).Warn("removing replaced replica")
			}
		}
		old.opMu.Unlock()
	}
}

// createFiles creates an RBW replica's block and meta files.
func (s *Store) createFiles(ri *replicaInfo) (*ReplicaWriter, error) {
	v := ri.vol
	bp := filepath.Join(v.lay.rbw, blockName(ri.id))
	mp := filepath.Join(v.lay.rbw, metaName(ri.id, ri.gs))
	fail := func(err error, what string) (*ReplicaWriter, error) {
		s.fs.Remove(bp)
		s.fs.Remove(mp)
		return nil, s.ioErr(v, err, "%s blk_%d", what, int64(ri.id))
	}
	blk, err := s.fs.Create(bp)
	if err != nil {
		return fail(err, "create")
	}
	meta, err := s.fs.Create(mp)
	if err != nil {
		blk.Close()
		return fail(err, "create meta of")
	}
	if _, err := meta.Write(ri.spec.header()); err != nil {
		blk.Close()
		meta.Close()
		return fail(err, "write meta header of")
	}
	w := s.newWriter(ri, blk, meta, 0, nil)
	return w, nil
}

// newWriter makes the writer of a replica at onDisk bytes (tail: the
// last partial chunk's bytes) and registers it. Caller holds ri.opMu.
func (s *Store) newWriter(ri *replicaInfo, blk, meta vfs.File, onDisk uint64, tail []byte) *ReplicaWriter {
	w := &ReplicaWriter{s: s, ri: ri, vol: ri.vol, id: ri.id, spec: ri.spec, blk: blk, meta: meta,
		onDisk: onDisk, tail: tail, pubLen: onDisk}
	if len(tail) > 0 && ri.spec.size() > 0 {
		w.pubLast = binary.BigEndian.AppendUint32(nil, ri.spec.sum(tail))
	}
	w.reserved = max(s.opts.BlockSize-int64(onDisk), 0)
	w.vol.reserved.Add(w.reserved)
	s.mu.Lock()
	ri.writer = w
	ri.numBytes = onDisk
	ri.version++
	s.mu.Unlock()
	return w
}

// Replica describes the replica being written.
func (w *ReplicaWriter) Replica() Replica {
	w.s.mu.RLock()
	defer w.s.mu.RUnlock()
	r := w.s.replicaLocked(w.ri)
	r.NumBytes, r.VisibleLength = w.lengths()
	return r
}

// BytesOnDisk is how many bytes the replica holds.
func (w *ReplicaWriter) BytesOnDisk() uint64 {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	return w.pubLen
}

// SetAcked records how many bytes the downstream pipeline acknowledged.
// Once called, readers see only acknowledged bytes (Hadoop's bytesAcked);
// before, they see every byte written.
func (w *ReplicaWriter) SetAcked(n uint64) {
	w.pubMu.Lock()
	w.acked, w.ackSet = n, true
	w.pubMu.Unlock()
}

// lengths is (bytes on disk, visible length).
func (w *ReplicaWriter) lengths() (uint64, uint64) {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	vis := w.pubLen
	if w.ackSet {
		vis = min(vis, w.acked)
	}
	return w.pubLen, vis
}

// snapshot is what a reader opening now may read: the length and the
// checksum of its last partial chunk (nil when it ends on a boundary).
func (w *ReplicaWriter) snapshot() (uint64, []byte) {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	return w.pubLen, w.pubLast
}

// usable is nil when the writer may go on. Caller holds w.mu.
func (w *ReplicaWriter) usable() error {
	if w.done {
		if w.broken != nil {
			return w.broken
		}
		return fmt.Errorf("storage: blk_%d writer: %w", int64(w.id), ErrClosed)
	}
	if w.broken != nil {
		return w.broken
	}
	if w.vol.failed.Load() {
		return fmt.Errorf("storage: blk_%d: volume %s: %w", int64(w.id), w.vol.path, ErrVolumeFailed)
	}
	w.s.mu.RLock()
	removed := w.ri.removed
	w.s.mu.RUnlock()
	if removed {
		return fmt.Errorf("storage: blk_%d was removed while being written: %w", int64(w.id), ErrReplicaNotFound)
	}
	return nil
}

// fail marks the writer broken by an I/O error and classifies it.
func (w *ReplicaWriter) fail(err error, what string) error {
	e := w.s.ioErr(w.vol, err, "%s blk_%d", what, int64(w.id))
	w.broken = e
	return e
}

// WriteChunks writes data at offset with its checksums (one per piece:
// the first piece runs to the next chunk boundary, the others are whole
// chunks, the last may be partial). offset must be BytesOnDisk or fall in
// the last partial chunk, whose checksum is then recomputed over the
// bytes on disk and the new ones; data already on disk is not rewritten.
// Every piece is verified first: on a mismatch nothing is written and the
// error is a *ChecksumError (ErrChecksum) with the piece's offset.
func (w *ReplicaWriter) WriteChunks(offset uint64, data, checksums []byte) error {
	return w.writeChunks(offset, data, checksums, true)
}

// WriteVerifiedChunks is WriteChunks for a caller that has just verified
// checksums against data itself (the DataNode checks every packet before
// forwarding it): the CRCs are not computed a second time.
func (w *ReplicaWriter) WriteVerifiedChunks(offset uint64, data, checksums []byte) error {
	return w.writeChunks(offset, data, checksums, false)
}

func (w *ReplicaWriter) writeChunks(offset uint64, data, checksums []byte, verify bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	bpc := uint64(w.spec.bpc)
	on := w.onDisk
	lastStart := on - on%bpc
	end := offset + uint64(len(data))
	if offset > on || (offset < lastStart && end > on) {
		return fmt.Errorf("storage: blk_%d: write at offset %d, replica holds %d bytes (a write must start at its end or in its last partial chunk): %w",
			int64(w.id), offset, on, ErrBadOffset)
	}
	if verify {
		if err := w.spec.verify(w.id, offset, data, checksums); err != nil {
			return fmt.Errorf("storage: write blk_%d: %w", int64(w.id), err)
		}
	}
	if end <= on {
		return nil // a resend of bytes we hold
	}
	fresh := data[on-offset:]
	cs := w.spec.size()
	var sums []byte
	if cs > 0 {
		next := 0 // the client's piece index of the first chunk after `on`'s chunk
		if on%bpc != 0 {
			chunkEnd := min(lastStart+bpc, end)
			crc := w.spec.update(w.spec.sum(w.tail), data[on-offset:chunkEnd-offset])
			sums = binary.BigEndian.AppendUint32(sums, crc)
			next = 1
		}
		sums = append(sums, checksums[next*cs:]...)
	}
	// Positioned writes: one system call per file, no seeks.
	if _, err := w.blk.WriteAt(fresh, int64(on)); err != nil {
		return w.fail(err, "write")
	}
	if cs > 0 {
		if _, err := w.meta.WriteAt(sums, metaHeaderSize+int64(on/bpc)*int64(cs)); err != nil {
			return w.fail(err, "write meta of")
		}
	}
	tailStart := end - end%bpc
	switch {
	case tailStart == end:
		w.tail = w.tail[:0]
	case tailStart == lastStart && on%bpc != 0:
		w.tail = append(w.tail, fresh...)
	default:
		w.tail = append(w.tail[:0], data[tailStart-offset:]...)
	}
	w.advance(end, sums)
	return nil
}

// advance records that the replica now holds end bytes (w.tail already
// set), sums ending with the checksum of its last chunk, and publishes
// the length to readers. w.mu is held.
func (w *ReplicaWriter) advance(end uint64, sums []byte) {
	cs := w.spec.size()
	w.onDisk = end
	w.s.mu.RLock()
	if !w.ri.removed {
		w.s.account(w.ri, end)
	}
	w.s.mu.RUnlock()
	w.pubMu.Lock()
	w.pubLen = end
	if len(w.tail) > 0 && cs > 0 {
		w.pubLast = append([]byte(nil), sums[len(sums)-cs:]...)
	} else {
		w.pubLast = nil
	}
	w.pubMu.Unlock()
}

// WriteVerifiedRun writes a run of verified packets back to back from
// offset: data[i] with its checksums[i] (whole chunks; only the last
// packet's data may end in a partial chunk). When the run starts at
// BytesOnDisk on a chunk boundary it goes to each file in one vectored
// write, from the caller's buffers; otherwise packet by packet, as
// WriteVerifiedChunks.
func (w *ReplicaWriter) WriteVerifiedRun(offset uint64, data, checksums [][]byte) error {
	if len(data) != len(checksums) {
		return fmt.Errorf("storage: write blk_%d: %d data pieces with %d checksum pieces", int64(w.id), len(data), len(checksums))
	}
	done, err := w.writeRun(offset, data, checksums)
	if done || err != nil {
		return err
	}
	for i := range data {
		if err := w.writeChunks(offset, data[i], checksums[i], false); err != nil {
			return err
		}
		offset += uint64(len(data[i]))
	}
	return nil
}

// writeRun is WriteVerifiedRun's vectored write; done is false (and
// nothing written) when the run does not fit it.
func (w *ReplicaWriter) writeRun(offset uint64, data, checksums [][]byte) (done bool, err error) {
	if len(data) < 2 {
		return false, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return true, err
	}
	bpc, cs := uint64(w.spec.bpc), w.spec.size()
	if offset != w.onDisk || offset%bpc != 0 {
		return false, nil
	}
	total := uint64(0)
	for i, d := range data {
		n := uint64(len(d))
		chunks := (n + bpc - 1) / bpc
		if (i < len(data)-1 && n%bpc != 0) || uint64(len(checksums[i])) != chunks*uint64(cs) {
			return false, nil
		}
		total += n
	}
	if total == 0 {
		return false, nil
	}
	if _, err := vfs.WriteVectorAt(w.blk, data, int64(offset)); err != nil {
		return true, w.fail(err, "write")
	}
	if cs > 0 {
		if _, err := vfs.WriteVectorAt(w.meta, checksums, metaHeaderSize+int64(offset/bpc)*int64(cs)); err != nil {
			return true, w.fail(err, "write meta of")
		}
	}
	end := offset + total
	last := data[len(data)-1]
	w.tail = append(w.tail[:0], last[uint64(len(last))-end%bpc:]...)
	var lastSums []byte
	for i := len(checksums) - 1; i >= 0 && len(lastSums) == 0; i-- {
		lastSums = checksums[i]
	}
	w.advance(end, lastSums)
	return true, nil
}

// Sync makes the bytes written so far durable (hsync).
func (w *ReplicaWriter) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	return w.syncLocked()
}

func (w *ReplicaWriter) syncLocked() error {
	if err := w.blk.Sync(); err != nil {
		return w.fail(err, "sync")
	}
	if err := w.meta.Sync(); err != nil {
		return w.fail(err, "sync meta of")
	}
	return nil
}

// closeFiles closes the files and gives back the space reservation.
// Caller holds w.mu.
func (w *ReplicaWriter) closeFiles() error {
	var err error
	if w.blk != nil {
		err = w.blk.Close()
		w.blk = nil
	}
	if w.meta != nil {
		if e := w.meta.Close(); err == nil {
			err = e
		}
		w.meta = nil
	}
	w.done = true
	w.vol.reserved.Add(-w.reserved)
	w.reserved = 0
	return err
}

// kill stops a writer (the replica was deleted, replaced or recovered);
// its later calls fail with reason. Caller holds ri.opMu.
func (w *ReplicaWriter) kill(reason error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.closeFiles()
	}
	if w.broken == nil {
		w.broken = reason
	}
}

// Finalize syncs the replica, moves it to finalized/ (meta first, so an
// interrupted move is completed at start-up), syncs the directory and
// indexes it.
func (w *ReplicaWriter) Finalize() (Replica, error) {
	s, ri, v := w.s, w.ri, w.vol
	ri.opMu.Lock()
	defer ri.opMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return Replica{}, err
	}
	if s.opts.SyncOnClose {
		if err := w.syncLocked(); err != nil {
			return Replica{}, err
		}
	}
	if err := w.closeFiles(); err != nil {
		return Replica{}, w.fail(err, "close")
	}
	s.mu.RLock()
	gs := ri.gs
	s.mu.RUnlock()
	r, err := s.moveToFinalized(ri, v, gs, w.onDisk)
	if err != nil {
		w.broken = err
		return Replica{}, err
	}
	return r, nil
}

// moveToFinalized moves an RBW replica's files (meta first, so an
// interrupted move is completed at start-up) into its leaf directory,
// syncs the directory and records the replica as finalized with n bytes.
// Caller holds ri.opMu; no writer is active.
func (s *Store) moveToFinalized(ri *replicaInfo, v *volume, gs, n uint64) (Replica, error) {
	id := ri.id
	leaf := leafOf(id)
	v.dirMu[leaf].Lock()
	defer v.dirMu[leaf].Unlock()
	mname, bname := metaName(id, gs), blockName(id)
	var dir string
	for attempt := 0; ; attempt++ {
		var err error
		if dir, err = s.ensureLeaf(v, leaf); err != nil {
			return Replica{}, s.ioErr(v, err, "make finalized directory for blk_%d", int64(id))
		}
		err = s.fs.Rename(filepath.Join(v.lay.rbw, mname), filepath.Join(dir, mname))
		if err == nil {
			break
		}
		if attempt == 0 && errors.Is(err, fs.ErrNotExist) && v.leafMade[leaf].Load() {
			v.leafMade[leaf].Store(false) // the leaf vanished behind our back
			continue
		}
		return Replica{}, s.ioErr(v, err, "finalize (move meta) blk_%d", int64(id))
	}
	if err := s.fs.Rename(filepath.Join(v.lay.rbw, bname), filepath.Join(dir, bname)); err != nil {
		s.fs.Rename(filepath.Join(dir, mname), filepath.Join(v.lay.rbw, mname))
		return Replica{}, s.ioErr(v, err, "finalize (move block) blk_%d", int64(id))
	}
	if err := s.fs.SyncDir(dir); err != nil {
		return Replica{}, s.ioErr(v, err, "finalize (sync directory) blk_%d", int64(id))
	}
	s.mu.Lock()
	if ri.removed {
		s.mu.Unlock()
		return Replica{}, fmt.Errorf("storage: blk_%d was removed while being finalized: %w", int64(id), ErrReplicaNotFound)
	}
	ri.state = StateFinalized
	ri.numBytes = n
	ri.writer = nil
	ri.version++
	r := s.replicaLocked(ri)
	s.mu.Unlock()
	s.account(ri, n)
	s.ix.write([]ixOp{s.recordOp(ri, StateFinalized, gs, n), s.leafRecordOp(v, leaf)})
	s.log.WithFields(logrus.Fields{"block": int64(id), "genstamp": gs, "bytes": n, "volume": v.path}).Debug("replica finalized")
	return r, nil
}

// ensureLeaf creates a leaf directory (durably) when missing. Caller
// holds its dirMu.
func (s *Store) ensureLeaf(v *volume, leaf uint16) (string, error) {
	dir := v.lay.leafDir(leaf)
	if v.leafMade[leaf].Load() {
		return dir, nil
	}
	if _, err := s.fs.Stat(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return dir, err
		}
		if err := s.fs.MkdirAll(dir, 0o755); err != nil {
			return dir, err
		}
		for _, d := range []string{filepath.Dir(dir), v.lay.finalized} {
			if err := s.fs.SyncDir(d); err != nil {
				return dir, err
			}
		}
	}
	v.leafMade[leaf].Store(true)
	return dir, nil
}

// Abort removes the partial replica.
func (w *ReplicaWriter) Abort() error {
	w.ri.opMu.Lock()
	defer w.ri.opMu.Unlock()
	w.mu.Lock()
	if !w.done {
		w.closeFiles()
	}
	if w.broken == nil {
		w.broken = fmt.Errorf("storage: blk_%d writer aborted: %w", int64(w.id), ErrClosed)
	}
	w.mu.Unlock()
	w.s.mu.RLock()
	mine := !w.ri.removed && w.ri.writer == w
	w.s.mu.RUnlock()
	if !mine {
		return nil
	}
	return w.s.unlink(w.ri)
}

// Close stops writing and leaves the replica RBW (the connection was lost
// mid-write; pipeline recovery may reopen it with RecoverRBW).
func (w *ReplicaWriter) Close() error {
	s, ri := w.s, w.ri
	ri.opMu.Lock()
	defer ri.opMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if !w.done {
		err = w.closeFiles()
	}
	s.mu.Lock()
	mine := !ri.removed && ri.writer == w
	if mine {
		ri.writer = nil
		ri.numBytes = w.onDisk
		ri.version++
	}
	gs := ri.gs
	s.mu.Unlock()
	if mine {
		s.ix.write([]ixOp{s.recordOp(ri, StateRBW, gs, w.onDisk)})
	}
	if err != nil {
		return w.fail(err, "close")
	}
	return nil
}
