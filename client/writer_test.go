package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/datanode"
	"github.com/avatarfs/avatarfs/datanode/storage"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/avatarfs/avatarfs/namenode"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// miniCluster is an in-process NameNode and DataNodes on 127.0.0.11...
type miniCluster struct {
	t     testing.TB
	extra map[string]string // settings of every process, clients included
	nn    *namenode.NameNode
	addr  string
	dns   []*datanode.DataNode
	mu    sync.Mutex
	dead  map[int]bool
}

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if os.Getenv("WRITER_TEST_LOG") != "" {
		l.SetOutput(os.Stderr)
	}
	return l
}

// clusterConf are the settings every process of the mini cluster shares:
// fast heartbeats and dead-node detection, small blocks allowed.
func clusterConf(nnAddr string) map[string]string {
	return map[string]string{
		"fs.defaultFS":                                    "hdfs://" + nnAddr,
		"dfs.replication":                                 "3",
		"dfs.blocksize":                                   "262144",
		"dfs.namenode.fs-limits.min-block-size":           "4096",
		"dfs.heartbeat.interval":                          "1",
		"dfs.namenode.heartbeat.recheck-interval":         "1000",
		"dfs.namenode.redundancy.interval.seconds":        "1",
		"dfs.namenode.safemode.extension":                 "0",
		"dfs.namenode.stale.datanode.interval":            "3000",
		"dfs.namenode.reconstruction.pending.timeout-sec": "10",
		"dfs.blockreport.intervalMsec":                    "60000",
		"dfs.client.socket-timeout":                       "20s",
		"dfs.datanode.socket.write.timeout":               "20s",
	}
}

func startMini(t testing.TB, ndn int) *miniCluster { return startMiniConf(t, ndn, nil) }

