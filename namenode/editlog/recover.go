package editlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/sirupsen/logrus"
)

// Action is what Recover does about one corruption.
type Action int

const (
	// ActionStop fails Recover with the *CorruptionError (the default).
	ActionStop Action = iota
	// ActionSkip drops the bad record: Recover scans forward for the next
	// record with a valid CRC and a plausible txid above the last good one
	// and goes on from there. The skipped txids are replaced by filler
	// records (OpFiller) so txids stay consecutive; readers do not pass
	// fillers on. If nothing valid follows, it acts like ActionTruncate.
	ActionSkip
	// ActionTruncate cuts the segment at the bad record, dropping the rest
	// of it. Finalized segments after it are then unreachable: with
	// RecoverOptions.CheckFinalized they are set aside (renamed *.discarded).
	ActionTruncate
)

// String names the action.
func (a Action) String() string {
	switch a {
	case ActionStop:
		return "stop"
	case ActionSkip:
		return "skip"
	case ActionTruncate:
		return "truncate"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// RecoverOptions tunes Recover.
type RecoverOptions struct {
	// OnCorruption decides about each corruption Recover cannot repair from
	// another dir's copy; nil means ActionStop for all. `namenode -recover`
	// asks the operator here.
	OnCorruption func(*CorruptionError) Action
	// Logger receives what Recover does; nil means logrus.StandardLogger().
	Logger logrus.FieldLogger
	// CheckFinalized makes Recover also read every finalized segment, repair
	// corrupt copies from good ones in other dirs (or ask OnCorruption when
	// no good copy exists), and check that txids have no gap between
	// segments (a gap is offered to OnCorruption: ActionSkip fills it with
	// filler records, ActionTruncate sets the later segments aside). It
	// reads the whole log; recovery mode sets it, a normal start does not.
	CheckFinalized bool
}

// discardedSuffix marks segments set aside by an operator's truncation.
const discardedSuffix = ".discarded"

// Recover prepares dirs for a new writer after a crash, and returns the last
// txid of the log (0 if none).
//
// Segments are grouped by first txid across dirs. Every group holding an
// in-progress copy (and, with CheckFinalized, every group) is resolved to
// one finalized segment, the same in every dir that held a copy:
//
//   - every copy is scanned; a torn tail is no error;
//   - the copy holding the most valid records wins; a corrupt copy is
//     silently replaced when another copy holds at least every valid record
//     it has; otherwise OnCorruption is asked about the corrupt copy reaching
//     furthest (Stop fails Recover with the *CorruptionError);
//   - the winner is truncated after its last valid record (logged with the
//     file, offset and bytes cut), fsynced and renamed edits_<first>-<last>;
//     other dirs' copies are finalized in place when they hold the same
//     records, else replaced by a copy of the winner; dirs are fsynced;
//   - a group with no record at all is removed.
//
// Dirs holding no copy of a group are left alone (a dir the writer dropped
// earlier may miss segments; ReadFrom reads those from other dirs). A dir
// that does not exist is skipped; any other I/O error fails Recover.
func Recover(fsys vfs.FS, dirs []string, opts RecoverOptions) (lastTxID uint64, err error) {
	r := &recoverer{fsys: fsys, dirs: dirs, opts: opts, log: opts.Logger}
	if r.log == nil {
		r.log = logrus.StandardLogger()
	}
	segs, err := r.list()
	if err != nil {
		return 0, err
	}
	groups := make(map[uint64][]SegmentInfo)
	var firsts []uint64
	for _, s := range segs {
		if _, ok := groups[s.FirstTxID]; !ok {
			firsts = append(firsts, s.FirstTxID)
		}
		groups[s.FirstTxID] = append(groups[s.FirstTxID], s)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	for _, first := range firsts {
		g := groups[first]
		if !opts.CheckFinalized && !hasInProgress(g) {
			continue
		}
		if err := r.group(first, g); err != nil {
			return 0, err
		}
	}
	if opts.CheckFinalized {
		if err := r.checkGaps(); err != nil {
			return 0, err
		}
	}
	segs, err = r.list()
	if err != nil {
		return 0, err
	}
	for _, s := range segs {
		lastTxID = max(lastTxID, s.LastTxID)
	}
	return lastTxID, nil
}

type recoverer struct {
	fsys vfs.FS
	dirs []string
	opts RecoverOptions
	log  logrus.FieldLogger
}

func hasInProgress(g []SegmentInfo) bool {
	for _, s := range g {
		if s.InProgress {
			return true
		}
	}
	return false
}

// list lists every existing dir.
func (r *recoverer) list() ([]SegmentInfo, error) {
	var all []SegmentInfo
	for _, dir := range r.dirs {
		segs, err := ListSegments(r.fsys, dir)
		if errors.Is(err, fs.ErrNotExist) {
			r.log.WithField("dir", dir).Debug("editlog: recover: edits dir does not exist, skipped")
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, segs...)
	}
	sortSegments(all)
	return all, nil
}

// ask consults OnCorruption, logging the decision.
func (r *recoverer) ask(ce *CorruptionError) Action {
	a := ActionStop
	if r.opts.OnCorruption != nil {
		a = r.opts.OnCorruption(ce)
	}
	r.log.WithFields(logrus.Fields{
		"file": ce.Path, "offset": ce.Offset, "txid": ce.TxID, "reason": ce.Reason, "action": a.String(),
	}).Warn("editlog: recover: corrupt edit log")
	return a
}

// copyState is one scanned copy of a segment.
type copyState struct {
	seg     SegmentInfo
	res     scanResult
	corrupt *CorruptionError // strict scan found corruption
	ioErr   error            // the copy could not be read
	survey  uint64           // highest valid txid found skipping corruption
	// After actions:
	rewritten string // a rewritten file holding the kept records (ActionSkip)
}

// usable reports whether the copy read cleanly (a torn tail is fine).
func (c *copyState) usable() bool { return c.corrupt == nil && c.ioErr == nil }

// group resolves the copies of the segments starting at first.
func (r *recoverer) group(first uint64, g []SegmentInfo) error {
	copies := make([]*copyState, len(g))
	for i, s := range g {
		c := &copyState{seg: s}
		copies[i] = c
		res, err := scanFile(r.fsys, s.Path, configFor(s))
		c.res = res
		var ce *CorruptionError
		switch {
		case errors.As(err, &ce):
			c.corrupt = ce
		case err != nil:
			c.ioErr = err
			r.log.WithFields(logrus.Fields{"file": s.Path, "error": err}).Warn("editlog: recover: cannot read segment copy")
		}
	}
	// Fast path: finalized copies, all clean and alike.
	if !hasInProgress(g) {
		alike := true
		for _, c := range copies {
			alike = alike && c.usable() && c.seg.LastTxID == g[0].LastTxID
		}
		if alike {
			return nil
		}
	}

	var best *copyState // best usable copy
	for _, c := range copies {
		if c.usable() && (best == nil || c.res.last > best.res.last) {
			best = c
		}
	}
	var corrupt []*copyState
	for _, c := range copies {
		if c.corrupt != nil {
			corrupt = append(corrupt, c)
		}
	}
	if len(corrupt) == 0 && best == nil {
		return errors.Join(ioErrors(copies)...)
	}
	if len(corrupt) > 0 {
		// Survey what the corrupt copies hold past their corruption.
		if best != nil || len(corrupt) > 1 {
			for _, c := range corrupt {
				cfg := configFor(c.seg)
				cfg.onCorrupt = func(*CorruptionError) Action { return ActionSkip }
				res, err := scanFile(r.fsys, c.seg.Path, cfg)
				if err != nil {
					return err
				}
				c.survey = res.last
			}
		}
		sort.SliceStable(corrupt, func(i, j int) bool { return corrupt[i].survey > corrupt[j].survey })
		worst := corrupt[0]
		if best != nil && best.res.last >= worst.survey {
			for _, c := range corrupt {
				r.log.WithFields(logrus.Fields{"file": c.seg.Path, "error": c.corrupt, "from": best.seg.Path}).
					Warn("editlog: recover: corrupt segment copy, replacing it with a good copy")
			}
		} else {
			if err := r.resolve(worst); err != nil {
				return err
			}
			if best == nil || worst.res.last > best.res.last {
				best = worst
			}
		}
	}
	return r.materialize(first, best, copies)
}

func ioErrors(copies []*copyState) []error {
	var errs []error
	for _, c := range copies {
		if c.ioErr != nil {
			errs = append(errs, c.ioErr)
		}
	}
	return errs
}

// resolve applies the operator's actions to a corrupt copy: c.res then
// describes what is kept, and c.rewritten names the rewritten file when
// records were skipped.
func (r *recoverer) resolve(c *copyState) error {
	var decisions []Action
	cfg := configFor(c.seg)
	cfg.onCorrupt = func(ce *CorruptionError) Action {
		a := r.ask(ce)
		decisions = append(decisions, a)
		return a
	}
	res, err := scanFile(r.fsys, c.seg.Path, cfg)
	if err != nil {
		return err
	}
	c.res, c.corrupt = res, nil
	if !res.skipped {
		return nil
	}
	// Records were skipped: write the kept ones (and fillers) to a new file,
	// replaying the decisions instead of asking again.
	tmp := filepath.Join(c.seg.Dir, InProgressName(c.seg.FirstTxID)+".recovering")
	f, err := r.fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("editlog: recover: create %s: %w", tmp, err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	var buf []byte
	bw.Write(encodeHeader(res.header.Epoch, c.seg.FirstTxID))
	cfg.onCorrupt = func(*CorruptionError) Action {
		if len(decisions) == 0 {
			return ActionTruncate
		}
		a := decisions[0]
		decisions = decisions[1:]
		return a
	}
	cfg.fn = func(rec Record) error {
		buf = appendRecord(buf[:0], rec.Op, rec.TxID, rec.Payload)
		_, err := bw.Write(buf)
		return err
	}
	res2, err := scanFile(r.fsys, c.seg.Path, cfg)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.fsys.Remove(tmp)
		return fmt.Errorf("editlog: recover: rewrite %s: %w", tmp, unwrapFn(err))
	}
	if res2.last != res.last {
		r.fsys.Remove(tmp)
		return fmt.Errorf("editlog: recover: %s changed while being rewritten", c.seg.Path)
	}
	c.rewritten = tmp
	st, err := r.fsys.Stat(tmp)
	if err != nil {
		return fmt.Errorf("editlog: recover: stat %s: %w", tmp, err)
	}
	c.res.end = st.Size()
	c.res.size = st.Size()
	r.log.WithFields(logrus.Fields{"file": c.seg.Path, "last_txid": res.last}).
		Warn("editlog: recover: rewrote segment without the skipped records")
	return nil
}

// materialize makes every dir holding a copy of the group hold exactly the
// finalized segment described by best (or nothing if it has no record).
func (r *recoverer) materialize(first uint64, best *copyState, copies []*copyState) error {
	last := best.res.last
	byDir := make(map[string][]*copyState)
	var dirOrder []string
	for _, c := range copies {
		if _, ok := byDir[c.seg.Dir]; !ok {
			dirOrder = append(dirOrder, c.seg.Dir)
		}
		byDir[c.seg.Dir] = append(byDir[c.seg.Dir], c)
	}
	if last < first {
		for _, dir := range dirOrder {
			for _, c := range byDir[dir] {
				r.log.WithFields(logrus.Fields{"file": c.seg.Path, "bytes": c.res.size}).
					Info("editlog: recover: removing segment without records")
				if err := r.fsys.Remove(c.seg.Path); err != nil {
					return fmt.Errorf("editlog: recover: remove %s: %w", c.seg.Path, err)
				}
			}
			if best.rewritten != "" && best.seg.Dir == dir {
				r.fsys.Remove(best.rewritten)
			}
			if err := r.syncDir(dir); err != nil {
				return err
			}
		}
		return nil
	}
	name := FinalizedName(first, last)
	// The winner's dir first: the others copy from its final file.
	src := filepath.Join(best.seg.Dir, name)
	if best.rewritten != "" {
		if err := r.rename(best.rewritten, src); err != nil {
			return err
		}
	} else if err := r.finalizeInPlace(best, src); err != nil {
		return err
	}
	srcLen := best.res.end
	sort.SliceStable(dirOrder, func(i, j int) bool { return dirOrder[i] == best.seg.Dir && dirOrder[j] != best.seg.Dir })
	for _, dir := range dirOrder {
		dst := filepath.Join(dir, name)
		if dir != best.seg.Dir {
			var match *copyState
			for _, c := range byDir[dir] {
				// Copies written by one writer hold the same bytes: one with
				// the same valid records can be finalized where it is.
				if c.usable() && c.res.last == last && c.res.end == srcLen && best.rewritten == "" {
					match = c
					break
				}
			}
			if match != nil {
				if err := r.finalizeInPlace(match, dst); err != nil {
					return err
				}
			} else if err := r.copyFile(src, srcLen, dst); err != nil {
				return err
			}
		}
		for _, c := range byDir[dir] {
			if c.seg.Path == dst {
				continue
			}
			if err := r.fsys.Remove(c.seg.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("editlog: recover: remove %s: %w", c.seg.Path, err)
			}
		}
		if err := r.syncDir(dir); err != nil {
			return err
		}
		r.log.WithFields(logrus.Fields{"file": dst, "first_txid": first, "last_txid": last}).
			Info("editlog: recover: segment finalized")
	}
	return nil
}

// finalizeInPlace cuts a copy after its last valid record, syncs it and
// renames it to dst.
func (r *recoverer) finalizeInPlace(c *copyState, dst string) error {
	path := c.seg.Path
	if c.res.size > c.res.end {
		f, err := r.fsys.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("editlog: recover: open %s: %w", path, err)
		}
		err = f.Truncate(c.res.end)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("editlog: recover: truncate %s: %w", path, err)
		}
		fields := logrus.Fields{"file": path, "offset": c.res.end, "bytes": c.res.size - c.res.end}
		if c.res.torn {
			r.log.WithFields(fields).WithField("reason", c.res.reason).Warn("editlog: recover: truncated torn tail")
		} else {
			r.log.WithFields(fields).WithField("reason", c.res.reason).Warn("editlog: recover: truncated segment")
		}
		c.res.size = c.res.end
	}
	if path == dst {
		return nil
	}
	return r.rename(path, dst)
}

func (r *recoverer) rename(from, to string) error {
	if err := r.fsys.Rename(from, to); err != nil {
		return fmt.Errorf("editlog: recover: rename %s to %s: %w", from, to, err)
	}
	return nil
}

func (r *recoverer) syncDir(dir string) error {
	if err := r.fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("editlog: recover: sync dir %s: %w", dir, err)
	}
	return nil
}

