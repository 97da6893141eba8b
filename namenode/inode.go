package namenode

import (
	"sort"
)

// Hadoop's reserved ids: the root directory is inode 16385, the first
// block id is 2^30 + 1 and the first generation stamp 1001.
const (
	RootInodeID     = 16385
	firstBlockID    = 1 << 30
	firstGenStamp   = 1000
	defaultDirMode  = 0o755
	stickyBit       = 0o1000
	modeMask        = 0o1777
	maxPathDepth    = 1000
	maxListingLimit = 1000
)

// Block states, as Hadoop's BlockUCState.
const (
	BlockComplete uint8 = iota
	BlockCommitted
	BlockUnderConstruction
	BlockUnderRecovery
)

// BlockInfo is a block of a file: id, generation stamp, length, state and
// the file it belongs to. The block manager will hang replicas on it.
type BlockInfo struct {
	ID       uint64
	GenStamp uint64
	NumBytes uint64
	State    uint8
	inode    *INode
}

// underConstruction marks a file open for write: who holds its lease.
type underConstruction struct {
	clientName    string
	clientMachine string
}

// XAttr is an extended attribute: Hadoop namespace number, name, value.
type XAttr struct {
	NS    uint32
	Name  string
	Value []byte
}

// INode is a file or directory. The struct is kept small (it is counted
// per file in the memory budget): owner and group are string-table indices,
// directories keep children sorted by name for binary search.
type INode struct {
	id          uint64
	parent      *INode
	name        string
	mtime       int64
	atime       int64
	children    []*INode
	blocks      []*BlockInfo
	blockSize   int64
	uc          *underConstruction
	xattrs      *[]XAttr
	owner       uint32
	group       uint32
	mode        uint16
	replication uint16
	isDir       bool
	policy      uint8
}

// ID is the inode id (Hadoop's fileId).
func (n *INode) ID() uint64 { return n.id }

// IsDir tells a directory from a file.
func (n *INode) IsDir() bool { return n.isDir }

// length is the sum of the file's block lengths.
func (n *INode) length() uint64 {
	var l uint64
	for _, b := range n.blocks {
		l += b.NumBytes
	}
	return l
}

// childIndex finds name among the sorted children: its index and whether
// it is there.
func (n *INode) childIndex(name string) (int, bool) {
	i := sort.Search(len(n.children), func(i int) bool { return n.children[i].name >= name })
	return i, i < len(n.children) && n.children[i].name == name
}

func (n *INode) child(name string) *INode {
	if i, ok := n.childIndex(name); ok {
		return n.children[i]
	}
	return nil
}

func (n *INode) addChild(c *INode) {
	i, _ := n.childIndex(c.name)
	n.children = append(n.children, nil)
	copy(n.children[i+1:], n.children[i:])
	n.children[i] = c
	c.parent = n
}

func (n *INode) removeChild(c *INode) {
	if i, ok := n.childIndex(c.name); ok && n.children[i] == c {
		copy(n.children[i:], n.children[i+1:])
		n.children[len(n.children)-1] = nil
		n.children = n.children[:len(n.children)-1]
	}
}

// fullPath renders the inode's absolute path.
func (n *INode) fullPath() string {
	if n.parent == nil {
		return "/"
	}
	var parts []string
	for x := n; x.parent != nil; x = x.parent {
		parts = append(parts, x.name)
	}
	size := 0
	for _, p := range parts {
		size += len(p) + 1
	}
	buf := make([]byte, 0, size)
	for i := len(parts) - 1; i >= 0; i-- {
		buf = append(buf, '/')
		buf = append(buf, parts[i]...)
	}
	return string(buf)
}

func (n *INode) getXAttrs() []XAttr {
	if n.xattrs == nil {
		return nil
	}
	return *n.xattrs
}

// lastBlock is the file's last block or nil.
func (n *INode) lastBlock() *BlockInfo {
	if len(n.blocks) == 0 {
		return nil
	}
	return n.blocks[len(n.blocks)-1]
}

// stringTable interns owner and group names, so an inode stores two
// uint32s instead of two strings.
type stringTable struct {
	list []string
	idx  map[string]uint32
}

func newStringTable() *stringTable {
	return &stringTable{idx: map[string]uint32{}}
}

func (t *stringTable) id(s string) uint32 {
	if i, ok := t.idx[s]; ok {
		return i
	}
	i := uint32(len(t.list))
	t.list = append(t.list, s)
	t.idx[s] = i
	return i
}

func (t *stringTable) str(i uint32) string {
	if int(i) < len(t.list) {
		return t.list[i]
	}
	return ""
}
