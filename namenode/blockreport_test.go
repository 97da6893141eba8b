package namenode

import (
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/namenode/nnpb"
)

// locView is a replica as tests compare it (without the report mark).
type locView struct {
	uuid    string
	storage string
	corrupt bool
}

// replicaState is what the block manager believes about replicas: every
// block's replicas in order, every node's block set and pending
// deletions, the safe-mode count.
type replicaState struct {
	locs        map[uint64][]locView
	held        map[string][]uint64
	invalidates map[string][]string
	reported    map[string]bool
	pending     map[uint64][]string
	safe, nodes int
}

func stateOf(bm *BlockManager) replicaState {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	st := replicaState{locs: map[uint64][]locView{}, held: map[string][]uint64{}, invalidates: map[string][]string{},
		reported: map[string]bool{}, pending: map[uint64][]string{}, safe: bm.safe.safe, nodes: bm.safe.nodes}
	for id, ls := range bm.locs {
		if len(ls) == 0 {
			continue
		}
		for _, l := range ls {
			st.locs[id] = append(st.locs[id], locView{l.dn.uuid(), l.storage, l.corrupt})
		}
	}
	for uuid, d := range bm.nodes {
		var ids []uint64
		for id := range d.blocks {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		st.held[uuid] = ids
		for _, b := range d.invalidates {
			st.invalidates[uuid] = append(st.invalidates[uuid], fmt.Sprintf("%d@%d", b.Id, b.GenStamp))
		}
		st.reported[uuid] = d.reported
	}
	for id, p := range bm.pending {
		for _, d := range p.targets {
			st.pending[id] = append(st.pending[id], d.uuid())
		}
	}
	return st
}

func dirtyOf(bm *BlockManager) map[uint64]bool {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	out := map[uint64]bool{}
	for id := range bm.dirty {
		out[id] = true
	}
	return out
}

func clearDirty(bm *BlockManager) {
	bm.mu.Lock()
	clear(bm.dirty)
	bm.mu.Unlock()
}

// checkReplicaIndex checks that every node's block set names exactly the
// blocks whose replica lists hold that node, once: the invariant the
// report's removal shortcut relies on.
func checkReplicaIndex(t *testing.T, bm *BlockManager) {
	t.Helper()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	for id, ls := range bm.locs {
		seen := map[*datanode]bool{}
		for _, l := range ls {
			if seen[l.dn] {
				t.Fatalf("block %d lists node %s twice", id, l.dn.uuid())
			}
			seen[l.dn] = true
			if _, ok := l.dn.blocks[id]; !ok {
				t.Fatalf("block %d lists node %s, whose block set lacks it", id, l.dn.uuid())
			}
		}
	}
	for _, d := range bm.nodes {
		for id := range d.blocks {
			if locIndex(bm.locs[id], d) < 0 {
				t.Fatalf("node %s holds block %d, whose replica list lacks it", d.uuid(), id)
			}
		}
	}
}

// quietBlockManager is a block manager over ns with one DataNode per
// uuid, each with two storages, as reportNode makes them.
func quietBlockManager(t *testing.T, ns *Namespace, uuids ...string) (*BlockManager, map[string]*dnpb.DatanodeID) {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	bm, err := NewBlockManager(ns, BlockSettings{HeartbeatInterval: 3 * time.Second, RecheckInterval: 5 * time.Minute,
		StaleInterval: 30 * time.Second, RedundancyInterval: 3 * time.Second, SafeModeThreshold: 0.999, Policy: "seeds"}, log)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]*dnpb.DatanodeID{}
	for i, u := range uuids {
		id := &dnpb.DatanodeID{Uuid: u, Ip: fmt.Sprintf("10.0.0.%d", i+1), HostName: u, XferPort: 9866}
		if _, err := bm.Register(&dnpb.RegisterRequest{Id: id, Storages: []*dnpb.Storage{
			{StorageId: "DS-0-" + u, Type: dnpb.StorageType_DISK, Capacity: 1 << 40, Remaining: 1 << 39},
			{StorageId: "DS-1-" + u, Type: dnpb.StorageType_DISK, Capacity: 1 << 40, Remaining: 1 << 39}}}, StorageInfo{ClusterID: "c"}); err != nil {
			t.Fatal(err)
		}
		ids[u] = id
	}
	return bm, ids
}

