package namenode

import (
	"strings"

	"github.com/avatarfs/avatarfs/namenode/nnpb"
)

func (ns *Namespace) nowMillis() int64 { return ns.now().UnixMilli() }

// checkParentDirs fails with ParentNotDirectory when a component before
// the last resolves to a file.
func checkParentDirs(p *iPath) error {
	for i := 1; i < len(p.nodes)-1; i++ {
		if n := p.nodes[i]; n != nil && !n.isDir {
			return errorf(ExParentNotDirectory, "%s (is not a directory)", n.fullPath())
		}
	}
	return nil
}

func (ns *Namespace) checkName(name string, dir *INode) error {
	if l := ns.set.MaxComponentLength; l > 0 && len(name) > l {
		return errorf(ExFSLimit, "The maximum path component name limit of %s in directory %s is exceeded: limit=%d length=%d",
			name, dir.fullPath(), l, len(name))
	}
	if m := ns.set.MaxDirItems; m > 0 && len(dir.children) >= m {
		return errorf(ExMaxDirItems, "The directory item limit of %s is exceeded: limit=%d items=%d",
			dir.fullPath(), m, len(dir.children))
	}
	return nil
}

// Mkdirs creates src and, with createParent, its missing ancestors. The
// created parents get u+wx added, as Hadoop does. An existing directory
// is success.
func (ns *Namespace) Mkdirs(c *Caller, src string, mode uint32, createParent bool) error {
	_, err := ns.write(c, "Cannot create directory "+src, func() (any, error) {
		p, err := ns.resolve(src)
		if err != nil {
			return nil, err
		}
		if err := checkParentDirs(p); err != nil {
			return nil, err
		}
		if last := p.last(); last != nil {
			if !last.isDir {
				return nil, errorf(ExFileAlreadyExists, "Path is not a directory: %s", src)
			}
			return true, ns.checkPerm(c, p, permCheck{})
		}
		if err := ns.checkPerm(c, p, permCheck{ancestor: accWrite}); err != nil {
			return nil, err
		}
		first, _ := p.lastExisting()
		if !createParent && first < len(p.parts)-1 {
			return nil, errNotFound("Parent directory doesn't exist: %s", parentPath(p.parts))
		}
		now := ns.nowMillis()
		for i := first; i < len(p.parts); i++ {
			dir := p.nodes[i]
			if err := ns.checkName(p.parts[i], dir); err != nil {
				return nil, err
			}
			m := mode
			if i < len(p.parts)-1 {
				m |= 0o300
			}
			ns.lastInodeID++
			op := &nnpb.Op{Body: &nnpb.Op_Mkdir{Mkdir: &nnpb.Mkdir{
				Path: joinPath(p.parts[:i+1]), InodeId: ns.lastInodeID, Mtime: now,
				Perm: &nnpb.Perm{Owner: c.User, Group: ns.names.str(dir.group), Mode: m}}}}
			if _, err := ns.logApply(op); err != nil {
				return nil, err
			}
			p.nodes[i+1] = dir.child(p.parts[i])
		}
		return true, nil
	})
	return err
}

// CreateFlag bits, as Hadoop's CreateFlagProto.
const (
	CreateFlagCreate    = 0x01
	CreateFlagOverwrite = 0x02
	CreateFlagAppend    = 0x04
)

// CreateArgs are create's parameters.
type CreateArgs struct {
	Src           string
	Mode          uint32
	ClientName    string
	Flags         uint32
	CreateParent  bool
	Replication   int
	BlockSize     int64
	StoragePolicy uint8
}

func (ns *Namespace) checkReplication(r int, src string) error {
	if r < ns.set.MinReplication {
		return errorf(ExIO, "Requested replication factor of %d is less than the required minimum of %d for %s", r, ns.set.MinReplication, src)
	}
	if r > ns.set.MaxReplication {
		return errorf(ExIO, "Requested replication factor of %d exceeds maximum of %d for %s", r, ns.set.MaxReplication, src)
	}
	return nil
}

