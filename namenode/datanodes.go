package namenode

import (
	"fmt"
	"sort"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/rack"
)

// storageInfo is one volume of a DataNode as its heartbeats describe it.
type storageInfo struct {
	id        string
	typ       dnpb.StorageType
	failed    bool
	capacity  uint64
	dfsUsed   uint64
	remaining uint64
	nonDfs    uint64
}

// datanode is the block manager's record of one registered DataNode.
type datanode struct {
	id             *dnpb.DatanodeID
	node           *rack.Node // its place in the topology
	storages       map[string]*storageInfo
	lastHeartbeat  time.Time
	registered     time.Time
	reported       bool // sent a full block report since registering: ready for writes
	xceivers       int
	failedVolumes  int
	dead           bool
	decommission   bool // decommission in progress (or done, see below)
	decommissioned bool
	// maintenance: entering or in maintenance until maintenanceUntil; its
	// replicas stay counted (not copied elsewhere) even if it goes down.
	maintenance      bool
	inMaintenance    bool
	maintenanceUntil time.Time

	// blocks is the set of blocks the node holds a replica of: exactly
	// the blocks whose bm.locs entry has a replicaLoc of this node (every
	// path adds or removes both together; the storage is in the
	// replicaLoc).
	blocks map[uint64]struct{}
	// session counts registrations: a full report spanning several lock
	// holds stops if the node registered again meanwhile.
	session uint64
	// reportEpoch numbers the node's full block reports (replicaLoc.mark).
	reportEpoch uint32

	// Commands waiting for the next heartbeat.
	transfers   []*dnpb.Command
	invalidates []*dnpb.Block
	recoveries  []*dnpb.Command
	// blocks this node is currently sending for re-replication
	streams int
}

func (d *datanode) uuid() string { return d.id.GetUuid() }

func (d *datanode) xferAddr() string {
	return fmt.Sprintf("%s:%d", d.id.GetIp(), d.id.GetXferPort())
}

func (d *datanode) totals() (capacity, used, remaining, nonDfs uint64) {
	for _, s := range d.storages {
		if s.failed {
			continue
		}
		capacity += s.capacity
		used += s.dfsUsed
		remaining += s.remaining
		nonDfs += s.nonDfs
	}
	return
}

// ref renders the node as block locations name it, on a given storage.
func (d *datanode) ref(storageID string) DatanodeRef {
	c, u, r, _ := d.totals()
	st := uint32(dnpb.StorageType_DISK)
	if s := d.storages[storageID]; s != nil {
		st = uint32(s.typ)
	}
	return DatanodeRef{UUID: d.uuid(), IP: d.id.GetIp(), Host: d.id.GetHostName(),
		XferPort: d.id.GetXferPort(), InfoPort: d.id.GetInfoPort(), IPCPort: d.id.GetIpcPort(),
		StorageID: storageID, StorageType: st, Rack: d.node.Rack,
		Capacity: c, Used: u, Remaining: r, LastUpdate: d.lastHeartbeat.UnixMilli()}
}

// bestStorage picks the storage of d a new replica of wanted type should
// go to: the one with most room among that type, else among any.
func (d *datanode) bestStorage(want dnpb.StorageType) string {
	ids := make([]string, 0, len(d.storages))
	for id := range d.storages {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	best, bestAny := "", ""
	var room, roomAny uint64
	for _, id := range ids {
		s := d.storages[id]
		if s.failed {
			continue
		}
		if s.remaining >= roomAny || bestAny == "" {
			bestAny, roomAny = id, s.remaining
		}
		if (want == 0 || s.typ == want) && (s.remaining >= room || best == "") {
			best, room = id, s.remaining
		}
	}
	if best == "" {
		return bestAny
	}
	return best
}

// DatanodeInfo is one DataNode as reports (dfsadmin -report, fsck) show it.
type DatanodeInfo struct {
	DatanodeRef
	NonDfsUsed     uint64
	Xceivers       int
	Blocks         int
	Dead           bool
	Decommission   bool
	Decommissioned bool
	Maintenance    bool // entering maintenance
	InMaintenance  bool
	FailedVolumes  int
}
