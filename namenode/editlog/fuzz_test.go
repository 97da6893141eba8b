package editlog

import (
	"testing"
)

// FuzzReadSegment feeds arbitrary bytes to the reader as an in-progress and
// as a finalized segment (on an in-memory FS): nothing panics, a torn tail
// is cut by Recover to exactly what the reader reported, and the log reads
// cleanly after Recover whatever the action chosen for corruption.
func FuzzReadSegment(f *testing.F) {
	dir := f.TempDir()
	writeLog(f, []string{dir}, nil, 6)
	good := mustRead(f, inProgressPath(dir, 1))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(append([]byte(nil), good...), make([]byte, 20)...))
	flipped := append([]byte(nil), good...)
	flipped[HeaderSize+20] ^= 1
	f.Add(flipped)
	f.Add(good[:HeaderSize])
	f.Add([]byte{})
	f.Add([]byte("AVFSEDIT"))

	const d = "/edits"
	f.Fuzz(func(t *testing.T, data []byte) {
		put := func() *memFS {
			m := newMemFS()
			m.MkdirAll(d, 0o755)
			f, _ := m.Create(inProgressPath(d, 1))
			f.Write(data)
			return m
		}
		m := put()
		scan, scanErr := ReadSegment(m, inProgressPath(d, 1), func(Record) error { return nil })
		if scanErr == nil {
			if scan.ValidEnd > scan.Size || (!scan.Torn && scan.ValidEnd != scan.Size) {
				t.Fatalf("inconsistent scan %+v", scan)
			}
		} else {
			asCorruption(t, scanErr)
		}
		Tail(m, d, 1, func(Record) error { return nil })

		// The same bytes as a finalized segment.
		m2 := newMemFS()
		m2.MkdirAll(d, 0o755)
		f2, _ := m2.Create(finalizedPath(d, 1, 5))
		f2.Write(data)
		if _, err := ReadSegment(m2, finalizedPath(d, 1, 5), nil); err != nil {
			asCorruption(t, err)
		}
		ReadFrom(m2, []string{d}, 1, func(Record) error { return nil })

		for _, a := range []Action{ActionStop, ActionSkip, ActionTruncate} {
			m := put()
			last, err := Recover(m, []string{d}, RecoverOptions{
				Logger:       quietLogger(),
				OnCorruption: func(*CorruptionError) Action { return a },
			})
			if err != nil {
				if a != ActionStop || scanErr == nil {
					t.Fatalf("Recover with %v: %v (scan: %+v, %v)", a, err, scan, scanErr)
				}
				asCorruption(t, err)
				continue
			}
			if scanErr == nil {
				if last != scan.LastTxID {
					t.Fatalf("Recover (%v) kept txids to %d, the reader saw %d", a, last, scan.LastTxID)
				}
				if last > 0 {
					if got := int64(len(m.readFile(finalizedPath(d, 1, last)))); got != scan.ValidEnd {
						t.Fatalf("finalized size %d, reader's valid end %d", got, scan.ValidEnd)
					}
				}
			}
			if last > 0 {
				if _, err := ReadSegment(m, finalizedPath(d, 1, last), nil); err != nil {
					t.Fatalf("after Recover (%v): %v", a, err)
				}
			}
			got, err := ReadFrom(m, []string{d}, 1, func(Record) error { return nil })
			if err != nil || got != last {
				t.Fatalf("after Recover (%v, last %d): ReadFrom last %d err %v", a, last, got, err)
			}
			// Recover is idempotent.
			again, err := Recover(m, []string{d}, RecoverOptions{Logger: quietLogger(), CheckFinalized: true})
			if err != nil || again != last {
				t.Fatalf("second Recover: %d %v", again, err)
			}
		}
	})
}
