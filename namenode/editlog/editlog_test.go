package editlog

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

func TestSegmentNames(t *testing.T) {
	if got := FinalizedName(1, 42); got != "edits_0000000000000000001-0000000000000000042" {
		t.Fatalf("FinalizedName = %q", got)
	}
	if got := InProgressName(7); got != "edits_inprogress_0000000000000000007" {
		t.Fatalf("InProgressName = %q", got)
	}
	for _, tc := range []struct {
		name              string
		first, last       uint64
		inProgress, valid bool
	}{
		{"edits_0000000000000000001-0000000000000000042", 1, 42, false, true},
		{"edits_inprogress_0000000000000000043", 43, 0, true, true},
		{"edits_0000000000000000043-0000000000000000042", 0, 0, false, false},
		{"edits_0000000000000000001-0000000000000000042.tmp", 0, 0, false, false},
		{"edits_inprogress_0000000000000000043.recovering", 0, 0, false, false},
		{"edits_1-42", 0, 0, false, false},
		{"edits_inprogress_0000000000000000000", 0, 0, false, false},
		{"fsimage_0000000000000000042", 0, 0, false, false},
		{"edits_00000000000000000a1-0000000000000000042", 0, 0, false, false},
	} {
		first, last, ip, ok := parseSegmentName(tc.name)
		if ok != tc.valid || (ok && (first != tc.first || last != tc.last || ip != tc.inProgress)) {
			t.Errorf("parse %q = %d %d %v %v", tc.name, first, last, ip, ok)
		}
	}
}

// A CRC of zero bytes is not zero: zero-filled space never looks like a
// valid record.
func TestZeroRecordIsInvalid(t *testing.T) {
	if crc32.Checksum(make([]byte, RecordHeaderSize), castagnoli) == 0 {
		t.Fatal("CRC32C of a zero record header is 0")
	}
}

func TestRoundTrip(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	sizes := []int{1, 500, 37, 1200}
	writeLog(t, dirs, sizes, 0)
	for _, dir := range dirs {
		segs, err := ListSegments(vfs.Default, dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range segs {
			got = append(got, fmt.Sprintf("%d-%d", s.FirstTxID, s.LastTxID))
		}
		if want := []string{"1-1", "2-501", "502-538", "539-1738"}; !slices.Equal(got, want) {
			t.Fatalf("segments %v, want %v", got, want)
		}
	}
	for _, from := range []uint64{0, 1, 2, 501, 502, 1000, 1738} {
		recs, last, err := readAll(t, dirs, from)
		if err != nil {
			t.Fatal(err)
		}
		if last != 1738 {
			t.Fatalf("from %d: last %d", from, last)
		}
		checkRecords(t, recs, max(from, 1), 1738)
	}
	// Past the end: nothing, no error.
	recs, last, err := readAll(t, dirs, 1739)
	if err != nil || last != 0 || len(recs) != 0 {
		t.Fatalf("past end: %d records, last %d, err %v", len(recs), last, err)
	}
	// Tail of one dir reads the same.
	var tailed []Record
	last, err = Tail(vfs.Default, dirs[1], 1, func(r Record) error { tailed = append(tailed, r); return nil })
	if err != nil || last != 1738 {
		t.Fatalf("tail: last %d err %v", last, err)
	}
	checkRecords(t, tailed, 1, 1738)
	// Recover has nothing to do.
	got, err := Recover(vfs.Default, dirs, RecoverOptions{Logger: quietLogger(), CheckFinalized: true})
	if err != nil || got != 1738 {
		t.Fatalf("recover: %d %v", got, err)
	}
	// The callback's error stops the read and comes back as is.
	stop := errors.New("stop")
	last, err = ReadFrom(vfs.Default, dirs, 1, func(r Record) error {
		if r.TxID == 600 {
			return stop
		}
		return nil
	})
	if err != stop || last != 599 {
		t.Fatalf("stopped read: last %d err %v", last, err)
	}
}

func TestRecoverFinalizesInProgress(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, []string{dir}, []int{10}, 25)
	// An empty in-progress segment (header only) is removed.
	w := newWriter(t, vfs.Default, dir)
	if err := w.StartSegment(36, 9); err != nil {
		t.Fatal(err)
	}
	if w.Epoch() != 9 {
		t.Fatalf("epoch %d", w.Epoch())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	last, err := Recover(vfs.Default, []string{dir}, RecoverOptions{Logger: quietLogger()})
	if err != nil || last != 35 {
		t.Fatalf("recover: %d %v", last, err)
	}
	names := listNames(t, dir)
	want := []string{FinalizedName(1, 10), FinalizedName(11, 35)}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	recs, last, err := readAll(t, []string{dir}, 1)
	if err != nil || last != 35 {
		t.Fatal(last, err)
	}
	checkRecords(t, recs, 1, 35)
	// A writer can go on after it.
	w = newWriter(t, vfs.Default, dir)
	if err := w.StartSegment(last+1, 10); err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 5)
	if err := w.FinalizeSegment(); err != nil {
		t.Fatal(err)
	}
	recs, last, err = readAll(t, []string{dir}, 1)
	if err != nil || last != 40 {
		t.Fatal(last, err)
	}
	checkRecords(t, recs, 1, 40)
}

