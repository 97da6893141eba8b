package namenode

import (
	"fmt"

	"github.com/avatarfs/avatarfs/namenode/nnpb"
)

// apply changes the in-memory namespace by one logged operation. It is the
// only function that mutates the namespace, and it is shared by live
// requests (after validation), start-up replay, and a standby tailing the
// log. It checks only what a well-formed log guarantees, and reports a
// mismatch as an error (a corrupt or foreign log), never a panic.
func (ns *Namespace) apply(op *nnpb.Op, txid uint64) error {
	if txid != 0 && txid <= ns.lastTxID {
		return fmt.Errorf("txid %d already applied (last %d)", txid, ns.lastTxID)
	}
	var err error
	switch b := op.Body.(type) {
	case *nnpb.Op_Mkdir:
		err = ns.applyMkdir(b.Mkdir)
	case *nnpb.Op_AddFile:
		err = ns.applyAddFile(b.AddFile)
	case *nnpb.Op_Append:
		err = ns.applyAppend(b.Append)
	case *nnpb.Op_CloseFile:
		err = ns.applyClose(b.CloseFile)
	case *nnpb.Op_AddBlock:
		err = ns.applyAddBlock(b.AddBlock)
	case *nnpb.Op_UpdateBlocks:
		err = ns.applyUpdateBlocks(b.UpdateBlocks.Path, b.UpdateBlocks.Blocks)
	case *nnpb.Op_Delete:
		err = ns.applyDelete(b.Delete)
	case *nnpb.Op_Rename:
		err = ns.applyRename(b.Rename)
	case *nnpb.Op_SetPermission:
		err = ns.withInode(b.SetPermission.Path, func(n *INode) error {
			n.mode = uint16(b.SetPermission.Mode & modeMask)
			return nil
		})
	case *nnpb.Op_SetOwner:
		err = ns.withInode(b.SetOwner.Path, func(n *INode) error {
			if b.SetOwner.Owner != "" {
				n.owner = ns.names.id(b.SetOwner.Owner)
			}
			if b.SetOwner.Group != "" {
				n.group = ns.names.id(b.SetOwner.Group)
			}
			return nil
		})
	case *nnpb.Op_SetTimes:
		err = ns.withInode(b.SetTimes.Path, func(n *INode) error {
			if b.SetTimes.Mtime >= 0 {
				n.mtime = b.SetTimes.Mtime
			}
			if b.SetTimes.Atime >= 0 {
				n.atime = b.SetTimes.Atime
			}
			return nil
		})
	case *nnpb.Op_SetReplication:
		err = ns.withInode(b.SetReplication.Path, func(n *INode) error {
			if n.isDir {
				return fmt.Errorf("setReplication on directory %s", b.SetReplication.Path)
			}
			n.replication = uint16(b.SetReplication.Replication)
			for _, blk := range n.blocks {
				ns.sites.ReplicationChanged(blk.ID)
			}
			return nil
		})
	case *nnpb.Op_SetXattr:
		err = ns.withInode(b.SetXattr.Path, func(n *INode) error {
			setXAttr(n, xattrFromPB(b.SetXattr.Xattr))
			return nil
		})
	case *nnpb.Op_RemoveXattr:
		err = ns.withInode(b.RemoveXattr.Path, func(n *INode) error {
			if !removeXAttr(n, xattrFromPB(b.RemoveXattr.Xattr)) {
				return fmt.Errorf("xattr %s not on %s", b.RemoveXattr.Xattr.GetName(), b.RemoveXattr.Path)
			}
			return nil
		})
	case *nnpb.Op_Truncate:
		err = ns.applyTruncate(b.Truncate)
	case *nnpb.Op_SetStoragePolicy:
		err = ns.withInode(b.SetStoragePolicy.Path, func(n *INode) error {
			n.policy = uint8(b.SetStoragePolicy.Policy)
			return nil
		})
	case *nnpb.Op_ReassignLease:
		err = ns.withInode(b.ReassignLease.Path, func(n *INode) error {
			if n.uc == nil {
				return fmt.Errorf("reassign lease of closed file %s", b.ReassignLease.Path)
			}
			ns.leases.remove(n.uc.clientName, n.id)
			n.uc.clientName = b.ReassignLease.NewHolder
			ns.leases.add(n.uc.clientName, n.id, ns.now())
			return nil
		})
	case *nnpb.Op_SetGenStamp:
		if b.SetGenStamp.GenStamp > ns.genStamp {
			ns.genStamp = b.SetGenStamp.GenStamp
		}
	case *nnpb.Op_Noop:
	default:
		err = fmt.Errorf("unknown edit op %T", op.Body)
	}
	if err != nil {
		return err
	}
	if txid != 0 {
		ns.lastTxID = txid
	}
	return nil
}

// lookup resolves an absolute path to its inode, or nil.
func (ns *Namespace) lookup(path string) (*INode, error) {
	parts, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	n := ns.root
	for _, p := range parts {
		if !n.isDir {
			return nil, nil
		}
		if n = n.child(p); n == nil {
			return nil, nil
		}
	}
	return n, nil
}

