package storage

import (
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
func BenchmarkRestartMillion(b *testing.B) {
	if os.Getenv("AVATARFS_BIG") == "" {
		b.Skip("set AVATARFS_BIG=1 to lay out a million replicas")
	}
	const n = 1000000
	opts := testOptions(b, 2)
	start := time.Now()
	layOut10k(b, opts, n)
	b.Logf("laid out %d replicas in %s", n, time.Since(start).Round(time.Second))
	start = time.Now()
	ageLeaves(b, opts)
	b.Logf("first start (lists every directory, builds the index): %s", time.Since(start).Round(time.Millisecond))
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
			b.Fatalf("%d replicas, %d leaves listed", got, s.leavesListed)
		}
		start = time.Now()
		rep := s.Report()
		count := 0
		for _, r := range rep {
			count += len(r)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "report-ms")
		if count != n {
			b.Fatalf("report of %d replicas", count)
		}
		s.Close()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/restart")
}
