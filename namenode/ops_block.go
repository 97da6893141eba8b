package namenode

import (
	"fmt"
	"time"

	"github.com/avatarfs/avatarfs/namenode/nnpb"
)

// LocatedBlock is a block with its offset in the file and its replicas.
type LocatedBlock struct {
	Block    BlockInfo
	Offset   uint64
	Corrupt  bool
	Replicas []DatanodeRef
}

// LocatedBlocks is getBlockLocations' answer.
type LocatedBlocks struct {
	FileLength        uint64
	Blocks            []LocatedBlock
	UnderConstruction bool
	LastBlock         *LocatedBlock
	LastBlockComplete bool
}

// ucFile finds the file a block call names (by inode id when given, as
// Hadoop does, else by path) and checks that clientName holds its lease.
func (ns *Namespace) ucFile(src string, fileID uint64, clientName string) (*INode, string, error) {
	var n *INode
	if fileID != 0 {
		n = ns.inodes[fileID]
	} else {
		var err error
		if n, err = ns.lookup(src); err != nil {
			return nil, "", err
		}
	}
	if n == nil || n.isDir {
		return nil, "", errorf(ExLeaseExpired, "No lease on %s (inode %d): File does not exist. Holder %s does not have any open files.", src, fileID, clientName)
	}
	if n.uc == nil {
		return n, n.fullPath(), errorf(ExLeaseExpired, "No lease on %s (inode %d): File is not open for writing. Holder %s does not have any open files.", src, n.id, clientName)
	}
	if n.uc.clientName != clientName {
		return n, n.fullPath(), errorf(ExLeaseExpired, "Client (=%s) is not the lease owner (=%s) of %s (inode %d)", clientName, n.uc.clientName, src, n.id)
	}
	ns.leases.renew(clientName, ns.now())
	return n, n.fullPath(), nil
}

func blocksPB(n *INode) []*nnpb.Block {
	out := make([]*nnpb.Block, len(n.blocks))
	for i, b := range n.blocks {
		out[i] = &nnpb.Block{Id: b.ID, GenStamp: b.GenStamp, NumBytes: b.NumBytes}
	}
	return out
}

func (ns *Namespace) locate(n *INode, b *BlockInfo, offset uint64, clientMachine string) LocatedBlock {
	lb := LocatedBlock{Block: *b, Offset: offset, Replicas: ns.sites.Locations(b, clientMachine)}
	lb.Corrupt = len(lb.Replicas) > 0 && lb.Replicas[0].Corrupt
	return lb
}

// AddBlockArgs are addBlock's parameters.
type AddBlockArgs struct {
	Src        string
	FileID     uint64
	ClientName string
	Previous   *BlockInfo // the block the client just finished, or nil
	Exclude    []string
	Favored    []string
}

// AddBlock commits the client's previous block and allocates the next one
// with a pipeline of targets.
func (ns *Namespace) AddBlock(c *Caller, a AddBlockArgs) (*LocatedBlock, error) {
	lb, err := ns.addBlockOnce(c, a)
	if w, ok := err.(*waitReplication); ok && c.detach() && ns.sites.WaitMinReplicated(w.ids, ns.set.MinReplication, replicationWait) {
		lb, err = ns.addBlockOnce(c, a)
	}
	if w, ok := err.(*waitReplication); ok {
		return nil, w.err
	}
	return lb, err
}

// replicationWait bounds how long complete and addBlock wait for the
// DataNodes' reports of a block the client has finished writing.
const replicationWait = 10 * time.Second

// waitReplication is an internal answer: retry once the blocks have their
// minimum replicas; err is what the client sees if they never do.
type waitReplication struct {
	ids []uint64
	err error
}

func (w *waitReplication) Error() string { return w.err.Error() }

