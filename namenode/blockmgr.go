package namenode

import (
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/rack"
	"github.com/sirupsen/logrus"
)

// BlockSettings are the block manager's knobs, from Hadoop's keys.
type BlockSettings struct {
	HeartbeatInterval  time.Duration // dfs.heartbeat.interval
	RecheckInterval    time.Duration // dfs.namenode.heartbeat.recheck-interval
	StaleInterval      time.Duration // dfs.namenode.stale.datanode.interval
	RedundancyInterval time.Duration // dfs.namenode.redundancy.interval.seconds
	MaxStreams         int           // dfs.namenode.replication.max-streams
	InvalidateLimit    int           // dfs.block.invalidate.limit
	PendingTimeout     time.Duration // dfs.namenode.reconstruction.pending.timeout-sec
	SafeModeThreshold  float64       // dfs.namenode.safemode.threshold-pct
	SafeModeExtension  time.Duration // dfs.namenode.safemode.extension
	SafeModeMinNodes   int           // dfs.namenode.safemode.min.datanodes
	Policy             string        // dfs.block.replicator.classname's short name: seeds | hadoop
	Mapper             rack.MapperConfig
	HostsInclude       string // dfs.hosts
	HostsExclude       string // dfs.hosts.exclude
	// MaintenanceMinReplicas is dfs.namenode.maintenance.replication.min.
	MaintenanceMinReplicas int
}

// BlockSettingsFromConf reads the block manager's settings.
func BlockSettingsFromConf(c *conf.Config) BlockSettings {
	get := func(k string, def time.Duration) time.Duration {
		if _, ok := c.Get(k); !ok {
			return def
		}
		return c.Duration(k)
	}
	intOr := func(k string, def int) int {
		if _, ok := c.Get(k); !ok {
			return def
		}
		return int(c.Int(k))
	}
	// Our default is the seeds' policy; Hadoop's default class name, when
	// an operator writes it out, means Hadoop's own policy.
	policy := "seeds"
	if v, ok := c.Get("dfs.block.replicator.classname"); ok && v != "" && c.Source("dfs.block.replicator.classname") != conf.SourceDefault {
		policy = v
		if v == "org.apache.hadoop.hdfs.server.blockmanagement.BlockPlacementPolicyDefault" {
			policy = "hadoop"
		}
	}
	return BlockSettings{
		HeartbeatInterval:  get("dfs.heartbeat.interval", 3*time.Second),
		RecheckInterval:    get("dfs.namenode.heartbeat.recheck-interval", 5*time.Minute),
		StaleInterval:      get("dfs.namenode.stale.datanode.interval", 30*time.Second),
		RedundancyInterval: get("dfs.namenode.redundancy.interval.seconds", 3*time.Second),
		MaxStreams:         intOr("dfs.namenode.replication.max-streams", 2),
		InvalidateLimit:    intOr("dfs.block.invalidate.limit", 1000),
		PendingTimeout:     get("dfs.namenode.reconstruction.pending.timeout-sec", 5*time.Minute),
		SafeModeThreshold:  c.Float("dfs.namenode.safemode.threshold-pct"),
		SafeModeExtension:  get("dfs.namenode.safemode.extension", 30*time.Second),
		SafeModeMinNodes:   intOr("dfs.namenode.safemode.min.datanodes", 0),
		Policy:             policy,
		Mapper: rack.MapperConfig{Script: c.String("net.topology.script.file.name"),
			ScriptArgs:    intOr("net.topology.script.number.args", 100),
			ScriptTimeout: scriptTimeout(c),
			Table:         c.String("net.topology.table.file.name")},
		HostsInclude:           c.String("dfs.hosts"),
		HostsExclude:           c.String("dfs.hosts.exclude"),
		MaintenanceMinReplicas: intOr("dfs.namenode.maintenance.replication.min", 1),
	}
}

// scriptTimeout is net.topology.script.timeout (our addition; 10 s).
func scriptTimeout(c *conf.Config) time.Duration {
	if _, ok := c.Get("net.topology.script.timeout"); !ok {
		return 10 * time.Second
	}
	return c.DurationIn("net.topology.script.timeout", time.Second)
}