// report is a full report of replicas of blocks on the storages of
// reportNode's DataNode (DS-<n>-0000-…), round-robin.
func report(id *dnpb.DatanodeID, blocks []*nnpb.Block) *dnpb.BlockReportRequest {
	return fullReport(id, blocks, 2)
}

func TestIdenticalFullReportMarksNothingDirty(t *testing.T) {
	ns, blocks := blockNamespace(t, 10, 10, 1000)
	bm, id := reportNode(t, ns, 2)
	req := report(id, blocks)
	if _, err := bm.BlockReport(req); err != nil {
		t.Fatal(err)
	}
	if n := len(dirtyOf(bm)); n != len(blocks) {
		t.Fatalf("first report queued %d blocks for the replication monitor, want %d", n, len(blocks))
	}
	before := stateOf(bm)
	clearDirty(bm)
	for _, chunk := range []int{defaultReportChunk, 7, 1} {
		bm.reportChunk = chunk
		if _, err := bm.BlockReport(req); err != nil {
			t.Fatal(err)
		}
		if d := dirtyOf(bm); len(d) != 0 {
			t.Fatalf("chunk %d: the same report again queued %d blocks", chunk, len(d))
		}
		if after := stateOf(bm); !reflect.DeepEqual(before, after) {
			t.Fatalf("chunk %d: the same report again changed the replicas", chunk)
		}
	}
	checkReplicaIndex(t, bm)
}

func TestReplicaLeftOutOfAReportIsRemoved(t *testing.T) {
	ns, blocks := blockNamespace(t, 10, 10, 1000)
	for _, chunk := range []int{defaultReportChunk, 3} {
		bm, id := reportNode(t, ns, 2)
		bm.reportChunk = chunk
		if _, err := bm.BlockReport(report(id, blocks)); err != nil {
			t.Fatal(err)
		}
		clearDirty(bm)
		gone := map[uint64]bool{blocks[0].Id: true, blocks[41].Id: true, blocks[len(blocks)-1].Id: true}
		var kept []*nnpb.Block
		for _, b := range blocks {
			if !gone[b.Id] {
				kept = append(kept, b)
			}
		}
		// The same replicas, with the storages they sit on shuffled by the
		// missing ones: moved replicas are queued as well.
		if _, err := bm.BlockReport(report(id, kept)); err != nil {
			t.Fatal(err)
		}
		st := stateOf(bm)
		if n := len(st.held["uuid-bench"]); n != len(kept) {
			t.Fatalf("chunk %d: node holds %d replicas after the second report, want %d", chunk, n, len(kept))
		}
		for id := range gone {
			if len(st.locs[id]) != 0 {
				t.Fatalf("chunk %d: block %d left out of the report still has replicas %v", chunk, id, st.locs[id])
			}
			if !dirtyOf(bm)[id] {
				t.Fatalf("chunk %d: block %d lost its replica and is not queued", chunk, id)
			}
		}
		checkReplicaIndex(t, bm)
	}
}

func TestReplicaKeptInPlaceIsNotQueuedWhenAnotherLeaves(t *testing.T) {
	ns, blocks := blockNamespace(t, 4, 10, 1000)
	bm, id := reportNode(t, ns, 2)
	req := report(id, blocks)
	if _, err := bm.BlockReport(req); err != nil {
		t.Fatal(err)
	}
	clearDirty(bm)
	// Drop one replica from its storage's list only: every other stays
	// where it is.
	sr := req.Reports[1]
	dropped := sr.Replicas[5].Block.Id
	sr.Replicas = append(sr.Replicas[:5:5], sr.Replicas[6:]...)
	if _, err := bm.BlockReport(req); err != nil {
		t.Fatal(err)
	}
	if d := dirtyOf(bm); len(d) != 1 || !d[dropped] {
		t.Fatalf("queued %v, want only the dropped block %d", d, dropped)
	}
	checkReplicaIndex(t, bm)
}