// Create makes a new file open for write by a.ClientName, as the create
// RPC: CREATE, OVERWRITE and APPEND flags, createParent.
func (ns *Namespace) Create(c *Caller, a CreateArgs) (*FileStatus, error) {
	res, err := ns.write(c, "Cannot create file"+a.Src, func() (any, error) {
		if err := ns.checkReplication(a.Replication, a.Src); err != nil {
			return nil, err
		}
		if a.BlockSize < ns.set.MinBlockSize {
			return nil, errorf(ExIO, "Specified block size is less than configured minimum value (dfs.namenode.fs-limits.min-block-size): %d < %d", a.BlockSize, ns.set.MinBlockSize)
		}
		if a.BlockSize%512 != 0 {
			return nil, errorf(ExIO, "Invalid values: dfs.bytes-per-checksum (=512) must divide block size (=%d).", a.BlockSize)
		}
		p, err := ns.resolve(a.Src)
		if err != nil {
			return nil, err
		}
		if len(p.parts) == 0 {
			return nil, errorf(ExFileAlreadyExists, "/ already exists as a directory")
		}
		if err := checkParentDirs(p); err != nil {
			return nil, err
		}
		overwrite := a.Flags&CreateFlagOverwrite != 0
		old := p.last()
		pc := permCheck{ancestor: accWrite}
		if old != nil && overwrite {
			pc.access = accWrite
		}
		if err := ns.checkPerm(c, p, pc); err != nil {
			return nil, err
		}
		if old != nil {
			if old.isDir {
				return nil, errorf(ExFileAlreadyExists, "%s already exists as a directory", a.Src)
			}
			if err := ns.checkLeaseForCreate(old, a.Src, a.ClientName, c.Machine, "CREATE_FILE"); err != nil {
				return nil, err
			}
			if a.Flags&CreateFlagAppend != 0 && !overwrite {
				return ns.appendLocked(c, p, a.ClientName)
			}
			if !overwrite {
				return nil, errorf(ExFileAlreadyExists, "%s for client %s already exists", a.Src, c.Machine)
			}
		} else if a.Flags&(CreateFlagCreate) == 0 && a.Flags&CreateFlagAppend != 0 {
			return nil, errNotFound("Failed to append to non-existent file %s for client %s", a.Src, c.Machine)
		}
		dir := p.parent()
		if dir == nil {
			if !a.CreateParent {
				return nil, errNotFound("Parent directory doesn't exist: %s", parentPath(p.parts))
			}
		}
		if old == nil && dir != nil {
			if err := ns.checkName(p.parts[len(p.parts)-1], dir); err != nil {
				return nil, err
			}
		}
		now := ns.nowMillis()
		if dir == nil {
			// Create the missing parents, as mkdirs -p with u+wx.
			first, _ := p.lastExisting()
			for i := first; i < len(p.parts)-1; i++ {
				d := p.nodes[i]
				ns.lastInodeID++
				op := &nnpb.Op{Body: &nnpb.Op_Mkdir{Mkdir: &nnpb.Mkdir{
					Path: joinPath(p.parts[:i+1]), InodeId: ns.lastInodeID, Mtime: now,
					Perm: &nnpb.Perm{Owner: c.User, Group: ns.names.str(d.group), Mode: 0o777 | 0o300}}}}
				if _, err := ns.logApply(op); err != nil {
					return nil, err
				}
				p.nodes[i+1] = d.child(p.parts[i])
			}
			dir = p.nodes[len(p.parts)-1]
		}
		policy := a.StoragePolicy
		ns.lastInodeID++
		op := &nnpb.Op{Body: &nnpb.Op_AddFile{AddFile: &nnpb.AddFile{
			Path: a.Src, InodeId: ns.lastInodeID, Mtime: now,
			Perm:        &nnpb.Perm{Owner: c.User, Group: ns.names.str(dir.group), Mode: a.Mode},
			Replication: uint32(a.Replication), BlockSize: uint64(a.BlockSize),
			ClientName: a.ClientName, ClientMachine: c.Machine, Overwrite: old != nil,
			StoragePolicy: uint32(policy)}}}
		if _, err := ns.logApply(op); err != nil {
			return nil, err
		}
		n := dir.child(p.parts[len(p.parts)-1])
		return ns.status(n, ""), nil
	})
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case *FileStatus:
		return r, nil
	case *AppendResult:
		return r.Stat, nil
	}
	return nil, errorf(ExIO, "create %s: no result", a.Src)
}

