package editlog

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// SegmentScan describes a segment file as ReadSegment found it.
type SegmentScan struct {
	// Epoch is the writer epoch from the segment header.
	Epoch uint64
	// FirstTxID is the segment's first txid.
	FirstTxID uint64
	// LastTxID is the last complete record's txid (FirstTxID-1 if none).
	LastTxID uint64
	// Records is the number of complete records.
	Records int
	// ValidEnd is the offset just after the last complete record: the
	// length to truncate a torn file to.
	ValidEnd int64
	// Size is the file's size.
	Size int64
	// Torn is true when bytes after ValidEnd are a torn tail (in-progress
	// segments only; in a finalized segment that is corruption).
	Torn bool
	// TornReason says why the tail was judged torn.
	TornReason string
}

// scanFile opens path and scans it.
func scanFile(fsys vfs.FS, path string, cfg scanConfig) (scanResult, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("editlog: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("editlog: stat %s: %w", path, err)
	}
	cfg.path = path
	res, err := scanSegment(f, st.Size(), cfg)
	if err != nil {
		var ce *CorruptionError
		var fe *fnError
		if !errors.As(err, &ce) && !errors.As(err, &fe) {
			err = fmt.Errorf("editlog: read %s: %w", path, err)
		}
	}
	return res, err
}

// configFor builds the scan configuration of a listed segment.
func configFor(s SegmentInfo) scanConfig {
	return scanConfig{path: s.Path, first: s.FirstTxID, last: s.LastTxID, inProgress: s.InProgress}
}

// ReadSegment reads one segment file, named like a segment (its first and,
// when finalized, last txid come from the name), and calls fn for each
// record, filler records excluded. An in-progress segment may end in a torn
// tail (reported in the result, not as an error); a finalized one must hold
// exactly the txids of its name. Corruption is a *CorruptionError; an error
// from fn is returned as is.
func ReadSegment(fsys vfs.FS, path string, fn func(Record) error) (SegmentScan, error) {
	first, last, inProgress, ok := parseSegmentName(filepath.Base(path))
	if !ok {
		return SegmentScan{}, fmt.Errorf("editlog: %s is not an edit log segment name", path)
	}
	cfg := scanConfig{first: first, last: last, inProgress: inProgress, fn: skipFillers(fn)}
	res, err := scanFile(fsys, path, cfg)
	out := SegmentScan{
		Epoch:      res.header.Epoch,
		FirstTxID:  first,
		LastTxID:   res.last,
		Records:    res.records,
		ValidEnd:   res.end,
		Size:       res.size,
		Torn:       res.torn,
		TornReason: res.reason,
	}
	return out, unwrapFn(err)
}

func skipFillers(fn func(Record) error) func(Record) error {
	if fn == nil {
		return nil
	}
	return func(r Record) error {
		if r.Op == OpFiller {
			return nil
		}
		return fn(r)
	}
}

