package storage

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrent runs writers, readers of the replicas being written,
// reporters, scanners and deleters at once; run it with -race.
func TestConcurrent(t *testing.T) {
	opts := testOptions(t, 3)
	opts.FS = noSyncFS{opts.FS}
	opts.RefreshInterval = 5 * time.Millisecond // the refresher runs alongside
	s := openStore(t, opts)
	const writers, perWriter = 6, 8
	var wg sync.WaitGroup
	var done atomic.Bool
	errc := make(chan error, 64)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	finished := make(chan uint64, writers*perWriter)
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < perWriter; k++ {
				id := uint64(g*1000 + k + 1)
				data := randBytes(id, 1000+int(id*997)%150000)
				w, err := s.CreateRBW(id, 1, StorageDisk)
				if err != nil {
					report(err)
					return
				}
				var rwg sync.WaitGroup
				for off := 0; off < len(data); {
					n := min(len(data)-off, 4000+k*511) // packets that end mid-chunk
					if err := w.WriteChunks(uint64(off), data[off:off+n], pieceSums(uint64(off), data[off:off+n], 512)); err != nil {
						report(err)
						return
					}
					off += n
					if off < len(data) && k%2 == 0 {
						rwg.Add(1)
						go func() { // a reader of the replica being written
							defer rwg.Done()
							if err := checkPrefix(s, id, data); err != nil {
								report(err)
							}
						}()
					}
				}
				rwg.Wait()
				if _, err := w.Finalize(); err != nil {
					report(err)
					return
				}
				if err := checkPrefix(s, id, data); err != nil {
					report(err)
				}
				finished <- id
			}
		}(g)
	}
	var bg sync.WaitGroup
	bg.Add(3)
	go func() { // reports, volume stats, lookups
		defer bg.Done()
		for !done.Load() {
			s.Report()
			s.Volumes()
			s.Get(1)
		}
	}()
	go func() { // scanner
		defer bg.Done()
		for !done.Load() {
			s.ScanAll(t.Context(), 0, func(id uint64, err error) {
				if err != nil && !errors.Is(err, ErrReplicaNotFound) {
					report(fmt.Errorf("scan blk %d: %w", id, err))
				}
			})
		}
	}()
	go func() { // deleter of every third finished replica
		defer bg.Done()
		n := 0
		for id := range finished {
			if n++; n%3 == 0 {
				if err := s.Delete(id); err != nil {
					report(err)
				}
			}
		}
	}()
	wg.Wait()
	close(finished)
	done.Store(true)
	bg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	want := writers*perWriter - writers*perWriter/3
	if got := len(reportIDs(s)); got != want {
		t.Fatalf("%d replicas reported, want %d", got, want)
	}
	var used uint64
	for _, v := range s.Volumes() {
		used += v.DfsUsed
	}
	if used == 0 {
		t.Fatal("no space accounted")
	}
}

// checkPrefix opens a replica and checks that what it may read, and its
// checksums, match data.
func checkPrefix(s *Store, id uint64, data []byte) error {
	rd, err := s.OpenReplica(id, 1)
	if err != nil {
		return err
	}
	defer rd.Close()
	n := int(rd.Length())
	if n > len(data) || rd.VisibleLength() > uint64(n) {
		return fmt.Errorf("blk %d: reader length %d, visible %d", id, n, rd.VisibleLength())
	}
	got := make([]byte, n)
	if _, err := rd.ReadAt(got, 0); err != nil && err != io.EOF {
		return err
	}
	if string(got) != string(data[:n]) {
		return fmt.Errorf("blk %d: data differs within %d bytes", id, n)
	}
	sums, err := rd.Checksums(0, (n+511)/512)
	if err != nil {
		return err
	}
	if string(sums) != string(pieceSums(0, data[:n], 512)) {
		return fmt.Errorf("blk %d: checksums differ within %d bytes", id, n)
	}
	return nil
}
