package namenode

import (
	"fmt"
	"sort"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/rack"
	"github.com/sirupsen/logrus"
)

// Run drives the block manager's periodic work until stop closes:
// dead-node detection, re-replication and excess/corrupt deletion, and the
// start-up safe-mode exit.
func (bm *BlockManager) Run(stop <-chan struct{}) {
	tick := bm.set.HeartbeatInterval
	if bm.set.RedundancyInterval > 0 && bm.set.RedundancyInterval < tick {
		tick = bm.set.RedundancyInterval
	}
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	lastRepl := time.Time{}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		bm.checkHeartbeats()
		bm.checkSafeMode()
		if time.Since(lastRepl) >= bm.set.RedundancyInterval {
			bm.ReplicationPass()
			lastRepl = time.Now()
		}
	}
}

// checkHeartbeats declares DataNodes dead after Hadoop's expiry interval.
func (bm *BlockManager) checkHeartbeats() {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	cutoff := bm.now().Add(-bm.set.deadInterval())
	for _, d := range bm.nodes {
		if !d.dead && d.lastHeartbeat.Before(cutoff) {
			if d.maintenance {
				// Down for maintenance: expected. Its replicas stay on the
				// books until the window ends.
				d.dead = true
				bm.topo.Remove(d.uuid())
				bm.log.WithField("dn", d.xferAddr()).Info("DataNode in maintenance stopped heartbeating")
				continue
			}
			bm.removeNodeLocked(d, fmt.Sprintf("no heartbeat for %s", bm.now().Sub(d.lastHeartbeat).Round(time.Second)))
		}
	}
}

// replPriority orders blocks as Hadoop's LowRedundancyBlocks queues do:
// 0 highest (one replica left), 1 very under-replicated, 2 under-replicated,
// 3 badly distributed, 4 only corrupt replicas.
func replPriority(live, expected, corrupt int) int {
	switch {
	case live == 0 && corrupt > 0:
		return 4
	case live == 1 && expected > 1:
		return 0
	case live*3 < expected:
		return 1
	case live < expected:
		return 2
	}
	return 3
}

type replWork struct {
	id       uint64
	b        *BlockInfo
	good     []*datanode
	decomm   []*datanode // replicas on decommissioning nodes: sources, not counted
	maint    int         // replicas on nodes in maintenance (live or down)
	corrupt  []replicaLoc
	expected int
	prio     int
}

// replChunk is how many blocks a replication pass looks at between
// releases of the locks: after a restart every block is dirty, and a pass
// over a million of them once held both locks for seconds.
const replChunk = 16384

// replTodo is a dirty block that needs more than a look, and its priority.
type replTodo struct {
	id   uint64
	prio int
}

// ReplicationPass looks at every block whose replication may be off and
// schedules copies, deletions of excess replicas, and deletion of corrupt
// replicas once enough good ones exist. It is exported for tests and for
// dfsadmin-driven checks; the monitor runs it every
// dfs.namenode.redundancy.interval.seconds. It works in chunks of
// replChunk blocks, letting go of the locks between them: first it drops
// the blocks that are fine, then it acts on the others, most urgent first.
func (bm *BlockManager) ReplicationPass() {
	bm.passMu.Lock()
	defer bm.passMu.Unlock()
	if !bm.lockPass() {
		return
	}
	now := bm.now()
	for id, p := range bm.pending {
		if now.After(p.expires) {
			delete(bm.pending, id)
			bm.dirty[id] = struct{}{}
		}
	}
	ids := bm.passIDs[:0]
	for id := range bm.dirty {
		ids = append(ids, id)
	}
	bm.passIDs = ids
	bm.unlockPass()

	todo := bm.passTodo[:0]
	for start := 0; start < len(ids); start += replChunk {
		if !bm.lockPass() {
			return
		}
		for _, id := range ids[start:min(start+replChunk, len(ids))] {
			if _, ok := bm.dirty[id]; !ok {
				continue
			}
			w, ok := bm.classify(id)
			switch {
			case !ok:
			case bm.settled(w):
				delete(bm.dirty, id)
			default:
				todo = append(todo, replTodo{id, w.prio})
			}
		}
		bm.unlockPass()
	}
	bm.passTodo = todo
	sort.Slice(todo, func(i, j int) bool { return todo[i].prio < todo[j].prio })

	for start := 0; start < len(todo); start += replChunk {
		if !bm.lockPass() {
			return
		}
		bm.refreshNodeStats()
		bm.candidates = 0
		for _, d := range bm.nodes {
			if bm.canTake(d) {
				bm.candidates++
			}
		}
		for _, t := range todo[start:min(start+replChunk, len(todo))] {
			if _, ok := bm.dirty[t.id]; !ok {
				continue
			}
			if w, ok := bm.classify(t.id); ok && bm.handleBlock(w) {
				delete(bm.dirty, t.id)
			}
		}
		bm.unlockPass()
	}
	if bm.lockPass() {
		bm.checkDecommissionLocked()
		bm.checkMaintenanceLocked()
		bm.unlockPass()
	}
}

