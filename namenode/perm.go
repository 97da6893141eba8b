package namenode

import (
	"os/user"
	"sync"
)

// Access bits as Hadoop's FsAction.
const (
	accExecute = 1
	accWrite   = 2
	accRead    = 4
)

var accNames = [8]string{"NONE", "EXECUTE", "WRITE", "WRITE_EXECUTE", "READ", "READ_EXECUTE", "READ_WRITE", "ALL"}

// iPath is a resolved path: the components and the inode for each prefix
// (nodes[0] is the root, nodes[i] the inode of parts[:i]); a missing
// component and everything after it is nil.
type iPath struct {
	src   string
	parts []string
	nodes []*INode
}

func (p *iPath) last() *INode { return p.nodes[len(p.nodes)-1] }

func (p *iPath) parent() *INode {
	if len(p.nodes) < 2 {
		return nil
	}
	return p.nodes[len(p.nodes)-2]
}

// lastExisting is the deepest inode that exists on the path.
func (p *iPath) lastExisting() (int, *INode) {
	for i := len(p.nodes) - 1; i >= 0; i-- {
		if p.nodes[i] != nil {
			return i, p.nodes[i]
		}
	}
	return 0, p.nodes[0]
}

// resolve walks a path. A file in the middle of the path is returned as
// the last existing inode, and the rest are nil; callers decide whether
// that is ParentNotDirectory or not-found.
func (ns *Namespace) resolve(src string) (*iPath, error) {
	parts, err := splitPath(src)
	if err != nil {
		return nil, err
	}
	if len(parts) > maxPathDepth {
		return nil, errorf(ExIO, "Path %s is too deep", src)
	}
	p := &iPath{src: src, parts: parts, nodes: make([]*INode, len(parts)+1)}
	n := ns.root
	p.nodes[0] = n
	for i, name := range parts {
		if n == nil || !n.isDir {
			break
		}
		n = n.child(name)
		p.nodes[i+1] = n
	}
	return p, nil
}

// modeString renders a mode as ls does: drwxr-xr-x, with t/T for sticky.
func modeString(isDir bool, mode uint16) string {
	b := []byte("-rwxrwxrwx")
	if isDir {
		b[0] = 'd'
	}
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	if mode&stickyBit != 0 {
		if b[9] == 'x' {
			b[9] = 't'
		} else {
			b[9] = 'T'
		}
	}
	return string(b)
}

func (ns *Namespace) denied(c *Caller, access int, n *INode) error {
	return errorf(ExAccessControl, "Permission denied: user=%s, access=%s, inode=\"%s\":%s:%s:%s",
		c.User, accNames[access&7], n.fullPath(), ns.names.str(n.owner), ns.names.str(n.group),
		modeString(n.isDir, n.mode))
}

// hasAccess applies the owner/group/other bits of n to c.
func (ns *Namespace) hasAccess(c *Caller, n *INode, access int) bool {
	if ns.names.str(n.owner) == c.User {
		return int(n.mode>>6)&access == access
	}
	grp := ns.names.str(n.group)
	for _, g := range ns.groupsOf(c) {
		if g == grp {
			return int(n.mode>>3)&access == access
		}
	}
	return int(n.mode)&access == access
}

func (ns *Namespace) checkAccess(c *Caller, n *INode, access int) error {
	if access == 0 || n == nil || ns.isSuper(c) || ns.hasAccess(c, n, access) {
		return nil
	}
	return ns.denied(c, access, n)
}

// permCheck says what a request needs, as Hadoop's checkPermission
// arguments: traverse (EXECUTE on every ancestor) is always checked.
type permCheck struct {
	owner    bool // caller must own the inode
	ancestor int  // on the deepest existing ancestor
	parent   int  // on the parent
	access   int  // on the inode itself
	sub      int  // on every directory of the subtree
}

func (ns *Namespace) checkPerm(c *Caller, p *iPath, pc permCheck) error {
	if ns.isSuper(c) {
		return nil
	}
	n := len(p.nodes)
	// traverse: every existing directory above the last component.
	for i := 0; i < n-1 && p.nodes[i] != nil && p.nodes[i].isDir; i++ {
		if err := ns.checkAccess(c, p.nodes[i], accExecute); err != nil {
			return err
		}
	}
	if pc.ancestor != 0 {
		idx := n - 2
		for idx > 0 && p.nodes[idx] == nil {
			idx--
		}
		if idx >= 0 {
			if err := ns.checkAccess(c, p.nodes[idx], pc.ancestor); err != nil {
				return err
			}
		}
	}
	if pc.parent != 0 && n >= 2 {
		if err := ns.checkAccess(c, p.nodes[n-2], pc.parent); err != nil {
			return err
		}
	}
	last := p.last()
	if pc.access != 0 {
		if err := ns.checkAccess(c, last, pc.access); err != nil {
			return err
		}
	}
	if pc.owner && last != nil && ns.names.str(last.owner) != c.User {
		return errorf(ExAccessControl, "Permission denied. user=%s is not the owner of inode=%s", c.User, p.src)
	}
	if pc.sub != 0 && last != nil && last.isDir {
		return ns.checkSubAccess(c, last, pc.sub)
	}
	return nil
}

func (ns *Namespace) checkSubAccess(c *Caller, dir *INode, access int) error {
	if err := ns.checkAccess(c, dir, access); err != nil {
		return err
	}
	for _, ch := range dir.children {
		if ch.isDir {
			if err := ns.checkSubAccess(c, ch, access); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSticky enforces the sticky bit on a parent directory: only the
// owner of the entry or of the directory may remove or rename it.
func (ns *Namespace) checkSticky(c *Caller, parent, n *INode) error {
	if parent == nil || n == nil || parent.mode&stickyBit == 0 || ns.isSuper(c) {
		return nil
	}
	if ns.names.str(parent.owner) == c.User || ns.names.str(n.owner) == c.User {
		return nil
	}
	return errorf(ExAccessControl, "Permission denied by sticky bit: user=%s, path=\"%s\":%s:%s:%s, parent=\"%s\":%s:%s:%s",
		c.User, n.fullPath(), ns.names.str(n.owner), ns.names.str(n.group), modeString(n.isDir, n.mode),
		parent.fullPath(), ns.names.str(parent.owner), ns.names.str(parent.group), modeString(true, parent.mode))
}

var groupCache sync.Map // user -> []string

// osGroups maps a user to the groups the NameNode host knows for it, as
// Hadoop's default ShellBasedUnixGroupsMapping does; unknown users have
// none.
func osGroups(name string) []string {
	if v, ok := groupCache.Load(name); ok {
		return v.([]string)
	}
	var out []string
	if u, err := user.Lookup(name); err == nil {
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := user.LookupGroupId(id); err == nil {
					out = append(out, g.Name)
				}
			}
		}
	}
	if out == nil {
		out = []string{}
	}
	groupCache.Store(name, out)
	return out
}
