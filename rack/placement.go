package rack

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Request asks a Policy for targets. It serves addBlock (a new block),
// getAdditionalDatanode (pipeline recovery: Chosen is the surviving
// pipeline) and re-replication (Chosen is the live replicas).
type Request struct {
	Writer     *Node  // the writer's DataNode when the client runs on one, else nil
	WriterRack string // the client's rack if known (may be "")
	Replicas   int    // how many new targets to pick
	// Chosen are the replicas or pipeline nodes that already exist; they
	// are never returned and count towards the per-rack maximum.
	Chosen []*Node
	// Exclude holds node IDs and/or transfer addresses not to use.
	Exclude map[string]bool
	// BlockSize is the room a target needs: Remaining >= BlockSize (Hadoop
	// multiplies by MIN_BLOCKS_FOR_WRITE, which is 1). 0 skips the check.
	BlockSize int64
	// TotalReplicas is the file's replication, for the per-rack maximum;
	// the policy uses max(TotalReplicas, len(Chosen)+Replicas).
	TotalReplicas int
	// StorageType is the preferred Hadoop storage type (0 = any). Nodes
	// offering it are tried first; others only when too few do.
	StorageType int
}

// Policy decides where block replicas go.
//
// Every policy skips decommissioning nodes, nodes with less than BlockSize
// remaining and excluded nodes. It prefers, in this order of relaxation,
// non-stale nodes, nodes with Load ≤ 2 × the in-service average (Hadoop's
// considerLoad) and nodes with the requested storage type: when the strict
// pass finds too few targets it retries with stale nodes allowed, then
// loaded ones, then any storage type. It returns fewer targets than asked,
// never an error, when the cluster cannot do better.
type Policy interface {
	// Name is the policy's configuration name.
	Name() string
	// ChooseTargets returns up to r.Replicas new targets, ordered as a
	// write pipeline: the first nearest the writer, each next one nearest
	// the previous.
	ChooseTargets(t *Topology, r Request) []*Node
	// ChooseExcess picks the replicas to delete so that replication remain:
	// it removes from the racks holding the most replicas (so rack
	// diversity is kept), stale nodes first, then the least free space.
	ChooseExcess(t *Topology, replicas []*Node, replication int) []*Node
	// IsMisplaced is fsck's "mis-replicated" (Hadoop's
	// verifyBlockPlacement): the replicas span fewer than
	// min(2, replication) racks while the cluster has more racks than they
	// span.
	IsMisplaced(t *Topology, replicas []*Node, replication int) bool
}

// Policy names accepted by NewPolicy.
const (
	PolicySeeds  = "seeds"
	PolicyHadoop = "hadoop"
)

// NewPolicy returns the named policy: "seeds" (the default, also "") or
// "hadoop". Names are case-insensitive.
func NewPolicy(name string) (Policy, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", PolicySeeds:
		return patternPolicy{PolicySeeds, seedsPattern}, nil
	case PolicyHadoop:
		return patternPolicy{PolicyHadoop, hadoopPattern}, nil
	}
	return nil, fmt.Errorf("rack: unknown block placement policy %q (want %q or %q)", name, PolicySeeds, PolicyHadoop)
}

// MaxNodesPerRack is Hadoop's per-rack maximum for total replicas of a
// block on a cluster with racks racks: (total−1)/racks + 2, lowered by one
// when it would allow every replica on one rack. With one rack or one
// replica it is total.
func MaxNodesPerRack(total, racks int) int {
	if racks <= 1 || total <= 1 {
		return total
	}
	m := (total-1)/racks + 2
	if m == total {
		m--
	}
	return m
}

// pattern places need more replicas following a policy's rack rules,
// continuing from p.results; it stops early when a step finds no node.
type pattern func(p *placer, need int)

// placer is one ChooseTargets run. It works under the topology's read lock.
type placer struct {
	t          *Topology
	r          Request
	writer     *Node  // the writer's node in the topology, nil if none
	writerRack string // the writer's rack when known
	results    []*Node
	nChosen    int
	taken      map[string]bool // IDs in results
	rackCount  map[string]int
	maxPerRack int
	avgLoad    float64
	buf        []*Node

	avoidStale, avoidLoad, wantType bool
}

