package namenode

import (
	"bytes"
	"sort"
)

// FileStatus is what getFileInfo and getListing report for an inode.
type FileStatus struct {
	Name          string
	IsDir         bool
	Length        uint64
	Mode          uint16
	Owner, Group  string
	Mtime, Atime  int64
	Replication   uint16
	BlockSize     int64
	FileID        uint64
	ChildrenNum   int32
	StoragePolicy uint8
}

func (ns *Namespace) status(n *INode, name string) *FileStatus {
	st := &FileStatus{Name: name, IsDir: n.isDir, Mode: n.mode,
		Owner: ns.names.str(n.owner), Group: ns.names.str(n.group),
		Mtime: n.mtime, Atime: n.atime, FileID: n.id, StoragePolicy: n.policy}
	if n.isDir {
		st.ChildrenNum = int32(len(n.children))
	} else {
		st.Length = n.length()
		st.Replication = n.replication
		st.BlockSize = n.blockSize
	}
	return st
}

// GetFileInfo returns the status of src, or nil when it does not exist
// (Hadoop answers a missing path with an empty reply, not an exception).
func (ns *Namespace) GetFileInfo(c *Caller, src string) (*FileStatus, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	p, err := ns.resolve(src)
	if err != nil {
		return nil, err
	}
	if err := ns.checkPerm(c, p, permCheck{}); err != nil {
		return nil, err
	}
	n := p.last()
	if n == nil {
		return nil, nil
	}
	return ns.status(n, ""), nil
}

// Listing is one page of getListing.
type Listing struct {
	Entries   []*FileStatus
	Remaining int
}

// GetListing lists up to dfs.ls.limit entries of src after startAfter
// (byte order, which need not name an existing entry). A file lists as
// itself; a missing path gives nil.
func (ns *Namespace) GetListing(c *Caller, src string, startAfter []byte) (*Listing, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	p, err := ns.resolve(src)
	if err != nil {
		return nil, err
	}
	n := p.last()
	if n == nil {
		if err := ns.checkPerm(c, p, permCheck{}); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if !n.isDir {
		if err := ns.checkPerm(c, p, permCheck{}); err != nil {
			return nil, err
		}
		return &Listing{Entries: []*FileStatus{ns.status(n, "")}}, nil
	}
	if err := ns.checkPerm(c, p, permCheck{access: accRead | accExecute}); err != nil {
		return nil, err
	}
	start := 0
	if len(startAfter) > 0 {
		start = sort.Search(len(n.children), func(i int) bool {
			return bytes.Compare([]byte(n.children[i].name), startAfter) > 0
		})
	}
	limit := ns.set.ListLimit
	if limit <= 0 || limit > maxListingLimit*10 {
		limit = maxListingLimit
	}
	end := start + limit
	if end > len(n.children) {
		end = len(n.children)
	}
	l := &Listing{Entries: make([]*FileStatus, 0, end-start), Remaining: len(n.children) - end}
	for _, ch := range n.children[start:end] {
		l.Entries = append(l.Entries, ns.status(ch, ch.name))
	}
	return l, nil
}

// ContentSummary is getContentSummary's answer.
type ContentSummary struct {
	Length, FileCount, DirectoryCount, SpaceConsumed uint64
}

// GetContentSummary totals a subtree.
func (ns *Namespace) GetContentSummary(c *Caller, src string) (*ContentSummary, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	p, err := ns.resolve(src)
	if err != nil {
		return nil, err
	}
	if err := ns.checkPerm(c, p, permCheck{sub: accRead | accExecute}); err != nil {
		return nil, err
	}
	n := p.last()
	if n == nil {
		return nil, errNotFound("File does not exist: %s", src)
	}
	cs := &ContentSummary{}
	var walk func(*INode)
	walk = func(n *INode) {
		if n.isDir {
			cs.DirectoryCount++
			for _, ch := range n.children {
				walk(ch)
			}
			return
		}
		cs.FileCount++
		l := n.length()
		cs.Length += l
		cs.SpaceConsumed += l * uint64(n.replication)
	}
	walk(n)
	return cs, nil
}

// fileForRead resolves src to an existing file for the read-side calls.
func (ns *Namespace) fileForRead(c *Caller, src string, pc permCheck) (*INode, error) {
	p, err := ns.resolve(src)
	if err != nil {
		return nil, err
	}
	if err := ns.checkPerm(c, p, pc); err != nil {
		return nil, err
	}
	n := p.last()
	if n == nil {
		return nil, errNotFound("File does not exist: %s", src)
	}
	if n.isDir {
		return nil, errNotFound("Path is not a file: %s", src)
	}
	return n, nil
}

// GetPreferredBlockSize is the file's block size.
func (ns *Namespace) GetPreferredBlockSize(c *Caller, src string) (int64, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	n, err := ns.fileForRead(c, src, permCheck{})
	if err != nil {
		return 0, err
	}
	return n.blockSize, nil
}

// IsFileClosed tells whether a file has no writer.
func (ns *Namespace) IsFileClosed(c *Caller, src string) (bool, error) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	n, err := ns.fileForRead(c, src, permCheck{})
	if err != nil {
		return false, err
	}
	return n.uc == nil, nil
}

// Stats are the namespace's counters for getFsStats and reports.
type Stats struct {
	Files, Dirs, Blocks, OpenFiles int
}

// Stats counts inodes and blocks.
func (ns *Namespace) Stats() Stats {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	s := Stats{Blocks: len(ns.blocks), OpenFiles: ns.leases.count()}
	for _, n := range ns.inodes {
		if n.isDir {
			s.Dirs++
		} else {
			s.Files++
		}
	}
	return s
}