// copyFile copies the first n bytes of src to dst through a temporary file,
// synced before the rename.
func (r *recoverer) copyFile(src string, n int64, dst string) error {
	in, err := r.fsys.Open(src)
	if err != nil {
		return fmt.Errorf("editlog: recover: open %s: %w", src, err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := r.fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("editlog: recover: create %s: %w", tmp, err)
	}
	_, err = io.Copy(out, io.NewSectionReader(in, 0, n))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.fsys.Rename(tmp, dst)
	}
	if err != nil {
		r.fsys.Remove(tmp)
		return fmt.Errorf("editlog: recover: copy %s to %s: %w", src, dst, err)
	}
	r.log.WithFields(logrus.Fields{"from": src, "file": dst, "bytes": n}).Info("editlog: recover: copied segment from another dir")
	return nil
}

// checkGaps offers every txid gap between finalized segments to
// OnCorruption.
func (r *recoverer) checkGaps() error {
	for {
		segs, err := r.list()
		if err != nil {
			return err
		}
		var covered uint64 // highest txid covered so far
		var gapAt *SegmentInfo
		for i, s := range segs {
			if s.InProgress {
				continue
			}
			if covered != 0 && s.FirstTxID > covered+1 {
				gapAt = &segs[i]
				break
			}
			covered = max(covered, s.LastTxID)
		}
		if gapAt == nil {
			return nil
		}
		ce := &CorruptionError{
			Path:   gapAt.Path,
			TxID:   covered + 1,
			Reason: fmt.Sprintf("gap in the edit log: no segment holds txids %d-%d", covered+1, gapAt.FirstTxID-1),
		}
		switch r.ask(ce) {
		case ActionSkip:
			if err := r.fillGap(covered+1, gapAt.FirstTxID-1); err != nil {
				return err
			}
		case ActionTruncate:
			if err := r.discardFrom(covered + 1); err != nil {
				return err
			}
			return nil
		default:
			return ce
		}
	}
}

