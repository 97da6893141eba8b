package namenode

import (
	"github.com/avatarfs/avatarfs/namenode/nnpb"
)

// XAttr namespaces, as Hadoop's XAttrNamespaceProto.
const (
	XAttrUser     = 0
	XAttrTrusted  = 1
	XAttrSecurity = 2
	XAttrSystem   = 3
	XAttrRaw      = 4
)

// XAttr set flags, as XAttrSetFlagProto.
const (
	XAttrCreate  = 1
	XAttrReplace = 2
)

var xattrPrefixes = [...]string{"user.", "trusted.", "security.", "system.", "raw."}

const unreadableBySuperuser = "hdfs.unreadable.by.superuser"

// PrefixedName is the xattr's full name as users write it ("user.a").
func (x XAttr) PrefixedName() string {
	if int(x.NS) < len(xattrPrefixes) {
		return xattrPrefixes[x.NS] + x.Name
	}
	return x.Name
}

func (ns *Namespace) checkXAttrsEnabled() error {
	if !ns.set.XAttrsEnabled {
		return errorf(ExIO, "The XAttr operation has been rejected.  Support for XAttrs has been disabled by setting dfs.namenode.xattrs.enabled to false.")
	}
	return nil
}

// checkXAttrAPI is Hadoop's rule for which namespaces a client may touch:
// user always, trusted for the superuser, security only for the one
// unreadable-by-superuser flag; system and raw never (no /.reserved/raw).
func (ns *Namespace) checkXAttrAPI(c *Caller, x XAttr) error {
	switch {
	case x.NS == XAttrUser:
		return nil
	case x.NS == XAttrTrusted && ns.isSuper(c):
		return nil
	case x.NS == XAttrSecurity && x.Name == unreadableBySuperuser:
		return nil
	}
	return errorf(ExAccessControl, "User doesn't have permission for xattr: %s", x.PrefixedName())
}

func (ns *Namespace) visibleXAttr(c *Caller, x XAttr) bool {
	return x.NS == XAttrUser || (x.NS == XAttrTrusted && ns.isSuper(c)) ||
		(x.NS == XAttrSecurity && x.Name == unreadableBySuperuser)
}

func validXAttr(x XAttr) error {
	if x.NS > XAttrRaw {
		return errorf(ExIllegalArgument, "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'")
	}
	if x.Name == "" {
		return errorf(ExIllegalArgument, "XAttr name cannot be empty.")
	}
	return nil
}

// GetXAttrs returns the named xattrs of src (all visible ones when names
// is empty); a requested one that is missing is an error, as in Hadoop.
func (ns *Namespace) GetXAttrs(c *Caller, src string, names []XAttr) ([]XAttr, error) {
	if err := ns.checkXAttrsEnabled(); err != nil {
		return nil, err
	}
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	for _, x := range names {
		if err := validXAttr(x); err != nil {
			return nil, err
		}
		if err := ns.checkXAttrAPI(c, x); err != nil {
			return nil, err
		}
	}
	p, err := ns.existing(c, src, permCheck{access: accRead})
	if err != nil {
		return nil, err
	}
	have := p.last().getXAttrs()
	var out []XAttr
	if len(names) == 0 {
		for _, x := range have {
			if ns.visibleXAttr(c, x) {
				out = append(out, x)
			}
		}
		return out, nil
	}
	for _, want := range names {
		found := false
		for _, x := range have {
			if x.NS == want.NS && x.Name == want.Name {
				out, found = append(out, x), true
				break
			}
		}
		if !found {
			return nil, errorf(ExIO, "At least one of the attributes provided was not found.")
		}
	}
	return out, nil
}

// ListXAttrs returns the names (values empty) of src's visible xattrs.
func (ns *Namespace) ListXAttrs(c *Caller, src string) ([]XAttr, error) {
	if err := ns.checkXAttrsEnabled(); err != nil {
		return nil, err
	}
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	p, err := ns.existing(c, src, permCheck{access: accRead})
	if err != nil {
		return nil, err
	}
	var out []XAttr
	for _, x := range p.last().getXAttrs() {
		if ns.visibleXAttr(c, x) {
			out = append(out, XAttr{NS: x.NS, Name: x.Name})
		}
	}
	return out, nil
}

