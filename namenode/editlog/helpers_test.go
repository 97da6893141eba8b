package editlog

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/sirupsen/logrus"
)

// quietLogger discards log output in tests.
func quietLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// payloadFor is a deterministic payload of varying length for a txid.
func payloadFor(txid uint64) []byte {
	n := int(txid*37%211) + 1
	if txid%50 == 0 {
		n = 0
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(txid) + byte(i)*3
	}
	return b
}

func opFor(txid uint64) uint8 { return uint8(txid%200) + 1 }

func recordSize(txid uint64) int64 { return RecordOverhead + int64(len(payloadFor(txid))) }

// countFS counts fsyncs of files.
type countFS struct {
	vfs.FS
	syncs atomic.Int64
}

type countFile struct {
	vfs.File
	fs *countFS
}

func (c *countFile) Sync() error { c.fs.syncs.Add(1); return c.File.Sync() }

func (c *countFS) Create(name string) (vfs.File, error) {
	f, err := c.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &countFile{f, c}, nil
}

func (c *countFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countFile{f, c}, nil
}

func newWriter(t testing.TB, fsys vfs.FS, dirs ...string) *Writer {
	t.Helper()
	w, err := NewWriter(WriterOptions{FS: fsys, Dirs: dirs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// appendN appends records first..first+n-1 with the deterministic payloads
// and syncs them.
func appendN(t testing.TB, w *Writer, n int) {
	t.Helper()
	var last uint64
	for i := 0; i < n; i++ {
		want := w.LastTxID() + 1
		txid, err := w.Append(opFor(want), payloadFor(want))
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if txid != want {
			t.Fatalf("append gave txid %d, want %d", txid, want)
		}
		last = txid
	}
	if err := w.Sync(last); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// writeLog writes segments of the given sizes (finalized) and, if open > 0,
// an in-progress segment of that many records left unfinalized (Close).
func writeLog(t testing.TB, dirs []string, sizes []int, open int) {
	t.Helper()
	w := newWriter(t, vfs.Default, dirs...)
	next := uint64(1)
	for _, n := range sizes {
		if err := w.StartSegment(next, 7); err != nil {
			t.Fatal(err)
		}
		appendN(t, w, n)
		if err := w.FinalizeSegment(); err != nil {
			t.Fatal(err)
		}
		next += uint64(n)
	}
	if open > 0 {
		if err := w.StartSegment(next, 7); err != nil {
			t.Fatal(err)
		}
		appendN(t, w, open)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads the log and checks that the records are exactly from..to
// with the deterministic contents, minus the txids in skip.
func readAll(t testing.TB, dirs []string, from uint64) ([]Record, uint64, error) {
	t.Helper()
	var recs []Record
	last, err := ReadFrom(vfs.Default, dirs, from, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, last, err
}

func checkRecords(t testing.TB, recs []Record, from, to uint64, skip ...uint64) {
	t.Helper()
	skipped := make(map[uint64]bool)
	for _, s := range skip {
		skipped[s] = true
	}
	i := 0
	for txid := from; txid <= to; txid++ {
		if skipped[txid] {
			continue
		}
		if i >= len(recs) {
			t.Fatalf("got %d records, missing txid %d (want %d-%d)", len(recs), txid, from, to)
		}
		r := recs[i]
		if r.TxID != txid || r.Op != opFor(txid) || !bytes.Equal(r.Payload, payloadFor(txid)) {
			t.Fatalf("record %d: got txid %d op %d len %d, want txid %d op %d len %d",
				i, r.TxID, r.Op, len(r.Payload), txid, opFor(txid), len(payloadFor(txid)))
		}
		i++
	}
	if i != len(recs) {
		t.Fatalf("got %d records, want %d (extra txid %d)", len(recs), i, recs[i].TxID)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func listNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func asCorruption(t testing.TB, err error) *CorruptionError {
	t.Helper()
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("want *CorruptionError, got %v", err)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("errors.Is(%v, ErrCorrupt) is false", err)
	}
	return ce
}

// recordOffset is the offset of txid's record in a segment starting at first.
func recordOffset(first, txid uint64) int64 {
	off := int64(HeaderSize)
	for t := first; t < txid; t++ {
		off += recordSize(t)
	}
	return off
}

func inProgressPath(dir string, first uint64) string {
	return filepath.Join(dir, InProgressName(first))
}

func finalizedPath(dir string, first, last uint64) string {
	return filepath.Join(dir, FinalizedName(first, last))
}