// tornCase builds a damaged copy of a segment whose intact form holds
// records first..last.
type tornCase struct {
	name string
	data []byte
	keep uint64 // last txid that must survive
}

func TestTornTail(t *testing.T) {
	src := t.TempDir()
	const n = 20
	writeLog(t, []string{src}, nil, n)
	full := mustRead(t, inProgressPath(src, 1))
	lastStart := recordOffset(1, n)
	if int64(len(full)) != lastStart+recordSize(n) {
		t.Fatalf("file size %d, want %d", len(full), lastStart+recordSize(n))
	}
	var cases []tornCase
	// Cut at every byte inside the last record.
	for cut := lastStart; cut < int64(len(full)); cut++ {
		cases = append(cases, tornCase{fmt.Sprintf("cut@%d", cut), full[:cut], n - 1})
	}
	// Cuts inside the last record, then zero-filled space after.
	for _, cut := range []int64{lastStart, lastStart + 1, lastStart + 5, lastStart + RecordHeaderSize, int64(len(full)) - 1} {
		for _, z := range []int{1, 16, 17, 100, 5000} {
			data := append(append([]byte(nil), full[:cut]...), make([]byte, z)...)
			cases = append(cases, tornCase{fmt.Sprintf("cut@%d+%dzeros", cut, z), data, n - 1})
		}
	}
	// Complete records followed by zeros (preallocated space).
	for _, z := range []int{1, 12, 13, 16, 17, 18, 100, 70000} {
		data := append(append([]byte(nil), full...), make([]byte, z)...)
		cases = append(cases, tornCase{fmt.Sprintf("full+%dzeros", z), data, n})
	}
	// The last record complete but with a bad CRC, ending at EOF.
	for _, at := range []int64{lastStart + 5, int64(len(full)) - 1} {
		data := append([]byte(nil), full...)
		data[at] ^= 0x40
		cases = append(cases, tornCase{fmt.Sprintf("lastflip@%d", at), data, n - 1})
	}
	// A garbage length over the maximum running past EOF.
	{
		data := append([]byte(nil), full[:lastStart+RecordHeaderSize]...)
		data[lastStart+1] = 0xff
		cases = append(cases, tornCase{"hugelen", data, n - 1})
	}
	// Header torn: nothing survives.
	for _, cut := range []int{0, 1, 20, HeaderSize - 1, HeaderSize} {
		cases = append(cases, tornCase{fmt.Sprintf("header@%d", cut), full[:cut], 0})
	}
	cases = append(cases, tornCase{"zeroheader", make([]byte, 100), 0})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := inProgressPath(dir, 1)
			mustWrite(t, path, tc.data)
			scan, err := ReadSegment(vfs.Default, path, nil)
			if err != nil {
				t.Fatalf("ReadSegment: %v", err)
			}
			if scan.LastTxID != tc.keep && !(tc.keep == 0 && scan.LastTxID == 0) {
				t.Fatalf("ReadSegment last %d, want %d", scan.LastTxID, tc.keep)
			}
			last, err := Recover(vfs.Default, []string{dir}, RecoverOptions{Logger: quietLogger()})
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if last != tc.keep {
				t.Fatalf("Recover last %d, want %d", last, tc.keep)
			}
			if tc.keep == 0 {
				if names := listNames(t, dir); len(names) != 0 {
					t.Fatalf("empty segment not removed: %v", names)
				}
				return
			}
			fin := finalizedPath(dir, 1, tc.keep)
			if got, want := int64(len(mustRead(t, fin))), recordOffset(1, tc.keep+1); got != want {
				t.Fatalf("finalized size %d, want %d", got, want)
			}
			recs, last, err := readAll(t, []string{dir}, 1)
			if err != nil || last != tc.keep {
				t.Fatalf("ReadFrom: last %d err %v", last, err)
			}
			checkRecords(t, recs, 1, tc.keep)
		})
	}
}

