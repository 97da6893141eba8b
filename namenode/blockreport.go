package namenode

import (
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/sirupsen/logrus"
)

// defaultReportChunk is how many replicas of a full block report are
// applied per hold of the namespace's read lock and the block manager's
// lock. Between chunks both are released, so namespace writes, heartbeats
// and other DataNodes' calls are not held up for a whole report of a
// million replicas (a chunk takes a few milliseconds).
const defaultReportChunk = 1 << 14

// reportRun is one full block report being applied, possibly over several
// lock holds.
//
// Which of the node's replicas the report left out is found without a set
// of the reported ids: the report takes a new epoch of the node, and every
// replica it names gets that epoch as its mark (in place, in bm.locs).
// Replicas added meanwhile (by the report or an incremental report) are
// born with the current epoch. So only replicas the node held when the
// report began can stay unmarked, and when the report marked as many of
// those as the node held (seenOld == before), none is left to remove: the
// usual case, and always so for a node's first report.
type reportRun struct {
	uuid    string
	start   time.Time
	d       *datanode
	session uint64 // d's registration the report belongs to
	epoch   uint32 // d.reportEpoch taken by this report
	before  int    // replicas d held when the report began
	seenOld int    // of those, how many the report named (each once)

	s, j   int // next replica: req.Reports[s].Replicas[j]
	n      int // replicas applied
	added  int // replicas d did not hold before
	chunks int
	woke   bool // a usable replica was added in this chunk

	// Maps sized for the report, made without the locks held (see
	// makeReportMaps); nil when not needed.
	newBlocks map[uint64]struct{}     // d.blocks, for the node's first report
	newLocs   map[uint64][]replicaLoc // bm.locs, for the first report after a restart
	newDirty  map[uint64]struct{}     // bm.dirty, when empty, for a first report
}

// makeReportMaps sizes the maps a report would otherwise grow entry by
// entry: a node's first report (it holds nothing yet) gets a block set
// sized for the report, and the first report after a NameNode restart a
// blocks map sized for the namespace. Making a map of a million entries
// takes a while (its memory is new), so this looks under the locks
// whether they will be needed, then makes them without the locks;
// beginReport puts them in place if they are still needed.
func (bm *BlockManager) makeReportMaps(run *reportRun, req *dnpb.BlockReportRequest) {
	total := 0
	for _, sr := range req.GetReports() {
		total += len(sr.GetReplicas())
	}
	bm.ns.mu.RLock()
	nsBlocks := len(bm.ns.blocks)
	bm.mu.Lock()
	d := bm.nodes[run.uuid]
	first := d != nil && len(d.blocks) == 0 && total > 0
	noLocs, noDirty := len(bm.locs) == 0 && nsBlocks > 0, len(bm.dirty) == 0
	bm.mu.Unlock()
	bm.ns.mu.RUnlock()
	if first {
		run.newBlocks = make(map[uint64]struct{}, total)
		if noDirty {
			// Every replica of a first report is new: its block is queued.
			run.newDirty = make(map[uint64]struct{}, total)
		}
	}
	if noLocs {
		run.newLocs = make(map[uint64][]replicaLoc, nsBlocks)
	}
}

// BlockReport replaces what the block manager believes a DataNode holds
// with its full report: replicas it names are added (or checked again:
// stale generation stamps and wrong lengths are corrupt), replicas it
// leaves out are removed, replicas of no file are deleted (outside
// start-up safe mode), and the node becomes a write target. A replica
// already known as reported (same storage, no newly found corruption)
// changes nothing and is not queued for the replication monitor.
//
// Large reports are applied defaultReportChunk replicas at a time, each
// chunk under ns.mu (read) and bm.mu. If the node registers again or
// another full report of it starts in between, this one stops with an
// error; the newer one stands.
func (bm *BlockManager) BlockReport(req *dnpb.BlockReportRequest) (*dnpb.BlockReportResponse, error) {
	run := &reportRun{uuid: req.GetId().GetUuid(), start: time.Now()}
	bm.makeReportMaps(run, req)
	for {
		done, err := bm.applyReportChunk(run, req)
		if err != nil {
			return nil, err
		}
		if done {
			return &dnpb.BlockReportResponse{}, nil
		}
	}
}