// deadInterval is Hadoop's heartbeat expiry: 2 × recheck + 10 × heartbeat.
func (s BlockSettings) deadInterval() time.Duration {
	return 2*s.RecheckInterval + 10*s.HeartbeatInterval
}

// replicaLoc is one replica of a block: the node and storage holding it.
type replicaLoc struct {
	dn      *datanode
	storage string
	corrupt bool
	// mark is the report epoch (datanode.reportEpoch) of the last full
	// block report that named this replica, or of the report current when
	// the replica was added; a full report removes the node's replicas it
	// left unmarked (blockreport.go).
	mark uint32
}

// pendingRepl is a re-replication sent to DataNodes and not yet confirmed.
type pendingRepl struct {
	targets []*datanode
	expires time.Time
}

// BlockManager knows where replicas live and keeps every block at its
// replication: DataNode registry and liveness, the blocks map, placement,
// re-replication and invalidation commands, corrupt replicas, and the
// start-up safe-mode threshold. It is plain state behind one mutex; the
// DatanodeProtocol handlers and the namespace (through BlockSite) call in.
// Lock order: Namespace.mu before BlockManager.mu.
type BlockManager struct {
	mu     sync.Mutex
	set    BlockSettings
	log    logrus.FieldLogger
	ns     *Namespace
	now    func() time.Time
	topo   *rack.Topology
	policy rack.Policy
	mapper rack.Mapper

	nodes  map[string]*datanode // by uuid
	byAddr map[string]*datanode // by transfer address
	locs   map[uint64][]replicaLoc
	// expected holds the pipeline targets of blocks being written.
	expected map[uint64][]*datanode
	dirty    map[uint64]struct{} // blocks whose replication must be checked
	// candidates counts the nodes that could take a replica, as of the
	// current replication pass (see roomFor).
	candidates int
	// passMu serializes replication passes (they let go of mu between
	// chunks); passIDs, passTodo and the scratch slices are theirs.
	passMu                     sync.Mutex
	passIDs                    []uint64
	passTodo                   []replTodo
	scratchGood, scratchDecomm []*datanode
	scratchCorrupt             []replicaLoc
	scratchNodes               []*rack.Node
	pending                    map[uint64]*pendingRepl
	minRepl                    int
	// changed is closed (and replaced) whenever a replica is added, to wake
	// complete/addBlock calls waiting for the minimum replication.
	changed chan struct{}
	// reportChunk is how many replicas of a full block report are applied
	// per hold of the locks (defaultReportChunk; tests make it small).
	reportChunk int

	safe  safeModeTracker
	hosts hostLists

	// Racks of clients that are not DataNodes, resolved in the background
	// so no topology script ever runs under a lock.
	crMu        sync.Mutex
	clientRacks map[string]clientRackEntry
}

// clientRack is the rack of an outside client as last resolved ("" when
// unknown); it never runs the topology script, so it is safe under locks.
func (bm *BlockManager) clientRack(ip string) string {
	bm.crMu.Lock()
	defer bm.crMu.Unlock()
	return bm.clientRacks[ip].rack
}

// ResolveClient makes sure an outside client's rack is known before a
// call that sorts or places by it. It runs the topology script when the
// client is new (or its last failed answer is over a minute old), and must
// be called without the namespace or block-manager locks held.
func (bm *BlockManager) ResolveClient(ip string) {
	if ip == "" {
		return
	}
	bm.crMu.Lock()
	e, ok := bm.clientRacks[ip]
	bm.crMu.Unlock()
	if ok && (e.rack != "" || time.Since(e.at) < time.Minute) {
		return
	}
	rk := bm.mapper.Resolve([]string{ip})
	e = clientRackEntry{at: time.Now()}
	if len(rk) == 1 && rk[0] != rack.DefaultRack {
		e.rack = rk[0]
	}
	bm.crMu.Lock()
	bm.clientRacks[ip] = e
	bm.crMu.Unlock()
}