func TestFirstReportOnEmptyNode(t *testing.T) {
	ns, blocks := blockNamespace(t, 10, 10, 1000)
	bm, id := reportNode(t, ns, 2)
	if !ns.InSafeMode() {
		t.Fatal("not in start-up safe mode")
	}
	bm.mu.Lock()
	woken := bm.changed
	bm.mu.Unlock()
	ex := map[string]bool{}
	bm.mu.Lock()
	bm.excludeUnready(ex)
	bm.mu.Unlock()
	if !ex["uuid-bench"] {
		t.Fatal("a node without a block report is a write target")
	}
	bm.reportChunk = 16
	if _, err := bm.BlockReport(report(id, blocks)); err != nil {
		t.Fatal(err)
	}
	st := stateOf(bm)
	if len(st.held["uuid-bench"]) != len(blocks) || len(st.locs) != len(blocks) {
		t.Fatalf("node holds %d, %d blocks have replicas; want %d", len(st.held["uuid-bench"]), len(st.locs), len(blocks))
	}
	for _, b := range blocks {
		want := []locView{{"uuid-bench", "DS-" + fmt.Sprint(int((b.Id-blocks[0].Id)%2)) + "-0000-0000-0000-000000000000", false}}
		if !reflect.DeepEqual(st.locs[b.Id], want) {
			t.Fatalf("block %d: %v, want %v", b.Id, st.locs[b.Id], want)
		}
	}
	if st.safe != len(blocks) || st.nodes != 1 || !st.reported["uuid-bench"] {
		t.Fatalf("safe blocks %d nodes %d reported %v", st.safe, st.nodes, st.reported["uuid-bench"])
	}
	select {
	case <-woken:
	default:
		t.Fatal("waiters for the minimum replication were not woken")
	}
	bm.mu.Lock()
	clear(ex)
	bm.excludeUnready(ex)
	room := cap(bm.locs[blocks[0].Id])
	bm.mu.Unlock()
	if ex["uuid-bench"] {
		t.Fatal("a node that reported is still kept out of pipelines")
	}
	if room != 3 {
		t.Fatalf("first replica list has room for %d, want the replication 3", room)
	}
	checkReplicaIndex(t, bm)
}

