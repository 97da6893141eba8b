package namenode

import (
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
)

// safeModeTracker is the start-up safe mode: the NameNode stays read-only
// until dfs.namenode.safemode.threshold-pct of its complete blocks have
// dfs.namenode.replication.min replicas reported and
// dfs.namenode.safemode.min.datanodes DataNodes are live, then for
// dfs.namenode.safemode.extension more. Guarded by BlockManager.mu.
type safeModeTracker struct {
	active    bool
	threshold float64
	extension time.Duration
	minNodes  int
	total     int // complete blocks when safe mode began
	safe      int // of those, blocks with the minimum replicas
	nodes     int
	reachedAt time.Time
}

func (t *safeModeTracker) init(s BlockSettings) {
	t.threshold, t.extension, t.minNodes = s.SafeModeThreshold, s.SafeModeExtension, s.SafeModeMinNodes
	if t.threshold <= 0 {
		t.threshold = 0.999
	}
}

func (t *safeModeTracker) needed() int {
	if t.threshold > 1 {
		return t.total + 1 // a threshold above 1 keeps safe mode on forever, as Hadoop's
	}
	n := int(float64(t.total)*t.threshold + 0.999999)
	if n > t.total {
		n = t.total
	}
	return n
}

func (t *safeModeTracker) replicaAdded(live, min int) {
	if t.active && live == min {
		t.safe++
	}
}

func (t *safeModeTracker) nodeReported(nodes int) { t.nodes = nodes }

func (t *safeModeTracker) tip() string {
	msg := ""
	if need := t.needed(); t.safe < need {
		msg = fmt.Sprintf("The reported blocks %d needs additional %d blocks to reach the threshold %.4f of total blocks %d.\n",
			t.safe, need-t.safe, t.threshold, t.total)
	} else {
		msg = fmt.Sprintf("The reported blocks %d has reached the threshold %.4f of total blocks %d. ", t.safe, t.threshold, t.total)
	}
	if t.minNodes == 0 {
		msg += "The minimum number of live datanodes is not required. "
	} else {
		msg += fmt.Sprintf("The number of live datanodes %d has reached the minimum number %d. ", t.nodes, t.minNodes)
	}
	if !t.reachedAt.IsZero() {
		msg += "In safe mode extension. "
	}
	return msg + "Safe mode will be turned off automatically once the thresholds have been reached."
}

// StartSafeMode begins the start-up safe mode over the namespace's
// complete blocks; with none, there is nothing to wait for.
func (bm *BlockManager) StartSafeMode() {
	bm.ns.mu.Lock()
	defer bm.ns.mu.Unlock()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	total := 0
	for _, b := range bm.ns.blocks {
		if b.State == BlockComplete {
			total++
		}
	}
	t := &bm.safe
	t.total, t.safe, t.reachedAt = total, 0, time.Time{}
	t.active = total > 0 || t.minNodes > 0
	bm.ns.safe.startup = t.active
	if t.active {
		bm.ns.safe.tip = t.tip()
		bm.log.WithFields(logrus.Fields{"blocks": total, "threshold": t.threshold}).Info("start-up safe mode: waiting for block reports")
	}
}

// checkSafeMode leaves the start-up safe mode once the thresholds have held
// for the extension.
func (bm *BlockManager) checkSafeMode() {
	bm.ns.mu.Lock()
	defer bm.ns.mu.Unlock()
	bm.mu.Lock()
	defer bm.mu.Unlock()
	t := &bm.safe
	if !t.active {
		return
	}
	live := 0
	for _, d := range bm.nodes {
		if !d.dead {
			live++
		}
	}
	t.nodes = live
	met := t.safe >= t.needed() && live >= t.minNodes
	switch {
	case !met:
		t.reachedAt = time.Time{}
	case t.reachedAt.IsZero() && t.extension > 0:
		t.reachedAt = bm.now()
	case t.extension <= 0 || bm.now().Sub(t.reachedAt) >= t.extension:
		t.active = false
		bm.ns.safe.startup = false
		bm.log.WithFields(logrus.Fields{"blocks": t.total, "safe": t.safe, "datanodes": live}).Info("leaving start-up safe mode")
		for id := range bm.ns.blocks {
			bm.dirty[id] = struct{}{}
		}
		return
	}
	bm.ns.safe.tip = t.tip()
}
