package editlog

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

func TestReadFromOtherDir(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"deleted", func(t *testing.T, dir string) { os.Remove(finalizedPath(dir, 11, 20)) }},
		{"record", func(t *testing.T, dir string) {
			p := finalizedPath(dir, 11, 20)
			b := mustRead(t, p)
			b[recordOffset(11, 15)+RecordHeaderSize] ^= 1
			mustWrite(t, p, b)
		}},
		{"header", func(t *testing.T, dir string) {
			p := finalizedPath(dir, 11, 20)
			b := mustRead(t, p)
			b[0] = 'X'
			mustWrite(t, p, b)
		}},
		{"short", func(t *testing.T, dir string) {
			p := finalizedPath(dir, 11, 20)
			mustWrite(t, p, mustRead(t, p)[:recordOffset(11, 18)])
		}},
		{"dir-gone", func(t *testing.T, dir string) { os.RemoveAll(dir) }},
	} {
		for bad := 0; bad < 2; bad++ {
			t.Run(tc.name, func(t *testing.T) {
				dirs := []string{t.TempDir(), t.TempDir()}
				writeLog(t, dirs, []int{10, 10, 10}, 0)
				tc.damage(t, dirs[bad])
				recs, last, err := readAll(t, dirs, 1)
				if err != nil || last != 30 {
					t.Fatalf("ReadFrom: %d %v", last, err)
				}
				checkRecords(t, recs, 1, 30)
				// Recovery with CheckFinalized repairs the bad copy.
				if tc.name == "dir-gone" {
					return
				}
				last, err = Recover(vfs.Default, dirs, RecoverOptions{Logger: quietLogger(), CheckFinalized: tc.name != "deleted"})
				if err != nil || last != 30 {
					t.Fatalf("Recover: %d %v", last, err)
				}
				if tc.name != "deleted" {
					for _, name := range listNames(t, dirs[0]) {
						a, b := mustRead(t, dirs[0]+"/"+name), mustRead(t, dirs[1]+"/"+name)
						if !bytes.Equal(a, b) {
							t.Fatalf("%s differs between dirs after Recover", name)
						}
					}
					recs, _, err := readAll(t, dirs[bad:bad+1], 1)
					if err != nil {
						t.Fatal(err)
					}
					checkRecords(t, recs, 1, 30)
				}
			})
		}
	}
}

// Two copies of an in-progress segment that got different lengths before a
// crash: Recover keeps the longer one everywhere.
func TestRecoverDivergentDirs(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage returns the last txid expected after recovery.
		damage func(t *testing.T, a, b string) uint64
	}{
		{"b-shorter", func(t *testing.T, a, b string) uint64 {
			mustWrite(t, b, mustRead(t, b)[:recordOffset(1, 30)+4])
			return 40
		}},
		{"a-shorter-torn-b-zeros", func(t *testing.T, a, b string) uint64 {
			mustWrite(t, a, mustRead(t, a)[:recordOffset(1, 12)])
			mustWrite(t, b, append(mustRead(t, b), make([]byte, 999)...))
			return 40
		}},
		{"b-missing", func(t *testing.T, a, b string) uint64 {
			os.Remove(b)
			return 40
		}},
		{"b-empty", func(t *testing.T, a, b string) uint64 {
			mustWrite(t, b, nil)
			return 40
		}},
		// A corrupt copy with a longer clean one elsewhere: no question.
		{"a-corrupt-b-clean", func(t *testing.T, a, b string) uint64 {
			d := mustRead(t, a)
			d[recordOffset(1, 20)+RecordHeaderSize] ^= 3
			mustWrite(t, a, d)
			return 40
		}},
		// The corrupt copy holds records the clean one lacks: stop.
		{"a-corrupt-b-short", func(t *testing.T, a, b string) uint64 {
			d := mustRead(t, a)
			d[recordOffset(1, 20)+RecordHeaderSize] ^= 3
			mustWrite(t, a, d)
			mustWrite(t, b, mustRead(t, b)[:recordOffset(1, 25)])
			return 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := []string{t.TempDir(), t.TempDir()}
			writeLog(t, dirs, []int{5}, 35)
			want := tc.damage(t, inProgressPath(dirs[0], 6), inProgressPath(dirs[1], 6))
			asked := 0
			last, err := Recover(vfs.Default, dirs, RecoverOptions{
				Logger:       quietLogger(),
				OnCorruption: func(*CorruptionError) Action { asked++; return ActionStop },
			})
			if want == 0 {
				asCorruption(t, err)
				if asked != 1 {
					t.Fatalf("asked %d times", asked)
				}
				return
			}
			if err != nil || last != want {
				t.Fatalf("Recover: %d %v", last, err)
			}
			if asked != 0 {
				t.Fatalf("asked %d times", asked)
			}
			for _, dir := range dirs {
				names := listNames(t, dir)
				if tc.name == "b-missing" && dir == dirs[1] {
					if !slices.Equal(names, []string{FinalizedName(1, 5)}) {
						t.Fatalf("%s: %v", dir, names)
					}
					continue
				}
				if !slices.Equal(names, []string{FinalizedName(1, 5), FinalizedName(6, 40)}) {
					t.Fatalf("%s: %v", dir, names)
				}
				recs, last, err := readAll(t, []string{dir}, 1)
				if err != nil || last != 40 {
					t.Fatalf("%s: ReadFrom %d %v", dir, last, err)
				}
				checkRecords(t, recs, 1, 40)
			}
		})
	}
}