func TestEmptyReportRemovesEverything(t *testing.T) {
	ns, blocks := blockNamespace(t, 3, 3, 1000)
	bm, id := reportNode(t, ns, 2)
	if _, err := bm.BlockReport(report(id, blocks)); err != nil {
		t.Fatal(err)
	}
	if _, err := bm.BlockReport(&dnpb.BlockReportRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(bm); len(st.locs) != 0 || len(st.held["uuid-bench"]) != 0 {
		t.Fatalf("after an empty report: %d blocks with replicas, node holds %d", len(st.locs), len(st.held["uuid-bench"]))
	}
}

func TestChunkedReportStopsWhenTheNodeRegistersAgain(t *testing.T) {
	ns, blocks := blockNamespace(t, 3, 10, 1000)
	bm, id := reportNode(t, ns, 2)
	bm.reportChunk = 4
	req := report(id, blocks)
	run := &reportRun{uuid: id.Uuid, start: time.Now()}
	if done, err := bm.applyReportChunk(run, req); done || err != nil {
		t.Fatalf("first chunk: done %v err %v", done, err)
	}
	if _, err := bm.Register(&dnpb.RegisterRequest{Id: id}, StorageInfo{ClusterID: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bm.applyReportChunk(run, req); classOf(err) != ExUnregisteredNode {
		t.Fatalf("report went on across a new registration: %v", err)
	}
	if stateOf(bm).reported["uuid-bench"] {
		t.Fatal("node counted as reported after a report that stopped half way")
	}
}

func TestChunkedReportYieldsToANewerReport(t *testing.T) {
	ns, blocks := blockNamespace(t, 3, 10, 1000)
	bm, id := reportNode(t, ns, 2)
	bm.reportChunk = 4
	old := &reportRun{uuid: id.Uuid, start: time.Now()}
	if done, err := bm.applyReportChunk(old, report(id, blocks)); done || err != nil {
		t.Fatalf("first chunk: done %v err %v", done, err)
	}
	// A retry of the report (say, after a client timeout) overtakes it.
	if _, err := bm.BlockReport(report(id, blocks[:5])); err != nil {
		t.Fatal(err)
	}
	if _, err := bm.applyReportChunk(old, report(id, blocks)); classOf(err) != ExIO {
		t.Fatalf("an overtaken report went on: %v", err)
	}
	if n := len(stateOf(bm).held["uuid-bench"]); n != 5 {
		t.Fatalf("node holds %d replicas, want the newer report's 5", n)
	}
	checkReplicaIndex(t, bm)
}

func TestIncrementalReportsBetweenChunksAreKept(t *testing.T) {
	ns, blocks := blockNamespace(t, 3, 10, 1000)
	bm, id := reportNode(t, ns, 2)
	// The node holds blocks 0-19; its next report names 0-9 only.
	if _, err := bm.BlockReport(report(id, blocks[:20])); err != nil {
		t.Fatal(err)
	}
	bm.reportChunk = 4
	req := report(id, blocks[:10])
	run := &reportRun{uuid: id.Uuid, start: time.Now()}
	if done, err := bm.applyReportChunk(run, req); done || err != nil {
		t.Fatalf("first chunk: done %v err %v", done, err)
	}
	// Between chunks: block 25 arrives, block 0 (already marked) and
	// block 15 (left out) are deleted, block 12 is deleted and arrives
	// again.
	ibr := func(status dnpb.ReceivedDeleted_Status, b *nnpb.Block) {
		if err := bm.BlockReceivedAndDeleted(&dnpb.BlockReceivedAndDeletedRequest{Id: id, Blocks: []*dnpb.ReceivedDeleted{{
			Block: &dnpb.Block{Id: b.Id, GenStamp: b.GenStamp, NumBytes: b.NumBytes}, Status: status,
			StorageId: "DS-0-0000-0000-0000-000000000000"}}}); err != nil {
			t.Fatal(err)
		}
	}
	ibr(dnpb.ReceivedDeleted_RECEIVED, blocks[25])
	ibr(dnpb.ReceivedDeleted_DELETED, blocks[0])
	ibr(dnpb.ReceivedDeleted_DELETED, blocks[15])
	ibr(dnpb.ReceivedDeleted_DELETED, blocks[12])
	ibr(dnpb.ReceivedDeleted_RECEIVED, blocks[12])
	for {
		done, err := bm.applyReportChunk(run, req)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	want := []uint64{}
	for _, i := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 25} {
		want = append(want, blocks[i].Id)
	}
	if got := stateOf(bm).held["uuid-bench"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("node holds %v, want %v", got, want)
	}
	checkReplicaIndex(t, bm)
}

// referenceReport is BlockReport as it was before reports were applied in
// chunks with marks: a set of the reported ids, each replica through
// referenceAddReplica, then every replica the report did not name
// removed. It is the oracle for TestFullReportMatchesReference.
func referenceReport(bm *BlockManager, req *dnpb.BlockReportRequest) error {
	bm.ns.mu.RLock()
	defer bm.ns.mu.RUnlock()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	d := bm.nodes[req.GetId().GetUuid()]
	if d == nil || d.dead {
		return errorf(ExUnregisteredNode, "DataNode %s is not registered", req.GetId().GetUuid())
	}
	d.reported = true
	seen := map[uint64]bool{}
	for _, sr := range req.GetReports() {
		for _, r := range sr.GetReplicas() {
			seen[r.GetBlock().GetId()] = true
			referenceAddReplica(bm, d, sr.GetStorageId(), r.GetBlock(), r.GetState())
		}
	}
	for id := range d.blocks {
		if !seen[id] {
			bm.removeReplica(d, id)
		}
	}
	bm.safe.nodeReported(len(bm.nodes))
	return nil
}

// referenceAddReplica is addReplica as it was (every known replica
// re-queued for the replication monitor).
func referenceAddReplica(bm *BlockManager, d *datanode, storage string, rb *dnpb.Block, state dnpb.ReplicaState) {
	id := rb.GetId()
	b := bm.ns.blocks[id]
	if b == nil {
		if !bm.ns.safe.on() {
			d.invalidates = append(d.invalidates, &dnpb.Block{Id: id, GenStamp: rb.GetGenStamp()})
		}
		return
	}
	corrupt := false
	switch {
	case rb.GetGenStamp() < b.GenStamp:
		corrupt = true
	case state == dnpb.ReplicaState_FINALIZED && b.State == BlockComplete && rb.GetNumBytes() != b.NumBytes:
		corrupt = true
	case state != dnpb.ReplicaState_FINALIZED && b.State == BlockComplete:
		return
	}
	ls := bm.locs[id]
	for i := range ls {
		if ls[i].dn == d {
			ls[i].storage = storage
			ls[i].corrupt = ls[i].corrupt || corrupt
			d.blocks[id] = struct{}{}
			bm.dirty[id] = struct{}{}
			return
		}
	}
	bm.locs[id] = append(ls, replicaLoc{dn: d, storage: storage, corrupt: corrupt})
	d.blocks[id] = struct{}{}
	if p := bm.pending[id]; p != nil {
		for i, t := range p.targets {
			if t == d {
				p.targets = append(p.targets[:i], p.targets[i+1:]...)
				break
			}
		}
		if len(p.targets) == 0 {
			delete(bm.pending, id)
		}
	}
	bm.dirty[id] = struct{}{}
	if !corrupt && b.State == BlockComplete {
		bm.safe.replicaAdded(bm.liveReplicas(id), bm.minRepl)
	}
}

// randomReport is a full report from id naming about 70% of blocks (with
// stale or newer generation stamps, wrong lengths, replicas being
// written, a few twice) and some of orphans, in random order.
func randomReport(r *rand.Rand, id *dnpb.DatanodeID, blocks []*nnpb.Block, orphans []uint64) *dnpb.BlockReportRequest {
	req := &dnpb.BlockReportRequest{Id: id}
	for s := 0; s < 2; s++ {
		req.Reports = append(req.Reports, &dnpb.StorageReport{StorageId: fmt.Sprintf("DS-%d-%s", s, id.Uuid)})
	}
	add := func(b *dnpb.Block, state dnpb.ReplicaState) {
		sr := req.Reports[r.IntN(2)]
		sr.Replicas = append(sr.Replicas, &dnpb.ReportedReplica{Block: b, State: state})
	}
	for _, b := range blocks {
		if r.IntN(10) < 3 {
			continue
		}
		rb := &dnpb.Block{Id: b.Id, GenStamp: b.GenStamp, NumBytes: b.NumBytes}
		switch r.IntN(10) {
		case 0:
			rb.GenStamp--
		case 1:
			rb.GenStamp++
		case 2:
			rb.NumBytes++
		}
		state := dnpb.ReplicaState_FINALIZED
		if r.IntN(5) == 0 {
			state = dnpb.ReplicaState_RBW
		}
		add(rb, state)
		if r.IntN(20) == 0 { // reported twice, maybe on the other storage
			add(&dnpb.Block{Id: rb.Id, GenStamp: rb.GenStamp, NumBytes: rb.NumBytes}, state)
		}
	}
	for _, o := range orphans {
		if r.IntN(2) == 0 {
			add(&dnpb.Block{Id: o, GenStamp: 1001, NumBytes: 1}, dnpb.ReplicaState_FINALIZED)
		}
	}
	for _, sr := range req.Reports {
		r.Shuffle(len(sr.Replicas), func(i, j int) { sr.Replicas[i], sr.Replicas[j] = sr.Replicas[j], sr.Replicas[i] })
	}
	return req
}

// TestFullReportMatchesReference applies random reports (stale and newer
// generation stamps, wrong lengths, replicas being written, replicas of no
// file, duplicates, replicas left out; blocks complete, committed and
// under construction; in and out of start-up safe mode; known replicas
// corrupt or pending) both through BlockReport, in chunks of several
// sizes, and through the reference, and requires the same replicas,
// block sets, deletions, pending copies and safe-mode counts. The
// replication monitor's queue may only lose blocks whose replicas did not
// change: it holds every block whose replicas did.
func TestFullReportMatchesReference(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		ns, blocks := blockNamespace(t, 6, 8, 1000)
		ns.mu.Lock()
		for i, b := range blocks {
			bi := ns.blocks[b.Id]
			switch {
			case i < 8: // the first file is being written: its last block
				if i == 7 {
					bi.State = BlockUnderConstruction
				} else {
					bi.State = BlockCommitted
				}
			case r.IntN(6) == 0: // recovered once: a newer generation stamp
				bi.GenStamp = 1005
			}
			b.GenStamp = bi.GenStamp
		}
		ns.mu.Unlock()
		orphans := []uint64{1, 2, 3}
		safe := r.IntN(2) == 0
		chunk := []int{1, 2, 5, 13, defaultReportChunk}[r.IntN(5)]

		// History, the same for both block managers.
		type ibr struct {
			uuid string
			rd   *dnpb.ReceivedDeleted
		}
		var history []ibr
		for _, u := range []string{"uuid-t", "uuid-o"} {
			for _, b := range blocks {
				if r.IntN(10) < 5 {
					continue
				}
				rb := &dnpb.Block{Id: b.Id, GenStamp: b.GenStamp, NumBytes: b.NumBytes}
				if r.IntN(10) == 0 {
					rb.GenStamp--
				}
				history = append(history, ibr{u, &dnpb.ReceivedDeleted{Block: rb, Status: dnpb.ReceivedDeleted_RECEIVED,
					StorageId: fmt.Sprintf("DS-%d-%s", r.IntN(2), u)}})
			}
		}
		var corrupt, pending []uint64
		for _, b := range blocks {
			if r.IntN(15) == 0 {
				corrupt = append(corrupt, b.Id)
			}
			if r.IntN(15) == 0 {
				pending = append(pending, b.Id)
			}
		}
		build := func() (*BlockManager, map[string]*dnpb.DatanodeID) {
			bm, ids := quietBlockManager(t, ns, "uuid-t", "uuid-o")
			if safe {
				bm.StartSafeMode()
			}
			for _, h := range history {
				if err := bm.BlockReceivedAndDeleted(&dnpb.BlockReceivedAndDeletedRequest{Id: ids[h.uuid],
					Blocks: []*dnpb.ReceivedDeleted{h.rd}}); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range corrupt {
				bm.MarkCorrupt(id, "uuid-t")
			}
			bm.mu.Lock()
			for _, id := range pending {
				bm.pending[id] = &pendingRepl{targets: []*datanode{bm.nodes["uuid-t"], bm.nodes["uuid-o"]}}
			}
			bm.mu.Unlock()
			clearDirty(bm)
			return bm, ids
		}
		ref, ids := build()
		got, _ := build()
		got.reportChunk = chunk
		for i := 0; i < 3; i++ {
			req := randomReport(r, ids["uuid-t"], blocks, orphans)
			before := stateOf(got)
			if err := referenceReport(ref, req); err != nil {
				t.Fatal(err)
			}
			if _, err := got.BlockReport(req); err != nil {
				t.Fatal(err)
			}
			want, have := stateOf(ref), stateOf(got)
			if !reflect.DeepEqual(want, have) {
				t.Fatalf("seed %d chunk %d report %d: state differs from the reference\nwant %+v\nhave %+v", seed, chunk, i, want, have)
			}
			refDirty, gotDirty := dirtyOf(ref), dirtyOf(got)
			for id := range gotDirty {
				if !refDirty[id] {
					t.Fatalf("seed %d report %d: block %d queued, the reference did not", seed, i, id)
				}
			}
			for id := range refDirty {
				if !gotDirty[id] && !reflect.DeepEqual(before.locs[id], have.locs[id]) {
					t.Fatalf("seed %d report %d: block %d changed (%v -> %v) but is not queued", seed, i, id, before.locs[id], have.locs[id])
				}
			}
			checkReplicaIndex(t, got)
			clearDirty(ref)
			clearDirty(got)
		}
	}
}

// TestChunkedReportsAlongsideOtherCalls runs chunked full reports of two
// nodes while heartbeats, incremental reports, the replication monitor and
// readers run (for the race detector), then checks the replica index and
// that a last quiet report leaves each node holding what it names.
func TestChunkedReportsAlongsideOtherCalls(t *testing.T) {
	ns, blocks := blockNamespace(t, 20, 20, 1000)
	bm, ids := quietBlockManager(t, ns, "uuid-a", "uuid-b")
	bm.reportChunk = 8
	stop := make(chan struct{})
	var others []chan struct{}
	spin := func(f func(i int)) {
		done := make(chan struct{})
		others = append(others, done)
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
			}
		}()
	}
	spin(func(int) { bm.Heartbeat(&dnpb.HeartbeatRequest{Id: ids["uuid-a"]}, false) })
	spin(func(int) { bm.ReplicationPass() })
	spin(func(i int) {
		b := blocks[i%len(blocks)]
		st := dnpb.ReceivedDeleted_RECEIVED
		if i%3 == 0 {
			st = dnpb.ReceivedDeleted_DELETED
		}
		bm.BlockReceivedAndDeleted(&dnpb.BlockReceivedAndDeletedRequest{Id: ids["uuid-b"], Blocks: []*dnpb.ReceivedDeleted{{
			Block: &dnpb.Block{Id: b.Id, GenStamp: b.GenStamp, NumBytes: b.NumBytes}, Status: st, StorageId: "DS-0-uuid-b"}}})
	})
	spin(func(i int) {
		ns.mu.RLock()
		b := ns.blocks[blocks[i%len(blocks)].Id]
		ns.mu.RUnlock()
		bm.Locations(b, "")
	})
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		for _, u := range []string{"uuid-a", "uuid-b"} {
			if _, err := bm.BlockReport(randomReport(r, ids[u], blocks, nil)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	for _, c := range others {
		<-c
	}
	checkReplicaIndex(t, bm)
	req := report(ids["uuid-a"], blocks[:50])
	req.Reports[0].StorageId, req.Reports[1].StorageId = "DS-0-uuid-a", "DS-1-uuid-a"
	if _, err := bm.BlockReport(req); err != nil {
		t.Fatal(err)
	}
	if n := len(stateOf(bm).held["uuid-a"]); n > 50 {
		t.Fatalf("node holds %d replicas after a report of 50", n)
	}
	checkReplicaIndex(t, bm)
}

// TestReplicationPassOverManyChunks: a pass over more blocks than one
// chunk drops every settled block, and acts on every block that needs it
// (here: excess replicas after lowering replication), across chunks.
func TestReplicationPassOverManyChunks(t *testing.T) {
	const files, perFile = 5, 8000 // 40,000 blocks: three chunks
	ns, blocks := blockNamespace(t, files, perFile, 1<<20)
	bm, _ := reportNode(t, ns, 1)
	for i := 2; i <= 3; i++ {
		id := &dnpb.DatanodeID{Uuid: fmt.Sprintf("uuid-%d", i), Ip: fmt.Sprintf("10.0.0.%d", i), HostName: fmt.Sprintf("dn%d", i), XferPort: 9866}
		st := []*dnpb.Storage{{StorageId: fmt.Sprintf("DS-%d", i), Type: dnpb.StorageType_DISK, Capacity: 1 << 44, Remaining: 1 << 43}}
		if _, err := bm.Register(&dnpb.RegisterRequest{Id: id, Storages: st}, StorageInfo{ClusterID: "c"}); err != nil {
			t.Fatal(err)
		}
		req := fullReport(id, blocks, 1)
		req.Reports[0].StorageId = fmt.Sprintf("DS-%d", i)
		if _, err := bm.BlockReport(req); err != nil {
			t.Fatal(err)
		}
	}
	first := fullReport(&dnpb.DatanodeID{Uuid: "uuid-bench", Ip: "10.0.0.1", HostName: "dn1", XferPort: 9866}, blocks, 1)
	if _, err := bm.BlockReport(first); err != nil {
		t.Fatal(err)
	}
	su := &Caller{User: "hdfs"}
	if _, err := ns.SetSafeMode(su, SafeModeLeave); err != nil {
		t.Fatal(err)
	}
	bm.ReplicationPass()
	bm.mu.Lock()
	dirty := len(bm.dirty)
	bm.mu.Unlock()
	if dirty != 0 {
		t.Fatalf("%d of %d fully replicated blocks still dirty after a pass", dirty, len(blocks))
	}
	for f := 0; f < files; f++ {
		if ok, err := ns.SetReplication(su, fmt.Sprintf("/bench/f%06d", f), 2); !ok || err != nil {
			t.Fatalf("setReplication: %v %v", ok, err)
		}
	}
	bm.ReplicationPass()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	invalidations := 0
	for _, d := range bm.nodes {
		invalidations += len(d.invalidates)
	}
	if invalidations != len(blocks) {
		t.Fatalf("%d invalidations for %d blocks with one excess replica each", invalidations, len(blocks))
	}
	if len(bm.dirty) != 0 {
		t.Fatalf("%d blocks still dirty after their excess was deleted", len(bm.dirty))
	}
}
