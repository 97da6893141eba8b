package datanode

import (
	"errors"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/sirupsen/logrus"
)

// The block scanner verifies every replica's chunk checksums once per
// scan period (dfs.datanode.scan.period.hours, 504 by default; the AvatarFS
// key dfs.datanode.scan.period.seconds takes precedence so tests can use
// seconds), throttled to dfs.block.scanner.volume.bytes.per.second. A
// corrupt replica is set aside and reported to the NameNodes, which
// re-replicate the block from a good copy.

// runScanner scans until the DataNode closes. The first scan starts one
// period after start-up.
func (d *DataNode) runScanner() {
	period := d.set.ScanPeriod
	log := d.log.WithField("component", "scanner")
	for {
		t := time.NewTimer(period)
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		start := time.Now()
		scanned, bad := d.ScanOnce()
		if d.closing() {
			return
		}
		log.WithFields(logrus.Fields{"replicas": scanned, "corrupt": bad, "took": time.Since(start).Round(time.Millisecond)}).Info("block scan done")
	}
}

// ScanOnce verifies every replica now and reports the corrupt ones. It
// returns how many replicas were scanned and how many were corrupt.
func (d *DataNode) ScanOnce() (scanned, corrupt int) {
	err := d.store.ScanAll(d.ctx, d.set.ScanBytesPerSec, func(blockID uint64, err error) {
		scanned++
		if err == nil {
			return
		}
		if !errors.Is(err, storage.ErrChecksum) {
			d.log.WithError(err).WithField("block", blockID).Debug("scan could not check replica")
			return
		}
		corrupt++
		rep, ok := d.store.Get(blockID)
		if !ok {
			rep = storage.Replica{BlockID: blockID}
		}
		d.reportCorrupt(rep, err)
	})
	if err != nil && !d.closing() {
		d.log.WithError(err).Warn("block scan stopped")
	}
	return scanned, corrupt
}
