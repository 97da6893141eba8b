package namenode

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/avatarfs/avatarfs/internal/ipc"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/namenode/nnpb"
)

// blockNamespace builds, through the replay path (apply), a namespace of
// files × perFile complete blocks of blockBytes each, with block ids and
// a generation stamp as a NameNode hands them out. It returns the blocks
// in id order.
func blockNamespace(tb testing.TB, files, perFile int, blockBytes uint64) (*Namespace, []*nnpb.Block) {
	tb.Helper()
	ns := NewNamespace(DefaultSettings(), nil)
	ns.set.Superuser = "hdfs"
	journal := &discardJournal{}
	ns.SetJournal(journal, nil)
	perm := &nnpb.Perm{Owner: "hdfs", Group: "supergroup", Mode: 0o755}
	var txid uint64
	apply := func(op *nnpb.Op) {
		txid++
		if err := ns.apply(op, txid); err != nil {
			tb.Fatal(err)
		}
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	inode := uint64(RootInodeID)
	inode++
	apply(&nnpb.Op{Body: &nnpb.Op_Mkdir{Mkdir: &nnpb.Mkdir{Path: "/bench", InodeId: inode, Perm: perm}}})
	all := make([]*nnpb.Block, 0, files*perFile)
	id := uint64(1073741825) // Hadoop's first block id
	for f := 0; f < files; f++ {
		inode++
		path := fmt.Sprintf("/bench/f%06d", f)
		apply(&nnpb.Op{Body: &nnpb.Op_AddFile{AddFile: &nnpb.AddFile{Path: path, InodeId: inode, Perm: perm,
			Replication: 3, BlockSize: blockBytes, ClientName: "bench"}}})
		blocks := make([]*nnpb.Block, perFile)
		for i := range blocks {
			blocks[i] = &nnpb.Block{Id: id, GenStamp: 1001, NumBytes: blockBytes}
			id++
		}
		apply(&nnpb.Op{Body: &nnpb.Op_CloseFile{CloseFile: &nnpb.CloseFile{Path: path, Blocks: blocks}}})
		all = append(all, blocks...)
	}
	ns.lastInodeID = inode
	journal.n = txid // live operations number on from here
	return ns, all
}

// fullReport is a DataNode's full block report of blocks, spread over
// storages volumes in turn as the DataNode's round-robin policy puts
// them, each storage's list sorted by id (as the DataNode sends it).
func fullReport(id *dnpb.DatanodeID, blocks []*nnpb.Block, storages int) *dnpb.BlockReportRequest {
	req := &dnpb.BlockReportRequest{Id: id, BlockPoolId: "BP-1-127.0.0.1-1700000000000"}
	for s := 0; s < storages; s++ {
		req.Reports = append(req.Reports, &dnpb.StorageReport{StorageId: fmt.Sprintf("DS-%d-0000-0000-0000-000000000000", s),
			Replicas: make([]*dnpb.ReportedReplica, 0, len(blocks)/storages+1)})
	}
	for i, b := range blocks {
		sr := req.Reports[i%storages]
		sr.Replicas = append(sr.Replicas, &dnpb.ReportedReplica{
			Block: &dnpb.Block{Id: b.Id, GenStamp: b.GenStamp, NumBytes: b.NumBytes},
			State: dnpb.ReplicaState_FINALIZED,
		})
	}
	return req
}

// reportNode registers one DataNode with storages volumes on a fresh block
// manager over ns, in start-up safe mode as after a NameNode restart.
func reportNode(tb testing.TB, ns *Namespace, storages int) (*BlockManager, *dnpb.DatanodeID) {
	tb.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	bm, err := NewBlockManager(ns, BlockSettings{HeartbeatInterval: 3 * time.Second, RecheckInterval: 5 * time.Minute,
		StaleInterval: 30 * time.Second, RedundancyInterval: 3 * time.Second, SafeModeThreshold: 0.999, Policy: "seeds"}, log)
	if err != nil {
		tb.Fatal(err)
	}
	bm.StartSafeMode()
	id := &dnpb.DatanodeID{Uuid: "uuid-bench", Ip: "10.0.0.1", HostName: "dn1", XferPort: 9866}
	var ss []*dnpb.Storage
	for s := 0; s < storages; s++ {
		ss = append(ss, &dnpb.Storage{StorageId: fmt.Sprintf("DS-%d-0000-0000-0000-000000000000", s), Type: dnpb.StorageType_DISK,
			Capacity: 1 << 44, Remaining: 1 << 43})
	}
	if _, err := bm.Register(&dnpb.RegisterRequest{Id: id, Storages: ss}, StorageInfo{ClusterID: "c"}); err != nil {
		tb.Fatal(err)
	}
	return bm, id
}

// BenchmarkBlockReportMillion measures a full block report of 1,000,000
// replicas (two storages, 128 MiB blocks) from one DataNode to a block
// manager whose namespace holds those blocks (1,000 files of 1,000):
//   - first-report-ms: the first report after a NameNode restart (no
//     replica known yet, start-up safe mode);
//   - rereport-ms: the same report again (the periodic full report);
//   - first-ns-wait-ms, rereport-ns-wait-ms: the longest a namespace
//     write (ns.mu.Lock, tried every 0.2 ms from another goroutine) waited
//     while each report ran: how long the report holds the locks at once;
//   - first-pass-ms, first-pass-ns-wait-ms: the first replication pass
//     once out of safe mode (every block dirty, all under-replicated:
//     one DataNode), and the longest namespace-write wait during it;
//   - build-ms, marshal-ms, unmarshal-ms: building the request from
//     replicas (as the DataNode does), its protobuf encoding and decoding;
//   - MB and bytes/replica: the encoded request's size, and
//     max-replicas-64MiB: how many replicas fit in the NameNode's default
//     ipc.maximum.data.length at that size.
//
// Run with `go test -run '^$' -bench BlockReportMillion -benchtime 1x ./namenode/`.
func BenchmarkBlockReportMillion(b *testing.B) {
	const files, perFile, storages = 1000, 1000, 2
	start := time.Now()
	ns, blocks := blockNamespace(b, files, perFile, 128<<20)
	b.Logf("namespace of %d blocks built in %v", len(blocks), time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		bm, id := reportNode(b, ns, storages)
		b.StartTimer()

		start := time.Now()
		req := fullReport(id, blocks, storages)
		b.ReportMetric(ms(time.Since(start)), "build-ms")
		start = time.Now()
		raw, err := proto.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms(time.Since(start)), "marshal-ms")
		start = time.Now()
		var got dnpb.BlockReportRequest
		if err := proto.Unmarshal(raw, &got); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms(time.Since(start)), "unmarshal-ms")
		b.ReportMetric(float64(len(raw))/1e6, "MB")
		per := float64(len(raw)) / float64(len(blocks))
		b.ReportMetric(per, "bytes/replica")
		b.ReportMetric(float64(ipc.DefaultMaxDataLength)/per, "max-replicas-64MiB")

		start = time.Now()
		probe := probeWrites(ns)
		if _, err := bm.BlockReport(&got); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms(time.Since(start)), "first-report-ms")
		b.ReportMetric(ms(probe()), "first-ns-wait-ms")
		bm.mu.Lock()
		held := len(bm.nodes["uuid-bench"].blocks)
		bm.mu.Unlock()
		if held != len(blocks) {
			b.Fatalf("block manager holds %d replicas of the node, want %d", held, len(blocks))
		}
		start = time.Now()
		probe = probeWrites(ns)
		if _, err := bm.BlockReport(&got); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms(time.Since(start)), "rereport-ms")
		b.ReportMetric(ms(probe()), "rereport-ns-wait-ms")

		// Out of safe mode, the first replication pass looks at every
		// block (all under-replicated here: one DataNode).
		if _, err := ns.SetSafeMode(&Caller{User: "hdfs"}, SafeModeLeave); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		probe = probeWrites(ns)
		bm.ReplicationPass()
		b.ReportMetric(ms(time.Since(start)), "first-pass-ms")
		b.ReportMetric(ms(probe()), "first-pass-ns-wait-ms")
	}
}