// A crash during FinalizeSegment: one dir renamed, the other not.
func TestRecoverHalfFinalized(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	writeLog(t, dirs, []int{10}, 0)
	if err := os.Rename(finalizedPath(dirs[1], 1, 10), inProgressPath(dirs[1], 1)); err != nil {
		t.Fatal(err)
	}
	last, err := Recover(vfs.Default, dirs, RecoverOptions{Logger: quietLogger()})
	if err != nil || last != 10 {
		t.Fatalf("Recover: %d %v", last, err)
	}
	for _, dir := range dirs {
		if names := listNames(t, dir); !slices.Equal(names, []string{FinalizedName(1, 10)}) {
			t.Fatalf("%s: %v", dir, names)
		}
	}
}

func enospcIn(dir string) vfs.Rule {
	return func(op vfs.Op, path string) error {
		if strings.HasPrefix(path, dir) && (op == vfs.OpWrite || op == vfs.OpSync || op == vfs.OpCreate) {
			return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return nil
	}
}

func TestWriterDropsFailedDir(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	inj := vfs.NewInjectFS(vfs.Default)
	w := newWriter(t, inj, dirs...)
	if err := w.StartSegment(1, 3); err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 10)
	inj.SetRule(enospcIn(dirs[1]))
	appendN(t, w, 10) // the Sync succeeds: dirs[0] is healthy
	if got := w.FailedDirs(); !slices.Equal(got, []string{dirs[1]}) {
		t.Fatalf("FailedDirs %v", got)
	}
	appendN(t, w, 10)
	if w.SyncedTxID() != 30 {
		t.Fatalf("synced %d", w.SyncedTxID())
	}
	// The failed copy was cut back to its durable length.
	scan, err := ReadSegment(vfs.Default, inProgressPath(dirs[1], 1), nil)
	if err != nil || scan.Torn || scan.LastTxID != 10 || scan.Size != scan.ValidEnd {
		t.Fatalf("failed copy: %+v %v", scan, err)
	}
	if err := w.FinalizeSegment(); err != nil {
		t.Fatal(err)
	}
	// The next segment tries the dir again: still full, dropped again.
	if err := w.StartSegment(31, 3); err != nil {
		t.Fatal(err)
	}
	if got := w.FailedDirs(); !slices.Equal(got, []string{dirs[1]}) {
		t.Fatalf("FailedDirs %v", got)
	}
	appendN(t, w, 5)
	if err := w.FinalizeSegment(); err != nil {
		t.Fatal(err)
	}
	// Space again: the dir is back for the next segment.
	inj.SetRule(nil)
	if err := w.StartSegment(36, 3); err != nil {
		t.Fatal(err)
	}
	if got := w.FailedDirs(); len(got) != 0 {
		t.Fatalf("FailedDirs %v", got)
	}
	appendN(t, w, 5)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	last, err := Recover(vfs.Default, dirs, RecoverOptions{Logger: quietLogger()})
	if err != nil || last != 40 {
		t.Fatalf("Recover: %d %v", last, err)
	}
	for _, dir := range dirs {
		want := []string{FinalizedName(1, 30), FinalizedName(31, 35), FinalizedName(36, 40)}
		if dir == dirs[1] {
			want = []string{FinalizedName(1, 30), FinalizedName(36, 40)}
		}
		if names := listNames(t, dir); !slices.Equal(names, want) {
			t.Fatalf("%s: %v, want %v", dir, names, want)
		}
	}
	recs, last, err := readAll(t, dirs, 1)
	if err != nil || last != 40 {
		t.Fatalf("ReadFrom: %d %v", last, err)
	}
	checkRecords(t, recs, 1, 40)
}

