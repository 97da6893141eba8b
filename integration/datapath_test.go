package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/client"
	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	hdfs "github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func writeFile(t *testing.T, cl *hdfs.Client, name string, data []byte) {
	t.Helper()
	w, err := cl.CreateFile(name, 3, 1<<20, 0o644)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// blockLocations asks the NameNode for a file's blocks.
func blockLocations(t *testing.T, c *Cluster, name string) *pb.LocatedBlocksProto {
	t.Helper()
	cl, err := ipc.Dial(context.Background(), c.NNAddr, ipc.ClientOptions{User: currentUserName(), Protocol: "org.apache.hadoop.hdfs.protocol.ClientProtocol"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp := &pb.GetBlockLocationsResponseProto{}
	if err := cl.Call(context.Background(), "getBlockLocations", &pb.GetBlockLocationsRequestProto{Src: proto.String(name), Offset: proto.Uint64(0), Length: proto.Uint64(1 << 40)}, resp); err != nil {
		t.Fatalf("getBlockLocations %s: %v", name, err)
	}
	return resp.GetLocations()
}

func newDataCluster(t testing.TB, ips ...string) *Cluster {
	c := NewCluster(t, DataConf())
	c.Start()
	c.StartDataNodes(ips...)
	waitLive(t, c, len(ips))
	return c
}

// waitLive waits until the NameNode reports n live DataNodes.
func waitLive(t testing.TB, c *Cluster, n int) {
	t.Helper()
	cl, err := ipc.Dial(context.Background(), c.NNAddr, ipc.ClientOptions{User: currentUserName(), Protocol: "org.apache.hadoop.hdfs.protocol.ClientProtocol"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp := &pb.GetDatanodeReportResponseProto{}
		if err := cl.Call(context.Background(), "getDatanodeReport", &pb.GetDatanodeReportRequestProto{Type: pb.DatanodeReportTypeProto_LIVE.Enum()}, resp); err == nil && len(resp.Di) >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("fewer than %d live DataNodes after 60s\n%s", n, c.NNLog())
}

func TestFilesOfManySizesRoundTrip(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	cl := c.Client(currentUserName())
	const bs = 1 << 20
	sizes := []int{0, 1, 511, 512, 513, 65535, 65536, 65537, bs - 1, bs, bs + 1, 3*bs + 12345, 9 * bs}
	sums := map[string][32]byte{}
	for i, n := range sizes {
		name := fmt.Sprintf("/sizes/f%d-%d", i, n)
		data := randomBytes(uint64(i+1), n)
		cl.MkdirAll("/sizes", 0o755)
		writeFile(t, cl, name, data)
		sums[name] = sha256.Sum256(data)
		got, err := cl.ReadFile(name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if sha256.Sum256(got) != sums[name] {
			t.Fatalf("%s: read back differs (len %d, want %d)", name, len(got), n)
		}
		lbs := blockLocations(t, c, name)
		if lbs.GetFileLength() != uint64(n) {
			t.Fatalf("%s: length %d", name, lbs.GetFileLength())
		}
		for _, b := range lbs.GetBlocks() {
			seen := map[string]bool{}
			for _, l := range b.GetLocs() {
				seen[l.GetId().GetDatanodeUuid()] = true
			}
			if len(seen) != 3 {
				t.Fatalf("%s block %d on %d distinct DataNodes, want 3", name, b.GetB().GetBlockId(), len(seen))
			}
		}
		// Random-offset reads.
		if n > 0 {
			f, err := cl.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 5; k++ {
				off := rand.IntN(n)
				ln := min(n-off, 1+rand.IntN(70000))
				buf := make([]byte, ln)
				if _, err := f.ReadAt(buf, int64(off)); err != nil && err != io.EOF {
					t.Fatalf("%s ReadAt(%d,%d): %v", name, off, ln, err)
				}
				if !bytes.Equal(buf, data[off:off+ln]) {
					t.Fatalf("%s ReadAt(%d,%d) differs", name, off, ln)
				}
			}
			f.Close()
		}
	}
	// Concurrent readers of the largest file.
	big := fmt.Sprintf("/sizes/f%d-%d", len(sizes)-1, sizes[len(sizes)-1])
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for r := 0; r < 6; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := c.Client(currentUserName())
			got, err := rc.ReadFile(big)
			if err == nil && sha256.Sum256(got) != sums[big] {
				err = fmt.Errorf("concurrent read differs")
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
}

// waitReplicated waits until every block of name has want live replicas on
// distinct DataNodes, none of them in dead.
func waitReplicated(t *testing.T, c *Cluster, name string, want int, dead string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, b := range blockLocations(t, c, name).GetBlocks() {
			n := 0
			for _, l := range b.GetLocs() {
				if fmt.Sprintf("%s:%d", l.GetId().GetIpAddr(), l.GetId().GetXferPort()) != dead {
					n++
				}
			}
			if n < want {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not back to %d replicas within %s\n%s", name, want, within, c.NNLog())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestReReplicationAfterDataNodeKill(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
	cl := c.Client(currentUserName())
	data := randomBytes(7, 3<<20+100)
	writeFile(t, cl, "/rr", data)
	victim := c.DataNodes[0]
	victim.Kill()
	// dead after 2 × recheck (1 s) + 10 × heartbeat (1 s) = 12 s, then a
	// replication cycle or two.
	waitReplicated(t, c, "/rr", 3, victim.Addr(), 60*time.Second)
	got, err := cl.ReadFile("/rr")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after re-replication: %v", err)
	}
}

// findBlockFiles finds the replica files of a block in a DataNode's dir.
func findBlockFiles(root string, id uint64) []string {
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() == fmt.Sprintf("blk_%d", id) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestCorruptReplicaIsReplaced(t *testing.T) {
	conf := DataConf()
	c := NewCluster(t, conf)
	c.Conf["dfs.datanode.scan.period.seconds"] = "2"
	c.WriteConf()
	c.Start()
	c.StartDataNodes("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
	waitLive(t, c, 4)
	cl := c.Client(currentUserName())
	data := randomBytes(9, 200000)
	writeFile(t, cl, "/bad", data)
	b := blockLocations(t, c, "/bad").GetBlocks()[0]
	id := b.GetB().GetBlockId()
	var victim *DataNode
	for _, d := range c.DataNodes {
		if d.Addr() == fmt.Sprintf("%s:%d", b.GetLocs()[0].GetId().GetIpAddr(), b.GetLocs()[0].GetId().GetXferPort()) {
			victim = d
		}
	}
	files := findBlockFiles(victim.Dir, id)
	if len(files) != 1 {
		t.Fatalf("replica files of block %d on %s: %v", id, victim.IP, files)
	}
	raw, _ := os.ReadFile(files[0])
	raw[1000] ^= 0xff
	os.WriteFile(files[0], raw, 0o644)
	for i := 0; i < 3; i++ {
		got, err := c.Client(currentUserName()).ReadFile("/bad")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read with a corrupt replica: %v", err)
		}
	}
	// The corrupt replica is found (scanner or read), replaced, and gone.
	deadline := time.Now().Add(60 * time.Second)
	for {
		locs := blockLocations(t, c, "/bad").GetBlocks()[0].GetLocs()
		onVictim := false
		for _, l := range locs {
			onVictim = onVictim || l.GetId().GetIpAddr() == victim.IP
		}
		if len(locs) == 3 && !onVictim {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("corrupt replica on %s not replaced: %d locations, on victim %v\n%s", victim.IP, len(locs), onVictim, c.NNLog())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestTruncateOnAndOffBlockBoundary truncates with the Hadoop client: on a
// block boundary it is immediate; inside a block the DataNodes cut the
// replica under a new generation stamp and the file closes by itself.
func TestTruncateOnAndOffBlockBoundary(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	cl := c.Client(currentUserName())
	data := randomBytes(77, 3<<20+5000)
	writeFile(t, cl, "/tr", data)
	done, err := cl.Truncate("/tr", 2<<20)
	if err != nil || !done {
		t.Fatalf("truncate on a block boundary: %v %v", done, err)
	}
	got, err := cl.ReadFile("/tr")
	if err != nil || !bytes.Equal(got, data[:2<<20]) {
		t.Fatalf("after boundary truncate: %d bytes, %v", len(got), err)
	}
	const cut = 1<<20 + 12345
	done, err = cl.Truncate("/tr", cut)
	if err != nil {
		t.Fatalf("truncate inside a block: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err = c.Client(currentUserName()).ReadFile("/tr")
		if err == nil && bytes.Equal(got, data[:cut]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("truncate to %d never completed (done=%v): %d bytes, %v\n%s", cut, done, len(got), err, c.NNLog())
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The file is closed again: appending works.
	w, err := cl.Append("/tr")
	if err != nil {
		t.Fatalf("append after truncate: %v", err)
	}
	w.Write([]byte("tail"))
	if err := w.Close(); err != nil {
		t.Fatalf("close after append: %v", err)
	}
	got, _ = cl.ReadFile("/tr")
	if !bytes.Equal(got, append(append([]byte{}, data[:cut]...), "tail"...)) {
		t.Fatalf("append after truncate: %d bytes", len(got))
	}
}

// TestLeaseRecoveryOfAbandonedWrite leaves a file open with data in its
// last block (the writer vanished): recoverLease starts block recovery on
// the DataNodes and the file closes with every byte the pipeline acked.
// recoverLease asks the NameNode to recover the lease of path until it
// says the file is closed, failing the test at deadline.
func recoverLease(t *testing.T, c *Cluster, cl *ipc.Client, path string, deadline time.Time) {
	t.Helper()
	for {
		resp := &pb.RecoverLeaseResponseProto{}
		if err := cl.Call(context.Background(), "recoverLease", &pb.RecoverLeaseRequestProto{Src: proto.String(path), ClientName: proto.String("recoverer")}, resp); err != nil {
			t.Fatal(err)
		}
		if resp.GetResult() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease recovery did not close %s\n%s", path, c.NNLog())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestLeaseRecoveryOfAbandonedWrite(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	writer, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.NNAddr}, User: currentUserName()})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(88, 1<<20+70000)
	w, err := writer.CreateFile("/abandoned", 3, 1<<20, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	// Push the partial last block to the DataNodes without completing the
	// file, then drop the writer.
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	writer.Close()
	cl, err := ipc.Dial(context.Background(), c.NNAddr, ipc.ClientOptions{User: currentUserName(), Protocol: "org.apache.hadoop.hdfs.protocol.ClientProtocol"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recoverLease(t, c, cl, "/abandoned", time.Now().Add(30*time.Second))
	got, err := c.Client(currentUserName()).ReadFile("/abandoned")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after lease recovery: %d bytes (want %d), %v", len(got), len(data), err)
	}
}

// TestLeaseRecoveryAcrossDataNodes abandons a write whose last block is on
// three DataNodes and kills one of them: lease recovery brings both
// surviving replicas (not only the primary's) to the last acknowledged
// length under a new generation stamp, and the file reads back whole.
func TestLeaseRecoveryAcrossDataNodes(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	data := randomBytes(89, 1<<20+90000)
	// hflush (the project's writer) waits until every pipeline node has
	// acknowledged the bytes: all of them are then owed to readers.
	w, err := projectClient(t, c, nil).CreateWriter("/abandoned2", client.WriteOptions{Replication: 3, BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Hflush(); err != nil {
		t.Fatal(err)
	}
	_, pipeline := w.Pipeline()
	w.Abort() // the writer vanishes without completing the file
	if len(pipeline) != 3 {
		t.Fatalf("pipeline of the last block: %v", pipeline)
	}
	victim := c.dataNodeAt(pipeline[1]) // the middle of the pipeline
	victim.Kill()
	cl, err := ipc.Dial(context.Background(), c.NNAddr, ipc.ClientOptions{User: currentUserName(), Protocol: "org.apache.hadoop.hdfs.protocol.ClientProtocol"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Once the NameNode counts the victim dead, recovery names the two
	// survivors.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp := &pb.GetDatanodeReportResponseProto{}
		if err := cl.Call(context.Background(), "getDatanodeReport", &pb.GetDatanodeReportRequestProto{Type: pb.DatanodeReportTypeProto_LIVE.Enum()}, resp); err == nil && len(resp.Di) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not counted dead", victim.IP)
		}
		time.Sleep(300 * time.Millisecond)
	}
	recoverLease(t, c, cl, "/abandoned2", deadline)
	blocks := blockLocations(t, c, "/abandoned2").GetBlocks()
	last := blocks[len(blocks)-1]
	if last.GetB().GetGenerationStamp() <= blocks[0].GetB().GetGenerationStamp() || last.GetB().GetNumBytes() != 90000 {
		t.Fatalf("last block after recovery: gs %d, %d bytes", last.GetB().GetGenerationStamp(), last.GetB().GetNumBytes())
	}
	if len(last.GetLocs()) != 2 {
		t.Fatalf("last block recovered on %d DataNodes, want both survivors\n%s", len(last.GetLocs()), c.NNLog())
	}
	got, err := c.Client(currentUserName()).ReadFile("/abandoned2")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after lease recovery: %d bytes (want %d), %v", len(got), len(data), err)
	}
}
