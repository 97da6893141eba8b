package namenode

import (
	"fmt"

	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/rack"
	"github.com/sirupsen/logrus"
)

// ExUnregisteredNode tells a DataNode to register again.
const ExUnregisteredNode = "org.apache.hadoop.hdfs.protocol.UnregisteredNodeException"

// Register adds or refreshes a DataNode. Its rack is resolved (the
// topology script may run) before the block manager's lock is taken.
func (bm *BlockManager) Register(req *dnpb.RegisterRequest, info StorageInfo) (*dnpb.RegisterResponse, error) {
	id := req.GetId()
	if id.GetUuid() == "" || id.GetIp() == "" || id.GetXferPort() == 0 {
		return nil, errorf(ExIllegalArgument, "registration without uuid, ip or transfer port: %v", id)
	}
	if c := req.GetClusterId(); c != "" && c != info.ClusterID {
		return nil, errorf("org.apache.hadoop.hdfs.server.common.IncorrectVersionException",
			"DataNode %s belongs to cluster %s, this NameNode serves %s", id.GetUuid(), c, info.ClusterID)
	}
	rk := bm.mapper.Resolve([]string{id.GetIp()})[0]
	bm.mu.Lock()
	defer bm.mu.Unlock()
	addr := fmt.Sprintf("%s:%d", id.GetIp(), id.GetXferPort())
	if old := bm.byAddr[addr]; old != nil && old.uuid() != id.GetUuid() {
		// Another DataNode used to live at this address: it is gone.
		bm.removeNodeLocked(old, "replaced by a new registration at the same address")
	}
	d := bm.nodes[id.GetUuid()]
	if d != nil && bm.byAddr[d.xferAddr()] == d {
		delete(bm.byAddr, d.xferAddr())
	}
	if d == nil {
		d = &datanode{blocks: map[uint64]struct{}{}}
		bm.nodes[id.GetUuid()] = d
	}
	if d.maintenance && d.dead {
		d.dead = false // back from maintenance downtime; a full report follows
	}
	d.id = id
	if !bm.hosts.allowed(d) {
		delete(bm.nodes, id.GetUuid())
		return nil, errorf("org.apache.hadoop.hdfs.server.protocol.DisallowedDatanodeException",
			"Datanode denied communication with namenode because the host is not in the include-list: DatanodeRegistration(%s, datanodeUuid=%s)", addr, id.GetUuid())
	}
	d.dead = false
	d.reported = false
	d.session++
	d.registered = bm.now()
	d.lastHeartbeat = bm.now()
	d.storages = map[string]*storageInfo{}
	bm.updateStorages(d, req.GetStorages())
	d.node = &rack.Node{ID: id.GetUuid(), Addr: addr, Host: id.GetHostName(), IP: id.GetIp(), Rack: rk}
	for _, s := range d.storages {
		d.node.StorageTypes = append(d.node.StorageTypes, int(s.typ))
	}
	bm.topo.Add(d.node)
	bm.byAddr[addr] = d
	if bm.hosts.excluded(d) && !d.decommission {
		bm.applyHostListsLocked()
	}
	bm.log.WithFields(logrus.Fields{"dn": addr, "uuid": id.GetUuid(), "rack": rk, "storages": len(d.storages)}).Info("DataNode registered")
	return &dnpb.RegisterResponse{Id: id, ClusterId: info.ClusterID, BlockPoolId: info.BlockPoolID,
		NamespaceId: info.NamespaceID, Epoch: 1}, nil
}

func (bm *BlockManager) updateStorages(d *datanode, ss []*dnpb.Storage) {
	failed := 0
	for _, s := range ss {
		si := d.storages[s.GetStorageId()]
		if si == nil {
			si = &storageInfo{id: s.GetStorageId()}
			d.storages[si.id] = si
		}
		si.typ, si.failed = s.GetType(), s.GetFailed()
		si.capacity, si.dfsUsed, si.remaining, si.nonDfs = s.GetCapacity(), s.GetDfsUsed(), s.GetRemaining(), s.GetNonDfsUsed()
		if si.failed {
			failed++
		}
	}
	d.failedVolumes = failed
}