// clientRackEntry is a resolved (or failed, rack "") client rack.
type clientRackEntry struct {
	rack string
	at   time.Time
}

// WaitMinReplicated waits until every block has min good replicas, or
// timeout. The Go client does not retry a complete that answers false, so
// the NameNode waits a little for the DataNodes' reports instead.
func (bm *BlockManager) WaitMinReplicated(ids []uint64, min int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		bm.mu.Lock()
		ok := true
		for _, id := range ids {
			if bm.liveReplicas(id) < min {
				ok = false
				break
			}
		}
		ch := bm.changed
		bm.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// NewBlockManager builds the block manager for ns and connects it as the
// namespace's BlockSite.
func NewBlockManager(ns *Namespace, set BlockSettings, log logrus.FieldLogger) (*BlockManager, error) {
	pol, err := rack.NewPolicy(set.Policy)
	if err != nil {
		return nil, err
	}
	set.Mapper.Logger = log
	m, err := rack.NewMapper(set.Mapper)
	if err != nil {
		return nil, err
	}
	if set.MaxStreams <= 0 {
		set.MaxStreams = 2
	}
	if set.MaintenanceMinReplicas <= 0 {
		set.MaintenanceMinReplicas = 1
	}
	if set.InvalidateLimit <= 0 {
		set.InvalidateLimit = 1000
	}
	bm := &BlockManager{set: set, log: log, ns: ns, now: time.Now, topo: rack.NewTopology(), policy: pol, mapper: m,
		nodes: map[string]*datanode{}, byAddr: map[string]*datanode{}, locs: map[uint64][]replicaLoc{},
		expected: map[uint64][]*datanode{}, dirty: map[uint64]struct{}{}, pending: map[uint64]*pendingRepl{},
		minRepl: ns.set.MinReplication, changed: make(chan struct{}), reportChunk: defaultReportChunk,
		clientRacks: map[string]clientRackEntry{}}
	bm.safe.init(set)
	if err := bm.loadHostLists(); err != nil {
		return nil, err
	}
	ns.SetBlockSite(bm)
	return bm, nil
}

// --- BlockSite: called by the namespace under its lock ---

// ChooseTargets picks a pipeline for a new block.
// Favored nodes (transfer addresses or host names, HBase's hint) that are
// live, have room and fit the rack rules come first; the policy fills the
// rest.
func (bm *BlockManager) ChooseTargets(src string, n int, clientMachine string, exclude, favored []string, blockSize int64) []DatanodeRef {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	req := rack.Request{Replicas: n, TotalReplicas: n, BlockSize: blockSize, Exclude: map[string]bool{}}
	for _, a := range exclude {
		req.Exclude[a] = true
		if d := bm.byAddr[a]; d != nil {
			req.Exclude[d.uuid()] = true
		}
	}
	bm.excludeUnready(req.Exclude)
	for _, d := range bm.nodes {
		if d.dead || d.id.GetIp() != clientMachine {
			continue
		}
		req.Writer = d.node
		break
	}
	if req.Writer == nil {
		req.WriterRack = bm.clientRack(clientMachine)
	}
	bm.refreshNodeStats()
	var fav []*rack.Node
	for _, f := range favored {
		d := bm.byAddr[f]
		if d == nil {
			for _, x := range bm.nodes {
				if x.id.GetHostName() == f || x.id.GetIp() == f {
					d = x
					break
				}
			}
		}
		if d == nil || d.dead || d.decommission || req.Exclude[d.uuid()] || len(fav) >= n || containsNode(fav, d.node) {
			continue
		}
		if _, _, r, _ := d.totals(); uint64(blockSize) > r {
			continue
		}
		if perRack := rack.RackCounts(append(fav, d.node)); perRack[d.node.Rack] > rack.MaxNodesPerRack(n, bm.topo.NumRacks()) {
			continue
		}
		fav = append(fav, d.node)
	}
	req.Chosen = fav
	req.Replicas = n - len(fav)
	chosen := append(fav, bm.policy.ChooseTargets(bm.topo, req)...)
	if len(chosen) < n {
		bm.logShortPlacement(src, n, len(chosen), req.Exclude, blockSize)
	}
	out := make([]DatanodeRef, 0, len(chosen))
	for _, rn := range chosen {
		if d := bm.nodes[rn.ID]; d != nil {
			out = append(out, d.ref(d.bestStorage(dnpb.StorageType_DISK)))
		}
	}
	return out
}

// excludeUnready keeps DataNodes that have not sent their first block
// report since registering out of new pipelines: until then their block
// pool may not be loaded.
func (bm *BlockManager) excludeUnready(ex map[string]bool) {
	for _, d := range bm.nodes {
		if !d.reported {
			ex[d.uuid()] = true
		}
	}
}

// refreshNodeStats copies heartbeat figures into the topology's nodes.
func (bm *BlockManager) refreshNodeStats() {
	stale := bm.now().Add(-bm.set.StaleInterval)
	for _, d := range bm.nodes {
		_, _, r, _ := d.totals()
		d.node.Remaining = r
		d.node.Load = d.xceivers
		d.node.Stale = d.lastHeartbeat.Before(stale)
		d.node.Decommissioning = d.decommission || d.maintenance
	}
}

// Locations lists a block's good replicas on live nodes, nearest to the
// client first; corrupt ones only when nothing else is left.
func (bm *BlockManager) Locations(b *BlockInfo, clientMachine string) []DatanodeRef {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	var good, bad []*datanode
	storages := map[*datanode]string{}
	for _, l := range bm.locs[b.ID] {
		if l.dn.dead {
			continue
		}
		storages[l.dn] = l.storage
		if l.corrupt {
			bad = append(bad, l.dn)
		} else {
			good = append(good, l.dn)
		}
	}
	if len(good) == 0 && b.State == BlockUnderConstruction {
		// A block being written: the pipeline as chosen.
		for _, d := range bm.expected[b.ID] {
			if !d.dead {
				good = append(good, d)
				storages[d] = d.bestStorage(0)
			}
		}
	}
	list := good
	if len(list) == 0 {
		list = bad
	}
	nodes := make([]*rack.Node, len(list))
	for i, d := range list {
		nodes[i] = d.node
	}
	var reader *rack.Node
	readerRack := ""
	for _, d := range bm.nodes {
		if !d.dead && d.id.GetIp() == clientMachine {
			reader = d.node
			break
		}
	}
	if reader == nil {
		readerRack = bm.clientRack(clientMachine)
	}
	bm.topo.SortByDistance(reader, readerRack, nodes)
	out := make([]DatanodeRef, 0, len(nodes))
	for _, n := range nodes {
		d := bm.nodes[n.ID]
		r := d.ref(storages[d])
		r.Corrupt = len(good) == 0
		out = append(out, r)
	}
	return out
}

// LiveDatanodes counts DataNodes that heartbeat.
func (bm *BlockManager) LiveDatanodes() int {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	n := 0
	for _, d := range bm.nodes {
		if !d.dead {
			n++
		}
	}
	return n
}

// liveReplicas counts good replicas on live nodes.
func (bm *BlockManager) liveReplicas(id uint64) int {
	n := 0
	for _, l := range bm.locs[id] {
		if !l.dn.dead && !l.corrupt && !l.dn.decommission && !l.dn.maintenance {
			n++
		}
	}
	return n
}

// MinReplicated holds when a block has min good replicas of its length.
func (bm *BlockManager) MinReplicated(b *BlockInfo, min int) bool {
	if min <= 0 {
		return true
	}
	bm.mu.Lock()
	defer bm.mu.Unlock()
	return bm.liveReplicas(b.ID) >= min
}

// PipelineUpdated records the nodes a block is being written to.
func (bm *BlockManager) PipelineUpdated(b *BlockInfo, nodes []DatanodeRef) {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	var ds []*datanode
	for _, r := range nodes {
		if d := bm.nodes[r.UUID]; d != nil {
			ds = append(ds, d)
		} else if d := bm.byAddr[r.Addr()]; d != nil {
			ds = append(ds, d)
		}
	}
	bm.expected[b.ID] = ds
	// Replicas outside the new pipeline carry an older generation stamp
	// and are no longer valid; their next report marks them stale.
	if ls := bm.locs[b.ID]; len(ls) > 0 && len(ds) > 0 {
		kept := ls[:0]
		for _, l := range ls {
			if containsDN(ds, l.dn) {
				kept = append(kept, l)
			} else {
				delete(l.dn.blocks, b.ID)
			}
		}
		bm.locs[b.ID] = kept
	}
	bm.dirty[b.ID] = struct{}{}
}

// ReplicationChanged queues a block for the next replication pass (its
// file's replication changed: setReplication, or an append/close that
// restored it).
func (bm *BlockManager) ReplicationChanged(id uint64) {
	bm.mu.Lock()
	bm.dirty[id] = struct{}{}
	bm.mu.Unlock()
}

// BlockRemoved forgets a block and tells its holders to delete it.
func (bm *BlockManager) BlockRemoved(id uint64) {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	for _, l := range bm.locs[id] {
		delete(l.dn.blocks, id)
		if !l.dn.dead {
			l.dn.invalidates = append(l.dn.invalidates, &dnpb.Block{Id: id})
		}
	}
	for _, d := range bm.expected[id] {
		if !d.dead && !hasLoc(bm.locs[id], d) {
			d.invalidates = append(d.invalidates, &dnpb.Block{Id: id})
		}
	}
	delete(bm.locs, id)
	delete(bm.expected, id)
	delete(bm.dirty, id)
	delete(bm.pending, id)
}

func containsNode(ns []*rack.Node, d *rack.Node) bool {
	for _, x := range ns {
		if x == d {
			return true
		}
	}
	return false
}

func hasLoc(ls []replicaLoc, d *datanode) bool {
	for _, l := range ls {
		if l.dn == d {
			return true
		}
	}
	return false
}

// --- reports ---

// Report lists every DataNode (live and dead) for dfsadmin -report.
func (bm *BlockManager) Report() []DatanodeInfo {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	out := make([]DatanodeInfo, 0, len(bm.nodes))
	for _, d := range bm.nodes {
		_, _, _, nonDfs := d.totals()
		out = append(out, DatanodeInfo{DatanodeRef: d.ref(""), NonDfsUsed: nonDfs, Xceivers: d.xceivers,
			Blocks: len(d.blocks), Dead: d.dead, Decommission: d.decommission && !d.decommissioned,
			Decommissioned: d.decommissioned, Maintenance: d.maintenance && !d.inMaintenance,
			InMaintenance: d.inMaintenance, FailedVolumes: d.failedVolumes})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr() < out[j].Addr() })
	return out
}

