package editlog

import (
	"fmt"
	"time"
	"os"
	"testing"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// FuzzReadSegment feeds arbitrary bytes to the reader as an in-progress and
// as a finalized segment: nothing panics, and after Recover cuts a torn
// tail the segment reads cleanly.
func FuzzReadSegment(f *testing.F) {
	dir := f.TempDir()
	writeLog(f, []string{dir}, nil, 6)
	good := mustRead(f, inProgressPath(dir, 1))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(append([]byte(nil), good...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	flipped := append([]byte(nil), good...)
	flipped[HeaderSize+20] ^= 1
	f.Add(flipped)
	f.Add(good[:HeaderSize])
	f.Add([]byte{})
	f.Add([]byte("AVFSEDIT"))

	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		os.WriteFile(fmt.Sprintf("/tmp/el/cur-%d", os.Getpid()), data, 0o644)
		defer func() {
			if d := time.Since(start); d > 500*time.Millisecond {
				os.WriteFile(fmt.Sprintf("/tmp/el/slow-%d", time.Now().UnixNano()), data, 0o644)
				os.WriteFile(fmt.Sprintf("/tmp/el/slow-%d.txt", time.Now().UnixNano()), []byte(d.String()), 0o644)
			}
		}()
		dir := t.TempDir()
		path := inProgressPath(dir, 1)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		scan, err := ReadSegment(vfs.Default, path, nil)
		if err == nil && (scan.ValidEnd > scan.Size || (!scan.Torn && scan.ValidEnd != scan.Size && scan.Size > 0)) {
			t.Fatalf("inconsistent scan %+v", scan)
		}
		// Read as a finalized segment too.
		fin := finalizedPath(dir, 1, 5)
		if err := os.WriteFile(fin+".x", data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(fin+".x", fin); err != nil {
			t.Fatal(err)
		}
		ReadSegment(vfs.Default, fin, nil)
		os.Remove(fin)

		// Recover with every action: never a panic; afterwards the log reads
		// without error.
		for _, a := range []Action{ActionStop, ActionSkip, ActionTruncate} {
			d := t.TempDir()
			if err := os.WriteFile(inProgressPath(d, 1), data, 0o644); err != nil {
				t.Fatal(err)
			}
			last, err := Recover(vfs.Default, []string{d}, RecoverOptions{
				Logger:       quietLogger(),
				OnCorruption: func(*CorruptionError) Action { return a },
			})
			if err != nil {
				if a == ActionStop {
					continue
				}
				t.Fatalf("Recover with %v: %v", a, err)
			}
			var n uint64
			got, err := ReadFrom(vfs.Default, []string{d}, 1, func(r Record) error { n++; return nil })
			if err != nil || got != last {
				t.Fatalf("after Recover (%v, last %d): ReadFrom last %d err %v", a, last, got, err)
			}
			if a == ActionStop && err == nil && scan.Torn && last != scan.LastTxID {
				t.Fatalf("torn segment recovered to %d, scan said %d", last, scan.LastTxID)
			}
		}
	})
}