// lockPass takes the namespace's read lock and the block manager's lock
// for a chunk of a pass; false (nothing held) in safe mode.
func (bm *BlockManager) lockPass() bool {
	bm.ns.mu.RLock()
	bm.mu.Lock()
	if bm.ns.safe.on() {
		bm.unlockPass()
		return false
	}
	return true
}

func (bm *BlockManager) unlockPass() {
	bm.mu.Unlock()
	bm.ns.mu.RUnlock()
}

// classify describes a dirty block's replicas. A block that is gone is
// dropped from the dirty set; one not complete yet stays (it is checked
// again when its file closes); both answer false. The work's slices are
// scratch space, valid until the next call.
func (bm *BlockManager) classify(id uint64) (replWork, bool) {
	b := bm.ns.blocks[id]
	if b == nil {
		delete(bm.dirty, id)
		return replWork{}, false
	}
	if b.State != BlockComplete {
		return replWork{}, false
	}
	w := replWork{id: id, b: b, expected: int(b.inode.replication),
		good: bm.scratchGood[:0], decomm: bm.scratchDecomm[:0], corrupt: bm.scratchCorrupt[:0]}
	for _, l := range bm.locs[id] {
		switch {
		case l.dn.maintenance && !l.corrupt:
			w.maint++
			if !l.dn.dead {
				w.decomm = append(w.decomm, l.dn) // may serve as a source
			}
		case l.dn.dead:
		case l.corrupt:
			w.corrupt = append(w.corrupt, l)
		case l.dn.decommission:
			w.decomm = append(w.decomm, l.dn)
		default:
			w.good = append(w.good, l.dn)
		}
	}
	bm.scratchGood, bm.scratchDecomm, bm.scratchCorrupt = w.good, w.decomm, w.corrupt
	if w.maint > 0 {
		// Hadoop's rule: replicas in maintenance stand in for all but
		// dfs.namenode.maintenance.replication.min live ones.
		w.expected = max(w.expected-w.maint, min(bm.set.MaintenanceMinReplicas, w.expected))
	}
	w.prio = replPriority(len(w.good), w.expected, len(w.corrupt))
	return w, true
}

// settled tells whether handleBlock would find nothing to do for w and
// call it settled: no replica left to copy from, or exactly the expected
// good replicas, no corrupt ones, nothing on its way, well spread.
func (bm *BlockManager) settled(w replWork) bool {
	live := len(w.good)
	if live == 0 {
		return true
	}
	if len(w.corrupt) > 0 || live != w.expected || bm.pending[w.id] != nil {
		return false
	}
	if live > 1 && w.maint == 0 {
		nodes := bm.scratchNodes[:0]
		for _, d := range w.good {
			nodes = append(nodes, d.node)
		}
		bm.scratchNodes = nodes
		return !bm.policy.IsMisplaced(bm.topo, nodes, w.expected)
	}
	return true
}

