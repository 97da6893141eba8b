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
		d = &datanode{blocks: map[uint64]string{}}
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

// addReplica records a reported replica after checking it against the
// namespace's block (the caller holds ns.mu for reading and bm.mu).
func (bm *BlockManager) addReplica(d *datanode, storage string, rb *dnpb.Block, state dnpb.ReplicaState) {
	id := rb.GetId()
	b := bm.ns.blocks[id]
	if b == nil {
		// A replica of no file: delete it (not while starting up, when the
		// namespace may not be complete yet from the DataNode's view).
		if !bm.ns.safe.on() {
			d.invalidates = append(d.invalidates, &dnpb.Block{Id: id, GenStamp: rb.GetGenStamp()})
		}
		return
	}
	corrupt := false
	switch {
	case rb.GetGenStamp() < b.GenStamp:
		corrupt = true // stale: from before a pipeline recovery
	case state == dnpb.ReplicaState_FINALIZED && b.State == BlockComplete && rb.GetNumBytes() != b.NumBytes:
		corrupt = true
	case state != dnpb.ReplicaState_FINALIZED && b.State == BlockComplete:
		return // will be finalized or recovered; not a usable replica yet
	}
	ls := bm.locs[id]
	for i := range ls {
		if ls[i].dn == d {
			ls[i].storage = storage
			ls[i].corrupt = ls[i].corrupt || corrupt
			d.blocks[id] = storage
			bm.dirty[id] = struct{}{}
			return
		}
	}
	bm.locs[id] = append(ls, replicaLoc{dn: d, storage: storage, corrupt: corrupt})
	d.blocks[id] = storage
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
	if !corrupt {
		close(bm.changed)
		bm.changed = make(chan struct{})
	}
	if !corrupt && b.State == BlockComplete {
		bm.safe.replicaAdded(bm.liveReplicas(id), bm.minRepl)
	}
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

// BlockReport replaces what the block manager believes a DataNode holds
// with its full report.
func (bm *BlockManager) BlockReport(req *dnpb.BlockReportRequest) (*dnpb.BlockReportResponse, error) {
	bm.ns.mu.RLock()
	defer bm.ns.mu.RUnlock()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	d := bm.nodes[req.GetId().GetUuid()]
	if d == nil || d.dead {
		return nil, errorf(ExUnregisteredNode, "DataNode %s is not registered", req.GetId().GetUuid())
	}
	d.reported = true
	seen := map[uint64]bool{}
	n := 0
	for _, sr := range req.GetReports() {
		for _, r := range sr.GetReplicas() {
			seen[r.GetBlock().GetId()] = true
			bm.addReplica(d, sr.GetStorageId(), r.GetBlock(), r.GetState())
			n++
		}
	}
	for id := range d.blocks {
		if !seen[id] {
			bm.removeReplica(d, id)
		}
	}
	bm.safe.nodeReported(len(bm.nodes))
	bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "replicas": n}).Info("block report processed")
	return &dnpb.BlockReportResponse{}, nil
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
	for _, e := range req.GetBlocks() {
		switch e.GetStatus() {
		case dnpb.ReceivedDeleted_RECEIVED:
			bm.addReplica(d, e.GetStorageId(), e.GetBlock(), dnpb.ReplicaState_FINALIZED)
			bm.applyDelHint(e.GetBlock().GetId(), e.GetDelHint())
		case dnpb.ReceivedDeleted_DELETED:
			bm.removeReplica(d, e.GetBlock().GetId())
		}
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
	d.blocks = map[uint64]string{}
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