// checkLeaseForCreate refuses to recreate or append to a file another
// writer holds, in Hadoop's words; an expired soft limit starts recovery.
func (ns *Namespace) checkLeaseForCreate(n *INode, src, client, machine, op string) error {
	if n.uc == nil {
		return nil
	}
	holder := n.uc.clientName
	if holder == client {
		return errorf(ExAlreadyBeingCreated, "Failed to %s %s for %s on %s because current leaseholder is trying to recreate file.", op, src, client, machine)
	}
	if l := ns.leases.get(holder); l != nil && ns.now().Sub(l.renewed) > ns.set.LeaseSoftLimit {
		// The writer stopped renewing: recover its lease now, as Hadoop
		// does past the soft limit; the caller proceeds if that closed it.
		ns.log.WithFields(map[string]any{"path": src, "holder": holder, "by": client}).Info("lease past its soft limit: recovering")
		closed, err := ns.releaseLeaseLocked(n)
		if err != nil {
			return err
		}
		if closed {
			return nil
		}
		return errorf(ExRecoveryInProgress, "Failed to %s %s for %s on %s because lease recovery is in progress. Try again later.", op, src, client, machine)
	}
	return errorf(ExAlreadyBeingCreated, "Failed to %s %s for %s on %s because this file lease is currently owned by %s on %s",
		op, src, client, machine, holder, n.uc.clientMachine)
}

// AppendResult is append's answer: the file's status and, when the last
// block has room, that block to continue writing.
type AppendResult struct {
	Stat      *FileStatus
	LastBlock *BlockInfo
}

// Append reopens a closed file for write by clientName.
func (ns *Namespace) Append(c *Caller, src, clientName string) (*AppendResult, error) {
	res, err := ns.write(c, "Cannot append to file"+src, func() (any, error) {
		p, err := ns.resolve(src)
		if err != nil {
			return nil, err
		}
		if err := ns.checkPerm(c, p, permCheck{access: accWrite}); err != nil {
			return nil, err
		}
		n := p.last()
		if n == nil {
			return nil, errNotFound("Failed to append to non-existent file %s for client %s", src, c.Machine)
		}
		if n.isDir {
			return nil, errNotFound("Failed to append to non-existent file %s for client %s: it is a directory", src, c.Machine)
		}
		if err := ns.checkLeaseForCreate(n, src, clientName, c.Machine, "APPEND_FILE"); err != nil {
			return nil, err
		}
		return ns.appendLocked(c, p, clientName)
	})
	if err != nil {
		return nil, err
	}
	r, ok := res.(*AppendResult)
	if !ok {
		return nil, errorf(ExIO, "no result")
	}
	return r, nil
}

func (ns *Namespace) appendLocked(c *Caller, p *iPath, clientName string) (*AppendResult, error) {
	op := &nnpb.Op{Body: &nnpb.Op_Append{Append: &nnpb.Append{Path: p.src, ClientName: clientName, ClientMachine: c.Machine}}}
	if _, err := ns.logApply(op); err != nil {
		return nil, err
	}
	n := p.last()
	r := &AppendResult{Stat: ns.status(n, "")}
	if b := n.lastBlock(); b != nil && b.State == BlockUnderConstruction {
		r.LastBlock = b
	}
	return r, nil
}

// Delete removes src; a non-empty directory needs recursive. A missing
// path or the root answers false.
func (ns *Namespace) Delete(c *Caller, src string, recursive bool) (bool, error) {
	return ns.writeBool(c, "Cannot delete "+src, func() (any, error) {
		p, err := ns.resolve(src)
		if err != nil {
			return nil, err
		}
		n := p.last()
		if n == nil {
			return false, ns.checkPerm(c, p, permCheck{})
		}
		if n.parent == nil {
			ns.log.WithField("path", src).Warn("delete of the root refused")
			return false, nil
		}
		if n.isDir && len(n.children) > 0 && !recursive {
			return nil, errorf(ExPathIsNotEmptyDir, "`%s is non empty': Directory is not empty", src)
		}
		pc := permCheck{parent: accWrite | accExecute}
		if recursive && n.isDir {
			pc.sub = accRead | accWrite | accExecute
		}
		if err := ns.checkPerm(c, p, pc); err != nil {
			return nil, err
		}
		if err := ns.checkSticky(c, p.parent(), n); err != nil {
			return nil, err
		}
		op := &nnpb.Op{Body: &nnpb.Op_Delete{Delete: &nnpb.Delete{Path: src, Mtime: ns.nowMillis()}}}
		if _, err := ns.logApply(op); err != nil {
			return nil, err
		}
		return true, nil
	})
}