func (ns *Namespace) withInode(path string, fn func(*INode) error) error {
	n, err := ns.lookup(path)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%s does not exist", path)
	}
	return fn(n)
}

// parentFor resolves the parent directory of path and the last component.
func (ns *Namespace) parentFor(path string) (*INode, string, error) {
	parts, err := splitPath(path)
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		return nil, "", fmt.Errorf("root has no parent")
	}
	dir, err := ns.lookup(parentPath(parts))
	if err != nil {
		return nil, "", err
	}
	if dir == nil || !dir.isDir {
		return nil, "", fmt.Errorf("parent of %s is not a directory", path)
	}
	return dir, parts[len(parts)-1], nil
}

func (ns *Namespace) newInode(id uint64, name string, p *nnpb.Perm, mtime int64) *INode {
	n := &INode{id: id, name: name, mtime: mtime, atime: mtime,
		owner: ns.names.id(p.GetOwner()), group: ns.names.id(p.GetGroup()),
		mode: uint16(p.GetMode() & modeMask)}
	if id > ns.lastInodeID {
		ns.lastInodeID = id
	}
	ns.inodes[id] = n
	return n
}

func (ns *Namespace) applyMkdir(m *nnpb.Mkdir) error {
	dir, name, err := ns.parentFor(m.Path)
	if err != nil {
		return err
	}
	if dir.child(name) != nil {
		return fmt.Errorf("mkdir %s: exists", m.Path)
	}
	n := ns.newInode(m.InodeId, name, m.Perm, m.Mtime)
	n.isDir = true
	n.atime = 0
	dir.addChild(n)
	dir.mtime = m.Mtime
	return nil
}

func (ns *Namespace) applyAddFile(m *nnpb.AddFile) error {
	dir, name, err := ns.parentFor(m.Path)
	if err != nil {
		return err
	}
	if old := dir.child(name); old != nil {
		if !m.Overwrite || old.isDir {
			return fmt.Errorf("create %s: exists", m.Path)
		}
		ns.removeTree(old)
		dir.removeChild(old)
	}
	n := ns.newInode(m.InodeId, name, m.Perm, m.Mtime)
	n.replication = uint16(m.Replication)
	n.blockSize = int64(m.BlockSize)
	n.policy = uint8(m.StoragePolicy)
	n.uc = &underConstruction{clientName: m.ClientName, clientMachine: m.ClientMachine}
	ns.leases.add(m.ClientName, n.id, ns.now())
	dir.addChild(n)
	dir.mtime = m.Mtime
	return nil
}

func (ns *Namespace) applyAppend(m *nnpb.Append) error {
	return ns.withInode(m.Path, func(n *INode) error {
		if n.isDir || n.uc != nil {
			return fmt.Errorf("append %s: not a closed file", m.Path)
		}
		n.uc = &underConstruction{clientName: m.ClientName, clientMachine: m.ClientMachine}
		if b := n.lastBlock(); b != nil && uint64(n.blockSize) > b.NumBytes {
			b.State = BlockUnderConstruction
		}
		ns.leases.add(m.ClientName, n.id, ns.now())
		return nil
	})
}

func (ns *Namespace) applyClose(m *nnpb.CloseFile) error {
	return ns.withInode(m.Path, func(n *INode) error {
		if n.isDir || n.uc == nil {
			return fmt.Errorf("close %s: not open for write", m.Path)
		}
		ns.setBlocks(n, m.Blocks)
		for _, b := range n.blocks {
			b.State = BlockComplete
		}
		ns.leases.remove(n.uc.clientName, n.id)
		n.uc = nil
		n.mtime, n.atime = m.Mtime, m.Atime
		return nil
	})
}

func (ns *Namespace) applyAddBlock(m *nnpb.AddBlock) error {
	return ns.withInode(m.Path, func(n *INode) error {
		if n.isDir || n.uc == nil {
			return fmt.Errorf("addBlock %s: not open for write", m.Path)
		}
		if p := m.Penultimate; p != nil {
			last := n.lastBlock()
			if last == nil || last.ID != p.Id {
				return fmt.Errorf("addBlock %s: penultimate block %d is not the last", m.Path, p.Id)
			}
			last.NumBytes, last.GenStamp, last.State = p.NumBytes, p.GenStamp, BlockCommitted
		}
		b := &BlockInfo{ID: m.Last.Id, GenStamp: m.Last.GenStamp, NumBytes: m.Last.NumBytes,
			State: BlockUnderConstruction, inode: n}
		n.blocks = append(n.blocks, b)
		ns.blocks[b.ID] = b
		ns.noteBlock(b.ID, b.GenStamp)
		return nil
	})
}

// noteBlock advances the id and generation-stamp counters past a block.
func (ns *Namespace) noteBlock(id, gs uint64) {
	if id > ns.lastBlockID {
		ns.lastBlockID = id
	}
	if gs > ns.genStamp {
		ns.genStamp = gs
	}
}

