package namenode

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/rack"
)

// bmFixture is a namespace with a block manager and fake DataNodes that
// register, heartbeat and report through the same calls the RPC layer makes.
type bmFixture struct {
	t   *testing.T
	ns  *Namespace
	bm  *BlockManager
	now time.Time
	ids []*dnpb.DatanodeID
}

func newBMFixture(t *testing.T, racks map[string]string) *bmFixture {
	t.Helper()
	ns, _ := newTestNS(t)
	table := filepath.Join(t.TempDir(), "topology.table")
	var lines string
	for ip, r := range racks {
		lines += ip + " " + r + "\n"
	}
	os.WriteFile(table, []byte(lines), 0o644)
	set := BlockSettings{HeartbeatInterval: time.Second, RecheckInterval: time.Second, StaleInterval: 3 * time.Second,
		RedundancyInterval: time.Second, MaxStreams: 2, InvalidateLimit: 1000, PendingTimeout: time.Minute,
		SafeModeThreshold: 0.999, Policy: "seeds", Mapper: rack.MapperConfig{Table: table}}
	bm, err := NewBlockManager(ns, set, ns.log)
	if err != nil {
		t.Fatal(err)
	}
	f := &bmFixture{t: t, ns: ns, bm: bm, now: time.Now()}
	bm.now = func() time.Time { return f.now }
	for ip := range racks {
		id := &dnpb.DatanodeID{Uuid: "uuid-" + ip, Ip: ip, HostName: ip, XferPort: 9866}
		_, err := bm.Register(&dnpb.RegisterRequest{Id: id, Storages: []*dnpb.Storage{{StorageId: "DS-" + ip, Type: dnpb.StorageType_DISK,
			Capacity: 1 << 40, Remaining: 1 << 39}}}, StorageInfo{ClusterID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		// The first (empty) block report makes the node ready for writes.
		if _, err := bm.BlockReport(&dnpb.BlockReportRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, id)
	}
	bm.StartSafeMode()
	return f
}

func (f *bmFixture) id(addr string) *dnpb.DatanodeID {
	for _, id := range f.ids {
		if fmt.Sprintf("%s:%d", id.Ip, id.XferPort) == addr || id.Uuid == addr {
			return id
		}
	}
	f.t.Fatalf("no DataNode %s", addr)
	return nil
}

func (f *bmFixture) received(addr string, b BlockInfo) {
	err := f.bm.BlockReceivedAndDeleted(&dnpb.BlockReceivedAndDeletedRequest{Id: f.id(addr), Blocks: []*dnpb.ReceivedDeleted{{
		Block: &dnpb.Block{Id: b.ID, GenStamp: b.GenStamp, NumBytes: b.NumBytes}, Status: dnpb.ReceivedDeleted_RECEIVED, StorageId: "DS-" + f.id(addr).Ip}}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *bmFixture) heartbeat(ip string) *dnpb.HeartbeatResponse {
	resp, err := f.bm.Heartbeat(&dnpb.HeartbeatRequest{Id: f.id("uuid-" + ip)}, f.ns.InSafeMode())
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// writeFile creates a one-block file through the namespace, as a client's
// create/addBlock/complete would, with every pipeline node reporting.
func (f *bmFixture) writeFile(path string, size uint64) BlockInfo {
	f.t.Helper()
	c := &Caller{User: "hdfs", Machine: "10.0.0.1"}
	st, err := f.ns.Create(c, CreateArgs{Src: path, Mode: 0o644, ClientName: "w", Flags: CreateFlagCreate, CreateParent: true, Replication: 3, BlockSize: 1 << 20})
	if err != nil {
		f.t.Fatal(err)
	}
	lb, err := f.ns.AddBlock(c, AddBlockArgs{Src: path, FileID: st.FileID, ClientName: "w"})
	if err != nil {
		f.t.Fatalf("addBlock: %v", err)
	}
	b := lb.Block
	b.NumBytes = size
	for _, r := range lb.Replicas {
		f.received(r.Addr(), b)
	}
	if ok, err := f.ns.Complete(c, path, st.FileID, "w", &b); !ok || err != nil {
		f.t.Fatalf("complete: %v %v", ok, err)
	}
	return b
}

func racksOf(f *bmFixture, refs []DatanodeRef) map[string]int {
	out := map[string]int{}
	for _, r := range refs {
		out[r.Rack]++
	}
	return out
}

func TestPlacementAndReplicationAfterDeath(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.1.2": "/r1", "10.0.2.1": "/r2", "10.0.2.2": "/r2"})
	b := f.writeFile("/a", 1000)
	locs := f.bm.Locations(f.ns.blocks[b.ID], "")
	if len(locs) != 3 || len(racksOf(f, locs)) != 2 {
		t.Fatalf("replicas %v: want 3 on 2 racks", locs)
	}
	// One holder stops heartbeating: it is declared dead after
	// 2 × recheck + 10 × heartbeat and the block is copied elsewhere.
	dead := locs[0]
	f.now = f.now.Add(5 * time.Second)
	for _, id := range f.ids {
		if id.Uuid != dead.UUID {
			f.heartbeat(id.Ip)
		}
	}
	f.now = f.now.Add(8 * time.Second)
	for _, id := range f.ids {
		if id.Uuid != dead.UUID {
			f.heartbeat(id.Ip)
		}
	}
	f.bm.checkHeartbeats()
	if n := f.bm.LiveDatanodes(); n != 3 {
		t.Fatalf("live after expiry: %d", n)
	}
	f.bm.ReplicationPass()
	var cmd *dnpb.Command
	var src string
	for _, id := range f.ids {
		if id.Uuid == dead.UUID {
			continue
		}
		for _, c := range f.heartbeat(id.Ip).Commands {
			if c.Kind == dnpb.Command_TRANSFER {
				cmd, src = c, id.Ip
			}
		}
	}
	if cmd == nil {
		t.Fatal("no TRANSFER command after a replica holder died")
	}
	target := cmd.Targets[0].Targets[0].Id
	if target.Uuid == dead.UUID {
		t.Fatal("re-replication targets the dead node")
	}
	f.received(fmt.Sprintf("%s:%d", target.Ip, target.XferPort), b)
	if got := f.bm.Locations(f.ns.blocks[b.ID], ""); len(got) != 3 {
		t.Fatalf("after the copy from %s: %d replicas", src, len(got))
	}
}

func TestExcessAndCorruptReplicas(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.1.2": "/r1", "10.0.2.1": "/r2", "10.0.2.2": "/r2"})
	b := f.writeFile("/x", 10)
	// A fourth replica appears (e.g. a node came back): one is deleted.
	var extra string
	have := map[string]bool{}
	for _, l := range f.bm.Locations(f.ns.blocks[b.ID], "") {
		have[l.UUID] = true
	}
	for _, id := range f.ids {
		if !have[id.Uuid] {
			extra = id.Ip
		}
	}
	f.received(extra+":9866", b)
	f.bm.ReplicationPass()
	if n := len(f.bm.Locations(f.ns.blocks[b.ID], "")); n != 3 {
		t.Fatalf("over-replicated block kept %d replicas", n)
	}
	invalidated := 0
	for _, id := range f.ids {
		for _, c := range f.heartbeat(id.Ip).Commands {
			if c.Kind == dnpb.Command_INVALIDATE {
				invalidated += len(c.Blocks)
			}
		}
	}
	if invalidated != 1 {
		t.Fatalf("%d invalidations for one excess replica", invalidated)
	}
	// A corrupt replica: not handed to readers, replaced, then deleted.
	locs := f.bm.Locations(f.ns.blocks[b.ID], "")
	bad := locs[0]
	f.bm.MarkCorrupt(b.ID, bad.UUID)
	for _, l := range f.bm.Locations(f.ns.blocks[b.ID], "") {
		if l.UUID == bad.UUID {
			t.Fatal("a corrupt replica is offered to readers")
		}
	}
	f.bm.ReplicationPass()
	transfers := 0
	for _, id := range f.ids {
		for _, c := range f.heartbeat(id.Ip).Commands {
			if c.Kind == dnpb.Command_TRANSFER {
				transfers++
				tg := c.Targets[0].Targets[0].Id
				f.received(fmt.Sprintf("%s:%d", tg.Ip, tg.XferPort), b)
			}
		}
	}
	if transfers != 1 {
		t.Fatalf("%d transfers to replace one corrupt replica", transfers)
	}
	f.bm.ReplicationPass()
	if h := f.bm.Health(); h.Corrupt != 0 || h.UnderReplicated != 0 {
		t.Fatalf("health after repair: %+v", h)
	}
}

func TestStartupSafeModeWaitsForReports(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.2.1": "/r2"})
	b := f.writeFile("/s", 10)
	f.bm.StartSafeMode()
	if !f.ns.InSafeMode() {
		t.Fatal("not in start-up safe mode with an unreported block")
	}
	// Forget the replicas, as after a restart, then report one.
	f.bm.mu.Lock()
	delete(f.bm.locs, b.ID)
	f.bm.mu.Unlock()
	f.bm.StartSafeMode()
	if err := f.ns.Mkdirs(root, "/blocked", 0o755, true); classOf(err) != ExSafeMode {
		t.Fatalf("write in start-up safe mode: %v", err)
	}
	f.received("10.0.1.1:9866", b)
	f.bm.checkSafeMode()
	if f.ns.InSafeMode() {
		t.Fatal("still in safe mode after every block reported")
	}
}

func (f *bmFixture) transfers() []*dnpb.Command {
	var out []*dnpb.Command
	for _, id := range f.ids {
		for _, c := range f.heartbeat(id.Ip).Commands {
			if c.Kind == dnpb.Command_TRANSFER {
				out = append(out, c)
			}
		}
	}
	return out
}

func (f *bmFixture) deliver(cmds []*dnpb.Command, b BlockInfo) {
	for _, c := range cmds {
		for _, tl := range c.Targets {
			for _, tg := range tl.Targets {
				f.received(fmt.Sprintf("%s:%d", tg.Id.Ip, tg.Id.XferPort), b)
			}
		}
	}
}

func TestDecommissionCopiesBeforeDone(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.1.2": "/r1", "10.0.2.1": "/r2", "10.0.2.2": "/r2"})
	b := f.writeFile("/d", 100)
	leaving := f.bm.Locations(f.ns.blocks[b.ID], "")[0]
	exclude := filepath.Join(t.TempDir(), "exclude")
	os.WriteFile(exclude, []byte(leaving.IP+"\n"), 0o644)
	f.bm.set.HostsExclude = exclude
	if err := f.bm.RefreshNodes(); err != nil {
		t.Fatal(err)
	}
	f.bm.ReplicationPass()
	cmds := f.transfers()
	if len(cmds) != 1 {
		t.Fatalf("%d transfers for a decommissioning holder", len(cmds))
	}
	// Reads still reach the leaving node meanwhile.
	found := false
	for _, l := range f.bm.Locations(f.ns.blocks[b.ID], "") {
		found = found || l.UUID == leaving.UUID
	}
	if !found {
		t.Fatal("a decommissioning node no longer serves reads")
	}
	f.deliver(cmds, b)
	f.bm.ReplicationPass()
	for _, d := range f.bm.Report() {
		if d.UUID == leaving.UUID && !d.Decommissioned {
			t.Fatal("not decommissioned after its replicas were copied")
		}
	}
}

func TestMisReplicatedBlockGetsSecondRack(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.1.2": "/r1", "10.0.1.3": "/r1", "10.0.2.1": "/r2"})
	c := &Caller{User: "hdfs"}
	st, _ := f.ns.Create(c, CreateArgs{Src: "/m", Mode: 0o644, ClientName: "w", Flags: CreateFlagCreate, Replication: 3, BlockSize: 1 << 20})
	lb, err := f.ns.AddBlock(c, AddBlockArgs{Src: "/m", FileID: st.FileID, ClientName: "w"})
	if err != nil {
		t.Fatal(err)
	}
	b := lb.Block
	b.NumBytes = 10
	for _, ip := range []string{"10.0.1.1", "10.0.1.2", "10.0.1.3"} {
		f.received(ip+":9866", b)
	}
	if ok, err := f.ns.Complete(c, "/m", st.FileID, "w", &b); !ok || err != nil {
		t.Fatal(ok, err)
	}
	f.bm.ReplicationPass()
	cmds := f.transfers()
	if len(cmds) != 1 || cmds[0].Targets[0].Targets[0].Id.Ip != "10.0.2.1" {
		t.Fatalf("mis-replicated block: transfers %v", cmds)
	}
	f.deliver(cmds, b)
	f.bm.ReplicationPass()
	locs := f.bm.Locations(f.ns.blocks[b.ID], "")
	if len(locs) != 3 || len(racksOf(f, locs)) != 2 {
		t.Fatalf("after the fix: %d replicas on %d racks", len(locs), len(racksOf(f, locs)))
	}
}

func TestFavoredNodesComeFirst(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.1.2": "/r1", "10.0.2.1": "/r2", "10.0.2.2": "/r2"})
	got := f.bm.ChooseTargets("/f", 3, "", nil, []string{"10.0.2.2:9866", "10.0.1.2:9866"}, 1)
	ips := map[string]bool{}
	for _, g := range got {
		ips[g.IP] = true
	}
	if len(got) != 3 || !ips["10.0.2.2"] || !ips["10.0.1.2"] || len(racksOf(f, got)) != 2 {
		t.Fatalf("favored nodes not honoured: %v", got)
	}
}

func TestMaintenanceKeepsReplicasUntilExpiry(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.1.2": "/r1", "10.0.2.1": "/r2", "10.0.2.2": "/r2"})
	b := f.writeFile("/mt", 100)
	node := f.bm.Locations(f.ns.blocks[b.ID], "")[0]
	hosts := filepath.Join(t.TempDir(), "hosts.json")
	until := f.now.Add(time.Hour).UnixMilli()
	var entries []string
	for _, id := range f.ids {
		e := fmt.Sprintf(`{"hostName": %q}`, id.Ip)
		if id.Uuid == node.UUID {
			e = fmt.Sprintf(`{"hostName": %q, "adminState": "IN_MAINTENANCE", "maintenanceExpireTimeInMS": %d}`, id.Ip, until)
		}
		entries = append(entries, e)
	}
	os.WriteFile(hosts, []byte("["+strings.Join(entries, ",")+"]"), 0o644)
	f.bm.set.HostsInclude = hosts
	if err := f.bm.RefreshNodes(); err != nil {
		t.Fatal(err)
	}
	f.bm.ReplicationPass()
	if cmds := f.transfers(); len(cmds) != 0 {
		t.Fatalf("maintenance triggered %d copies (two live replicas remain)", len(cmds))
	}
	state := func() DatanodeInfo {
		for _, d := range f.bm.Report() {
			if d.UUID == node.UUID {
				return d
			}
		}
		t.Fatal("node gone from the report")
		return DatanodeInfo{}
	}
	if !state().InMaintenance {
		t.Fatalf("not in maintenance: %+v", state())
	}
	// It goes down: no re-replication while the window lasts.
	f.now = f.now.Add(20 * time.Second)
	for _, id := range f.ids {
		if id.Uuid != node.UUID {
			f.heartbeat(id.Ip)
		}
	}
	f.bm.checkHeartbeats()
	f.bm.ReplicationPass()
	if cmds := f.transfers(); len(cmds) != 0 {
		t.Fatalf("a node down for maintenance triggered %d copies", len(cmds))
	}
	// The window ends with the node still down: now it is copied.
	f.now = f.now.Add(2 * time.Hour)
	for _, id := range f.ids {
		if id.Uuid != node.UUID {
			f.heartbeat(id.Ip)
		}
	}
	f.bm.ReplicationPass()
	f.bm.ReplicationPass()
	if cmds := f.transfers(); len(cmds) != 1 {
		t.Fatalf("after the window: %d copies, want 1", len(cmds))
	}
}

func TestNodeWithoutBlockReportIsNotATarget(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1"})
	fresh := &dnpb.DatanodeID{Uuid: "uuid-new", Ip: "10.0.1.9", HostName: "new", XferPort: 9866}
	if _, err := f.bm.Register(&dnpb.RegisterRequest{Id: fresh, Storages: []*dnpb.Storage{{StorageId: "DS-new", Type: dnpb.StorageType_DISK,
		Capacity: 1 << 40, Remaining: 1 << 39}}}, StorageInfo{ClusterID: "c"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		for _, r := range f.bm.ChooseTargets("/x", 2, "", nil, nil, 1) {
			if r.UUID == "uuid-new" {
				t.Fatal("a DataNode that has not reported its blocks was chosen")
			}
		}
	}
	f.bm.BlockReport(&dnpb.BlockReportRequest{Id: fresh})
	if got := f.bm.ChooseTargets("/x", 2, "", nil, nil, 1); len(got) != 2 {
		t.Fatalf("after its report: %d targets", len(got))
	}
}

// TestSetReplicationDeletesAndAddsReplicas: lowering a settled file's
// replication has an excess replica deleted at the next pass, raising it
// has one copied — setReplication itself queues the file's blocks.
func TestSetReplicationDeletesAndAddsReplicas(t *testing.T) {
	f := newBMFixture(t, map[string]string{"10.0.1.1": "/r1", "10.0.1.2": "/r1", "10.0.2.1": "/r2", "10.0.2.2": "/r2"})
	b := f.writeFile("/r", 10)
	f.bm.ReplicationPass() // settles the new block: nothing to do
	commands := func(kind dnpb.Command_Kind) int {
		n := 0
		for _, id := range f.ids {
			for _, c := range f.heartbeat(id.Ip).Commands {
				if c.Kind == kind {
					n++
				}
			}
		}
		return n
	}
	if n := commands(dnpb.Command_INVALIDATE) + commands(dnpb.Command_TRANSFER); n != 0 {
		t.Fatalf("%d commands for a settled block", n)
	}
	c := &Caller{User: "hdfs", Machine: "10.0.0.1"}
	if ok, err := f.ns.SetReplication(c, "/r", 2); !ok || err != nil {
		t.Fatalf("setReplication 2: %v %v", ok, err)
	}
	f.bm.ReplicationPass()
	if n := commands(dnpb.Command_INVALIDATE); n != 1 {
		t.Fatalf("%d invalidations after lowering replication from 3 to 2", n)
	}
	if n := len(f.bm.Locations(f.ns.blocks[b.ID], "")); n != 2 {
		t.Fatalf("%d replicas offered after lowering replication to 2", n)
	}
	if ok, err := f.ns.SetReplication(c, "/r", 4); !ok || err != nil {
		t.Fatalf("setReplication 4: %v %v", ok, err)
	}
	f.bm.ReplicationPass()
	if n := commands(dnpb.Command_TRANSFER); n != 1 {
		t.Fatalf("%d transfers after raising replication from 2 to 4, want 1 (its targets carry the copies)", n)
	}
}
