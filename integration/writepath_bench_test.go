package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/client"
)

// BenchmarkWritePipeline writes 4 files of 64 MiB with the project's writer
// at replication 1, 2 and 3 on three local DataNodes and reports, besides
// MB/s, the CPU time each process spent per GiB written (user + system,
// from /proc): the client (this test process), the DataNodes together and
// the NameNode. On a shared 2-core machine the CPU per GiB is the steadier
// figure: throughput is what is left of two cores after that CPU.
// Run with `go test -run '^$' -bench WritePipeline -benchtime 1x ./integration/`;
// WRITEPATH_PACKET sets the writer's packet size (bytes).
func BenchmarkWritePipeline(b *testing.B) {
	const files, size = 4, 64 << 20
	c, sc := shortCircuitCluster(b)
	if s := os.Getenv("WRITEPATH_PACKET"); s != "" {
		sc["dfs.client-write-packet-size"] = s
	}
	own := projectClient(b, c, sc)
	data := randomBytes(42, size)
	c.Client(currentUserName()).MkdirAll("/wp", 0o755)
	run := 0 // file names stay unique across the b.N rounds
	for _, repl := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("repl%d", repl), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				run++
				before, fbefore := c.cpuTimes(b)
				start := time.Now()
				for f := 0; f < files; f++ {
					writeOwn(b, own, fmt.Sprintf("/wp/%d-%d-%d", repl, run, f), repl, data)
				}
				elapsed := time.Since(start)
				after, fafter := c.cpuTimes(b)
				gib := float64(files*size) / (1 << 30)
				b.ReportMetric(float64(files*size)/(1<<20)/elapsed.Seconds(), "MB/s")
				for who, t := range after {
					b.ReportMetric((t-before[who]).Seconds()*1000/gib, "cpu-ms/GiB-"+who)
					b.ReportMetric(float64(fafter[who]-fbefore[who])/gib, "faults/GiB-"+who)
				}
			}
		})
	}
}

// writeOwn writes data to a new file through the project's writer, in one
// Write, with 128 MiB blocks.
func writeOwn(b *testing.B, own *client.Client, name string, repl int, data []byte) {
	w, err := own.CreateWriter(name, client.WriteOptions{Replication: repl, BlockSize: 128 << 20})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// cpuTimes returns the CPU time (user + system) used so far, and the
// minor page faults taken, by this process ("client"), the DataNodes
// together ("datanodes") and the NameNode ("namenode"). Page faults are
// worth watching: on a virtual machine one costs about 15 µs.
func (c *Cluster) cpuTimes(t testing.TB) (map[string]time.Duration, map[string]int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	tv := func(v syscall.Timeval) time.Duration { return time.Duration(v.Nano()) }
	out := map[string]time.Duration{"client": tv(ru.Utime) + tv(ru.Stime)}
	faults := map[string]int64{"client": ru.Minflt}
	for _, d := range c.DataNodes {
		if d.p != nil {
			cpu, f := procCPU(t, d.p.cmd.Process.Pid)
			out["datanodes"] += cpu
			faults["datanodes"] += f
		}
	}
	c.mu.Lock()
	nn := c.nn
	c.mu.Unlock()
	if nn != nil {
		out["namenode"], faults["namenode"] = procCPU(t, nn.cmd.Process.Pid)
	}
	return out, faults
}

// procCPU reads a process's utime + stime and its minor faults from
// /proc/pid/stat.
func procCPU(t testing.TB, pid int) (time.Duration, int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Field k of stat (minflt is 10, utime 14, stime 15) is fields[k-3]:
	// fields starts at the third, the state.
	num := func(i int) int64 {
		n, err := strconv.ParseInt(fields[i-3], 10, 64)
		if err != nil {
			t.Fatalf("parse /proc/%d/stat: %v", pid, err)
		}
		return n
	}
	return time.Duration(num(14)+num(15)) * time.Second / 100, num(10) // USER_HZ
}
