package integration

import (
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/client"
	"github.com/avatarfs/avatarfs/conf"
	hdfs "github.com/colinmarc/hdfs/v2"
)

// The project's own writer (client.FileWriter) against real DataNode
// processes: pipeline recovery when a DataNode is killed with SIGKILL in
// the middle of a write, and hflush.

// projectClient is a client.Client reading the cluster's configuration
// directory, with extra settings on top.
func projectClient(t testing.TB, c *Cluster, extra map[string]string) *client.Client {
	t.Helper()
	cf, err := conf.Load(c.ConfDir, nil, extra)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func (c *Cluster) dataNodeAt(addr string) *DataNode {
	for _, d := range c.DataNodes {
		if d.Addr() == addr {
			return d
		}
	}
	return nil
}

// writeAndKill writes data to name with the project's writer from a
// goroutine (1 MiB blocks, replication 3) and, once killAfter bytes are
// written, kills with SIGKILL the DataNode at index pos of the pipeline of
// the block being streamed. With pause, the writer hflushes at killAfter
// and waits for the kill (so it lands inside a block, not while one is
// closing). It waits for the write to complete and returns the killed
// node's address, the block that was being written and the writer.
func writeAndKill(t *testing.T, c *Cluster, cl *client.Client, name string, data []byte, killAfter, pos int, pause bool) (string, uint64, *client.FileWriter) {
	t.Helper()
	w, err := cl.CreateWriter(name, client.WriteOptions{Replication: 3, BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	reached, resume := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once bool
		for off := 0; off < len(data); {
			n := min(len(data)-off, 100_000)
			if !once && off < killAfter {
				n = min(n, killAfter-off)
			}
			if _, err := w.Write(data[off : off+n]); err != nil {
				done <- fmt.Errorf("write at %d: %w", off, err)
				return
			}
			off += n
			written.Store(int64(off))
			if !once && off >= killAfter {
				once = true
				if pause {
					if err := w.Hflush(); err != nil {
						done <- fmt.Errorf("hflush at %d: %w", off, err)
						return
					}
				}
				close(reached)
				if pause {
					<-resume
				}
			}
		}
		done <- w.Close()
	}()
	var victim string
	var block uint64
	select {
	case <-reached:
		var pl []string
		for deadline := time.Now().Add(10 * time.Second); len(pl) < 3 && time.Now().Before(deadline); {
			if block, pl = w.Pipeline(); len(pl) < 3 {
				time.Sleep(time.Millisecond) // between two blocks
			}
		}
		if len(pl) < 3 {
			t.Fatalf("pipeline %v", pl)
		}
		victim = pl[pos]
		d := c.dataNodeAt(victim)
		if d == nil {
			t.Fatalf("no DataNode at %s", victim)
		}
		d.Kill()
		close(resume)
		t.Logf("killed %s (node %d of the pipeline %v of block %d) after %d bytes written", victim, pos, pl, block, written.Load())
	case err := <-done:
		t.Fatalf("the write ended before the kill: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write with a DataNode killed: %v\n%s", err, c.NNLog())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("write did not complete within 3 minutes of the kill")
	}
	if w.Recoveries() < 1 {
		t.Fatalf("no pipeline recovery happened (the kill came at %d of %d bytes)", killAfter, len(data))
	}
	return victim, block, w
}

// liveReplicas counts, per block of name, the replicas not on dead.
func liveReplicas(t *testing.T, c *Cluster, name, dead string) (ids []uint64, counts []int) {
	t.Helper()
	for _, b := range blockLocations(t, c, name).GetBlocks() {
		n := 0
		for _, l := range b.GetLocs() {
			if fmt.Sprintf("%s:%d", l.GetId().GetIpAddr(), l.GetId().GetXferPort()) != dead {
				n++
			}
		}
		ids = append(ids, b.GetB().GetBlockId())
		counts = append(counts, n)
	}
	return ids, counts
}

func checkReadBack(t testing.TB, rc *hdfs.Client, name string, data []byte) {
	t.Helper()
	got, err := rc.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if len(got) != len(data) || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("%s: read back %d bytes that differ from the %d written", name, len(got), len(data))
	}
}

// TestPipelineRecoveryKillFirstNode: a 20 MiB file, 1 MiB blocks,
// replication 3 on four DataNodes; after 6 MiB the first node of the
// current block's pipeline is killed. The write completes, the file reads
// back exactly, every block has at least two live replicas at once and
// three once the NameNode has re-replicated.
func TestPipelineRecoveryKillFirstNode(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
	cl := projectClient(t, c, nil)
	data := randomBytes(2024, 20<<20)
	const name = "/pipeline/kill-first"
	dead, _, _ := writeAndKill(t, c, cl, name, data, 6<<20, 0, false)
	checkReadBack(t, c.Client(currentUserName()), name, data)
	ids, counts := liveReplicas(t, c, name, dead)
	if len(ids) != 20 {
		t.Fatalf("%d blocks, want 20", len(ids))
	}
	for i, n := range counts {
		if n < 2 {
			t.Fatalf("block %d (%d) has %d live replicas right after the write", i, ids[i], n)
		}
	}
	waitReplicated(t, c, name, 3, dead, 2*time.Minute)
	checkReadBack(t, c.Client(currentUserName()), name, data)
}

// TestPipelineRecoveryKillMiddleNodeReplaced: with the replacement policy
// ALWAYS, a pipeline that loses its middle node gets a new one at once (a
// survivor transfers the replica with TRANSFER_BLOCK): the block being
// written and every later one has three live replicas when close returns.
// (A node lost while a block is closing is not replaced, as in Hadoop: the
// NameNode re-replicates that block; hence the hflush before the kill.)
func TestPipelineRecoveryKillMiddleNodeReplaced(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
	cl := projectClient(t, c, map[string]string{"dfs.client.block.write.replace-datanode-on-failure.policy": "ALWAYS"})
	data := randomBytes(2025, 12<<20+4321)
	const name = "/pipeline/kill-middle"
	dead, block, _ := writeAndKill(t, c, cl, name, data, 5<<20+300_000, 1, true)
	checkReadBack(t, c.Client(currentUserName()), name, data)
	ids, counts := liveReplicas(t, c, name, dead)
	from := slices.Index(ids, block)
	if from < 0 {
		t.Fatalf("block %d is not in the file (%v)", block, ids)
	}
	for i := from; i < len(ids); i++ {
		if counts[i] != 3 {
			t.Fatalf("block %d (%d) has %d live replicas right after the write, want 3", i, ids[i], counts[i])
		}
	}
}

// TestHflushVisibleToNewReader: what the writer has hflushed is what a new
// reader (the colinmarc client) sees while the file is still open.
func TestHflushVisibleToNewReader(t *testing.T) {
	c := newDataCluster(t, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	cl := projectClient(t, c, nil)
	rc := c.Client(currentUserName())
	data := randomBytes(2026, 3<<20+1000)
	const name = "/pipeline/hflush"
	w, err := cl.CreateWriter(name, client.WriteOptions{Replication: 3, BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for i, pt := range []int{777, 100_000, 1 << 20, 1<<20 + 513, 2<<20 + 65536, len(data)} {
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
		f, err := rc.Open(name)
		if err != nil {
			t.Fatalf("open while writing: %v", err)
		}
		if f.Stat().Size() != int64(pt) {
			t.Fatalf("after a flush at %d a new reader sees %d bytes", pt, f.Stat().Size())
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatalf("read while writing (flushed %d): %v", pt, err)
		}
		if sha256.Sum256(got) != sha256.Sum256(data[:pt]) {
			t.Fatalf("after a flush at %d the reader's %d bytes differ", pt, len(got))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkReadBack(t, rc, name, data)
}