func (ns *Namespace) addBlockOnce(c *Caller, a AddBlockArgs) (*LocatedBlock, error) {
	res, err := ns.write(c, "Cannot add block to "+a.Src, func() (any, error) {
		n, path, err := ns.ucFile(a.Src, a.FileID, a.ClientName)
		if err != nil {
			return nil, err
		}
		last := n.lastBlock()
		offset := n.length()
		// A retried addBlock: the last block is new and empty, and the
		// client's previous is the block before it. Answer it again.
		if last != nil && last.NumBytes == 0 && last.State == BlockUnderConstruction {
			var pen *BlockInfo
			if len(n.blocks) > 1 {
				pen = n.blocks[len(n.blocks)-2]
			}
			if (a.Previous == nil && pen == nil) || (a.Previous != nil && pen != nil && pen.ID == a.Previous.ID) {
				lb := ns.locate(n, last, offset, c.Machine)
				return &lb, nil
			}
		}
		var penultimate *nnpb.Block
		if a.Previous != nil {
			if last == nil || last.ID != a.Previous.ID {
				return nil, errorf(ExIO, "BP block %d of %s is not the last block of the file (%v)", a.Previous.ID, path, last != nil)
			}
			penultimate = &nnpb.Block{Id: last.ID, GenStamp: a.Previous.GenStamp, NumBytes: a.Previous.NumBytes}
			offset = offset - last.NumBytes + a.Previous.NumBytes
		} else if last != nil && last.State != BlockComplete {
			// After an append to a file whose last block is full, the
			// client starts a new block naming no previous one: fine.
			return nil, errorf(ExIO, "addBlock %s: the client names no previous block but the file's last block is still being written", path)
		}
		// The block before the previous one must have its minimum replicas.
		if len(n.blocks) >= 2 {
			if b := n.blocks[len(n.blocks)-2]; !ns.sites.MinReplicated(b, ns.set.MinReplication) {
				return nil, &waitReplication{ids: []uint64{b.ID}, err: errorf(ExNotReplicatedYet, "Not replicated yet: %s", path)}
			}
		}
		if max := ns.set.MaxBlocksPerFile; max > 0 && len(n.blocks) >= max {
			return nil, errorf(ExIO, "File has reached the limit on maximum number of blocks (dfs.namenode.fs-limits.max-blocks-per-file): %d >= %d", len(n.blocks), max)
		}
		targets := ns.sites.ChooseTargets(path, int(n.replication), c.Machine, a.Exclude, a.Favored, n.blockSize)
		if len(targets) < ns.set.MinReplication {
			return nil, errorf(ExIO, "File %s could only be written to %d of the %d minReplication nodes. There are %d datanode(s) running and %d node(s) are excluded in this operation.",
				path, len(targets), ns.set.MinReplication, ns.sites.LiveDatanodes(), len(a.Exclude))
		}
		nb := &nnpb.Block{Id: ns.lastBlockID + 1, GenStamp: ns.genStamp + 1}
		op := &nnpb.Op{Body: &nnpb.Op_AddBlock{AddBlock: &nnpb.AddBlock{Path: path, Penultimate: penultimate, Last: nb}}}
		if _, err := ns.logApply(op); err != nil {
			return nil, err
		}
		b := n.lastBlock()
		ns.sites.PipelineUpdated(b, targets)
		return &LocatedBlock{Block: *b, Offset: offset, Replicas: targets}, nil
	})
	if err != nil {
		return nil, err
	}
	r, ok := res.(*LocatedBlock)
	if !ok {
		return nil, errorf(ExIO, "no result")
	}
	return r, nil
}

// Complete closes a file once every block has its minimum replicas; it
// answers false while the client should retry.
func (ns *Namespace) Complete(c *Caller, src string, fileID uint64, clientName string, last *BlockInfo) (bool, error) {
	ok, err := ns.completeOnce(c, src, fileID, clientName, last)
	if w, isWait := err.(*waitReplication); isWait {
		if c.detach() && ns.sites.WaitMinReplicated(w.ids, ns.set.MinReplication, replicationWait) {
			ok, err = ns.completeOnce(c, src, fileID, clientName, last)
		}
		if _, isWait := err.(*waitReplication); isWait {
			return false, nil
		}
	}
	return ok, err
}

func (ns *Namespace) completeOnce(c *Caller, src string, fileID uint64, clientName string, last *BlockInfo) (bool, error) {
	return ns.writeBool(c, "Cannot complete file "+src, func() (any, error) {
		n, path, err := ns.ucFile(src, fileID, clientName)
		if err != nil {
			// A retried complete of a file that is already closed succeeds.
			if n != nil && n.uc == nil {
				if lb := n.lastBlock(); last == nil || (lb != nil && lb.ID == last.ID) {
					return true, nil
				}
			}
			return nil, err
		}
		blocks := blocksPB(n)
		if last != nil {
			lb := n.lastBlock()
			if lb == nil || lb.ID != last.ID {
				return nil, errorf(ExIO, "complete %s: block %d is not the last block", path, last.ID)
			}
			blocks[len(blocks)-1].NumBytes = last.NumBytes
			blocks[len(blocks)-1].GenStamp = last.GenStamp
			// A last block the client allocated but never wrote (the Go
			// client does this for empty files) is dropped, not waited for.
			if last.NumBytes == 0 && !ns.sites.MinReplicated(lb, 1) {
				blocks = blocks[:len(blocks)-1]
			}
		}
		var waiting []uint64
		for i, b := range n.blocks {
			if i < len(blocks) && !ns.sites.MinReplicated(b, ns.set.MinReplication) {
				waiting = append(waiting, b.ID)
			}
		}
		if len(waiting) > 0 {
			return nil, &waitReplication{ids: waiting, err: errorf(ExIO, "not replicated yet")}
		}
		if _, err := ns.logApply(ns.closeOp(path, blocks)); err != nil {
			return nil, err
		}
		return true, nil
	})
}