// checkXAttrChange is write access plus the sticky-bit owner rule.
func (ns *Namespace) checkXAttrChange(c *Caller, p *iPath) error {
	n := p.last()
	if n.isDir && n.mode&stickyBit != 0 && !ns.isSuper(c) && ns.names.str(n.owner) != c.User {
		return errorf(ExAccessControl, "Can't set/remove xattr on directory %s with sticky bit: user=%s is not the owner", p.src, c.User)
	}
	return nil
}

// SetXAttr adds or replaces one xattr, following the CREATE/REPLACE flags.
func (ns *Namespace) SetXAttr(c *Caller, src string, x XAttr, flags uint32) error {
	if err := ns.checkXAttrsEnabled(); err != nil {
		return err
	}
	if err := validXAttr(x); err != nil {
		return err
	}
	if size := len(x.PrefixedName()) + len(x.Value); size > ns.set.MaxXAttrSize && ns.set.MaxXAttrSize > 0 {
		return errorf(ExIllegalArgument, "The XAttr is too big. The maximum combined size of the name and value is %d, but the total size is %d", ns.set.MaxXAttrSize, size)
	}
	_, err := ns.write(c, "Cannot set XAttr on "+src, func() (any, error) {
		if err := ns.checkXAttrAPI(c, x); err != nil {
			return nil, err
		}
		p, err := ns.existing(c, src, permCheck{access: accWrite})
		if err != nil {
			return nil, err
		}
		if err := ns.checkXAttrChange(c, p); err != nil {
			return nil, err
		}
		exists, visible := false, 0
		for _, h := range p.last().getXAttrs() {
			if h.NS == x.NS && h.Name == x.Name {
				exists = true
			}
			if h.NS != XAttrSystem && h.NS != XAttrRaw {
				visible++
			}
		}
		if exists && flags&XAttrReplace == 0 {
			return nil, errorf(ExIO, "XAttr: %s already exists. The REPLACE flag must be specified.", x.PrefixedName())
		}
		if !exists && flags&XAttrCreate == 0 {
			return nil, errorf(ExIO, "XAttr: %s does not exist. The CREATE flag must be specified.", x.PrefixedName())
		}
		if !exists && ns.set.MaxXAttrsPerInode > 0 && visible >= ns.set.MaxXAttrsPerInode {
			return nil, errorf(ExIO, "Cannot add additional XAttr to inode, would exceed limit of %d", ns.set.MaxXAttrsPerInode)
		}
		if x.Value == nil {
			x.Value = []byte{}
		}
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_SetXattr{SetXattr: &nnpb.SetXAttr{Path: joinPath(p.parts), Xattr: xattrToPB(x)}}})
		return nil, err
	})
	return err
}

// RemoveXAttr deletes one xattr.
func (ns *Namespace) RemoveXAttr(c *Caller, src string, x XAttr) error {
	if err := ns.checkXAttrsEnabled(); err != nil {
		return err
	}
	if err := validXAttr(x); err != nil {
		return err
	}
	_, err := ns.write(c, "Cannot remove XAttr entry on "+src, func() (any, error) {
		if err := ns.checkXAttrAPI(c, x); err != nil {
			return nil, err
		}
		p, err := ns.existing(c, src, permCheck{access: accWrite})
		if err != nil {
			return nil, err
		}
		if err := ns.checkXAttrChange(c, p); err != nil {
			return nil, err
		}
		found := false
		for _, h := range p.last().getXAttrs() {
			found = found || (h.NS == x.NS && h.Name == x.Name)
		}
		if !found {
			return nil, errorf(ExIO, "No matching attributes found for remove operation")
		}
		_, err = ns.logApply(&nnpb.Op{Body: &nnpb.Op_RemoveXattr{RemoveXattr: &nnpb.RemoveXAttr{Path: joinPath(p.parts), Xattr: xattrToPB(x)}}})
		return nil, err
	})
	return err
}
