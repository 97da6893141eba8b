package editlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/sirupsen/logrus"
)

// Writer errors.
var (
	// ErrWriterFailed is wrapped by every error of a writer that lost all
	// its edits dirs; it accepts nothing more.
	ErrWriterFailed = errors.New("editlog: writer failed")
	// ErrNoSegment is returned by Append when no segment is open.
	ErrNoSegment = errors.New("editlog: no open segment")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("editlog: writer closed")
)

// maxSpare is the largest buffer a Writer keeps for reuse.
const maxSpare = 4 << 20

// WriterOptions configures a Writer.
type WriterOptions struct {
	// FS is the file system; nil means vfs.Default.
	FS vfs.FS
	// Dirs are the edits directories, each getting a full copy of the log.
	Dirs []string
	// Logger receives dir failures; nil means logrus.StandardLogger().
	Logger logrus.FieldLogger
}

// stream is the open segment file in one dir.
type stream struct {
	dir     string
	path    string
	f       vfs.File
	durable int64 // bytes written and fsynced
}

// Writer appends records to the current segment in every edits dir, with
// group commit.
//
// Append assigns txids and buffers records in memory; Sync makes them
// durable. Callers call Append under their own lock, so that txid order is
// their apply order (Append is safe for concurrent use, but concurrent
// Appends would get txids in an arbitrary order), then release the lock and
// call Sync: concurrent Syncs share fsyncs, and Appends go on into a second
// buffer while an fsync runs. StartSegment, FinalizeSegment and Close are
// meant to be called under the caller's lock too (no concurrent Append).
//
// A write or fsync error in one dir drops that dir for the rest of the
// segment (its file is cut back to its durable length); StartSegment tries
// every dir again. When no dir is left the writer fails for good.
type Writer struct {
	fsys vfs.FS
	log  logrus.FieldLogger
	dirs []string

	synced atomic.Uint64 // last durable txid

	mu         sync.Mutex
	cond       sync.Cond
	cur        []byte // records appended since the last flush began
	spare      []byte
	lastTxID   uint64
	busy       bool // a goroutine owns the streams (flushing, rolling, closing)
	open       bool // a segment is open for Append
	closed     bool
	failErr    error // wraps ErrWriterFailed
	first      uint64
	epoch      uint64
	streams    []*stream // healthy streams; changed only by the owner
	failedDirs []string
}

// NewWriter makes a Writer over opts.Dirs (created if missing). It opens no
// segment: call StartSegment.
func NewWriter(opts WriterOptions) (*Writer, error) {
	if len(opts.Dirs) == 0 {
		return nil, errors.New("editlog: new writer: no edits dirs")
	}
	w := &Writer{fsys: opts.FS, log: opts.Logger, dirs: append([]string(nil), opts.Dirs...)}
	if w.fsys == nil {
		w.fsys = vfs.Default
	}
	if w.log == nil {
		w.log = logrus.StandardLogger()
	}
	w.cond.L = &w.mu
	for _, dir := range w.dirs {
		if err := w.fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("editlog: new writer: mkdir %s: %w", dir, err)
		}
	}
	return w, nil
}

// acquire waits, with mu held, until no goroutine owns the streams and takes
// ownership.
func (w *Writer) acquire() {
	for w.busy {
		w.cond.Wait()
	}
	w.busy = true
}

// release gives up ownership; mu must be held.
func (w *Writer) release() {
	w.busy = false
	w.cond.Broadcast()
}

func (w *Writer) usable() error {
	if w.failErr != nil {
		return w.failErr
	}
	if w.closed {
		return ErrClosed
	}
	return nil
}

// StartSegment creates edits_inprogress_<firstTxID> in every dir (dirs
// dropped during the previous segment are tried again), writes and fsyncs
// its header carrying epoch, and fsyncs the dir. A dir failing here is
// dropped; if all fail the writer fails. firstTxID must follow the last
// appended txid, if any; an existing file of that name is never overwritten.
func (w *Writer) StartSegment(firstTxID, epoch uint64) error {
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return fmt.Errorf("editlog: start segment %d: %w", firstTxID, err)
	}
	if w.open {
		w.mu.Unlock()
		return fmt.Errorf("editlog: start segment %d: segment %d is still open", firstTxID, w.first)
	}
	if firstTxID == 0 || (w.lastTxID != 0 && firstTxID != w.lastTxID+1) {
		w.mu.Unlock()
		return fmt.Errorf("editlog: start segment %d: must start at txid %d", firstTxID, w.lastTxID+1)
	}
	w.acquire()
	w.mu.Unlock()

	name := InProgressName(firstTxID)
	for _, dir := range w.dirs {
		if _, err := w.fsys.Stat(filepath.Join(dir, name)); err == nil {
			w.mu.Lock()
			w.release()
			w.mu.Unlock()
			return fmt.Errorf("editlog: start segment %d: %s already exists (run Recover first)", firstTxID, filepath.Join(dir, name))
		}
	}
	hdr := encodeHeader(epoch, firstTxID)
	var streams []*stream
	var failed []string
	var causes []error
	for _, dir := range w.dirs {
		s, err := w.create(dir, name, hdr)
		if err != nil {
			w.log.WithFields(logrus.Fields{"dir": dir, "error": err}).Error("editlog: edits dir failed, dropped")
			failed = append(failed, dir)
			causes = append(causes, err)
			continue
		}
		streams = append(streams, s)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.release()
	w.failedDirs = failed
	if len(streams) == 0 {
		w.failErr = fmt.Errorf("%w: start segment %d: every edits dir failed: %w", ErrWriterFailed, firstTxID, errors.Join(causes...))
		return w.failErr
	}
	w.streams = streams
	w.first, w.epoch = firstTxID, epoch
	w.lastTxID = firstTxID - 1
	w.synced.Store(firstTxID - 1)
	w.cur = w.cur[:0]
	w.open = true
	return nil
}

