package integration

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/avatarfs/avatarfs/namenode"
	"github.com/avatarfs/avatarfs/namenode/nnpb"
)

// BenchmarkBigReportRestart measures, with real NameNode and DataNode
// processes, how long a DataNode holding N small finalized replicas takes
// from the start of its process until the NameNode holds all N replicas:
//
//   - cold-*: the NameNode was restarted too, so it knows the N blocks
//     (from its fsimage) but no replica: the first full report after a
//     NameNode restart, in start-up safe mode;
//   - warm-*: only the DataNode restarted; the NameNode still lists its
//     replicas, so the report changes nothing.
//
// For each it reports, from the processes' logs, the time from starting
// the DataNode process to: its registration (*-registered-ms), its full
// block report sent and answered (*-report-sent-ms; *-dn-report-ms is the
// DataNode's own "took": building the report plus the RPC), and the
// NameNode's "block report processed" (*-nn-done-ms; *-nn-report-ms is the
// NameNode's "took"). *-total-ms is the later of the last two.
// *-dn-load-ms is the DataNode's block-pool load (from its replica index).
// After the cold start a client reads one file back, so the blocks the
// NameNode knows are the replicas the DataNode serves.
//
// The measured parts run the real processes. What sets them up is built
// offline, as a restore would: the NameNode's fsimage is written by the
// namenode package (files of 1,000 blocks of 10 bytes, replication 1), and
// the DataNode's replicas are laid out in Hadoop's directory layout with
// matching ids, generation stamps and lengths; one DataNode start then
// indexes them (as its first start after an upgrade would) before the
// measured restarts.
//
// Opt-in: AVATARFS_BIG=1 (N = 1,000,000) or AVATARFS_BIG_N=<n> (e.g.
// 20000 for a smoke check). AVATARFS_BIG_DIR keeps the NameNode's
// directory and the DataNode's volume between runs (remove it to lay them
// out again). Run with
//
//	AVATARFS_BIG=1 go test -run '^$' -bench BigReportRestart -benchtime 1x -timeout 60m ./integration/
func BenchmarkBigReportRestart(b *testing.B) {
	n := bigReportN(b)
	conf := DataConf()
	conf["dfs.replication"] = "1"
	conf["dfs.blockreport.intervalMsec"] = "21600000"          // only start-up reports
	conf["dfs.namenode.heartbeat.recheck-interval"] = "300000" // a restart is not a death
	c := NewCluster(b, conf)
	dn := c.AddDataNodes("127.0.0.1")[0]
	cache := os.Getenv("AVATARFS_BIG_DIR")
	ready := ""
	if cache != "" {
		c.Conf["dfs.namenode.name.dir"] = filepath.Join(cache, "name")
		c.WriteConf()
		dn.Dir = filepath.Join(cache, "dn")
		ready = filepath.Join(cache, fmt.Sprintf("ready-%d", n))
	}
	if _, err := os.Stat(ready); ready != "" && err == nil {
		b.Logf("reusing the NameNode and DataNode directories of %d blocks in %s", n, cache)
	} else {
		if cache != "" {
			if err := os.RemoveAll(cache); err != nil {
				b.Fatal(err)
			}
			c.Run("namenode", "-format", "-nonInteractive")
		}
		setUpBigReport(b, c, dn, n)
		if ready != "" {
			if err := os.WriteFile(ready, nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nnLog := logMark(filepath.Join(c.Dir, "namenode.log"))
		c.Start()
		waitLogLine(b, nnLog, "namespace loaded", "", time.Minute)
		cold := restartDataNode(b, c, dn, n)
		cold.report(b, "cold")
		// Let the NameNode leave safe mode and settle the blocks it then
		// re-checks before the next restart.
		waitLogLine(b, nnLog, "leaving start-up safe mode", "", 5*time.Minute)
		time.Sleep(3 * time.Second)
		if out := c.Run("dfsadmin", "-report"); !strings.Contains(out, fmt.Sprintf("Num of Blocks: %d\n", n)) ||
			!strings.Contains(out, "Missing blocks: 0\n") {
			b.Fatalf("the NameNode does not list %d replicas:\n%s", n, out)
		}
		readBigFile(b, c, n)
		dn.Stop()
		warm := restartDataNode(b, c, dn, n)
		warm.report(b, "warm")
		dn.Stop()
		c.Stop()
	}
}

// bigReportN is the number of replicas, or skips the benchmark.
func bigReportN(b *testing.B) int {
	if s := os.Getenv("AVATARFS_BIG_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("AVATARFS_BIG_N=%q", s)
		}
		return n
	}
	if os.Getenv("AVATARFS_BIG") == "" {
		b.Skip("set AVATARFS_BIG=1 (a million replicas) or AVATARFS_BIG_N=<n> to run")
	}
	return 1000000
}

const (
	bigFirstBlock = 1073741825 // Hadoop's first block id
	bigGenStamp   = 1001
	bigPerFile    = 1000
)

var bigData = []byte("0123456789")

// setUpBigReport writes the NameNode's image of n blocks, starts the
// DataNode once empty (it formats its volume and joins the block pool),
// lays out the n replicas in its volume, and starts it once more so it
// indexes them; both processes are stopped again at the end.
func setUpBigReport(b *testing.B, c *Cluster, dn *DataNode, n int) {
	start := time.Now()
	writeBigImage(b, c.NameDir(), n)
	b.Logf("fsimage of %d blocks written in %s", n, time.Since(start).Round(time.Millisecond))

	nnLog := logMark(filepath.Join(c.Dir, "namenode.log"))
	c.Start()
	waitLogLine(b, nnLog, "namespace loaded", "", time.Minute)
	dnLog := logMark(dn.Dir + ".log")
	dn.Start()
	waitLogLine(b, dnLog, "full block report sent", "", time.Minute)
	dn.Stop()
	bps, _ := filepath.Glob(filepath.Join(dn.Dir, "current", "BP-*", "current"))
	if len(bps) != 1 {
		b.Fatalf("DataNode volume %s has block pools %v", dn.Dir, bps)
	}
	start = time.Now()
	layOutBigReplicas(b, filepath.Join(bps[0], "finalized"), n)
	b.Logf("laid out %d replicas in %s", n, time.Since(start).Round(time.Millisecond))

	// The first start lists every leaf directory and indexes the replicas.
	start = time.Now()
	nnLog = logMark(filepath.Join(c.Dir, "namenode.log"))
	dn.Start()
	line := waitLogLine(b, nnLog, "block report processed", fmt.Sprintf("replicas=%d ", n), 30*time.Minute)
	b.Logf("first start with the replicas (lists and indexes them) until the NameNode has them: %s\n%s",
		time.Since(start).Round(time.Millisecond), line)
	dn.Stop()
	c.Stop()
}

// writeBigImage replaces the freshly formatted namespace in dir with one
// holding /big/fNNNNNN files of bigPerFile complete blocks each (the last
// one fewer), n blocks in all: the edits a NameNode would have logged,
// applied through the namespace's replay path and saved as an fsimage.
func writeBigImage(b *testing.B, dir string, n int) {
	ns := namenode.NewNamespace(namenode.DefaultSettings(), nil)
	meta, err := ns.LoadImage(vfs.Default, filepath.Join(dir, namenode.ImageName(0)))
	if err != nil {
		b.Fatal(err)
	}
	perm := &nnpb.Perm{Owner: currentUserName(), Group: "supergroup", Mode: 0o755}
	txid, inode := meta.TxID, uint64(namenode.RootInodeID)
	apply := func(op *nnpb.Op) {
		txid++
		payload, err := proto.Marshal(op)
		if err != nil {
			b.Fatal(err)
		}
		body := op.ProtoReflect().WhichOneof(op.ProtoReflect().Descriptor().Oneofs().ByName("body"))
		if err := ns.ApplyRecord(txid, uint8(body.Number()), payload); err != nil {
			b.Fatal(err)
		}
	}
	inode++
	apply(&nnpb.Op{Body: &nnpb.Op_Mkdir{Mkdir: &nnpb.Mkdir{Path: "/big", InodeId: inode, Perm: perm}}})
	filePerm := &nnpb.Perm{Owner: perm.Owner, Group: perm.Group, Mode: 0o644}
	for f, id := 0, uint64(bigFirstBlock); f*bigPerFile < n; f++ {
		inode++
		path := fmt.Sprintf("/big/f%06d", f)
		apply(&nnpb.Op{Body: &nnpb.Op_AddFile{AddFile: &nnpb.AddFile{Path: path, InodeId: inode, Perm: filePerm,
			Replication: 1, BlockSize: 1 << 20, ClientName: "bigreport"}}})
		blocks := make([]*nnpb.Block, min(bigPerFile, n-f*bigPerFile))
		for i := range blocks {
			blocks[i] = &nnpb.Block{Id: id, GenStamp: bigGenStamp, NumBytes: uint64(len(bigData))}
			id++
		}
		apply(&nnpb.Op{Body: &nnpb.Op_CloseFile{CloseFile: &nnpb.CloseFile{Path: path, Blocks: blocks}}})
	}
	meta.TxID = txid
	if err := ns.SaveImage(vfs.Default, dir, meta); err != nil {
		b.Fatal(err)
	}
}

// layOutBigReplicas writes n finalized replicas of bigData (block file
// and CRC32C meta file) into a volume's finalized directory, in Hadoop's
// 32x32 layout, then backdates the leaf directories so the DataNode's
// index will trust them (it lists directories changed within the last
// seconds at every start).
func layOutBigReplicas(b *testing.B, finalized string, n int) {
	meta := make([]byte, 0, 11)
	meta = binary.BigEndian.AppendUint16(meta, 1) // meta version
	meta = append(meta, 2)                        // CRC32C
	meta = binary.BigEndian.AppendUint32(meta, 512)
	meta = binary.BigEndian.AppendUint32(meta, crc32.Checksum(bigData, crc32.MakeTable(crc32.Castagnoli)))
	leafDir := func(id uint64) string {
		return filepath.Join(finalized, fmt.Sprintf("subdir%d", (id>>16)&31), fmt.Sprintf("subdir%d", (id>>8)&31))
	}
	for i := 0; i < n; i += 256 {
		for _, id := range []uint64{uint64(bigFirstBlock + i), uint64(bigFirstBlock + min(i+255, n-1))} {
			if err := os.MkdirAll(leafDir(id), 0o755); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Two workers (the machine's cores) take runs of 256 ids in turn.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for run := w; run*256 < n; run += 2 {
				for i := run * 256; i < min(n, run*256+256); i++ {
					id := uint64(bigFirstBlock + i)
					name := filepath.Join(leafDir(id), "blk_"+strconv.FormatUint(id, 10))
					if err := os.WriteFile(name, bigData, 0o644); err != nil {
						errs <- err
						return
					}
					if err := os.WriteFile(fmt.Sprintf("%s_%d.meta", name, bigGenStamp), meta, 0o644); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	leaves, _ := filepath.Glob(filepath.Join(finalized, "subdir*", "subdir*"))
	for _, l := range leaves {
		if err := os.Chtimes(l, old, old); err != nil {
			b.Fatal(err)
		}
	}
}

// readBigFile reads /big/f000000 back through the Hadoop client.
func readBigFile(b *testing.B, c *Cluster, n int) {
	got, err := c.Client(currentUserName()).ReadFile("/big/f000000")
	if err != nil {
		b.Fatal(err)
	}
	if want := bytes.Repeat(bigData, min(n, bigPerFile)); !bytes.Equal(got, want) {
		b.Fatalf("read %d bytes back, want %d", len(got), len(want))
	}
}

// restartTimes is one measured DataNode start, each time since the
// process was started.
type restartTimes struct {
	registered, reportSent, nnDone time.Duration
	dnReport, nnReport, dnLoad     time.Duration
	leavesListed                   int
}

func (r restartTimes) report(b *testing.B, what string) {
	b.ReportMetric(ms(r.registered), what+"-registered-ms")
	b.ReportMetric(ms(r.reportSent), what+"-report-sent-ms")
	b.ReportMetric(ms(r.dnReport), what+"-dn-report-ms")
	b.ReportMetric(ms(r.nnDone), what+"-nn-done-ms")
	b.ReportMetric(ms(r.nnReport), what+"-nn-report-ms")
	b.ReportMetric(ms(max(r.reportSent, r.nnDone)), what+"-total-ms")
	b.ReportMetric(ms(r.dnLoad), what+"-dn-load-ms")
	b.Logf("%s: registered %v, report sent %v (DataNode took %v), NameNode done %v (took %v); block pool loaded in %v listing %d leaves",
		what, r.registered, r.reportSent, r.dnReport, r.nnDone, r.nnReport, r.dnLoad, r.leavesListed)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// restartDataNode starts dn's process and waits until the NameNode has
// processed its full report of n replicas; times come from both logs.
func restartDataNode(b *testing.B, c *Cluster, dn *DataNode, n int) restartTimes {
	nnLog := logMark(filepath.Join(c.Dir, "namenode.log"))
	dnLog := logMark(dn.Dir + ".log")
	start := time.Now()
	dn.Start()
	nnLine := waitLogLine(b, nnLog, "block report processed", fmt.Sprintf("replicas=%d ", n), 10*time.Minute)
	sent := waitLogLine(b, dnLog, "full block report sent", "", time.Minute)
	since := func(line string) time.Duration { return logTime(b, line).Sub(start) }
	var r restartTimes
	r.registered = since(waitLogLine(b, dnLog, "registered with NameNode", "", time.Second))
	r.reportSent, r.dnReport = since(sent), logDuration(b, sent, "took")
	r.nnDone = since(nnLine)
	if logField(nnLine, "took") != "" { // older NameNodes do not say
		r.nnReport = logDuration(b, nnLine, "took")
	}
	loaded := waitLogLine(b, dnLog, "block pool loaded", "", time.Second)
	r.dnLoad = logDuration(b, loaded, "elapsed")
	r.leavesListed, _ = strconv.Atoi(logField(loaded, "leavesListed"))
	if got := logField(sent, "replicas"); got != strconv.Itoa(n) {
		b.Fatalf("DataNode reported %s replicas, want %d: %s", got, n, sent)
	}
	if rm := logField(nnLine, "removed"); rm != "" && rm != "0" {
		b.Fatalf("the NameNode removed replicas: %s", nnLine)
	}
	return r
}

// logPos is a log file and the offset where the lines of interest start.
type logPos struct {
	path string
	off  int64
}

func logMark(path string) logPos {
	fi, err := os.Stat(path)
	if err != nil {
		return logPos{path: path}
	}
	return logPos{path: path, off: fi.Size()}
}

// waitLogLine waits until a line with msg="<msg>" (and containing also,
// when set) appears after the mark, and returns it.
func waitLogLine(b *testing.B, p logPos, msg, also string, within time.Duration) string {
	b.Helper()
	want := `msg="` + msg + `"`
	deadline := time.Now().Add(within)
	for {
		if f, err := os.Open(p.path); err == nil {
			f.Seek(p.off, io.SeekStart)
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if l := sc.Text(); strings.Contains(l, want) && strings.Contains(l, also) {
					f.Close()
					return l
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			tail, _ := os.ReadFile(p.path)
			if len(tail) > 8000 {
				tail = tail[len(tail)-8000:]
			}
			b.Fatalf("no %s %s in %s within %v:\n%s", want, also, p.path, within, tail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var logFieldRE = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)

// logField is a field of a logrus text line, unquoted.
func logField(line, key string) string {
	for _, m := range logFieldRE.FindAllStringSubmatch(line, -1) {
		if m[1] == key {
			if v, err := strconv.Unquote(m[2]); err == nil {
				return v
			}
			return m[2]
		}
	}
	return ""
}

// logTime is a line's timestamp (the daemons log milliseconds).
func logTime(b *testing.B, line string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05,000", logField(line, "time"), time.Local)
	if err != nil {
		b.Fatalf("no time in %q: %v", line, err)
	}
	return t
}

func logDuration(b *testing.B, line, key string) time.Duration {
	d, err := time.ParseDuration(logField(line, key))
	if err != nil {
		b.Fatalf("no duration %s in %q: %v", key, line, err)
	}
	return d
}
