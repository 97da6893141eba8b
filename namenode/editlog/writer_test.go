package editlog

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// namespace mimics the namenode: Append under its lock, Sync outside it.
type namespace struct {
	mu sync.Mutex
	w  *Writer
}

func (ns *namespace) create(payload []byte) (uint64, error) {
	ns.mu.Lock()
	txid, err := ns.w.Append(5, payload)
	ns.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return txid, ns.w.Sync(txid)
}

func TestGroupCommit(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	cfs := &countFS{FS: vfs.Default}
	w := newWriter(t, cfs, dirs...)
	if err := w.StartSegment(1, 1); err != nil {
		t.Fatal(err)
	}
	base := cfs.syncs.Load()
	ns := &namespace{w: w}
	const workers, each = 32, 40
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < workers; g++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				txid, err := ns.create(fmt.Appendf(nil, "worker %d op %d", g, i))
				if err != nil {
					t.Error(err)
					return
				}
				// Durable means durable: the record is in every file now.
				if w.SyncedTxID() < txid {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	const n = workers * each
	if bad.Load() != 0 {
		t.Fatalf("%d Syncs returned before their txid was durable", bad.Load())
	}
	fsyncs := cfs.syncs.Load() - base
	t.Logf("%d records, %d fsyncs over %d dirs (%.1f records per fsync)", n, fsyncs, len(dirs), float64(n*len(dirs))/float64(fsyncs))
	if fsyncs >= int64(n*len(dirs)) {
		t.Fatalf("%d fsyncs for %d records in %d dirs: no sharing", fsyncs, n, len(dirs))
	}
	for _, dir := range dirs {
		var count int
		scan, err := ReadSegment(vfs.Default, inProgressPath(dir, 1), func(Record) error { count++; return nil })
		if err != nil || scan.Torn || scan.LastTxID != n || count != n {
			t.Fatalf("%s: %+v %v (%d records)", dir, scan, err, count)
		}
	}
	if err := w.FinalizeSegment(); err != nil {
		t.Fatal(err)
	}
}

// After each Sync the records are in the file: reopen and read.
func TestSyncDurability(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, vfs.Default, dir)
	if err := w.StartSegment(1, 1); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 5; round++ {
		appendN(t, w, round*3)
		var recs []Record
		scan, err := ReadSegment(vfs.Default, inProgressPath(dir, 1), func(r Record) error { recs = append(recs, r); return nil })
		if err != nil || scan.Torn {
			t.Fatalf("round %d: %+v %v", round, scan, err)
		}
		checkRecords(t, recs, 1, w.SyncedTxID())
	}
	// Appended but not synced: not in the file (no I/O in Append).
	txid, _ := w.Append(1, []byte("pending"))
	scan, _ := ReadSegment(vfs.Default, inProgressPath(dir, 1), nil)
	if scan.LastTxID != txid-1 {
		t.Fatalf("unsynced record written by Append: last %d", scan.LastTxID)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	scan, _ = ReadSegment(vfs.Default, inProgressPath(dir, 1), nil)
	if scan.LastTxID != txid {
		t.Fatalf("Close did not sync: last %d", scan.LastTxID)
	}
}

// Tail follows a log being written, stopping quietly at the unwritten end,
// and crosses segment boundaries.
func TestTailWhileWriting(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, vfs.Default, dir)
	if err := w.StartSegment(1, 1); err != nil {
		t.Fatal(err)
	}
	ns := &namespace{w: w}
	const total = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(1); i <= total; i++ {
			ns.mu.Lock()
			txid, err := w.Append(opFor(i), payloadFor(i))
			if err == nil && i%200 == 0 {
				err = w.Sync(txid)
				if err == nil {
					err = w.FinalizeSegment()
				}
				if err == nil && i < total {
					err = w.StartSegment(i+1, 1)
				}
			}
			ns.mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			if i%7 == 0 {
				w.Sync(txid)
			}
		}
	}()
	var recs []Record
	next := uint64(1)
	deadline := time.Now().Add(20 * time.Second)
	for next <= total && time.Now().Before(deadline) {
		last, err := Tail(vfs.Default, dir, next, func(r Record) error { recs = append(recs, r); return nil })
		if err != nil {
			t.Fatalf("Tail from %d: %v", next, err)
		}
		if last != 0 {
			next = last + 1
		}
		time.Sleep(time.Millisecond)
	}
	<-done
	checkRecords(t, recs, 1, total)
}