// corruptLog writes one in-progress segment of n records and applies
// damage to it; it returns the dir and the path.
func corruptLog(t *testing.T, n int, damage func(b []byte)) (string, string) {
	t.Helper()
	dir := t.TempDir()
	writeLog(t, []string{dir}, nil, n)
	path := inProgressPath(dir, 1)
	b := mustRead(t, path)
	damage(b)
	mustWrite(t, path, b)
	return dir, path
}

func TestCorruption(t *testing.T) {
	const n, bad = 30, 12
	off := recordOffset(1, bad)
	for _, tc := range []struct {
		name   string
		damage func(b []byte)
		reason string
	}{
		{"payload", func(b []byte) { b[off+RecordHeaderSize+1] ^= 1 }, "checksum"},
		{"crc", func(b []byte) { b[off+recordSize(bad)-1] ^= 0x80 }, "checksum"},
		{"opcode", func(b []byte) { b[off] ^= 0x10 }, "checksum"},
		{"txid", func(b []byte) { b[off+5+7] ^= 2 }, "checksum"},
		{"length-longer", func(b []byte) { b[off+4] += 3 }, "checksum"},
		{"length-huge-fits", func(b []byte) { b[off+1] = 0x02 }, "past end of file"},
		{"length-over-max", func(b []byte) {
			// Over the maximum but fitting: grow the file beyond it.
		}, "maximum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path := corruptLog(t, n, tc.damage)
			if tc.name == "length-over-max" {
				b := mustRead(t, path)
				b[off+1] = 0x01 // 16 MiB + something
				b[off+2] = 0x00
				b = append(b, make([]byte, MaxRecordSize+100)...)
				b[len(b)-1] = 1 // not all zeros
				mustWrite(t, path, b)
			}
			_, err := Recover(vfs.Default, []string{dir}, RecoverOptions{Logger: quietLogger()})
			ce := asCorruption(t, err)
			if ce.Path != path || ce.TxID != bad || ce.Offset != off {
				t.Fatalf("corruption at %s offset %d txid %d, want %s %d %d", ce.Path, ce.Offset, ce.TxID, path, off, bad)
			}
			if !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("reason %q does not mention %q", ce.Reason, tc.reason)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprint(bad)) {
				t.Fatalf("message %q does not name the file and txid", msg)
			}
			// Nothing was changed.
			if names := listNames(t, dir); !slices.Equal(names, []string{InProgressName(1)}) {
				t.Fatalf("files changed: %v", names)
			}
		})
	}
}