// Heartbeat records a DataNode's liveness and load and hands it the
// commands waiting for it.
func (bm *BlockManager) Heartbeat(req *dnpb.HeartbeatRequest, inSafeMode bool) (*dnpb.HeartbeatResponse, error) {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	d := bm.nodes[req.GetId().GetUuid()]
	if d == nil || d.dead {
		return &dnpb.HeartbeatResponse{Commands: []*dnpb.Command{{Kind: dnpb.Command_REGISTER}}, InSafeMode: inSafeMode, Epoch: 1, Primary: true}, nil
	}
	d.lastHeartbeat = bm.now()
	d.xceivers = int(req.GetXceiverCount())
	bm.updateStorages(d, req.GetStorages())
	resp := &dnpb.HeartbeatResponse{InSafeMode: inSafeMode, Epoch: 1, Primary: true}
	if len(d.recoveries) > 0 {
		resp.Commands = append(resp.Commands, d.recoveries...)
		d.recoveries = nil
	}
	if inSafeMode {
		return resp, nil
	}
	if len(d.transfers) > 0 {
		resp.Commands = append(resp.Commands, d.transfers...)
		d.transfers = nil
	}
	if len(d.invalidates) > 0 {
		n := min(len(d.invalidates), bm.set.InvalidateLimit)
		resp.Commands = append(resp.Commands, &dnpb.Command{Kind: dnpb.Command_INVALIDATE, Blocks: d.invalidates[:n]})
		d.invalidates = append([]*dnpb.Block(nil), d.invalidates[n:]...)
	}
	return resp, nil
}

// replicaVerdict judges a reported replica against the namespace's block:
// corrupt when its generation stamp is stale (from before a pipeline
// recovery) or a finalized replica of a complete block has the wrong
// length; ignore when it is not finalized while the block is complete (it
// will be finalized or recovered; not a usable replica yet).
func replicaVerdict(b *BlockInfo, rb *dnpb.Block, state dnpb.ReplicaState) (corrupt, ignore bool) {
	switch {
	case rb.GetGenStamp() < b.GenStamp:
		return true, false
	case state == dnpb.ReplicaState_FINALIZED && b.State == BlockComplete && rb.GetNumBytes() != b.NumBytes:
		return true, false
	case state != dnpb.ReplicaState_FINALIZED && b.State == BlockComplete:
		return false, true
	}
	return false, false
}

// orphanReplica handles a replica of no file: it is deleted (not while
// starting up, when the namespace may not be complete yet from the
// DataNode's view).
func (bm *BlockManager) orphanReplica(d *datanode, rb *dnpb.Block) {
	if !bm.ns.safe.on() {
		d.invalidates = append(d.invalidates, &dnpb.Block{Id: rb.GetId(), GenStamp: rb.GetGenStamp()})
	}
}

// locIndex finds d's replica in ls (-1 when d holds none).
func locIndex(ls []replicaLoc, d *datanode) int {
	for i := range ls {
		if ls[i].dn == d {
			return i
		}
	}
	return -1
}

// addReplica records a replica from an incremental report after checking
// it against the namespace's block (the caller holds ns.mu for reading and
// bm.mu). It tells whether a usable replica was added: the caller then
// wakes WaitMinReplicated once (wakeWaiters).
func (bm *BlockManager) addReplica(d *datanode, storage string, rb *dnpb.Block, state dnpb.ReplicaState) bool {
	id := rb.GetId()
	b := bm.ns.blocks[id]
	if b == nil {
		bm.orphanReplica(d, rb)
		return false
	}
	corrupt, ignore := replicaVerdict(b, rb, state)
	if ignore {
		return false
	}
	ls := bm.locs[id]
	if i := locIndex(ls, d); i >= 0 {
		bm.updateReplica(d, id, &ls[i], storage, corrupt)
		return false
	}
	return bm.newReplica(d, b, ls, storage, corrupt)
}

// updateReplica records a known replica again: its storage, and corrupt
// once it has been found corrupt. The block is re-checked.
func (bm *BlockManager) updateReplica(d *datanode, id uint64, l *replicaLoc, storage string, corrupt bool) {
	l.storage = storage
	l.corrupt = l.corrupt || corrupt
	d.blocks[id] = struct{}{}
	bm.dirty[id] = struct{}{}
}

// newReplica adds d's replica of b (ls is b's replicas so far, without
// d) and counts it for the start-up safe mode. The first replica's slice
// has room for the file's replication, as Hadoop's BlockInfo does, so the
// other holders' reports do not grow it. It tells whether the replica is
// usable (not corrupt).
func (bm *BlockManager) newReplica(d *datanode, b *BlockInfo, ls []replicaLoc, storage string, corrupt bool) bool {
	id := b.ID
	if cap(ls) == 0 {
		ls = make([]replicaLoc, 0, replicaRoom(b))
	}
	bm.locs[id] = append(ls, replicaLoc{dn: d, storage: storage, corrupt: corrupt, mark: d.reportEpoch})
	d.blocks[id] = struct{}{}
	if len(bm.pending) > 0 {
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
	}
	bm.dirty[id] = struct{}{}
	if !corrupt && b.State == BlockComplete && bm.safe.active {
		bm.safe.replicaAdded(bm.liveReplicas(id), bm.minRepl)
	}
	return !corrupt
}