func unwrapFn(err error) error {
	var fe *fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// ReadFrom calls fn, in txid order, for every record with txid >= fromTxID
// (0 means 1) in the finalized segments of dirs, and returns the last txid
// read (0 if none). In-progress segments are ignored: call Recover first
// (or use Tail). Filler records left by a skipping Recover are counted but
// not passed to fn.
//
// The dirs are redundant copies: a segment missing, unreadable or corrupt
// in one dir is read from another, resuming at the first txid the bad copy
// could not deliver. A txid that no copy holds, with later txids present,
// is a *CorruptionError (a gap); so is corruption found in every copy. An
// error from fn stops the read and is returned as is. The Payload of each
// Record is the caller's to keep.
func ReadFrom(fsys vfs.FS, dirs []string, fromTxID uint64, fn func(Record) error) (lastTxID uint64, err error) {
	if fromTxID == 0 {
		fromTxID = 1
	}
	if fn == nil {
		fn = func(Record) error { return nil }
	}
	var segs []SegmentInfo
	var listErrs []error
	for _, dir := range dirs {
		ss, err := ListSegments(fsys, dir)
		if err != nil {
			listErrs = append(listErrs, err)
			continue
		}
		for _, s := range ss {
			if !s.InProgress {
				segs = append(segs, s)
			}
		}
	}
	if len(listErrs) == len(dirs) && len(dirs) > 0 {
		return 0, errors.Join(listErrs...)
	}
	failed := make(map[string]bool)
	var lastErr error // why the last copy failed
	next := fromTxID
	for {
		var cands []SegmentInfo
		var later *SegmentInfo
		for i, s := range segs {
			if s.FirstTxID <= next && s.LastTxID >= next && !failed[s.Path] {
				cands = append(cands, s)
			}
			if s.FirstTxID > next && (later == nil || s.FirstTxID < later.FirstTxID) {
				later = &segs[i]
			}
		}
		if len(cands) == 0 {
			if lastErr != nil && failedCovers(segs, failed, next) {
				return lastTxID, lastErr
			}
			if later != nil {
				return lastTxID, &CorruptionError{
					Path:   later.Path,
					TxID:   next,
					Reason: fmt.Sprintf("gap in the edit log: no segment holds txids %d-%d", next, later.FirstTxID-1),
				}
			}
			return lastTxID, nil
		}
		// Prefer the copy reaching furthest; dirs keep their order on ties.
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].LastTxID > cands[j].LastTxID })
		c := cands[0]
		cfg := configFor(c)
		cfg.from = next
		got := next - 1
		cfg.fn = func(r Record) error {
			if r.Op != OpFiller {
				if err := fn(r); err != nil {
					return err
				}
			}
			got = r.TxID
			return nil
		}
		_, err := scanFile(fsys, c.Path, cfg)
		if got >= next {
			lastTxID = got
			next = got + 1
		}
		if err == nil {
			continue
		}
		var fe *fnError
		if errors.As(err, &fe) {
			return lastTxID, fe.err
		}
		failed[c.Path] = true
		lastErr = err
	}
}

// failedCovers reports whether some failed copy holds txid.
func failedCovers(segs []SegmentInfo, failed map[string]bool, txid uint64) bool {
	for _, s := range segs {
		if failed[s.Path] && s.FirstTxID <= txid && s.LastTxID >= txid {
			return true
		}
	}
	return false
}

// Tail reads one dir's log from fromTxID (0 means 1) while a writer may be
// appending to it, the way an HA standby follows the active's log: it reads
// the finalized segments and then the in-progress one, and stops quietly at
// an incomplete or torn tail, treating it as "not yet written". It returns
// the last txid read (0 if none); call again with lastTxID+1 to go on.
// Records in the in-progress segment may not be durable yet. Corruption
// (a bad record with valid data after it, a gap) is a *CorruptionError;
// an error from fn is returned as is.
func Tail(fsys vfs.FS, dir string, fromTxID uint64, fn func(Record) error) (lastTxID uint64, err error) {
	if fromTxID == 0 {
		fromTxID = 1
	}
	if fn == nil {
		fn = func(Record) error { return nil }
	}
	next := fromTxID
	// A segment may be finalized (renamed) between listing and opening:
	// list again then.
	for attempt := 0; ; attempt++ {
		segs, err := ListSegments(fsys, dir)
		if err != nil {
			return lastTxID, err
		}
		raced := false
		for i, s := range segs {
			if !s.InProgress && s.LastTxID < next {
				continue
			}
			if s.InProgress && (hasFinalized(segs, s.FirstTxID) || (i+1 < len(segs) && segs[i+1].FirstTxID <= next)) {
				continue // stale copy, or superseded
			}
			if s.FirstTxID > next {
				return lastTxID, &CorruptionError{
					Path:   s.Path,
					TxID:   next,
					Reason: fmt.Sprintf("gap in the edit log: no segment holds txids %d-%d", next, s.FirstTxID-1),
				}
			}
			cfg := configFor(s)
			cfg.from = next
			cfg.fn = func(r Record) error {
				if r.Op != OpFiller {
					if err := fn(r); err != nil {
						return err
					}
				}
				lastTxID = r.TxID
				next = r.TxID + 1
				return nil
			}
			res, err := scanFile(fsys, s.Path, cfg)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
					raced = true
					break
				}
				return lastTxID, unwrapFn(err)
			}
			if s.InProgress && (res.torn || res.last < s.FirstTxID) {
				return lastTxID, nil // the writer is not further yet
			}
		}
		if !raced {
			return lastTxID, nil
		}
	}
}

func hasFinalized(segs []SegmentInfo, first uint64) bool {
	for _, s := range segs {
		if !s.InProgress && s.FirstTxID == first {
			return true
		}
	}
	return false
}