// Rename is the old rename: failures answer false rather than an
// exception, and an existing directory destination means "move into".
func (ns *Namespace) Rename(c *Caller, src, dst string) (bool, error) {
	return ns.writeBool(c, "Cannot rename "+src, func() (any, error) {
		dp, err := ns.resolve(dst)
		if err != nil {
			return nil, err
		}
		if d := dp.last(); d != nil && d.isDir {
			sp, err := splitPath(src)
			if err != nil {
				return nil, err
			}
			if len(sp) > 0 {
				dst = strings.TrimRight(dst, "/") + "/" + sp[len(sp)-1]
			}
		}
		err = ns.renameLocked(c, src, dst, false)
		if err == nil {
			return true, nil
		}
		if e, ok := err.(*Error); ok && e.Class != ExAccessControl && e.Class != ExSafeMode && e.Class != ExInvalidPath {
			ns.log.WithFields(map[string]any{"src": src, "dst": dst, "reason": e.Msg}).Debug("rename failed")
			return false, nil
		}
		return nil, err
	})
}

// Rename2 is rename with Hadoop's Options.Rename semantics: exceptions
// for every failure and OVERWRITE to replace a file or empty directory.
func (ns *Namespace) Rename2(c *Caller, src, dst string, overwrite bool) error {
	_, err := ns.write(c, "Cannot rename "+src, func() (any, error) {
		return nil, ns.renameLocked(c, src, dst, overwrite)
	})
	return err
}

func (ns *Namespace) renameLocked(c *Caller, src, dst string, overwrite bool) error {
	sp, err := ns.resolve(src)
	if err != nil {
		return err
	}
	dp, err := ns.resolve(dst)
	if err != nil {
		return err
	}
	if err := ns.checkPerm(c, sp, permCheck{parent: accWrite}); err != nil {
		return err
	}
	if err := ns.checkPerm(c, dp, permCheck{parent: accWrite}); err != nil {
		return err
	}
	s := sp.last()
	if s == nil {
		return errNotFound("rename source %s is not found.", src)
	}
	if s.parent == nil {
		return errorf(ExIO, "rename source cannot be the root")
	}
	if len(dp.parts) == 0 {
		return errorf(ExIO, "rename destination cannot be the root")
	}
	if sp.src == dp.src || joinPath(sp.parts) == joinPath(dp.parts) {
		if s.isDir {
			return errorf(ExFileAlreadyExists, "The source %s and destination %s are the same", src, dst)
		}
		return errorf(ExFileAlreadyExists, "The source %s and destination %s are the same", src, dst)
	}
	if strings.HasPrefix(joinPath(dp.parts)+"/", joinPath(sp.parts)+"/") {
		return errorf(ExIO, "Rename destination %s is a directory or file under source %s", dst, src)
	}
	if err := ns.checkSticky(c, sp.parent(), s); err != nil {
		return err
	}
	dparent := dp.parent()
	if dparent == nil {
		if _, e := dp.lastExisting(); e != nil && !e.isDir {
			return errorf(ExParentNotDirectory, "rename destination parent %s is a file.", e.fullPath())
		}
		return errNotFound("rename destination parent %s not found.", parentPath(dp.parts))
	}
	if !dparent.isDir {
		return errorf(ExParentNotDirectory, "rename destination parent %s is a file.", parentPath(dp.parts))
	}
	if d := dp.last(); d != nil {
		if !overwrite {
			return errorf(ExFileAlreadyExists, "rename destination %s already exists.", dst)
		}
		if d.isDir != s.isDir {
			if s.isDir {
				return errorf(ExIO, "Source %s is a directory but destination %s is a file.", src, dst)
			}
			return errorf(ExIO, "Source %s is a file but destination %s is a directory.", src, dst)
		}
		if d.isDir && len(d.children) > 0 {
			return errorf(ExIO, "rename destination directory is not empty: %s", dst)
		}
		if err := ns.checkSticky(c, dparent, d); err != nil {
			return err
		}
	} else if err := ns.checkName(dp.parts[len(dp.parts)-1], dparent); err != nil {
		return err
	}
	op := &nnpb.Op{Body: &nnpb.Op_Rename{Rename: &nnpb.Rename{
		Src: joinPath(sp.parts), Dst: joinPath(dp.parts), Mtime: ns.nowMillis(), Overwrite: overwrite}}}
	_, err = ns.logApply(op)
	return err
}