func TestCorruptionActions(t *testing.T) {
	const n, bad = 30, 12
	off := recordOffset(1, bad)
	flip := func(b []byte) { b[off+RecordHeaderSize+2] ^= 0xff }
	for _, tc := range []struct {
		action   Action
		wantLast uint64
		missing  []uint64
		to       uint64
	}{
		{ActionSkip, n, []uint64{bad}, n},
		{ActionTruncate, bad - 1, nil, bad - 1},
	} {
		t.Run(tc.action.String(), func(t *testing.T) {
			dir, path := corruptLog(t, n, flip)
			var asked []*CorruptionError
			last, err := Recover(vfs.Default, []string{dir}, RecoverOptions{
				Logger: quietLogger(),
				OnCorruption: func(ce *CorruptionError) Action {
					asked = append(asked, ce)
					return tc.action
				},
			})
			if err != nil || last != tc.wantLast {
				t.Fatalf("Recover: last %d err %v", last, err)
			}
			if len(asked) != 1 || asked[0].TxID != bad || asked[0].Path != path {
				t.Fatalf("asked %v", asked)
			}
			if names := listNames(t, dir); !slices.Equal(names, []string{FinalizedName(1, tc.wantLast)}) {
				t.Fatalf("files %v", names)
			}
			recs, last, err := readAll(t, []string{dir}, 1)
			if err != nil || last != tc.wantLast {
				t.Fatalf("ReadFrom: last %d err %v", last, err)
			}
			checkRecords(t, recs, 1, tc.to, tc.missing...)
		})
	}
	t.Run("stop", func(t *testing.T) {
		dir, _ := corruptLog(t, n, flip)
		_, err := Recover(vfs.Default, []string{dir}, RecoverOptions{
			Logger:       quietLogger(),
			OnCorruption: func(*CorruptionError) Action { return ActionStop },
		})
		asCorruption(t, err)
	})
	// Several bad records, skipped one by one; a run of bad records is
	// skipped at once.
	t.Run("skip-several", func(t *testing.T) {
		dir, _ := corruptLog(t, 60, func(b []byte) {
			for _, txid := range []uint64{5, 20, 21, 22, 59} {
				b[recordOffset(1, txid)+RecordHeaderSize-1] ^= 0x55
			}
		})
		asks := 0
		last, err := Recover(vfs.Default, []string{dir}, RecoverOptions{
			Logger:       quietLogger(),
			OnCorruption: func(*CorruptionError) Action { asks++; return ActionSkip },
		})
		if err != nil || last != 60 {
			t.Fatalf("Recover: last %d err %v", last, err)
		}
		if asks != 3 {
			t.Fatalf("asked %d times, want 3", asks)
		}
		recs, _, err := readAll(t, []string{dir}, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, recs, 1, 60, 5, 20, 21, 22, 59)
	})
	// A bad header in an in-progress segment with records after it.
	t.Run("bad-header-skip", func(t *testing.T) {
		dir, _ := corruptLog(t, 10, func(b []byte) { b[3] ^= 1 })
		last, err := Recover(vfs.Default, []string{dir}, RecoverOptions{
			Logger:       quietLogger(),
			OnCorruption: func(*CorruptionError) Action { return ActionSkip },
		})
		if err != nil || last != 10 {
			t.Fatalf("Recover: last %d err %v", last, err)
		}
		recs, _, err := readAll(t, []string{dir}, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, recs, 1, 10)
	})
}

func TestFinalizedCorruption(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, []string{dir}, []int{10, 10}, 0)
	seg := finalizedPath(dir, 1, 10)
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		txid   uint64
	}{
		{"header", func(b []byte) []byte { b[9] ^= 1; return b }, 1},
		{"torn", func(b []byte) []byte { return b[:len(b)-3] }, 10},
		{"short", func(b []byte) []byte { return b[:recordOffset(1, 9)] }, 9},
		{"extra", func(b []byte) []byte { return append(b, 1, 2, 3) }, 11},
		{"record", func(b []byte) []byte { b[recordOffset(1, 4)+14] ^= 1; return b }, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := mustRead(t, seg)
			defer mustWrite(t, seg, orig)
			mustWrite(t, seg, tc.damage(append([]byte(nil), orig...)))
			recs, last, err := readAll(t, []string{dir}, 1)
			if tc.name == "extra" {
				// Junk after the promised records does not stop a read.
				if err != nil || last != 20 {
					t.Fatalf("ReadFrom: %d %v", last, err)
				}
				checkRecords(t, recs, 1, 20)
				_, err = Recover(vfs.Default, []string{dir}, RecoverOptions{Logger: quietLogger(), CheckFinalized: true})
				asCorruption(t, err)
				return
			}
			ce := asCorruption(t, err)
			if ce.Path != seg || ce.TxID != tc.txid {
				t.Fatalf("corruption %v, want txid %d in %s", ce, tc.txid, seg)
			}
			if last != tc.txid-1 || uint64(len(recs)) != tc.txid-1 {
				t.Fatalf("read %d records, last %d before the corruption", len(recs), last)
			}
			_, err = Recover(vfs.Default, []string{dir}, RecoverOptions{Logger: quietLogger(), CheckFinalized: true})
			asCorruption(t, err)
		})
	}
}

