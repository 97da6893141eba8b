package rack

import (
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// Hadoop StorageTypeProto numbers, for Node.StorageTypes and
// Request.StorageType.
const (
	StorageDisk    = 1
	StorageSSD     = 2
	StorageArchive = 3
	StorageRAMDisk = 4
)

// Node is a DataNode as the topology and the placement policies see it.
//
// The Topology keeps the pointer it is given. Its fields may be changed by
// the caller between calls as long as the caller serialises those changes
// with its own calls into the Topology (or uses Topology.Update); Rack must
// only change through Update or a new Add, since the topology indexes it.
type Node struct {
	ID        string // DataNode uuid (unique key)
	Addr      string // transfer address ip:port
	Host, IP  string
	Rack      string // network location, e.g. /dc1/rack1; "" means DefaultRack
	Remaining uint64 // free bytes, for the "has room" check
	Load      int    // active transfers (xceivers), for load avoidance
	// StorageTypes lists the Hadoop StorageTypeProto numbers the node has
	// (DISK=1, SSD=2, ARCHIVE=3, RAM_DISK=4). Empty means DISK only.
	StorageTypes []int
	// Decommissioning nodes are never chosen as targets; Stale nodes only
	// when no alternative exists.
	Decommissioning, Stale bool
}

// HasStorageType reports whether the node offers storage type st (0 = any).
func (n *Node) HasStorageType(st int) bool {
	if st == 0 {
		return true
	}
	if len(n.StorageTypes) == 0 {
		return st == StorageDisk
	}
	for _, t := range n.StorageTypes {
		if t == st {
			return true
		}
	}
	return false
}

// String names the node for logs: its address, else its ID.
func (n *Node) String() string {
	if n == nil {
		return "<nil>"
	}
	if n.Addr != "" {
		return n.Addr
	}
	return n.ID
}

// entry is a node's place in the indexes.
type entry struct {
	n      *Node
	rack   string // the rack it is indexed under
	ai, ri int    // positions in Topology.all and in its rack's slice
}

// Topology is the cluster as a tree of data centres, racks and nodes (the
// rack path gives the inner levels, the node is the leaf). It is safe for
// concurrent use. Leaves at different depths are accepted; distances are
// still the number of edges to the closest common ancestor.
type Topology struct {
	mu    sync.RWMutex
	nodes map[string]*entry
	all   []*Node
	racks map[string][]*Node
}

// NewTopology returns an empty topology.
func NewTopology() *Topology {
	return &Topology{nodes: map[string]*entry{}, racks: map[string][]*Node{}}
}

// Add inserts n, replacing any node with the same ID (it may have moved
// racks). An empty Rack is set to DefaultRack.
func (t *Topology) Add(n *Node) {
	if n == nil {
		return
	}
	if n.Rack == "" {
		n.Rack = DefaultRack
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.nodes[n.ID]; ok {
		t.unindex(e)
	}
	t.index(n)
}

// Remove drops the node with this ID, if present.
func (t *Topology) Remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.nodes[id]; ok {
		t.unindex(e)
	}
}

// Update runs fn on the node with this ID under the topology's write lock
// and re-indexes it if fn moved it to another rack. It reports whether the
// node exists.
func (t *Topology) Update(id string, fn func(n *Node)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.nodes[id]
	if !ok {
		return false
	}
	fn(e.n)
	if e.n.Rack == "" {
		e.n.Rack = DefaultRack
	}
	if e.n.Rack != e.rack {
		t.unindex(e)
		t.index(e.n)
	}
	return true
}

func (t *Topology) index(n *Node) {
	e := &entry{n: n, rack: n.Rack, ai: len(t.all), ri: len(t.racks[n.Rack])}
	t.all = append(t.all, n)
	t.racks[n.Rack] = append(t.racks[n.Rack], n)
	t.nodes[n.ID] = e
}

func (t *Topology) unindex(e *entry) {
	last := len(t.all) - 1
	if e.ai != last {
		moved := t.all[last]
		t.all[e.ai] = moved
		t.nodes[moved.ID].ai = e.ai
	}
	t.all[last] = nil
	t.all = t.all[:last]

	rs := t.racks[e.rack]
	last = len(rs) - 1
	if e.ri != last {
		moved := rs[last]
		rs[e.ri] = moved
		t.nodes[moved.ID].ri = e.ri
	}
	rs[last] = nil
	if last == 0 {
		delete(t.racks, e.rack)
	} else {
		t.racks[e.rack] = rs[:last]
	}
	delete(t.nodes, e.n.ID)
}

// Get returns the node with this ID, or nil.
func (t *Topology) Get(id string) *Node {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e, ok := t.nodes[id]; ok {
		return e.n
	}
	return nil
}

// Len is the number of nodes.
func (t *Topology) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.all)
}

// Nodes lists every node, sorted by ID.
func (t *Topology) Nodes() []*Node {
	t.mu.RLock()
	out := append([]*Node(nil), t.all...)
	t.mu.RUnlock()
	sortByID(out)
	return out
}

// Racks lists the racks that hold at least one node, sorted.
func (t *Topology) Racks() []string {
	t.mu.RLock()
	out := make([]string, 0, len(t.racks))
	for r := range t.racks {
		out = append(out, r)
	}
	t.mu.RUnlock()
	sort.Strings(out)
	return out
}

// NumRacks is the number of racks that hold at least one node.
func (t *Topology) NumRacks() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.racks)
}

// NodesInRack lists the nodes whose network location is exactly rack,
// sorted by ID.
func (t *Topology) NodesInRack(rack string) []*Node {
	t.mu.RLock()
	out := append([]*Node(nil), t.racks[rack]...)
	t.mu.RUnlock()
	sortByID(out)
	return out
}

