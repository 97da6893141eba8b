package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWriteFinalize writes and finalizes 1 MiB replicas (64 KiB
// packets, CRC32C verified, fsync of data, meta and directory).
func BenchmarkWriteFinalize(b *testing.B) {
	opts := testOptions(b, 2)
	s := openStore(b, opts)
	data := randBytes(1, 1<<20)
	type pkt struct {
		off        uint64
		data, sums []byte
	}
	var pkts []pkt
	for off := 0; off < len(data); off += 64 << 10 {
		d := data[off : off+64<<10]
		pkts = append(pkts, pkt{uint64(off), d, pieceSums(uint64(off), d, 512)})
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := s.CreateRBW(uint64(i+1), 1, StorageDisk)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range pkts {
			if err := w.WriteChunks(p.off, p.data, p.sums); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Finalize(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRestart10k reopens a store holding 10,000 finalized replicas
// whose leaf directories are certified in the index, and reports the
// restart time in ms; "listms" is the same restart without the index.
func BenchmarkRestart10k(b *testing.B) {
	opts := testOptions(b, 2)
	layOut10k(b, opts, 10000)
	ageLeaves(b, opts)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		s, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if n := len(s.replicas); n != 10000 || s.leavesListed != 0 {
			b.Fatalf("%d replicas, %d leaves listed", n, s.leavesListed)
		}
		s.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/restart")
	var listed time.Duration
	for i := 0; i < b.N; i++ {
		for _, v := range opts.Volumes {
			os.RemoveAll(filepath.Join(v.Path, "current", "replica-index"))
		}
		start := time.Now()
		s, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		listed += time.Since(start)
		s.Close()
	}
	b.ReportMetric(float64(listed.Microseconds())/1000/float64(b.N), "listms/restart")
}

// BenchmarkRestartMillion is BenchmarkRestart10k at 1,000,000 replicas:
// the "a DataNode with a million small replicas restarts quickly".
// It writes 2,000,000 small files (about 8 GB of disk blocks), so it runs
// only with AVATARFS_BIG=1:
// `AVATARFS_BIG=1 go test -run XXX -bench RestartMillion -benchtime 1x -timeout 60m ./datanode/storage`.
// With AVATARFS_BIG_DIR=<dir> the laid-out volumes are kept in <dir> and
// reused by the next run (remove the directory to lay them out again).
// Besides the restart it reports the full block report (report-ms, from
// memory), the directory scan of every replica (dirscan-ms) and how long
// that scan holds the store's lock to take the block ids (dirscan-lock-ms).
func BenchmarkRestartMillion(b *testing.B) {
	if os.Getenv("AVATARFS_BIG") == "" {
		b.Skip("set AVATARFS_BIG=1 to lay out a million replicas")
	}
	const n = 1000000
	opts := bigVolumes(b, n)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		s, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if got := len(s.replicas); got != n || s.leavesListed != 0 {
			b.Fatalf("%d replicas, %d leaves listed (a cached AVATARFS_BIG_DIR that changed? remove it)", got, s.leavesListed)
		}
		probe := probeWriters(s)
		start = time.Now()
		rep := s.Report()
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "report-ms")
		b.ReportMetric(ms(probe.stop()), "report-writer-wait-ms")
		count := 0
		for _, r := range rep {
			count += len(r)
		}
		if count != n {
			b.Fatalf("report of %d replicas", count)
		}
		probe = probeWriters(s)
		st, err := s.ScanDirectories(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms(probe.stop()), "dirscan-writer-wait-ms")
		if st.Replicas != n || st.Lost != 0 || st.LeavesRelisted != 0 {
			b.Fatalf("directory scan: %v", st)
		}
		b.ReportMetric(float64(st.Elapsed.Milliseconds()), "dirscan-ms")
		b.Logf("directory scan: %v", st)
		s.Close()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/restart")
}

// writerProbe takes the store's write lock every millisecond, as
// finalizing writers do, and keeps the longest wait.
type writerProbe struct {
	done chan struct{}
	max  chan time.Duration
}

func probeWriters(s *Store) *writerProbe {
	p := &writerProbe{done: make(chan struct{}), max: make(chan time.Duration)}
	go func() {
		var longest time.Duration
		for {
			select {
			case <-p.done:
				p.max <- longest
				return
			default:
			}
			start := time.Now()
			s.mu.Lock()
			longest = max(longest, time.Since(start))
			s.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	return p
}

// stop ends the probe and returns the longest wait for the lock.
func (p *writerProbe) stop() time.Duration {
	close(p.done)
	return <-p.max
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bigVolumes lays out n replicas on two volumes and certifies their
// leaves, or reuses the ones AVATARFS_BIG_DIR holds.
func bigVolumes(b *testing.B, n int) Options {
	opts := testOptions(b, 2)
	dir := os.Getenv("AVATARFS_BIG_DIR")
	marker := ""
	if dir != "" {
		opts.Volumes = []VolumeConfig{{Path: filepath.Join(dir, "vol0"), Type: StorageDisk}, {Path: filepath.Join(dir, "vol1"), Type: StorageDisk}}
		marker = filepath.Join(dir, fmt.Sprintf("laid-out-%d", n))
		if _, err := os.Stat(marker); err == nil {
			b.Logf("reusing the %d replicas laid out in %s", n, dir)
			return opts
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	layOut10k(b, opts, n)
	b.Logf("laid out %d replicas in %s", n, time.Since(start).Round(time.Second))
	start = time.Now()
	ageLeaves(b, opts)
	b.Logf("first start (lists every directory, builds the index): %s", time.Since(start).Round(time.Millisecond))
	if marker != "" {
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return opts
}

// BenchmarkReportMillionInMemory builds the full block report of
// 1,000,000 replicas held in the map (no files: Report reads none).
func BenchmarkReportMillionInMemory(b *testing.B) {
	opts := testOptions(b, 2)
	s := openStore(b, opts)
	fakeReplicas(s, 1000000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rep := s.Report(); len(rep) != 2 {
			b.Fatal("report")
		}
	}
}