func (ns *Namespace) applyUpdateBlocks(path string, blocks []*nnpb.Block) error {
	return ns.withInode(path, func(n *INode) error {
		if n.isDir || n.uc == nil {
			return fmt.Errorf("update blocks of %s: not open for write", path)
		}
		ns.setBlocks(n, blocks)
		return nil
	})
}

// setBlocks makes the file's block list equal to blocks, keeping the
// BlockInfo of blocks that stay (the block manager hangs replicas on them).
func (ns *Namespace) setBlocks(n *INode, blocks []*nnpb.Block) {
	keep := make(map[uint64]bool, len(blocks))
	next := make([]*BlockInfo, 0, len(blocks))
	for i, pb := range blocks {
		b := ns.blocks[pb.Id]
		if b == nil || b.inode != n {
			b = &BlockInfo{ID: pb.Id, inode: n, State: BlockUnderConstruction}
			ns.blocks[b.ID] = b
		}
		b.GenStamp, b.NumBytes = pb.GenStamp, pb.NumBytes
		if i < len(blocks)-1 && b.State == BlockUnderConstruction {
			b.State = BlockCommitted
		}
		ns.noteBlock(b.ID, b.GenStamp)
		keep[b.ID] = true
		next = append(next, b)
	}
	for _, b := range n.blocks {
		if !keep[b.ID] {
			delete(ns.blocks, b.ID)
			ns.sites.BlockRemoved(b.ID)
		}
	}
	n.blocks = next
}

func (ns *Namespace) applyDelete(m *nnpb.Delete) error {
	n, err := ns.lookup(m.Path)
	if err != nil {
		return err
	}
	if n == nil || n.parent == nil {
		return fmt.Errorf("delete %s: missing or root", m.Path)
	}
	p := n.parent
	ns.removeTree(n)
	p.removeChild(n)
	p.mtime = m.Mtime
	return nil
}

// removeTree forgets a subtree's inodes, blocks and leases.
func (ns *Namespace) removeTree(n *INode) {
	delete(ns.inodes, n.id)
	for _, b := range n.blocks {
		delete(ns.blocks, b.ID)
		ns.sites.BlockRemoved(b.ID)
	}
	if n.uc != nil {
		ns.leases.remove(n.uc.clientName, n.id)
	}
	for _, c := range n.children {
		ns.removeTree(c)
	}
}

func (ns *Namespace) applyRename(m *nnpb.Rename) error {
	src, err := ns.lookup(m.Src)
	if err != nil {
		return err
	}
	if src == nil || src.parent == nil {
		return fmt.Errorf("rename %s: missing or root", m.Src)
	}
	dir, name, err := ns.parentFor(m.Dst)
	if err != nil {
		return err
	}
	if old := dir.child(name); old != nil {
		if !m.Overwrite || old == src {
			return fmt.Errorf("rename %s -> %s: destination exists", m.Src, m.Dst)
		}
		ns.removeTree(old)
		dir.removeChild(old)
	}
	for a := dir; a != nil; a = a.parent {
		if a == src {
			return fmt.Errorf("rename %s -> %s: destination under source", m.Src, m.Dst)
		}
	}
	src.parent.removeChild(src)
	src.parent.mtime = m.Mtime
	src.name = name
	dir.addChild(src)
	dir.mtime = m.Mtime
	return nil
}

func (ns *Namespace) applyTruncate(m *nnpb.Truncate) error {
	return ns.withInode(m.Path, func(n *INode) error {
		if n.isDir || n.uc != nil {
			return fmt.Errorf("truncate %s: not a closed file", m.Path)
		}
		ns.setBlocks(n, m.Blocks)
		n.mtime = m.Mtime
		if m.UnderRecovery {
			n.uc = &underConstruction{clientName: m.ClientName, clientMachine: m.ClientMachine}
			ns.leases.add(m.ClientName, n.id, ns.now())
			if b := n.lastBlock(); b != nil {
				b.State = BlockUnderRecovery
			}
		} else {
			for _, b := range n.blocks {
				b.State = BlockComplete
			}
		}
		return nil
	})
}

func xattrFromPB(x *nnpb.XAttr) XAttr {
	return XAttr{NS: x.GetNamespace(), Name: x.GetName(), Value: x.GetValue()}
}

func xattrToPB(x XAttr) *nnpb.XAttr {
	return &nnpb.XAttr{Namespace: x.NS, Name: x.Name, Value: x.Value, HasValue: x.Value != nil}
}

func setXAttr(n *INode, x XAttr) {
	list := n.getXAttrs()
	for i := range list {
		if list[i].NS == x.NS && list[i].Name == x.Name {
			list[i].Value = x.Value
			return
		}
	}
	list = append(list, x)
	n.xattrs = &list
}

func removeXAttr(n *INode, x XAttr) bool {
	list := n.getXAttrs()
	for i := range list {
		if list[i].NS == x.NS && list[i].Name == x.Name {
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				n.xattrs = nil
			} else {
				n.xattrs = &list
			}
			return true
		}
	}
	return false
}