// handleBlock acts on one block; it reports whether the block is settled.
func (bm *BlockManager) handleBlock(w replWork) bool {
	live := len(w.good)
	if live > 0 && len(w.corrupt) > 0 && live >= w.expected {
		for _, l := range w.corrupt {
			bm.invalidate(l.dn, w.b)
		}
	}
	if live == 0 {
		return true // missing: nothing to copy from; a report re-dirties it
	}
	pend := 0
	if p := bm.pending[w.id]; p != nil {
		pend = len(p.targets)
	}
	if live > w.expected {
		nodes := make([]*rack.Node, len(w.good))
		for i, d := range w.good {
			nodes[i] = d.node
		}
		for _, n := range bm.policy.ChooseExcess(bm.topo, nodes, w.expected) {
			if d := bm.nodes[n.ID]; d != nil {
				bm.invalidate(d, w.b)
			}
		}
		return true
	}
	need := w.expected - live - pend
	misplaced := false
	if need <= 0 && pend == 0 && live > 1 && w.maint == 0 {
		nodes := make([]*rack.Node, len(w.good))
		for i, d := range w.good {
			nodes[i] = d.node
		}
		// All replicas on one rack while others exist: add one elsewhere;
		// the excess pass then removes one from the crowded rack.
		if misplaced = bm.policy.IsMisplaced(bm.topo, nodes, w.expected); misplaced {
			need = 1
		}
	}
	if need <= 0 {
		return pend == 0
	}
	if !misplaced && !bm.roomFor(w) {
		return false // no node could take another replica: skip the placement
	}
	src := bm.chooseSource(append(append([]*datanode(nil), w.good...), w.decomm...))
	if src == nil {
		return false
	}
	req := rack.Request{Replicas: need, TotalReplicas: w.expected, BlockSize: int64(w.b.NumBytes), Exclude: map[string]bool{}}
	for _, d := range w.good {
		req.Chosen = append(req.Chosen, d.node)
	}
	for _, d := range w.decomm {
		req.Exclude[d.uuid()] = true
	}
	if misplaced {
		req.TotalReplicas = w.expected + 1
		for _, d := range w.good {
			req.Exclude[d.uuid()] = true
		}
		var other *rack.Node
		for _, n := range bm.topo.Nodes() {
			if n.Rack != w.good[0].node.Rack && !req.Exclude[n.ID] && !n.Decommissioning {
				other = n
				break
			}
		}
		if other == nil {
			return true
		}
		targets := []*rack.Node{bm.topo.ChooseRandom("~"+w.good[0].node.Rack, req.Exclude)}
		if targets[0] == nil {
			return true
		}
		return bm.schedule(w, src, targets, live)
	}
	if p := bm.pending[w.id]; p != nil {
		for _, d := range p.targets {
			req.Exclude[d.uuid()] = true
		}
	}
	for _, l := range w.corrupt {
		req.Exclude[l.dn.uuid()] = true
	}
	bm.excludeUnready(req.Exclude)
	targets := bm.policy.ChooseTargets(bm.topo, req)
	if len(targets) == 0 {
		return false
	}
	return bm.schedule(w, src, targets, live)
}

// canTake tells whether d could receive a new replica: alive, reported,
// not leaving the cluster.
func (bm *BlockManager) canTake(d *datanode) bool {
	return !d.dead && d.reported && !d.decommission && !d.maintenance
}

// roomFor tells whether some node that could take a replica of w's block
// holds none yet (good, corrupt or on its way). Without one the placement
// policy can only fail; after a restart with one DataNode a pass over a
// million blocks called it a million times.
func (bm *BlockManager) roomFor(w replWork) bool {
	taken := 0
	for _, d := range w.good {
		if bm.canTake(d) {
			taken++
		}
	}
	for _, l := range w.corrupt {
		if bm.canTake(l.dn) {
			taken++
		}
	}
	if p := bm.pending[w.id]; p != nil {
		for _, d := range p.targets {
			if bm.canTake(d) {
				taken++
			}
		}
	}
	return bm.candidates > taken
}

