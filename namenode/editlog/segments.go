package editlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

const (
	finalizedPrefix  = "edits_"
	inProgressPrefix = "edits_inprogress_"
	txidDigits       = 19
)

// SegmentInfo describes one segment file in one edits directory.
type SegmentInfo struct {
	// Dir is the edits directory holding the segment.
	Dir string
	// Path is the segment file's path.
	Path string
	// FirstTxID is the segment's first txid (from its name).
	FirstTxID uint64
	// LastTxID is a finalized segment's last txid; 0 for an in-progress one.
	LastTxID uint64
	// InProgress is true for edits_inprogress_<first> files.
	InProgress bool
}

// InProgressName is the file name of the in-progress segment starting at first.
func InProgressName(first uint64) string {
	return fmt.Sprintf("%s%019d", inProgressPrefix, first)
}

// FinalizedName is the file name of the finalized segment first..last.
func FinalizedName(first, last uint64) string {
	return fmt.Sprintf("%s%019d-%019d", finalizedPrefix, first, last)
}

func parseTxID(s string) (uint64, bool) {
	if len(s) != txidDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, false
	}
	return v, true
}

// parseSegmentName recognises segment file names; ok is false for any
// other file (temporary files, discarded segments, unrelated files).
func parseSegmentName(name string) (first, last uint64, inProgress, ok bool) {
	if rest, found := strings.CutPrefix(name, inProgressPrefix); found {
		first, ok = parseTxID(rest)
		return first, 0, true, ok
	}
	rest, found := strings.CutPrefix(name, finalizedPrefix)
	if !found {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false, false
	}
	first, ok1 := parseTxID(a)
	last, ok2 := parseTxID(b)
	if !ok1 || !ok2 || last < first {
		return 0, 0, false, false
	}
	return first, last, false, true
}

// ListSegments lists the segment files in dir, sorted by FirstTxID (then
// finalized before in-progress, then by LastTxID). Files whose names are not
// segment names are ignored.
func ListSegments(fsys vfs.FS, dir string) ([]SegmentInfo, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("editlog: list %s: %w", dir, err)
	}
	var segs []SegmentInfo
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		first, last, inProgress, ok := parseSegmentName(e.Name())
		if !ok {
			continue
		}
		segs = append(segs, SegmentInfo{
			Dir:        dir,
			Path:       filepath.Join(dir, e.Name()),
			FirstTxID:  first,
			LastTxID:   last,
			InProgress: inProgress,
		})
	}
	sortSegments(segs)
	return segs, nil
}

func sortSegments(segs []SegmentInfo) {
	sort.SliceStable(segs, func(i, j int) bool {
		a, b := segs[i], segs[j]
		if a.FirstTxID != b.FirstTxID {
			return a.FirstTxID < b.FirstTxID
		}
		if a.InProgress != b.InProgress {
			return !a.InProgress
		}
		return a.LastTxID < b.LastTxID
	})
}

// Purge removes, in every dir, the finalized segments whose LastTxID is
// below keepFromTxID (they are covered by a checkpoint), then syncs the
// dir. In-progress segments are never removed. It goes on past errors and
// returns them joined.
func Purge(fsys vfs.FS, dirs []string, keepFromTxID uint64) error {
	var errs []error
	for _, dir := range dirs {
		segs, err := ListSegments(fsys, dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed := false
		for _, s := range segs {
			if s.InProgress || s.LastTxID >= keepFromTxID {
				continue
			}
			if err := fsys.Remove(s.Path); err != nil {
				errs = append(errs, fmt.Errorf("editlog: purge %s: %w", s.Path, err))
				continue
			}
			removed = true
		}
		if removed {
			if err := fsys.SyncDir(dir); err != nil {
				errs = append(errs, fmt.Errorf("editlog: sync dir %s: %w", dir, err))
			}
		}
	}
	return errors.Join(errs...)
}