// choose runs a pattern with the relaxation passes and orders the result
// as a pipeline.
func choose(t *Topology, r Request, pat pattern) []*Node {
	if r.Replicas <= 0 {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := &placer{t: t, r: r, taken: map[string]bool{}, rackCount: map[string]int{}, writerRack: r.WriterRack}
	if r.Writer != nil {
		if e, ok := t.nodes[r.Writer.ID]; ok {
			p.writer = e.n
			p.writerRack = e.n.Rack
		} else if p.writerRack == "" {
			p.writerRack = r.Writer.Rack
		}
	}
	for _, c := range r.Chosen {
		if c == nil || p.taken[c.ID] {
			continue
		}
		if e, ok := t.nodes[c.ID]; ok {
			c = e.n
		}
		p.add(c)
	}
	p.nChosen = len(p.results)

	cluster := len(t.all)
	want := min(r.Replicas, cluster-p.nChosen)
	if want <= 0 {
		return nil
	}
	total := min(max(r.TotalReplicas, p.nChosen+want), cluster)
	p.maxPerRack = MaxNodesPerRack(total, len(t.racks))

	inService, load := 0, 0
	for _, n := range t.all {
		if !n.Decommissioning {
			inService++
			load += n.Load
		}
	}
	if inService > 0 {
		p.avgLoad = float64(load) / float64(inService)
	}

	passes := [][3]bool{{true, true, true}, {false, true, true}, {false, false, true}}
	if r.StorageType != 0 {
		passes = append(passes, [3]bool{false, false, false})
	}
	for _, pass := range passes {
		got := len(p.results) - p.nChosen
		if got >= want {
			break
		}
		p.avoidStale, p.avoidLoad, p.wantType = pass[0], pass[1], pass[2]
		pat(p, want-got)
	}
	out := append([]*Node(nil), p.results[p.nChosen:]...)
	pipelineOrder(p.writer, p.writerRack, out)
	return out
}

func (p *placer) add(n *Node) {
	p.results = append(p.results, n)
	p.taken[n.ID] = true
	p.rackCount[n.Rack]++
}

// good is Hadoop's isGoodTarget plus the exclusions.
func (p *placer) good(n *Node) bool {
	switch {
	case p.taken[n.ID], p.r.Exclude[n.ID], n.Addr != "" && p.r.Exclude[n.Addr]:
		return false
	case n.Decommissioning:
		return false
	case p.r.BlockSize > 0 && n.Remaining < uint64(p.r.BlockSize):
		return false
	case p.avoidStale && n.Stale:
		return false
	case p.avoidLoad && p.avgLoad > 0 && float64(n.Load) > 2*p.avgLoad:
		return false
	case p.wantType && p.r.StorageType != 0 && !n.HasStorageType(p.r.StorageType):
		return false
	}
	return p.rackCount[n.Rack] < p.maxPerRack
}

// quickDraws is how many uniform draws from the whole cluster random tries
// for a wide scope before it lists the scope exhaustively.
const quickDraws = 16

// random adds a good node from scope, uniformly; false when there is none.
// Wide scopes (the cluster, or outside a rack) first try a few draws from
// the whole cluster, which almost always succeed on a large cluster without
// listing it.
func (p *placer) random(scope string) bool {
	if path, outside := parseScope(scope); (path == "") != outside && len(p.t.all) > 0 {
		for range quickDraws {
			n := p.t.all[rand.IntN(len(p.t.all))]
			if (path == "" || underPath(n.Rack, path) != outside) && p.good(n) {
				p.add(n)
				return true
			}
		}
	}
	p.buf = p.t.gather(scope, p.buf[:0])
	n := pick(p.buf, p.good)
	if n == nil {
		return false
	}
	p.add(n)
	return true
}

// local places the first replica: the writer's node, else a node on the
// writer's rack, else anywhere (Hadoop's chooseLocalStorage).
func (p *placer) local() bool {
	if p.writer != nil && p.good(p.writer) {
		p.add(p.writer)
		return true
	}
	if p.writerRack != "" {
		return p.localRack(p.writerRack)
	}
	return p.random("")
}

// localRack places a replica on rack, else on the rack of another
// replica, else anywhere (Hadoop's chooseLocalRack).
func (p *placer) localRack(rack string) bool {
	if p.random(rack) {
		return true
	}
	tried := map[string]bool{rack: true}
	for _, n := range p.results {
		if !tried[n.Rack] {
			tried[n.Rack] = true
			if p.random(n.Rack) {
				return true
			}
		}
	}
	return p.random("")
}

// remoteRack places a replica off rack, else on it (Hadoop's
// chooseRemoteRack).
func (p *placer) remoteRack(rack string) bool {
	return p.random("~"+rack) || p.random(rack)
}

// pipelineOrder sorts targets greedily: nearest to the writer (or to the
// writer's rack) first, then each next nearest to the previous. Without
// either, the first target starts the pipeline.
func pipelineOrder(writer *Node, writerRack string, ns []*Node) {
	if len(ns) < 2 {
		return
	}
	dist := func(prev *Node, n *Node) int {
		if prev != nil {
			return distance(prev, n)
		}
		return rackDistance(writerRack, n)
	}
	prev := writer
	i := 0
	if prev == nil && writerRack == "" {
		prev, i = ns[0], 1
	}
	for ; i < len(ns); i++ {
		best, bd := i, dist(prev, ns[i])
		for j := i + 1; j < len(ns); j++ {
			if d := dist(prev, ns[j]); d < bd {
				best, bd = j, d
			}
		}
		ns[i], ns[best] = ns[best], ns[i]
		prev = ns[i]
	}
}

// current returns the topology's view of n (fresh rack and figures) if it
// is still there, else n itself. Caller holds the lock.
func (t *Topology) current(n *Node) *Node {
	if e, ok := t.nodes[n.ID]; ok {
		return e.n
	}
	return n
}

// chooseExcess is the shared ChooseExcess.
func chooseExcess(t *Topology, replicas []*Node, replication int) []*Node {
	if replication < 0 {
		replication = 0
	}
	if len(replicas) <= replication {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	type rep struct{ orig, cur *Node }
	left := make([]rep, 0, len(replicas))
	seen := map[string]bool{}
	var out []*Node
	for _, n := range replicas {
		if n == nil {
			continue
		}
		if seen[n.ID] { // the same node twice: the copy is excess
			out = append(out, n)
			continue
		}
		seen[n.ID] = true
		left = append(left, rep{n, t.current(n)})
	}
	for len(left) > replication {
		count := map[string]int{}
		most := 0
		for _, r := range left {
			count[r.cur.Rack]++
			most = max(most, count[r.cur.Rack])
		}
		victim := -1
		for i, r := range left {
			if count[r.cur.Rack] != most {
				continue
			}
			if victim < 0 || worse(r.cur, left[victim].cur) {
				victim = i
			}
		}
		out = append(out, left[victim].orig)
		left = append(left[:victim], left[victim+1:]...)
	}
	return out
}

// worse reports whether a is a better replica to delete than b: stale
// before fresh, then less remaining space, then ID for determinism.
func worse(a, b *Node) bool {
	if a.Stale != b.Stale {
		return a.Stale
	}
	if a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	return a.ID < b.ID
}

// isMisplaced is Hadoop's verifyBlockPlacement for the default policy.
func isMisplaced(t *Topology, replicas []*Node, replication int) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	total := len(t.racks)
	if total <= 1 {
		return false
	}
	racks := map[string]bool{}
	for _, n := range replicas {
		if n != nil {
			racks[t.current(n).Rack] = true
		}
	}
	need := min(2, replication)
	return len(racks) < need && len(racks) < total
}

// RackCounts counts nodes per rack; a helper for callers and tests.
func RackCounts(nodes []*Node) map[string]int {
	m := map[string]int{}
	for _, n := range nodes {
		m[n.Rack]++
	}
	return m
}

// patternPolicy is a placement policy given by the order in which it
// fills replicas (seedsPattern, hadoopPattern); the rest (excess choice,
// misplacement) is shared.
type patternPolicy struct {
	name    string
	pattern func(p *placer, need int)
}

// Name is the policy's short name.
func (p patternPolicy) Name() string { return p.name }

// ChooseTargets implements Policy.
func (p patternPolicy) ChooseTargets(t *Topology, r Request) []*Node {
	return choose(t, r, p.pattern)
}

// ChooseExcess implements Policy.
func (patternPolicy) ChooseExcess(t *Topology, replicas []*Node, replication int) []*Node {
	return chooseExcess(t, replicas, replication)
}

// IsMisplaced implements Policy.
func (patternPolicy) IsMisplaced(t *Topology, replicas []*Node, replication int) bool {
	return isMisplaced(t, replicas, replication)
}