// AbandonBlock drops the last block of a file being written (the client
// could not build a pipeline for it).
func (ns *Namespace) AbandonBlock(c *Caller, src string, fileID uint64, clientName string, blockID uint64) error {
	_, err := ns.write(c, "Cannot abandon block in "+src, func() (any, error) {
		n, path, err := ns.ucFile(src, fileID, clientName)
		if err != nil {
			return nil, err
		}
		lb := n.lastBlock()
		if lb == nil || lb.ID != blockID {
			return nil, nil
		}
		blocks := blocksPB(n)
		op := &nnpb.Op{Body: &nnpb.Op_UpdateBlocks{UpdateBlocks: &nnpb.UpdateBlocks{Path: path, Blocks: blocks[:len(blocks)-1]}}}
		_, err = ns.logApply(op)
		return nil, err
	})
	return err
}

// ucBlock finds the file that owns a block under construction and checks
// the lease, for the pipeline calls.
func (ns *Namespace) ucBlock(blockID uint64, clientName string) (*INode, *BlockInfo, error) {
	b := ns.blocks[blockID]
	if b == nil || b.inode == nil {
		return nil, nil, errorf(ExIO, "BP-block %d does not exist or is not under construction", blockID)
	}
	if b.State != BlockUnderConstruction && b.State != BlockUnderRecovery {
		return nil, nil, errorf(ExIO, "blk_%d is not under construction", blockID)
	}
	n := b.inode
	if _, _, err := ns.ucFile("", n.id, clientName); err != nil {
		return nil, nil, err
	}
	return n, b, nil
}

// UpdateBlockForPipeline gives a block under construction a new
// generation stamp, so a recovering pipeline can tell fresh replicas from
// stale ones.
func (ns *Namespace) UpdateBlockForPipeline(c *Caller, blockID uint64, clientName string) (*LocatedBlock, error) {
	res, err := ns.write(c, "Cannot get a new generation stamp and an access token for block "+fmt.Sprint(blockID), func() (any, error) {
		n, b, err := ns.ucBlock(blockID, clientName)
		if err != nil {
			return nil, err
		}
		gs := ns.genStamp + 1
		if _, err := ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetGenStamp{SetGenStamp: &nnpb.SetGenStamp{GenStamp: gs}}}); err != nil {
			return nil, err
		}
		lb := ns.locate(n, b, 0, c.Machine)
		lb.Block.GenStamp = gs
		return &lb, nil
	})
	if err != nil {
		return nil, err
	}
	r, ok := res.(*LocatedBlock)
	if !ok {
		return nil, errorf(ExIO, "no result")
	}
	return r, nil
}

// UpdatePipeline records a recovered pipeline: the block's new generation
// stamp and length, and its new replicas.
func (ns *Namespace) UpdatePipeline(c *Caller, clientName string, oldB, newB BlockInfo, nodes []DatanodeRef) error {
	_, err := ns.write(c, "Pipeline not updated", func() (any, error) {
		n, b, err := ns.ucBlock(oldB.ID, clientName)
		if err != nil {
			return nil, err
		}
		if newB.ID != oldB.ID || newB.GenStamp <= b.GenStamp || newB.GenStamp > ns.genStamp {
			return nil, errorf(ExIO, "Update %d:%d is not valid: the block now has generation stamp %d", newB.ID, newB.GenStamp, b.GenStamp)
		}
		blocks := blocksPB(n)
		for _, pb := range blocks {
			if pb.Id == b.ID {
				pb.GenStamp, pb.NumBytes = newB.GenStamp, newB.NumBytes
			}
		}
		if _, err := ns.logApply(&nnpb.Op{Body: &nnpb.Op_UpdateBlocks{UpdateBlocks: &nnpb.UpdateBlocks{Path: n.fullPath(), Blocks: blocks}}}); err != nil {
			return nil, err
		}
		ns.sites.PipelineUpdated(ns.blocks[b.ID], nodes)
		return nil, nil
	})
	return err
}