// SetPermission changes mode bits; only the owner or the superuser may.
func (ns *Namespace) SetPermission(c *Caller, src string, mode uint32) error {
	_, err := ns.write(c, "Cannot set permission for "+src, func() (any, error) {
		p, err := ns.existing(c, src, permCheck{owner: true})
		if err != nil {
			return nil, err
		}
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetPermission{SetPermission: &nnpb.SetPermission{Path: joinPath(p.parts), Mode: mode}}})
		return nil, err
	})
	return err
}

// existing resolves src, checks pc and fails with FileNotFound when src
// does not exist.
func (ns *Namespace) existing(c *Caller, src string, pc permCheck) (*iPath, error) {
	p, err := ns.resolve(src)
	if err != nil {
		return nil, err
	}
	if p.last() == nil {
		if err := ns.checkPerm(c, p, permCheck{}); err != nil {
			return nil, err
		}
		return nil, errNotFound("File does not exist: %s", src)
	}
	if err := ns.checkPerm(c, p, pc); err != nil {
		return nil, err
	}
	return p, nil
}

// SetOwner changes owner and/or group. Only the superuser changes the
// owner; the owner may change the group to one of their own groups.
func (ns *Namespace) SetOwner(c *Caller, src, owner, group string) error {
	_, err := ns.write(c, "Cannot set owner for "+src, func() (any, error) {
		p, err := ns.existing(c, src, permCheck{owner: true})
		if err != nil {
			return nil, err
		}
		if !ns.isSuper(c) {
			n := p.last()
			if owner != "" && owner != ns.names.str(n.owner) {
				return nil, errorf(ExAccessControl, "User %s is not a super user (non-super user cannot change owner).", c.User)
			}
			if group != "" && group != ns.names.str(n.group) {
				member := false
				for _, g := range ns.groupsOf(c) {
					member = member || g == group
				}
				if !member {
					return nil, errorf(ExAccessControl, "User %s does not belong to %s", c.User, group)
				}
			}
		}
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetOwner{SetOwner: &nnpb.SetOwner{Path: joinPath(p.parts), Owner: owner, Group: group}}})
		return nil, err
	})
	return err
}

// SetTimes sets mtime and atime (-1 leaves one as it is); it needs write
// access to the inode.
func (ns *Namespace) SetTimes(c *Caller, src string, mtime, atime int64) error {
	_, err := ns.write(c, "Cannot set times "+src, func() (any, error) {
		p, err := ns.existing(c, src, permCheck{access: accWrite})
		if err != nil {
			return nil, err
		}
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetTimes{SetTimes: &nnpb.SetTimes{Path: joinPath(p.parts), Mtime: mtime, Atime: atime}}})
		return nil, err
	})
	return err
}

// SetReplication changes a file's target replication; a directory or a
// missing path answers false.
func (ns *Namespace) SetReplication(c *Caller, src string, r int) (bool, error) {
	return ns.writeBool(c, "Cannot set replication for "+src, func() (any, error) {
		if err := ns.checkReplication(r, src); err != nil {
			return nil, err
		}
		p, err := ns.resolve(src)
		if err != nil {
			return nil, err
		}
		if err := ns.checkPerm(c, p, permCheck{access: accWrite}); err != nil {
			return nil, err
		}
		n := p.last()
		if n == nil || n.isDir {
			return false, nil
		}
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetReplication{SetReplication: &nnpb.SetReplication{Path: joinPath(p.parts), Replication: uint32(r)}}})
		return true, err
	})
}

// SetStoragePolicy tags an inode with a block storage policy id.
func (ns *Namespace) SetStoragePolicy(c *Caller, src string, policy uint8) error {
	_, err := ns.write(c, "Cannot set storage policy for "+src, func() (any, error) {
		p, err := ns.existing(c, src, permCheck{access: accWrite})
		if err != nil {
			return nil, err
		}
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetStoragePolicy{SetStoragePolicy: &nnpb.SetStoragePolicy{Path: joinPath(p.parts), Policy: uint32(policy)}}})
		return nil, err
	})
	return err
}
