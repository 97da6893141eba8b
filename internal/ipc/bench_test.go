package ipc

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// BenchmarkCallParallel measures getFileInfo-shaped calls per second through
// our Client and Server over loopback: conns connections, each with
// inflight calls outstanding, a trivial handler returning a file status.
func BenchmarkCallParallel(b *testing.B) {
	for _, tc := range []struct{ conns, inflight int }{{16, 4}, {64, 1}, {64, 4}} {
		b.Run(fmt.Sprintf("conns=%d/inflight=%d", tc.conns, tc.inflight), func(b *testing.B) {
			st := fileStatus("/bench/file")
			methods := map[string]Method{"getFileInfo": {
				NewRequest: newGetFileInfo,
				Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
					return &hadooppb.GetFileInfoResponseProto{Fs: st}, nil
				},
			}}
			_, addr := startServer(b, Options{Logger: quietLogger()}, methods)
			clients := make([]*Client, tc.conns)
			for i := range clients {
				clients[i] = dialClient(b, addr, ClientOptions{})
			}
			goroutines := tc.conns * tc.inflight
			b.SetParallelism(max(1, goroutines/runtime.GOMAXPROCS(0)))
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start, cpuStart := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				c := clients[int(next.Add(1))%len(clients)]
				req := &hadooppb.GetFileInfoRequestProto{Src: proto.String("/bench/file")}
				resp := new(hadooppb.GetFileInfoResponseProto)
				for pb.Next() {
					if err := c.Call(context.Background(), "getFileInfo", req, resp); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			// CPU per call (client and server together) does not depend on
			// what else runs on the machine.
			b.ReportMetric(float64((cpuTime()-cpuStart).Microseconds())/float64(b.N), "cpu-µs/call")
		})
	}
}

// cpuTime returns the user+system CPU time used by this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