// create makes one dir's in-progress file with its header, durably.
func (w *Writer) create(dir, name string, hdr []byte) (*stream, error) {
	path := filepath.Join(dir, name)
	f, err := w.fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("editlog: create %s: %w", path, err)
	}
	fail := func(op string, err error) (*stream, error) {
		f.Close()
		w.fsys.Remove(path)
		return nil, fmt.Errorf("editlog: %s %s: %w", op, path, err)
	}
	if _, err := f.Write(hdr); err != nil {
		return fail("write header", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := w.fsys.SyncDir(dir); err != nil {
		return fail("sync dir of", err)
	}
	return &stream{dir: dir, path: path, f: f, durable: int64(len(hdr))}, nil
}

// Append assigns the next txid to a record and buffers it in memory; it
// does no I/O. The record is durable once Sync(txid) returns nil; records
// stay in memory until some Sync flushes them. op must not be 0 (OpFiller)
// and the payload must not exceed MaxRecordSize.
func (w *Writer) Append(op uint8, payload []byte) (txid uint64, err error) {
	if op == OpFiller {
		return 0, errors.New("editlog: append: opcode 0 is reserved")
	}
	if len(payload) > MaxRecordSize {
		return 0, fmt.Errorf("editlog: append: payload of %d bytes exceeds %d", len(payload), MaxRecordSize)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return 0, fmt.Errorf("editlog: append: %w", err)
	}
	if !w.open {
		return 0, fmt.Errorf("editlog: append: %w", ErrNoSegment)
	}
	txid = w.lastTxID + 1
	w.cur = appendRecord(w.cur, op, txid, payload)
	w.lastTxID = txid
	return txid, nil
}

// Sync returns once every record up to txid is written and fsynced in every
// healthy dir. Concurrent callers share fsyncs: one caller flushes all that
// was appended so far while the others wait, and records appended during an
// fsync go out in the next one. It returns at once if txid is already
// durable. It fails, wrapping ErrWriterFailed and the cause, when every dir
// has failed.
func (w *Writer) Sync(txid uint64) error {
	if w.synced.Load() >= txid {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.synced.Load() >= txid {
			return nil
		}
		if w.failErr != nil {
			return fmt.Errorf("editlog: sync txid %d: %w", txid, w.failErr)
		}
		if txid > w.lastTxID {
			return fmt.Errorf("editlog: sync txid %d: beyond the last appended txid %d", txid, w.lastTxID)
		}
		if w.busy {
			w.cond.Wait()
			continue
		}
		w.busy = true
		err := w.flushLocked()
		w.release()
		if err != nil {
			return fmt.Errorf("editlog: sync txid %d: %w", txid, err)
		}
	}
}

// flushLocked writes and fsyncs the buffered records. The caller holds mu
// and owns the streams; mu is released during the I/O.
func (w *Writer) flushLocked() error {
	buf, target := w.cur, w.lastTxID
	w.cur, w.spare = w.spare[:0], nil
	var err error
	if len(buf) > 0 {
		w.mu.Unlock()
		err = w.writeAll(buf)
		w.mu.Lock()
	}
	if cap(buf) <= maxSpare {
		w.spare = buf[:0]
	}
	if err != nil {
		w.failErr = fmt.Errorf("%w: %w", ErrWriterFailed, err)
		return w.failErr
	}
	w.synced.Store(target)
	return nil
}

// writeAll appends buf to every healthy stream and fsyncs it, dropping the
// dirs that fail. It runs without mu, by the owner of the streams.
func (w *Writer) writeAll(buf []byte) error {
	errs := make([]error, len(w.streams))
	if len(w.streams) == 1 {
		errs[0] = w.streams[0].writeSync(buf)
	} else {
		var wg sync.WaitGroup
		for i, s := range w.streams[1:] {
			wg.Go(func() { errs[i+1] = s.writeSync(buf) })
		}
		errs[0] = w.streams[0].writeSync(buf)
		wg.Wait()
	}
	var healthy []*stream
	var causes []error
	for i, s := range w.streams {
		if errs[i] == nil {
			healthy = append(healthy, s)
			continue
		}
		causes = append(causes, errs[i])
		w.drop(s, errs[i])
	}
	if len(causes) == 0 {
		return nil
	}
	w.streams = healthy
	if len(healthy) == 0 {
		return fmt.Errorf("every edits dir failed: %w", errors.Join(causes...))
	}
	return nil
}

func (s *stream) writeSync(buf []byte) error {
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("editlog: write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("editlog: sync %s: %w", s.path, err)
	}
	s.durable += int64(len(buf))
	return nil
}

// drop closes a failed stream after cutting its file back to the durable
// length, so no partial record stays, and lists its dir as failed.
func (w *Writer) drop(s *stream, cause error) {
	fields := logrus.Fields{"dir": s.dir, "file": s.path, "error": cause, "durable_offset": s.durable}
	if err := s.f.Truncate(s.durable); err != nil {
		fields["truncate_error"] = err
	} else if err := s.f.Sync(); err != nil {
		fields["truncate_sync_error"] = err
	}
	s.f.Close()
	w.log.WithFields(fields).Error("editlog: edits dir failed, dropped")
	w.mu.Lock()
	w.failedDirs = append(w.failedDirs, s.dir)
	w.mu.Unlock()
}

// finish flushes and closes the open segment; rename says whether to
// finalize it. It is FinalizeSegment and Close.
func (w *Writer) finish(what string, rename bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.acquire()
	defer w.release()
	if !w.open {
		return nil
	}
	w.open = false // no more Appends
	if w.failErr == nil {
		if err := w.flushLocked(); err != nil {
			w.closeStreams()
			return fmt.Errorf("editlog: %s segment %d: %w", what, w.first, err)
		}
	}
	if w.failErr != nil {
		w.closeStreams()
		if w.synced.Load() < w.lastTxID {
			return fmt.Errorf("editlog: %s segment %d: %w", what, w.first, w.failErr)
		}
		return nil
	}
	first, last, streams := w.first, w.lastTxID, w.streams
	w.streams = nil
	w.mu.Unlock()
	var causes []error
	var failed []string
	for _, s := range streams {
		if err := w.closeOne(s, first, last, rename); err != nil {
			causes = append(causes, err)
			failed = append(failed, s.dir)
			w.log.WithFields(logrus.Fields{"dir": s.dir, "file": s.path, "error": err}).Error("editlog: edits dir failed, dropped")
		}
	}
	w.mu.Lock()
	w.failedDirs = append(w.failedDirs, failed...)
	if len(failed) == len(streams) {
		w.failErr = fmt.Errorf("%w: %s segment %d: every edits dir failed: %w", ErrWriterFailed, what, first, errors.Join(causes...))
		return w.failErr
	}
	return nil
}

// closeOne closes a stream and, when rename is set, finalizes its file (or
// removes it if it holds no record) and syncs the dir.
func (w *Writer) closeOne(s *stream, first, last uint64, rename bool) error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("editlog: close %s: %w", s.path, err)
	}
	if !rename {
		return nil
	}
	if last < first {
		if err := w.fsys.Remove(s.path); err != nil {
			return fmt.Errorf("editlog: remove empty segment %s: %w", s.path, err)
		}
	} else {
		dst := filepath.Join(s.dir, FinalizedName(first, last))
		if err := w.fsys.Rename(s.path, dst); err != nil {
			return fmt.Errorf("editlog: finalize %s: %w", s.path, err)
		}
	}
	if err := w.fsys.SyncDir(s.dir); err != nil {
		return fmt.Errorf("editlog: sync dir %s: %w", s.dir, err)
	}
	return nil
}