// fillGap writes a segment of filler records first..last in every dir.
func (r *recoverer) fillGap(first, last uint64) error {
	for _, dir := range r.dirs {
		if _, err := r.fsys.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		dst := filepath.Join(dir, FinalizedName(first, last))
		tmp := dst + ".tmp"
		f, err := r.fsys.Create(tmp)
		if err != nil {
			return fmt.Errorf("editlog: recover: create %s: %w", tmp, err)
		}
		bw := bufio.NewWriterSize(f, 64<<10)
		bw.Write(encodeHeader(0, first))
		var buf []byte
		for t := first; t <= last && t != 0; t++ {
			buf = appendRecord(buf[:0], OpFiller, t, nil)
			bw.Write(buf)
		}
		err = bw.Flush()
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = r.fsys.Rename(tmp, dst)
		}
		if err == nil {
			err = r.fsys.SyncDir(dir)
		}
		if err != nil {
			r.fsys.Remove(tmp)
			return fmt.Errorf("editlog: recover: fill gap %s: %w", dst, err)
		}
		r.log.WithFields(logrus.Fields{"file": dst, "first_txid": first, "last_txid": last}).
			Warn("editlog: recover: filled txid gap with filler records")
	}
	return nil
}

// discardFrom sets aside every segment starting at or after txid.
func (r *recoverer) discardFrom(txid uint64) error {
	segs, err := r.list()
	if err != nil {
		return err
	}
	dirs := make(map[string]bool)
	for _, s := range segs {
		if s.FirstTxID < txid {
			continue
		}
		if err := r.rename(s.Path, s.Path+discardedSuffix); err != nil {
			return err
		}
		dirs[s.Dir] = true
		r.log.WithField("file", s.Path).Warn("editlog: recover: segment after a truncation set aside")
	}
	for dir := range dirs {
		if err := r.syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}
