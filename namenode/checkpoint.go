package namenode

import (
	"fmt"
	"time"

	"github.com/avatarfs/avatarfs/namenode/editlog"
	"github.com/sirupsen/logrus"
)

// RollEdits finalizes the current edit-log segment and starts the next;
// it returns the first txid of the new segment. It holds the namespace
// lock only for the roll itself.
func (nn *NameNode) RollEdits() (uint64, error) {
	nn.jmu.Lock()
	defer nn.jmu.Unlock()
	if nn.journalFailed || nn.journal == nil {
		return 0, errorf(ExIO, "edit log unavailable")
	}
	var next uint64
	err := nn.ns.locked(func() error {
		if err := nn.journal.FinalizeSegment(); err != nil {
			return fmt.Errorf("finalize segment: %w", err)
		}
		next = nn.journal.LastTxID() + 1
		if err := nn.journal.StartSegment(next, nn.epoch); err != nil {
			return fmt.Errorf("start segment %d: %w", next, err)
		}
		return nil
	})
	if err != nil {
		nn.journalFailed = true
		nn.ns.enterResourceSafeMode()
		return 0, errorf(ExIO, "roll edit log: %v", err)
	}
	return next, nil
}

// locked runs fn under the namespace's write lock: nothing is appended to
// the log meanwhile.
func (ns *Namespace) locked(fn func() error) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return fn()
}

// Checkpoint writes a new fsimage without stopping the namespace: it rolls
// the edit log, then, in the background of live traffic, loads the newest
// image into a separate namespace, replays the finalized edits through the
// same apply, and saves that. Old images beyond
// dfs.namenode.num.checkpoints.retained and the edits they cover are
// purged. One checkpoint runs at a time.
func (nn *NameNode) Checkpoint(reason string) error {
	nn.ckptMu.Lock()
	defer nn.ckptMu.Unlock()
	start := time.Now()
	next, err := nn.RollEdits()
	if err != nil {
		return err
	}
	upTo := next - 1
	if upTo == nn.newestImageTxID() {
		nn.lastCkptTx, nn.lastCkptTime = upTo, time.Now()
		return nil
	}
	shadow, last, err := nn.loadNamespace(false)
	if err != nil {
		return errorf(ExIO, "checkpoint: %v", err)
	}
	if last < upTo {
		return errorf(ExIO, "checkpoint: replay reached txid %d, expected %d", last, upTo)
	}
	meta := nn.storage.meta(last)
	for _, d := range nn.storage.NameDirs {
		if err := shadow.SaveImage(nn.fs, Current(d), meta); err != nil {
			return errorf(ExIO, "checkpoint: %v", err)
		}
	}
	oldest := nn.storage.PurgeImages(int(nn.opts.Conf.Int("dfs.namenode.num.checkpoints.retained")))
	extra := uint64(nn.opts.Conf.Int("dfs.namenode.num.extra.edits.retained"))
	if oldest+1 > extra {
		if err := editlog.Purge(nn.fs, nn.storage.EditsCurrent(), oldest+1-extra); err != nil {
			nn.log.WithError(err).Warn("purging old edits")
		}
	}
	nn.lastCkptTx, nn.lastCkptTime = last, time.Now()
	nn.log.WithFields(logrus.Fields{"txid": last, "reason": reason, "inodes": shadow.NumInodes(),
		"took": time.Since(start).Round(time.Millisecond)}).Info("checkpoint saved")
	return nil
}

// checkpointLoop takes a checkpoint when dfs.namenode.checkpoint.period
// has passed or dfs.namenode.checkpoint.txns transactions accumulated,
// whichever comes first, looking every dfs.namenode.checkpoint.check.period.
func (nn *NameNode) checkpointLoop() {
	defer nn.wg.Done()
	c := nn.opts.Conf
	period := c.Duration("dfs.namenode.checkpoint.period")
	txns := uint64(c.Int("dfs.namenode.checkpoint.txns"))
	check := c.Duration("dfs.namenode.checkpoint.check.period")
	if check <= 0 {
		check = time.Minute
	}
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-nn.stop:
			return
		case <-t.C:
		}
		nn.ckptMu.Lock()
		lastTx, lastTime := nn.lastCkptTx, nn.lastCkptTime
		nn.ckptMu.Unlock()
		cur := nn.ns.LastAppliedTxID()
		reason := ""
		switch {
		case txns > 0 && cur-lastTx >= txns:
			reason = fmt.Sprintf("%d transactions since the last checkpoint", cur-lastTx)
		case period > 0 && time.Since(lastTime) >= period && cur > lastTx:
			reason = fmt.Sprintf("%s since the last checkpoint", time.Since(lastTime).Round(time.Second))
		}
		if reason == "" {
			continue
		}
		if err := nn.Checkpoint(reason); err != nil {
			nn.log.WithError(err).Error("checkpoint failed")
		}
	}
}