// closeStreams closes the remaining streams of a failed writer.
func (w *Writer) closeStreams() {
	for _, s := range w.streams {
		s.f.Close()
	}
	w.streams = nil
}

// FinalizeSegment syncs the open segment, closes it and renames it
// edits_<first>-<last> in every healthy dir, fsyncing the dirs. A segment
// without records is removed instead. Dirs dropped during the segment keep
// their in-progress file; Recover resolves it at the next start.
func (w *Writer) FinalizeSegment() error {
	w.mu.Lock()
	if !w.open {
		err := w.usable()
		if err == nil {
			err = ErrNoSegment
		}
		w.mu.Unlock()
		return fmt.Errorf("editlog: finalize segment: %w", err)
	}
	w.mu.Unlock()
	return w.finish("finalize", true)
}

// Close syncs and closes the open segment without finalizing it: the
// in-progress file stays and Recover finalizes it at the next start. It
// fails if appended records could not be made durable. The writer accepts
// nothing afterwards.
func (w *Writer) Close() error {
	err := w.finish("close", false)
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return err
}

// LastTxID is the txid of the last appended record.
func (w *Writer) LastTxID() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastTxID
}

// SyncedTxID is the txid of the last durable record.
func (w *Writer) SyncedTxID() uint64 { return w.synced.Load() }

// Epoch is the epoch of the current (or last) segment.
func (w *Writer) Epoch() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.epoch
}

// FailedDirs lists the dirs dropped during the current segment (or the
// last one).
func (w *Writer) FailedDirs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.failedDirs...)
}
