package editlog

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// BenchmarkAppendSync measures durable creates per second: 64 goroutines
// each Append a ~100-byte record under a namespace mutex and then Sync it
// outside the mutex, on real temp dirs.
//
//	go test -run '^$' -bench AppendSync -benchtime 5s ./namenode/editlog
func BenchmarkAppendSync(b *testing.B) {
	for _, ndirs := range []int{1, 2} {
		b.Run(fmt.Sprintf("dirs=%d", ndirs), func(b *testing.B) {
			var dirs []string
			for i := 0; i < ndirs; i++ {
				dirs = append(dirs, b.TempDir())
			}
			cfs := &countFS{FS: vfs.Default}
			w := newWriter(b, cfs, dirs...)
			if err := w.StartSegment(1, 1); err != nil {
				b.Fatal(err)
			}
			ns := &namespace{w: w}
			payload := make([]byte, 100)
			for i := range payload {
				payload[i] = byte(i)
			}
			const goroutines = 64
			b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			syncs0 := cfs.syncs.Load()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := ns.create(payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			fsyncs := cfs.syncs.Load() - syncs0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
			if fsyncs > 0 {
				b.ReportMetric(float64(b.N*ndirs)/float64(fsyncs), "records/fsync")
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