// probeWrites takes the namespace's write lock every 0.2 ms, as namespace
// writes would, until the returned function is called; that returns the
// longest wait for the lock.
func probeWrites(ns *Namespace) func() time.Duration {
	stop, done := make(chan struct{}), make(chan time.Duration)
	go func() {
		var longest time.Duration
		for {
			select {
			case <-stop:
				done <- longest
				return
			case <-time.After(200 * time.Microsecond):
			}
			start := time.Now()
			ns.mu.Lock()
			longest = max(longest, time.Since(start))
			ns.mu.Unlock()
		}
	}()
	return func() time.Duration {
		close(stop)
		return <-done
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// TestFullReportFitsTheRPCLimit: a block report's encoded size grows
// linearly, at about 18 bytes a replica (128 MiB blocks, Hadoop block
// ids); at 1,000,000 replicas it is far below the 64 MiB
// ipc.maximum.data.length, which holds about 3.5 million.
func TestFullReportFitsTheRPCLimit(t *testing.T) {
	const n = 100000
	blocks := make([]*nnpb.Block, n)
	for i := range blocks {
		blocks[i] = &nnpb.Block{Id: 1073741825 + uint64(i)*7, GenStamp: 1001 + uint64(i%50), NumBytes: 128 << 20}
	}
	id := &dnpb.DatanodeID{Uuid: "uuid-bench", Ip: "10.0.0.1", HostName: "dn1", XferPort: 9866}
	raw, err := proto.Marshal(fullReport(id, blocks, 2))
	if err != nil {
		t.Fatal(err)
	}
	per := float64(len(raw)) / n
	if per > 20 {
		t.Fatalf("%.1f bytes per replica", per)
	}
	if million := per * 1e6; million > ipc.DefaultMaxDataLength/2 {
		t.Fatalf("a million replicas would take %.0f bytes, too close to %d", million, ipc.DefaultMaxDataLength)
	}
	t.Logf("%.2f bytes per replica: %d replicas fit in %d bytes", per, int(float64(ipc.DefaultMaxDataLength)/per), ipc.DefaultMaxDataLength)
}