// applyReportChunk applies the next chunk of a full report under both
// locks, and finishes the report after its last replica.
func (bm *BlockManager) applyReportChunk(run *reportRun, req *dnpb.BlockReportRequest) (bool, error) {
	bm.ns.mu.RLock()
	defer bm.ns.mu.RUnlock()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	if run.d == nil {
		if err := bm.beginReport(run); err != nil {
			return false, err
		}
	} else if d := bm.nodes[run.uuid]; d != run.d || d.dead || d.session != run.session {
		return false, errorf(ExUnregisteredNode, "DataNode %s was removed or registered again during its block report", run.uuid)
	} else if d.reportEpoch != run.epoch {
		return false, errorf(ExIO, "block report of DataNode %s superseded by a newer one", run.uuid)
	}
	run.chunks++
	budget := max(bm.reportChunk, 1)
	reports := req.GetReports()
	for run.s < len(reports) && budget > 0 {
		sr := reports[run.s]
		storage, reps := sr.GetStorageId(), sr.GetReplicas()
		for run.j < len(reps) && budget > 0 {
			bm.reportReplica(run, storage, reps[run.j])
			run.j++
			budget--
		}
		if run.j == len(reps) {
			run.s, run.j = run.s+1, 0
		}
	}
	if run.woke {
		bm.wakeWaiters()
		run.woke = false
	}
	if run.s < len(reports) {
		return false, nil
	}
	bm.finishReport(run)
	return true, nil
}

// beginReport checks the node, starts a new report epoch and puts the
// maps makeReportMaps made in place if they are still empty.
func (bm *BlockManager) beginReport(run *reportRun) error {
	d := bm.nodes[run.uuid]
	if d == nil || d.dead {
		return errorf(ExUnregisteredNode, "DataNode %s is not registered", run.uuid)
	}
	d.reportEpoch++
	if d.reportEpoch == 0 { // wrapped: 0 is the mark of nothing
		d.reportEpoch = 1
	}
	run.d, run.session, run.epoch, run.before = d, d.session, d.reportEpoch, len(d.blocks)
	if run.newBlocks != nil && len(d.blocks) == 0 {
		d.blocks = run.newBlocks
	}
	if run.newLocs != nil && len(bm.locs) == 0 {
		bm.locs = run.newLocs
	}
	if run.newDirty != nil && len(bm.dirty) == 0 {
		bm.dirty = run.newDirty
	}
	run.newBlocks, run.newLocs, run.newDirty = nil, nil, nil
	return nil
}

// reportReplica applies one replica of a full report: it marks the node's
// known replica as seen, then checks it against the namespace as an
// incremental report would, except that a known replica whose storage and
// corruption are unchanged is left alone (not re-queued for the
// replication monitor).
func (bm *BlockManager) reportReplica(run *reportRun, storage string, rr *dnpb.ReportedReplica) {
	d, rb := run.d, rr.GetBlock()
	id := rb.GetId()
	run.n++
	ls := bm.locs[id]
	i := locIndex(ls, d)
	if i >= 0 && ls[i].mark != run.epoch {
		ls[i].mark = run.epoch
		run.seenOld++
	}
	b := bm.ns.blocks[id]
	if b == nil {
		bm.orphanReplica(d, rb)
		return
	}
	corrupt, ignore := replicaVerdict(b, rb, rr.GetState())
	if ignore {
		return
	}
	if i >= 0 {
		if l := &ls[i]; l.storage != storage || (corrupt && !l.corrupt) {
			bm.updateReplica(d, id, l, storage, corrupt)
		}
		return
	}
	run.added++
	if bm.newReplica(d, b, ls, storage, corrupt) {
		run.woke = true
	}
}

// finishReport removes the replicas the report left out, if any, and
// marks the node as reported.
func (bm *BlockManager) finishReport(run *reportRun) {
	d := run.d
	removed := 0
	if run.seenOld < run.before {
		for id := range d.blocks {
			ls := bm.locs[id]
			if i := locIndex(ls, d); i >= 0 && ls[i].mark == run.epoch {
				continue
			}
			bm.removeReplica(d, id)
			removed++
		}
	}
	d.reported = true
	bm.safe.nodeReported(len(bm.nodes))
	bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "replicas": run.n, "added": run.added, "removed": removed,
		"chunks": run.chunks, "took": time.Since(run.start).Round(time.Millisecond)}).Info("block report processed")
}