// schedule queues a TRANSFER of w's block from src to targets.
func (bm *BlockManager) schedule(w replWork, src *datanode, targets []*rack.Node, live int) bool {
	tl := &dnpb.TargetList{}
	p := bm.pending[w.id]
	if p == nil {
		p = &pendingRepl{}
		bm.pending[w.id] = p
	}
	p.expires = bm.now().Add(bm.set.PendingTimeout)
	for _, n := range targets {
		d := bm.nodes[n.ID]
		if d == nil {
			continue
		}
		sid := d.bestStorage(dnpb.StorageType_DISK)
		tl.Targets = append(tl.Targets, &dnpb.Target{Id: d.id, StorageId: sid, StorageType: dnpb.StorageType_DISK})
		p.targets = append(p.targets, d)
	}
	src.transfers = append(src.transfers, &dnpb.Command{Kind: dnpb.Command_TRANSFER,
		Blocks:      []*dnpb.Block{{Id: w.b.ID, GenStamp: w.b.GenStamp, NumBytes: w.b.NumBytes}},
		Targets:     []*dnpb.TargetList{tl},
		BlockPoolId: ""})
	bm.log.WithFields(logrus.Fields{"block": w.b.ID, "from": src.xferAddr(), "targets": len(tl.Targets), "live": live, "expected": w.expected}).Info("scheduling re-replication")
	return false
}

// chooseSource picks the replica holder with the fewest queued transfers,
// under dfs.namenode.replication.max-streams.
func (bm *BlockManager) chooseSource(good []*datanode) *datanode {
	var best *datanode
	for _, d := range good {
		if len(d.transfers) >= 2*bm.set.MaxStreams {
			continue
		}
		if best == nil || len(d.transfers) < len(best.transfers) {
			best = d
		}
	}
	return best
}

// invalidate tells d to delete its replica of b and forgets it now.
func (bm *BlockManager) invalidate(d *datanode, b *BlockInfo) {
	d.invalidates = append(d.invalidates, &dnpb.Block{Id: b.ID, GenStamp: b.GenStamp, NumBytes: b.NumBytes})
	ls := bm.locs[b.ID]
	for i := range ls {
		if ls[i].dn == d {
			bm.locs[b.ID] = append(ls[:i:i], ls[i+1:]...)
			break
		}
	}
	delete(d.blocks, b.ID)
}

// BlockHealth counts blocks by state, for getFsStats, fsck and reports.
type BlockHealth struct {
	Total, UnderReplicated, OverReplicated, MisReplicated, Corrupt, Missing int
}

// Health scans every block (under both locks).
func (bm *BlockManager) Health() BlockHealth {
	bm.ns.mu.RLock()
	defer bm.ns.mu.RUnlock()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	var h BlockHealth
	for id, b := range bm.ns.blocks {
		if b.State != BlockComplete {
			continue
		}
		h.Total++
		live, corrupt := 0, 0
		var nodes []*rack.Node
		for _, l := range bm.locs[id] {
			if l.dn.dead {
				continue
			}
			if l.corrupt {
				corrupt++
			} else {
				live++
				nodes = append(nodes, l.dn.node)
			}
		}
		exp := int(b.inode.replication)
		switch {
		case live == 0 && corrupt > 0:
			h.Corrupt++
		case live == 0:
			h.Missing++
		case live < exp:
			h.UnderReplicated++
		case live > exp:
			h.OverReplicated++
		}
		if live > 0 && bm.policy.IsMisplaced(bm.topo, nodes, exp) {
			h.MisReplicated++
		}
	}
	return h
}

// RefreshNodes re-reads dfs.hosts / dfs.hosts.exclude (starting or
// stopping decommissions) and re-resolves every DataNode's rack
// (dfsadmin -refreshNodes): the mapping's cache is dropped and the
// topology rebuilt.
func (bm *BlockManager) RefreshNodes() error {
	if err := bm.loadHostLists(); err != nil {
		return err
	}
	bm.mu.Lock()
	bm.applyHostListsLocked()
	bm.mu.Unlock()
	bm.mapper.Refresh()
	bm.mu.Lock()
	var ips []string
	var nodes []*datanode
	for _, d := range bm.nodes {
		if !d.dead {
			ips = append(ips, d.id.GetIp())
			nodes = append(nodes, d)
		}
	}
	bm.mu.Unlock()
	racks := bm.mapper.Resolve(ips)
	bm.mu.Lock()
	defer bm.mu.Unlock()
	for i, d := range nodes {
		if d.dead || i >= len(racks) || d.node.Rack == racks[i] {
			continue
		}
		n := *d.node
		n.Rack = racks[i]
		d.node = &n
		bm.topo.Add(d.node)
		for id := range d.blocks {
			bm.dirty[id] = struct{}{}
		}
		bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "rack": racks[i]}).Info("DataNode moved rack")
	}
	return nil
}