// Fsync persists the length of the last block a writer has flushed.
func (ns *Namespace) Fsync(c *Caller, src string, fileID uint64, clientName string, lastBlockLength int64) error {
	_, err := ns.write(c, "Cannot fsync file "+src, func() (any, error) {
		n, path, err := ns.ucFile(src, fileID, clientName)
		if err != nil {
			return nil, err
		}
		lb := n.lastBlock()
		if lb == nil || lastBlockLength <= 0 || uint64(lastBlockLength) == lb.NumBytes {
			return nil, nil
		}
		blocks := blocksPB(n)
		blocks[len(blocks)-1].NumBytes = uint64(lastBlockLength)
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_UpdateBlocks{UpdateBlocks: &nnpb.UpdateBlocks{Path: path, Blocks: blocks}}})
		return nil, err
	})
	return err
}

// RecoverLease closes a file whose writer is gone. It answers true when
// the file is closed. Blocks that need DataNode block recovery (a last
// block holding data of unknown final length) are left to the block
// manager: the lease moves to the NameNode and the answer is false.
func (ns *Namespace) RecoverLease(c *Caller, src, clientName string, force bool) (bool, error) {
	return ns.writeBool(c, "Cannot recover the lease of "+src, func() (any, error) {
		p, err := ns.existing(c, src, permCheck{access: accWrite})
		if err != nil {
			return nil, err
		}
		n := p.last()
		if n.isDir {
			return nil, errNotFound("File does not exist: %s", src)
		}
		return ns.releaseLeaseLocked(n)
	})
}

// releaseLeaseLocked closes a file under construction whose writer is
// gone, when its blocks allow: an empty last block without replicas is
// dropped; a last block with data needs block recovery on the DataNodes
// (false until that completes). Called under mu.
func (ns *Namespace) releaseLeaseLocked(n *INode) (bool, error) {
	if n.uc == nil {
		return true, nil
	}
	blocks := blocksPB(n)
	if lb := n.lastBlock(); lb != nil && lb.State != BlockComplete && lb.State != BlockCommitted {
		if len(ns.sites.Locations(lb, "")) == 0 {
			if lb.NumBytes != 0 {
				return false, nil // its data is on no live DataNode: wait for one
			}
			blocks = blocks[:len(blocks)-1]
		} else {
			// Replicas may differ in length: the DataNodes must agree under
			// a new generation stamp (commitBlockSynchronization closes).
			gs := ns.genStamp + 1
			if _, err := ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetGenStamp{SetGenStamp: &nnpb.SetGenStamp{GenStamp: gs}}}); err != nil {
				return false, err
			}
			ns.sites.StartRecovery(lb, gs, lb.NumBytes, lb.NumBytes)
			return false, nil
		}
	}
	if _, err := ns.logApply(ns.closeOp(n.fullPath(), blocks)); err != nil {
		return false, err
	}
	return true, nil
}

// GetAdditionalDatanode picks extra nodes for a pipeline that lost some.
func (ns *Namespace) GetAdditionalDatanode(c *Caller, src string, fileID uint64, clientName string, blockID uint64, existing []DatanodeRef, exclude []string, num int) (*LocatedBlock, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	n, path, err := ns.ucFile(src, fileID, clientName)
	if err != nil {
		return nil, err
	}
	b := ns.blocks[blockID]
	if b == nil || b.inode != n {
		return nil, errorf(ExIO, "block %d is not a block of %s", blockID, path)
	}
	ex := append([]string(nil), exclude...)
	for _, d := range existing {
		ex = append(ex, d.Addr())
	}
	targets := ns.sites.ChooseTargets(path, num, c.Machine, ex, nil, n.blockSize)
	if len(targets) < num {
		return nil, errorf(ExIO, "Failed to add a datanode: nodes.length != original.length + 1, nodes=%d, original=%d", len(existing)+len(targets), len(existing))
	}
	return &LocatedBlock{Block: *b, Replicas: append(append([]DatanodeRef(nil), existing...), targets...)}, nil
}