// Totals sums capacity over live nodes, for getFsStats.
func (bm *BlockManager) Totals() (capacity, used, remaining uint64) {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	for _, d := range bm.nodes {
		if d.dead {
			continue
		}
		c, u, r, _ := d.totals()
		capacity += c
		used += u
		remaining += r
	}
	return
}

func shuffle[T any](s []T) {
	rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}

// logShortPlacement says why a block got fewer targets than its
// replication: how many nodes were live, excluded, full, decommissioning
// or stale, over how many racks.
func (bm *BlockManager) logShortPlacement(src string, want, got int, exclude map[string]bool, blockSize int64) {
	var live, excluded, full, leaving, stale int
	for _, d := range bm.nodes {
		if d.dead {
			continue
		}
		live++
		_, _, r, _ := d.totals()
		switch {
		case exclude[d.uuid()]:
			excluded++
		case d.decommission || d.maintenance:
			leaving++
		case uint64(blockSize) > r:
			full++
		case d.node.Stale:
			stale++
		}
	}
	bm.log.WithFields(logrus.Fields{"path": src, "wanted": want, "got": got, "live": live, "racks": bm.topo.NumRacks(),
		"excluded": excluded, "full": full, "leaving": leaving, "stale": stale}).Warn("placement: fewer targets than the replication asks for")
}
