package namenode

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// discardJournal numbers records and keeps nothing: for building large
// namespaces in benchmarks.
type discardJournal struct{ n uint64 }

func (j *discardJournal) Append(uint8, []byte) (uint64, error) { j.n++; return j.n, nil }
func (j *discardJournal) Sync(uint64) error                    { return nil }

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMillionFiles builds a namespace of 1,000,000 files (1,000
// directories of 1,000) through the live operation path, then reports Go
// heap bytes per inode after GC, the fsimage size, and how long saving and
// loading the image take (the restart cost). Run with
// `go test -run '^$' -bench MillionFiles -benchtime 1x ./namenode/`.
func BenchmarkMillionFiles(b *testing.B) {
	const dirs, perDir = 1000, 1000
	for i := 0; i < b.N; i++ {
		before := heapAlloc()
		ns := NewNamespace(DefaultSettings(), nil)
		ns.set.Superuser = "hdfs"
		ns.SetJournal(&discardJournal{}, nil)
		c := &Caller{User: "hdfs"}
		for d := 0; d < dirs; d++ {
			dir := fmt.Sprintf("/bench/d%04d", d)
			if err := ns.Mkdirs(c, dir, 0o755, true); err != nil {
				b.Fatal(err)
			}
			for f := 0; f < perDir; f++ {
				p := fmt.Sprintf("%s/file-%06d", dir, f)
				if _, err := ns.Create(c, CreateArgs{Src: p, Mode: 0o644, ClientName: "bench", Flags: CreateFlagCreate, Replication: 3, BlockSize: 128 << 20}); err != nil {
					b.Fatal(err)
				}
				if _, err := ns.Complete(c, p, 0, "bench", nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		inodes := ns.NumInodes()
		after := heapAlloc()
		b.ReportMetric(float64(after-before)/float64(inodes), "heap-bytes/inode")
		dir := b.TempDir()
		start := time.Now()
		txid := ns.LastAppliedTxID()
		if err := ns.SaveImage(osFS(), dir, ImageMeta{TxID: txid}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "save-s")
		ns = nil
		runtime.GC()
		start = time.Now()
		ns2 := NewNamespace(DefaultSettings(), nil)
		if _, err := ns2.LoadImage(osFS(), filepath.Join(dir, ImageName(txid))); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "load-s")
		if ns2.NumInodes() != inodes {
			b.Fatalf("loaded %d inodes, saved %d", ns2.NumInodes(), inodes)
		}
	}
}