// GetBlockLocations lists the blocks of src overlapping [offset,
// offset+length) with their replicas. It updates the access time when it is
// older than dfs.namenode.accesstime.precision.
func (ns *Namespace) GetBlockLocations(c *Caller, src string, offset, length uint64) (*LocatedBlocks, error) {
	ns.mu.RLock()
	n, err := ns.fileForRead(c, src, permCheck{access: accRead})
	if err != nil {
		ns.mu.RUnlock()
		return nil, err
	}
	lbs := &LocatedBlocks{FileLength: n.length(), UnderConstruction: n.uc != nil}
	var pos uint64
	end := offset + length
	for _, b := range n.blocks {
		bEnd := pos + b.NumBytes
		if bEnd > offset && pos < end || (b.NumBytes == 0 && pos >= offset && pos < end) {
			lbs.Blocks = append(lbs.Blocks, ns.locate(n, b, pos, c.Machine))
		}
		pos = bEnd
	}
	if lb := n.lastBlock(); lb != nil {
		l := ns.locate(n, lb, pos-lb.NumBytes, c.Machine)
		lbs.LastBlock = &l
		lbs.LastBlockComplete = lb.State == BlockComplete
	} else {
		lbs.LastBlockComplete = true
	}
	atime, id := n.atime, n.id
	path := n.fullPath()
	prec := ns.set.AccessTimePrecision
	safe := ns.safe.on()
	ns.mu.RUnlock()
	if prec > 0 && !safe && ns.now().UnixMilli() > atime+prec.Milliseconds() {
		ns.touchAtime(path, id)
	}
	return lbs, nil
}

// touchAtime logs a new access time for a file that was read.
func (ns *Namespace) touchAtime(path string, id uint64) {
	c := &Caller{User: ns.set.Superuser}
	_, err := ns.write(c, "Cannot set access time of "+path, func() (any, error) {
		n := ns.inodes[id]
		if n == nil || n.fullPath() != path {
			return nil, nil
		}
		now := ns.nowMillis()
		if now <= n.atime+ns.set.AccessTimePrecision.Milliseconds() {
			return nil, nil
		}
		_, err := ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetTimes{SetTimes: &nnpb.SetTimes{Path: path, Mtime: -1, Atime: now}}})
		return nil, err
	})
	if err != nil {
		ns.log.WithError(err).WithField("path", path).Debug("access time not updated")
	}
}

// Truncate cuts src to newLength. On a block boundary it is immediate
// (true); otherwise the last block must be recovered on the DataNodes to
// the new length and the file stays open until then (false).
func (ns *Namespace) Truncate(c *Caller, src string, newLength int64, clientName string) (bool, error) {
	return ns.writeBool(c, "Cannot truncate for "+src, func() (any, error) {
		if newLength < 0 {
			return nil, errorf(ExIllegalArgument, "Cannot truncate to a negative file size: %d.", newLength)
		}
		p, err := ns.existing(c, src, permCheck{access: accWrite})
		if err != nil {
			return nil, err
		}
		n := p.last()
		if n.isDir {
			return nil, errNotFound("Path is not a file: %s", src)
		}
		if err := ns.checkLeaseForCreate(n, src, clientName, c.Machine, "TRUNCATE_FILE"); err != nil {
			return nil, err
		}
		old := n.length()
		nl := uint64(newLength)
		if nl > old {
			return nil, errorf(ExIllegalArgument, "Cannot truncate to a larger file size. Current size: %d, truncate size: %d.", old, newLength)
		}
		if nl == old {
			return true, nil
		}
		var kept []*nnpb.Block
		var pos, fromLength uint64
		onBoundary := true
		for _, b := range n.blocks {
			if pos >= nl {
				break
			}
			pb := &nnpb.Block{Id: b.ID, GenStamp: b.GenStamp, NumBytes: b.NumBytes}
			if pos+b.NumBytes > nl {
				fromLength = b.NumBytes
				pb.NumBytes = nl - pos
				onBoundary = false
			}
			kept = append(kept, pb)
			pos += b.NumBytes
		}
		op := &nnpb.Op{Body: &nnpb.Op_Truncate{Truncate: &nnpb.Truncate{Path: joinPath(p.parts), NewLength: nl,
			Mtime: ns.nowMillis(), Blocks: kept, ClientName: clientName, ClientMachine: c.Machine, UnderRecovery: !onBoundary}}}
		if _, err := ns.logApply(op); err != nil {
			return nil, err
		}
		if !onBoundary {
			// The last block is cut on the DataNodes under a new generation
			// stamp; commitBlockSynchronization then closes the file.
			gs := ns.genStamp + 1
			if _, err := ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetGenStamp{SetGenStamp: &nnpb.SetGenStamp{GenStamp: gs}}}); err != nil {
				return nil, err
			}
			lb := n.lastBlock()
			ns.sites.StartRecovery(lb, gs, lb.NumBytes, fromLength)
		}
		return onBoundary, nil
	})
}