func startMiniConf(t testing.TB, ndn int, extra map[string]string) *miniCluster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &miniCluster{t: t, addr: ln.Addr().String(), dead: map[int]bool{}, extra: extra}
	c := m.conf()
	c.Set("dfs.namenode.name.dir", filepath.Join(t.TempDir(), "name"))
	if _, err := namenode.Format(c, nil, "", true); err != nil {
		t.Fatal(err)
	}
	nn, err := namenode.New(namenode.Options{Conf: c, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	m.nn = nn
	go nn.Serve(ln)
	t.Cleanup(func() { nn.Close() })
	for i := 0; i < ndn; i++ {
		dc := m.conf()
		dc.Set("dfs.datanode.address", fmt.Sprintf("127.0.0.%d:0", 11+i))
		dc.Set("dfs.datanode.ipc.address", fmt.Sprintf("127.0.0.%d:0", 11+i))
		dc.Set("dfs.datanode.data.dir", t.TempDir())
		d, err := datanode.New(datanode.Options{Conf: dc, NameNodes: []string{m.addr}, Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		m.dns = append(m.dns, d)
		t.Cleanup(func() { d.Close() })
	}
	// Wait until every DataNode is live and has reported its space (the
	// NameNode places no replica on a node without room).
	cl := m.client(nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := &pb.GetDatanodeReportResponseProto{}
		err := cl.call("getDatanodeReport", &pb.GetDatanodeReportRequestProto{Type: pb.DatanodeReportTypeProto_LIVE.Enum()}, resp)
		ready := 0
		for _, d := range resp.GetDi() {
			if d.GetRemaining() > 64<<20 {
				ready++
			}
		}
		for _, d := range m.dns {
			if _, err := d.Store().OpenReplica(1, 0); errors.Is(err, storage.ErrNoBlockPool) {
				ready = 0 // registered, but not ready to store blocks
			}
		}
		if err == nil && ready >= ndn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d DataNodes ready: %v", ready, ndn, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m
}

func (m *miniCluster) conf() *conf.Config {
	c := conf.New()
	for k, v := range clusterConf(m.addr) {
		c.Set(k, v)
	}
	for k, v := range m.extra {
		c.Set(k, v)
	}
	return c
}

// client returns a client of the mini cluster with extra settings.
func (m *miniCluster) client(extra map[string]string) *Client {
	m.t.Helper()
	c := m.conf()
	for k, v := range extra {
		c.Set(k, v)
	}
	cl, err := New(c)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { cl.Close() })
	return cl
}

// kill stops the DataNode serving addr (its connections are cut).
func (m *miniCluster) kill(addr string) int {
	m.t.Helper()
	for i, d := range m.dns {
		if d.XferAddr() == addr {
			m.mu.Lock()
			m.dead[i] = true
			m.mu.Unlock()
			d.Close()
			return i
		}
	}
	m.t.Fatalf("no DataNode at %s", addr)
	return -1
}

// locations returns, per block of p, the live replicas' addresses.
func (m *miniCluster) locations(cl *Client, p string) [][]string {
	m.t.Helper()
	resp := &pb.GetBlockLocationsResponseProto{}
	if err := cl.call("getBlockLocations", &pb.GetBlockLocationsRequestProto{Src: proto.String(p),
		Offset: proto.Uint64(0), Length: proto.Uint64(1 << 40)}, resp); err != nil {
		m.t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]string
	for _, b := range resp.GetLocations().GetBlocks() {
		var live []string
		for _, l := range b.GetLocs() {
			a := nodeAddr(l, false)
			isDead := false
			for i := range m.dead {
				if m.dns[i].XferAddr() == a {
					isDead = true
				}
			}
			if !isDead {
				live = append(live, a)
			}
		}
		out = append(out, live)
	}
	return out
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed*31+7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeChunks writes data in pieces of random sizes; before piece i,
// hook(i, written) may act.
func writeChunks(t testing.TB, w *FileWriter, data []byte, seed uint64, hook func(written int)) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	for off := 0; off < len(data); {
		if hook != nil {
			hook(off)
		}
		n := min(len(data)-off, 1+r.IntN(150000))
		k, err := w.Write(data[off : off+n])
		if err != nil || k != n {
			t.Fatalf("write at %d: %d, %v", off, k, err)
		}
		off += n
	}
}

func readAll(t testing.TB, cl *Client, p string) []byte {
	t.Helper()
	got, err := cl.Hadoop().ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return got
}

func checkSame(t testing.TB, name string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: read back %d bytes, want %d; first difference at %d", name, len(got), len(want), i)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	m := startMini(t, 3)
	cl := m.client(nil)
	const bs = 256 << 10
	sizes := []int{0, 1, 511, 512, 513, 64511, 64512, 64513, 65536, bs - 1, bs, bs + 1, 3*bs + 12345, 4 * bs}
	for i, n := range sizes {
		p := fmt.Sprintf("/rt/f%d-%d", i, n)
		data := randBytes(uint64(i+1), n)
		w, err := cl.CreateWriter(p, WriteOptions{Replication: 3, BlockSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		writeChunks(t, w, data, uint64(i), nil)
		if err := w.Close(); err != nil {
			t.Fatalf("close %s: %v", p, err)
		}
		if w.Written() != int64(n) {
			t.Fatalf("%s: Written %d", p, w.Written())
		}
		checkSame(t, p, readAll(t, cl, p), data)
		st, err := cl.Stat(p)
		if err != nil || st.Length != int64(n) || st.BlockSize != bs || st.Replication != 3 {
			t.Fatalf("%s: stat %+v %v", p, st, err)
		}
		for bi, locs := range m.locations(cl, p) {
			if len(locs) != 3 {
				t.Fatalf("%s block %d: %d replicas", p, bi, len(locs))
			}
		}
		if w.Recoveries() != 0 {
			t.Fatalf("%s: %d recoveries without failures", p, w.Recoveries())
		}
	}
	// Closed writers refuse more.
	w, _ := cl.CreateWriter("/rt/closed", WriteOptions{})
	w.Close()
	if _, err := w.Write([]byte("x")); err != ErrWriterClosed {
		t.Fatalf("write after close: %v", err)
	}
	// Create refusals carry the NameNode's message.
	if _, err := cl.CreateWriter("/rt/closed", WriteOptions{}); !IsClass(err, ExFileAlreadyExists) {
		t.Fatalf("create over an existing file: %v", err)
	}
	w, err := cl.CreateWriter("/rt/closed", WriteOptions{Overwrite: true, Perm: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("new"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := cl.Stat("/rt/closed"); st.Length != 3 || st.Perm != 0o600&^cl.Umask() {
		t.Fatalf("overwritten file: %+v", st)
	}
}

func TestHflushVisibleToNewReaders(t *testing.T) {
	m := startMini(t, 3)
	cl := m.client(nil)
	reader := m.client(nil)
	const bs = 256 << 10
	data := randBytes(9, 3*bs+777)
	w, err := cl.CreateWriter("/hf", WriteOptions{Replication: 3, BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	// Flush points inside a chunk, on chunk and packet boundaries, at a
	// block boundary and inside a later block.
	points := []int{100, 101, 512, 1000, 64512, 100000, bs, bs + 3, 2*bs + 5000, len(data)}
	off := 0
	for i, pt := range points {
		if _, err := w.Write(data[off:pt]); err != nil {
			t.Fatal(err)
		}
		off = pt
		flush := w.Hflush
		if i%2 == 1 {
			flush = w.Hsync
		}
		if err := flush(); err != nil {
			t.Fatalf("flush at %d: %v", pt, err)
		}
		got := readAll(t, reader, "/hf")
		checkSame(t, fmt.Sprintf("after flush at %d", pt), got, data[:pt])
	}
	// A flush with nothing new is harmless.
	if err := w.Hflush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Hsync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkSame(t, "closed", readAll(t, reader, "/hf"), data)
}

// killDuring writes data (replication 3, 1 MiB blocks, a window of four
// packets so the writer is never far ahead of the pipeline) and, once
// killAt bytes are written, kills the DataNode at index pos of the current
// pipeline. It returns the index of the block being written then.
func killDuring(t *testing.T, m *miniCluster, extra map[string]string, p string, data []byte, killAt, pos int) (*Client, int) {
	t.Helper()
	conf := map[string]string{"dfs.client.write.max-packets-in-flight": "4"}
	for k, v := range extra {
		conf[k] = v
	}
	cl := m.client(conf)
	const bs = 1 << 20
	w, err := cl.CreateWriter(p, WriteOptions{Replication: 3, BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	killed := false
	writeChunks(t, w, data, 5, func(off int) {
		if killed || off < killAt {
			return
		}
		_, pl := w.Pipeline()
		if len(pl) != 3 {
			t.Fatalf("pipeline at %d: %v", off, pl)
		}
		m.kill(pl[pos])
		killed = true
	})
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if !killed {
		t.Fatal("nothing was killed")
	}
	checkSame(t, p, readAll(t, cl, p), data)
	if w.Recoveries() < 1 {
		t.Fatal("no pipeline recovery")
	}
	return cl, killAt / bs
}

func TestPipelineRecoveryFirstNode(t *testing.T) {
	m := startMini(t, 4)
	data := randBytes(11, 3<<20+333)
	cl, _ := killDuring(t, m, nil, "/rec1", data, 1<<20+400<<10, 0)
	for i, locs := range m.locations(cl, "/rec1") {
		if len(locs) < 2 {
			t.Fatalf("block %d has %d live replicas: %v", i, len(locs), locs)
		}
	}
}

func TestPipelineRecoveryMiddleAndLastNode(t *testing.T) {
	for _, pos := range []int{1, 2} {
		t.Run(fmt.Sprint(pos), func(t *testing.T) {
			m := startMini(t, 3)
			data := randBytes(12, 2<<20+99)
			cl, _ := killDuring(t, m, nil, "/rec", data, 1<<20+300<<10, pos)
			for i, locs := range m.locations(cl, "/rec") {
				if len(locs) < 2 {
					t.Fatalf("block %d has %d live replicas: %v", i, len(locs), locs)
				}
			}
		})
	}
}

// With the ALWAYS policy, the writer replaces the lost node at once: a
// survivor transfers the replica to a new node, which joins the pipeline.
func TestPipelineRecoveryReplacesDatanode(t *testing.T) {
	m := startMini(t, 4)
	data := randBytes(13, 2<<20+5555)
	cl, bi := killDuring(t, m, map[string]string{"dfs.client.block.write.replace-datanode-on-failure.policy": "ALWAYS"},
		"/repl", data, 1<<20+300<<10, 1)
	locs := m.locations(cl, "/repl")
	for i := bi; i < len(locs); i++ {
		if len(locs[i]) != 3 {
			t.Fatalf("block %d has %d live replicas right after close: %v", i, len(locs[i]), locs[i])
		}
	}
}

// With Hadoop's DEFAULT policy and best-effort off, a pipeline that was
// hflushed needs a replacement; with no spare node the write fails with
// Hadoop's message, unless best-effort is on.
func TestPipelineRecoveryReplacementBestEffort(t *testing.T) {
	m := startMini(t, 3)
	for _, best := range []bool{false, true} {
		cl := m.client(map[string]string{"dfs.client.block.write.replace-datanode-on-failure.best-effort": fmt.Sprint(best)})
		p := fmt.Sprintf("/be-%v", best)
		w, err := cl.CreateWriter(p, WriteOptions{Replication: 3, BlockSize: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		data := randBytes(14, 200<<10)
		w.Write(data[:100<<10])
		if err := w.Hflush(); err != nil {
			t.Fatal(err)
		}
		if _, pl := w.Pipeline(); len(pl) != 3-len(m.dead) {
			t.Fatalf("pipeline %v", pl)
		}
		if !best {
			_, pl := w.Pipeline()
			m.kill(pl[2])
		} else {
			// The cluster has two live nodes left: a pipeline of two loses one.
			_, pl := w.Pipeline()
			m.kill(pl[1])
		}
		_, err = w.Write(data[100<<10:])
		if err == nil {
			err = w.Close()
		} else {
			w.Close()
		}
		if best {
			if err != nil {
				t.Fatalf("best effort: %v", err)
			}
			checkSame(t, p, readAll(t, cl, p), data)
		} else if err == nil || !strings.Contains(err.Error(), "Failed to replace a bad datanode") {
			t.Fatalf("want the replacement failure, got %v", err)
		}
	}
}

// A DataNode the NameNode still counts live but that is down: pipelines
// that include it fail at setup, the block is abandoned and the node
// excluded.
func TestPipelineSetupExcludesDeadNode(t *testing.T) {
	m := startMini(t, 4)
	cl := m.client(nil)
	m.kill(m.dns[0].XferAddr())
	data := randBytes(15, 6*(256<<10)+1)
	w, err := cl.CreateWriter("/setup", WriteOptions{Replication: 3, BlockSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, data, 3, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkSame(t, "/setup", readAll(t, cl, "/setup"), data)
	for i, locs := range m.locations(cl, "/setup") {
		if len(locs) != 3 {
			t.Fatalf("block %d: %v", i, locs)
		}
	}
}

func TestPipelineAllNodesDead(t *testing.T) {
	m := startMini(t, 2)
	cl := m.client(nil)
	w, err := cl.CreateWriter("/alone", WriteOptions{Replication: 1, BlockSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(randBytes(1, 10000))
	if err := w.Hflush(); err != nil {
		t.Fatal(err)
	}
	_, pl := w.Pipeline()
	m.kill(pl[0])
	_, err = w.Write(randBytes(2, 300000))
	if err == nil {
		err = w.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "are bad") {
		t.Fatalf("want all-nodes-bad error, got %v", err)
	}
	if err2 := w.Close(); err2 == nil {
		t.Fatal("close after failure succeeded")
	}
}

func TestAppendWriter(t *testing.T) {
	m := startMini(t, 3)
	cl := m.client(nil)
	const bs = 256 << 10
	for i, c := range []struct{ first, more int }{
		{1000, 5000},     // inside a chunk
		{1024, 100},      // on a chunk boundary
		{bs, 1000},       // a full last block: the next byte starts a block
		{bs - 10, 20000}, // across a block boundary
		{777, 0},         // nothing appended
		{0, 3000},        // an empty file
	} {
		p := fmt.Sprintf("/app%d", i)
		data := randBytes(uint64(20+i), c.first+c.more)
		w, err := cl.CreateWriter(p, WriteOptions{Replication: 3, BlockSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data[:c.first])
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		a, err := cl.AppendWriter(p)
		if err != nil {
			t.Fatalf("%s: append: %v", p, err)
		}
		writeChunks(t, a, data[c.first:], 4, nil)
		if c.more > 10 {
			if err := a.Hflush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Close(); err != nil {
			t.Fatalf("%s: close: %v", p, err)
		}
		checkSame(t, p, readAll(t, cl, p), data)
	}
}

// An append whose first pipeline node is dead recovers with
// PIPELINE_SETUP_APPEND_RECOVERY on the others.
func TestPipelineRecoveryAppendSetup(t *testing.T) {
	m := startMini(t, 3)
	cl := m.client(map[string]string{"dfs.client.block.write.replace-datanode-on-failure.policy": "NEVER"})
	data := randBytes(30, 3000+4000)
	w, _ := cl.CreateWriter("/apprec", WriteOptions{Replication: 3, BlockSize: 256 << 10})
	w.Write(data[:3000])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := cl.AppendWriter("/apprec")
	if err != nil {
		t.Fatal(err)
	}
	m.kill(m.locations(cl, "/apprec")[0][0])
	a.Write(data[3000:])
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Recoveries() != 0 {
		// The setup itself recovered: no streaming recovery happened.
		t.Logf("%d streaming recoveries", a.Recoveries())
	}
	checkSame(t, "/apprec", readAll(t, cl, "/apprec"), data)
}

// Many packets in flight, several writers at once.
func TestWritersConcurrent(t *testing.T) {
	m := startMini(t, 3)
	cl := m.client(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	sums := make([][32]byte, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randBytes(uint64(40+i), 700<<10+i)
			sums[i] = sha256.Sum256(data)
			w, err := cl.CreateWriter(fmt.Sprintf("/conc/%d", i), WriteOptions{BlockSize: 256 << 10})
			if err == nil {
				_, err = w.Write(data)
			}
			if err == nil {
				err = w.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		if sha256.Sum256(readAll(t, cl, fmt.Sprintf("/conc/%d", i))) != sums[i] {
			t.Fatalf("file %d differs", i)
		}
	}
}

func TestChecksummer(t *testing.T) {
	cs, err := newChecksummer("CRC32C", 512)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ n, first, want int }{{0, 512, 0}, {1, 512, 1}, {512, 512, 1}, {513, 512, 2}, {1024, 512, 2}, {10, 24, 1}, {24, 24, 1}, {25, 24, 2}} {
		if got := cs.chunks(c.n, c.first); got != c.want {
			t.Errorf("chunks(%d, %d) = %d, want %d", c.n, c.first, got, c.want)
		}
	}
	if _, err := newChecksummer("MD5", 512); err == nil {
		t.Error("MD5 accepted")
	}
	p := replacePolicy{enabled: true, policy: "DEFAULT"}
	for _, c := range []struct {
		repl, n         int
		append, flushed bool
		want            bool
	}{{3, 2, false, false, false}, {3, 1, false, false, true}, {3, 2, true, false, true}, {3, 2, false, true, true}, {2, 1, true, true, false}, {3, 3, true, true, false}} {
		if got := p.need(c.repl, c.n, c.append, c.flushed); got != c.want {
			t.Errorf("DEFAULT need(%+v) = %v", c, got)
		}
	}
}

// An idle pipeline is kept open by heartbeat packets: the DataNodes (1 s
// read timeout here) do not drop it while the writer waits.
func TestPipelineHeartbeats(t *testing.T) {
	m := startMiniConf(t, 3, map[string]string{"dfs.client.socket-timeout": "1s"})
	cl := m.client(nil)
	data := randBytes(50, 300000)
	w, err := cl.CreateWriter("/idle", WriteOptions{Replication: 3, BlockSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:100000])
	if err := w.Hflush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	w.Write(data[100000:])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Recoveries() != 0 {
		t.Fatalf("%d recoveries: the idle pipeline was dropped", w.Recoveries())
	}
	checkSame(t, "/idle", readAll(t, cl, "/idle"), data)
}

// Abort cuts the pipeline without completing the file.
func TestWriterAbort(t *testing.T) {
	m := startMini(t, 3)
	cl := m.client(nil)
	w, err := cl.CreateWriter("/aborted", WriteOptions{BlockSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(randBytes(51, 500000))
	w.Abort()
	if _, err := w.Write([]byte("x")); err != ErrWriterClosed {
		t.Fatalf("write after abort: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("close after abort succeeded")
	}
	resp := &pb.IsFileClosedResponseProto{}
	if err := cl.call("isFileClosed", &pb.IsFileClosedRequestProto{Src: proto.String("/aborted")}, resp); err != nil || resp.GetResult() {
		t.Fatalf("aborted file closed: %v %v", resp.GetResult(), err)
	}
}
