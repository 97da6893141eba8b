package namenode

import (
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/namenode/nnpb"
	"github.com/sirupsen/logrus"
)

// StartRecovery asks the DataNodes holding a block under construction to
// agree on its length under a new generation stamp (lease recovery of a
// file whose writer vanished, or a truncate inside a block). The first live
// holder is the primary; it reports back with commitBlockSynchronization.
func (bm *BlockManager) StartRecovery(b *BlockInfo, newGS, newLength, fromLength uint64) bool {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	var holders []*datanode
	for _, l := range bm.locs[b.ID] {
		if !l.dn.dead {
			holders = append(holders, l.dn)
		}
	}
	for _, d := range bm.expected[b.ID] {
		if !d.dead && !containsDN(holders, d) {
			holders = append(holders, d)
		}
	}
	if len(holders) == 0 {
		return false
	}
	tl := &dnpb.TargetList{}
	for _, d := range holders {
		tl.Targets = append(tl.Targets, &dnpb.Target{Id: d.id})
	}
	holders[0].recoveries = append(holders[0].recoveries, &dnpb.Command{Kind: dnpb.Command_RECOVER,
		Blocks:      []*dnpb.Block{{Id: b.ID, GenStamp: b.GenStamp, NumBytes: fromLength}},
		Targets:     []*dnpb.TargetList{tl},
		NewGenStamp: newGS, NewLength: newLength})
	bm.log.WithFields(logrus.Fields{"block": b.ID, "primary": holders[0].xferAddr(), "replicas": len(holders)}).Info("block recovery started")
	return true
}

func containsDN(ds []*datanode, d *datanode) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// CommitBlockSync ends a block recovery: the block takes the agreed
// generation stamp and length (or is dropped), and the file is closed when
// asked, all through the edit log.
func (ns *Namespace) CommitBlockSync(c *Caller, blockID, newGS, newLen uint64, closeFile, deleteBlock bool, nodes []DatanodeRef) error {
	_, err := ns.write(c, "Cannot commitBlockSynchronization", func() (any, error) {
		b := ns.blocks[blockID]
		if b == nil || b.inode == nil {
			return nil, errorf(ExIO, "Block (=%d) not found", blockID)
		}
		n := b.inode
		if n.uc == nil {
			if closeFile {
				return nil, nil // already closed: a retried commit
			}
			return nil, errorf(ExIO, "Unexpected block (=%d) since the file (=%s) is not under construction", blockID, n.fullPath())
		}
		blocks := blocksPB(n)
		if deleteBlock {
			kept := blocks[:0]
			for _, pb := range blocks {
				if pb.Id != blockID {
					kept = append(kept, pb)
				}
			}
			blocks = kept
		} else {
			for _, pb := range blocks {
				if pb.Id == blockID {
					pb.GenStamp, pb.NumBytes = newGS, newLen
				}
			}
		}
		path := n.fullPath()
		var op *nnpb.Op
		if closeFile {
			op = ns.closeOp(path, blocks)
		} else {
			op = &nnpb.Op{Body: &nnpb.Op_UpdateBlocks{UpdateBlocks: &nnpb.UpdateBlocks{Path: path, Blocks: blocks}}}
		}
		if _, err := ns.logApply(op); err != nil {
			return nil, err
		}
		if nb := ns.blocks[blockID]; nb != nil && len(nodes) > 0 {
			ns.sites.PipelineUpdated(nb, nodes)
		}
		return nil, nil
	})
	return err
}