func TestGap(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, []string{dir}, []int{10, 10, 10}, 0)
	if err := os.Remove(finalizedPath(dir, 11, 20)); err != nil {
		t.Fatal(err)
	}
	recs, last, err := readAll(t, []string{dir}, 1)
	ce := asCorruption(t, err)
	if ce.TxID != 11 || ce.Path != finalizedPath(dir, 21, 30) || last != 10 || len(recs) != 10 {
		t.Fatalf("gap: %v, last %d", ce, last)
	}
	// Reading from before the oldest segment is a gap too.
	if err := os.Remove(finalizedPath(dir, 1, 10)); err != nil {
		t.Fatal(err)
	}
	_, _, err = readAll(t, []string{dir}, 1)
	asCorruption(t, err)
	_, err = Recover(vfs.Default, []string{dir}, RecoverOptions{Logger: quietLogger(), CheckFinalized: true})
	if err != nil {
		t.Fatalf("one segment: %v", err)
	}

	for _, tc := range []struct {
		action Action
		last   uint64
		names  []string
	}{
		{ActionSkip, 30, []string{FinalizedName(1, 10), FinalizedName(11, 20), FinalizedName(21, 30)}},
		{ActionTruncate, 10, []string{FinalizedName(1, 10), FinalizedName(21, 30) + discardedSuffix}},
	} {
		t.Run(tc.action.String(), func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, []string{dir}, []int{10, 10, 10}, 0)
			os.Remove(finalizedPath(dir, 11, 20))
			last, err := Recover(vfs.Default, []string{dir}, RecoverOptions{
				Logger: quietLogger(), CheckFinalized: true,
				OnCorruption: func(*CorruptionError) Action { return tc.action },
			})
			if err != nil || last != tc.last {
				t.Fatalf("Recover: %d %v", last, err)
			}
			if names := listNames(t, dir); !slices.Equal(names, tc.names) {
				t.Fatalf("files %v, want %v", names, tc.names)
			}
			recs, last, err := readAll(t, []string{dir}, 1)
			if err != nil || last != tc.last {
				t.Fatalf("ReadFrom: %d %v", last, err)
			}
			var skip []uint64
			if tc.action == ActionSkip {
				for i := uint64(11); i <= 20; i++ {
					skip = append(skip, i)
				}
			}
			checkRecords(t, recs, 1, tc.last, skip...)
		})
	}
}

func TestPurge(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	writeLog(t, dirs, []int{10, 10, 10}, 5)
	if err := os.WriteFile(filepath.Join(dirs[0], "VERSION"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Purge(vfs.Default, dirs, 21); err != nil {
		t.Fatal(err)
	}
	for i, dir := range dirs {
		want := []string{FinalizedName(21, 30), InProgressName(31)}
		if i == 0 {
			want = append([]string{"VERSION"}, want...)
		}
		if names := listNames(t, dir); !slices.Equal(names, want) {
			t.Fatalf("%s: %v, want %v", dir, names, want)
		}
	}
	recs, last, err := readAll(t, dirs, 21)
	if err != nil || last != 30 {
		t.Fatal(last, err)
	}
	checkRecords(t, recs, 21, 30)
}