// replicaRoom is the capacity of a block's first replica slice: its
// file's replication, at least 1 and at most 16.
func replicaRoom(b *BlockInfo) int {
	if b.inode == nil {
		return 1
	}
	return min(max(int(b.inode.replication), 1), 16)
}

// wakeWaiters wakes WaitMinReplicated calls after usable replicas were
// added (once per call, not per replica).
func (bm *BlockManager) wakeWaiters() {
	close(bm.changed)
	bm.changed = make(chan struct{})
}

func (bm *BlockManager) removeReplica(d *datanode, id uint64) {
	ls := bm.locs[id]
	for i := range ls {
		if ls[i].dn == d {
			bm.locs[id] = append(ls[:i:i], ls[i+1:]...)
			if len(bm.locs[id]) == 0 {
				delete(bm.locs, id)
			}
			break
		}
	}
	delete(d.blocks, id)
	if _, ok := bm.ns.blocks[id]; ok {
		bm.dirty[id] = struct{}{}
	}
}

// BlockReceivedAndDeleted applies a DataNode's incremental report.
func (bm *BlockManager) BlockReceivedAndDeleted(req *dnpb.BlockReceivedAndDeletedRequest) error {
	bm.ns.mu.RLock()
	defer bm.ns.mu.RUnlock()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	d := bm.nodes[req.GetId().GetUuid()]
	if d == nil || d.dead {
		return errorf(ExUnregisteredNode, "DataNode %s is not registered", req.GetId().GetUuid())
	}
	added := false
	for _, e := range req.GetBlocks() {
		switch e.GetStatus() {
		case dnpb.ReceivedDeleted_RECEIVED:
			if bm.addReplica(d, e.GetStorageId(), e.GetBlock(), dnpb.ReplicaState_FINALIZED) {
				added = true
			}
			bm.applyDelHint(e.GetBlock().GetId(), e.GetDelHint())
		case dnpb.ReceivedDeleted_DELETED:
			bm.removeReplica(d, e.GetBlock().GetId())
		}
	}
	if added {
		bm.wakeWaiters()
	}
	return nil
}

// MarkCorrupt records that a replica of a block on the DataNode at addr
// (or uuid) is corrupt, as reportBadBlocks from a client or DataNode says.
func (bm *BlockManager) MarkCorrupt(blockID uint64, node string) {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	d := bm.nodes[node]
	if d == nil {
		d = bm.byAddr[node]
	}
	if d == nil {
		return
	}
	for i, l := range bm.locs[blockID] {
		if l.dn == d {
			bm.locs[blockID][i].corrupt = true
			bm.dirty[blockID] = struct{}{}
			bm.log.WithFields(logrus.Fields{"block": blockID, "dn": d.xferAddr()}).Warn("replica reported corrupt")
		}
	}
}

// removeNodeLocked forgets a dead DataNode's replicas and re-checks their
// blocks.
func (bm *BlockManager) removeNodeLocked(d *datanode, why string) {
	d.dead = true
	bm.topo.Remove(d.uuid())
	for id := range d.blocks {
		ls := bm.locs[id]
		for i := range ls {
			if ls[i].dn == d {
				bm.locs[id] = append(ls[:i:i], ls[i+1:]...)
				break
			}
		}
		if len(bm.locs[id]) == 0 {
			delete(bm.locs, id)
		}
		bm.dirty[id] = struct{}{}
	}
	d.blocks = map[uint64]struct{}{}
	d.transfers, d.invalidates, d.recoveries = nil, nil, nil
	bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "reason": why}).Warn("DataNode removed")
}

// applyDelHint removes the replica a REPLACE_BLOCK moved away from (the
// balancer's and mover's "delete hint"), when the block has enough others.
func (bm *BlockManager) applyDelHint(id uint64, hint string) {
	if hint == "" {
		return
	}
	b := bm.ns.blocks[id]
	old := bm.nodes[hint]
	if old == nil {
		old = bm.byAddr[hint]
	}
	if b == nil || b.inode == nil || old == nil || !hasLoc(bm.locs[id], old) {
		return
	}
	if bm.liveReplicas(id)-1 >= int(b.inode.replication) {
		bm.invalidate(old, b)
	}
}