func TestWriterAllDirsFail(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		t.Run(map[vfs.Op]string{vfs.OpWrite: "write", vfs.OpSync: "sync"}[op], func(t *testing.T) {
			dirs := []string{t.TempDir(), t.TempDir()}
			inj := vfs.NewInjectFS(vfs.Default)
			w := newWriter(t, inj, dirs...)
			if err := w.StartSegment(1, 1); err != nil {
				t.Fatal(err)
			}
			appendN(t, w, 7)
			inj.SetRule(func(o vfs.Op, path string) error {
				if o == op {
					return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
				}
				return nil
			})
			var last uint64
			for i := 0; i < 5; i++ {
				last, _ = w.Append(9, []byte("doomed record"))
			}
			err := w.Sync(last)
			if !errors.Is(err, ErrWriterFailed) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Sync: %v", err)
			}
			if w.SyncedTxID() != 7 {
				t.Fatalf("synced %d", w.SyncedTxID())
			}
			if _, err := w.Append(9, nil); !errors.Is(err, ErrWriterFailed) {
				t.Fatalf("Append after failure: %v", err)
			}
			if err := w.Sync(last); !errors.Is(err, ErrWriterFailed) {
				t.Fatalf("Sync after failure: %v", err)
			}
			if err := w.Sync(7); err != nil {
				t.Fatalf("Sync of durable txid: %v", err)
			}
			if err := w.Close(); !errors.Is(err, ErrWriterFailed) {
				t.Fatalf("Close: %v", err)
			}
			inj.SetRule(nil)
			for _, dir := range dirs {
				scan, err := ReadSegment(vfs.Default, inProgressPath(dir, 1), nil)
				if err != nil || scan.Torn || scan.LastTxID != 7 || scan.Size != scan.ValidEnd {
					t.Fatalf("%s: %+v %v", dir, scan, err)
				}
			}
		})
	}
}

func TestWriterStartErrors(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, vfs.Default, dir)
	if _, err := w.Append(1, nil); !errors.Is(err, ErrNoSegment) {
		t.Fatalf("Append without segment: %v", err)
	}
	if err := w.StartSegment(0, 1); err == nil {
		t.Fatal("StartSegment(0) succeeded")
	}
	if err := w.StartSegment(1, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.StartSegment(1, 1); err == nil {
		t.Fatal("second StartSegment succeeded")
	}
	if _, err := w.Append(OpFiller, nil); err == nil {
		t.Fatal("Append of opcode 0 succeeded")
	}
	appendN(t, w, 3)
	if err := w.Sync(99); err == nil {
		t.Fatal("Sync beyond the last txid succeeded")
	}
	if err := w.FinalizeSegment(); err != nil {
		t.Fatal(err)
	}
	if err := w.StartSegment(10, 1); err == nil {
		t.Fatal("StartSegment leaving a gap succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.StartSegment(4, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("StartSegment after Close: %v", err)
	}
	// An existing in-progress file is never overwritten.
	mustWrite(t, inProgressPath(dir, 4), []byte("precious"))
	w = newWriter(t, vfs.Default, dir)
	if err := w.StartSegment(4, 1); err == nil {
		t.Fatal("StartSegment overwrote a file")
	}
}