func sortByID(ns []*Node) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
}

// Distance is Hadoop's network distance: the number of edges from a and
// from b up to their closest common ancestor. Same node 0, same rack 2,
// racks under one parent 4, and 2 more for every further level.
func (t *Topology) Distance(a, b *Node) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return distance(a, b)
}

// DistanceToHost is the distance from a client on host (a host name or IP)
// to b. A host that runs a DataNode is that node; any other host is
// treated as off the cluster, as far from b as a node under another
// top-level branch: 2 × b's depth (4 for /rack paths, 6 for /dc/rack).
func (t *Topology) DistanceToHost(host string, b *Node) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if b.Host == host || b.IP == host {
		return 0
	}
	for _, n := range t.all {
		if n.Host == host || n.IP == host {
			return distance(n, b)
		}
	}
	return 2 * (rackDepth(b.Rack) + 1)
}

// DistanceFromRack is the distance from a client that is not a DataNode
// but sits on rack to b: 2 when b is on that rack, then as Distance.
func (t *Topology) DistanceFromRack(rack string, b *Node) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return rackDistance(rack, b)
}

func distance(a, b *Node) int {
	if a == b || (a.ID != "" && a.ID == b.ID) {
		return 0
	}
	return rackDistance(a.Rack, b)
}

// rackDistance: from a node on rack (never b itself) to b.
func rackDistance(rack string, b *Node) int {
	c := commonDepth(rack, b.Rack)
	return rackDepth(rack) - c + 1 + rackDepth(b.Rack) - c + 1
}

// rackDepth counts the components of a rack path.
func rackDepth(r string) int {
	r = strings.Trim(r, "/")
	if r == "" {
		return 0
	}
	return strings.Count(r, "/") + 1
}

// commonDepth counts the leading components two rack paths share.
func commonDepth(a, b string) int {
	n := 0
	for {
		a = strings.TrimLeft(a, "/")
		b = strings.TrimLeft(b, "/")
		if a == "" || b == "" {
			return n
		}
		ca, cb := a, b
		if i := strings.IndexByte(a, '/'); i >= 0 {
			ca = a[:i]
		}
		if i := strings.IndexByte(b, '/'); i >= 0 {
			cb = b[:i]
		}
		if ca != cb {
			return n
		}
		n++
		a, b = a[len(ca):], b[len(cb):]
	}
}

// underPath reports whether rack is p or lies below it.
func underPath(rack, p string) bool {
	p = strings.TrimRight(p, "/")
	return rack == p || strings.HasPrefix(rack, p+"/")
}

// parseScope splits a scope into its path and whether it is negated ("~").
// The empty path means the whole cluster.
func parseScope(scope string) (path string, outside bool) {
	if strings.HasPrefix(scope, "~") {
		scope, outside = scope[1:], true
	}
	if strings.Trim(scope, "/") == "" {
		scope = ""
	}
	return scope, outside
}

// gather appends the nodes in scope to buf. Caller holds the lock.
func (t *Topology) gather(scope string, buf []*Node) []*Node {
	p, outside := parseScope(scope)
	if p == "" {
		if outside {
			return buf
		}
		return append(buf, t.all...)
	}
	if !outside {
		if ns, ok := t.racks[p]; ok {
			return append(buf, ns...)
		}
	}
	for r, ns := range t.racks {
		if underPath(r, p) != outside {
			buf = append(buf, ns...)
		}
	}
	return buf
}

// pick draws random nodes from cands until ok accepts one, discarding the
// rejected ones; nil when none is accepted. cands is reordered.
func pick(cands []*Node, ok func(*Node) bool) *Node {
	for len(cands) > 0 {
		i := rand.IntN(len(cands))
		n := cands[i]
		if ok(n) {
			return n
		}
		last := len(cands) - 1
		cands[i] = cands[last]
		cands = cands[:last]
	}
	return nil
}

// ChooseRandom returns a random node in scope whose ID (or Addr) is not in
// exclude, or nil. Scope "" (or "/") is the whole cluster, "/dc1/rack1" a
// rack or any inner path (everything below it), "~/dc1/rack1" everything
// outside that path.
func (t *Topology) ChooseRandom(scope string, exclude map[string]bool) *Node {
	t.mu.RLock()
	defer t.mu.RUnlock()
	cands := t.gather(scope, nil)
	return pick(cands, func(n *Node) bool { return !exclude[n.ID] && (n.Addr == "" || !exclude[n.Addr]) })
}

// SortByDistance orders nodes for a reader, nearest first. reader is the
// reader's DataNode (nil if it runs elsewhere); readerRack the reader's
// rack when it is not a DataNode but its rack is known. Nodes at equal
// distance are shuffled to spread load; with neither reader nor rack the
// whole order is random. Decommissioning nodes go last, as Hadoop's
// DatanodeManager does when it sorts block locations.
func (t *Topology) SortByDistance(reader *Node, readerRack string, nodes []*Node) {
	if len(nodes) < 2 {
		return
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	key := make(map[*Node]int, len(nodes))
	for _, n := range nodes {
		d := 0
		switch {
		case reader != nil:
			d = distance(reader, n)
		case readerRack != "":
			d = rackDistance(readerRack, n)
		}
		if n.Stale {
			d += 1 << 19 // stale nodes after fresh ones (dfs.namenode.avoid.read.stale.datanode)
		}
		if n.Decommissioning {
			d += 1 << 20
		}
		key[n] = d
	}
	sort.SliceStable(nodes, func(i, j int) bool { return key[nodes[i]] < key[nodes[j]] })
}
