package rack

import (
	"fmt"
	"sync"
	"testing"
)

// grid builds a topology of racks × perRack nodes named r<i>n<j>, with
// plenty of room, under rack paths prefix+"/r<i>".
func grid(prefix string, racks, perRack int) *Topology {
	t := NewTopology()
	for i := 0; i < racks; i++ {
		for j := 0; j < perRack; j++ {
			id := fmt.Sprintf("r%dn%d", i, j)
			t.Add(&Node{
				ID: id, Addr: fmt.Sprintf("10.0.%d.%d:9866", i, j), Host: id, IP: fmt.Sprintf("10.0.%d.%d", i, j),
				Rack: fmt.Sprintf("%s/r%d", prefix, i), Remaining: 1 << 40, StorageTypes: []int{StorageDisk},
			})
		}
	}
	return t
}

func TestDistance(t *testing.T) {
	n := func(id, rack string) *Node { return &Node{ID: id, Rack: rack} }
	a := n("a", "/dc1/r1")
	cases := []struct {
		name string
		b    *Node
		want int
	}{
		{"same node", a, 0},
		{"same id", n("a", "/dc1/r1"), 0},
		{"same rack", n("b", "/dc1/r1"), 2},
		{"same dc", n("c", "/dc1/r2"), 4},
		{"other dc", n("d", "/dc2/r1"), 6},
		{"other dc same rack name", n("e", "/dc2/r1"), 6},
		{"shallower", n("f", "/r9"), 5},
	}
	topo := NewTopology()
	for _, c := range cases {
		if got := topo.Distance(a, c.b); got != c.want {
			t.Errorf("%s: Distance = %d, want %d", c.name, got, c.want)
		}
		if got := topo.Distance(c.b, a); got != c.want {
			t.Errorf("%s: reverse Distance = %d, want %d", c.name, got, c.want)
		}
	}
	flat := []struct {
		a, b string
		want int
	}{{"/r1", "/r1", 2}, {"/r1", "/r2", 4}, {DefaultRack, DefaultRack, 2}}
	for _, c := range flat {
		if got := topo.Distance(n("x", c.a), n("y", c.b)); got != c.want {
			t.Errorf("%s vs %s: %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if got := topo.DistanceFromRack("/dc1/r1", a); got != 2 {
		t.Errorf("DistanceFromRack same rack = %d", got)
	}
	if got := topo.DistanceFromRack("/dc2/r1", a); got != 6 {
		t.Errorf("DistanceFromRack other dc = %d", got)
	}
}

func TestDistanceToHost(t *testing.T) {
	topo := grid("/dc1", 2, 2)
	b := topo.Get("r0n0")
	cases := []struct {
		host string
		want int
	}{
		{"r0n0", 0}, {"10.0.0.0", 0}, {"r0n1", 2}, {"10.0.1.1", 4}, {"client.example.com", 6},
	}
	for _, c := range cases {
		if got := topo.DistanceToHost(c.host, b); got != c.want {
			t.Errorf("DistanceToHost(%s) = %d, want %d", c.host, got, c.want)
		}
	}
	flat := grid("", 2, 1)
	if got := flat.DistanceToHost("elsewhere", flat.Get("r0n0")); got != 4 {
		t.Errorf("off-cluster on flat topology = %d, want 4", got)
	}
}

func TestTopologyMembership(t *testing.T) {
	topo := grid("/dc1", 3, 2)
	if topo.Len() != 6 || topo.NumRacks() != 3 {
		t.Fatalf("len %d racks %d", topo.Len(), topo.NumRacks())
	}
	if got := fmt.Sprint(topo.Racks()); got != "[/dc1/r0 /dc1/r1 /dc1/r2]" {
		t.Fatalf("Racks = %s", got)
	}
	// Move r0n0 to r2 by re-adding it.
	topo.Add(&Node{ID: "r0n0", Rack: "/dc1/r2"})
	if got := len(topo.NodesInRack("/dc1/r0")); got != 1 {
		t.Fatalf("r0 has %d nodes after move", got)
	}
	if got := len(topo.NodesInRack("/dc1/r2")); got != 3 {
		t.Fatalf("r2 has %d nodes after move", got)
	}
	topo.Remove("r0n1")
	topo.Remove("r0n0")
	topo.Remove("missing")
	if topo.NumRacks() != 2 || topo.Len() != 4 || topo.Get("r0n1") != nil {
		t.Fatalf("after remove: racks %v len %d", topo.Racks(), topo.Len())
	}
	if !topo.Update("r1n0", func(n *Node) { n.Rack = "/dc9/r9" }) {
		t.Fatal("Update missed an existing node")
	}
	if got := topo.NodesInRack("/dc9/r9"); len(got) != 1 || got[0].ID != "r1n0" {
		t.Fatalf("Update did not re-index: %v", got)
	}
	if topo.Update("missing", func(*Node) {}) {
		t.Fatal("Update found a missing node")
	}
	n := &Node{ID: "norack"}
	topo.Add(n)
	if n.Rack != DefaultRack {
		t.Fatalf("empty rack became %q", n.Rack)
	}
	ids := ""
	for _, n := range topo.Nodes() {
		ids += n.ID + " "
	}
	if ids != "norack r1n0 r1n1 r2n0 r2n1 " {
		t.Fatalf("Nodes = %s", ids)
	}
}

func TestChooseRandom(t *testing.T) {
	topo := grid("/dc1", 3, 3)
	topo.Add(&Node{ID: "far", Addr: "far:1", Rack: "/dc2/r0"})
	cases := []struct {
		name    string
		scope   string
		exclude map[string]bool
		allowed func(n *Node) bool // nil: must return nil
	}{
		{"all", "", nil, func(*Node) bool { return true }},
		{"root", "/", nil, func(*Node) bool { return true }},
		{"rack", "/dc1/r1", nil, func(n *Node) bool { return n.Rack == "/dc1/r1" }},
		{"dc", "/dc1", nil, func(n *Node) bool { return n.Rack != "/dc2/r0" }},
		{"not rack", "~/dc1/r1", nil, func(n *Node) bool { return n.Rack != "/dc1/r1" }},
		{"not dc1", "~/dc1", nil, func(n *Node) bool { return n.ID == "far" }},
		{"not dc1, excluded by addr", "~/dc1", map[string]bool{"far:1": true}, nil},
		{"rack minus two", "/dc1/r2", map[string]bool{"r2n0": true, "10.0.2.1:9866": true},
			func(n *Node) bool { return n.ID == "r2n2" }},
		{"unknown rack", "/dc1/r7", nil, nil},
		{"prefix is not a parent", "/dc1/r", nil, nil},
		{"outside everything", "~", nil, nil},
	}
	for _, c := range cases {
		seen := map[string]bool{}
		for i := 0; i < 200; i++ {
			n := topo.ChooseRandom(c.scope, c.exclude)
			if c.allowed == nil {
				if n != nil {
					t.Fatalf("%s: got %s, want nil", c.name, n.ID)
				}
				continue
			}
			if n == nil || !c.allowed(n) || c.exclude[n.ID] || c.exclude[n.Addr] {
				t.Fatalf("%s: got %v", c.name, n)
			}
			seen[n.ID] = true
		}
		if c.name == "rack" && len(seen) != 3 {
			t.Errorf("%s: only %d distinct nodes in 200 draws", c.name, len(seen))
		}
	}
}

func TestSortByDistance(t *testing.T) {
	topo := grid("/dc1", 3, 3)
	topo.Add(&Node{ID: "far", Rack: "/dc2/r0"})
	reader := topo.Get("r1n1")
	var nodes []*Node
	for _, id := range []string{"far", "r2n0", "r1n2", "r0n0", "r1n1", "r1n0"} {
		nodes = append(nodes, topo.Get(id))
	}
	firstRemote := map[string]int{}
	for i := 0; i < 200; i++ {
		topo.SortByDistance(reader, "", nodes)
		if nodes[0].ID != "r1n1" {
			t.Fatalf("local node not first: %v", nodes)
		}
		if nodes[1].Rack != "/dc1/r1" || nodes[2].Rack != "/dc1/r1" {
			t.Fatalf("rack-local nodes not next: %v", nodes)
		}
		if nodes[5].ID != "far" {
			t.Fatalf("other dc not last: %v", nodes)
		}
		firstRemote[nodes[3].ID]++
	}
	if len(firstRemote) != 2 {
		t.Errorf("ties not shuffled: %v", firstRemote)
	}

	// A reader known only by rack.
	topo.SortByDistance(nil, "/dc1/r2", nodes)
	if nodes[0].ID != "r2n0" || nodes[5].ID != "far" {
		t.Fatalf("rack reader: %v", nodes)
	}
	// Decommissioning nodes go last.
	topo.Update("r2n0", func(n *Node) { n.Decommissioning = true })
	topo.SortByDistance(nil, "/dc1/r2", nodes)
	if nodes[5].ID != "r2n0" {
		t.Fatalf("decommissioning not last: %v", nodes)
	}
	// No reader: any order, but all there.
	topo.SortByDistance(nil, "", nodes)
	if len(RackCounts(nodes)) != 4 {
		t.Fatalf("lost nodes: %v", nodes)
	}
}

func TestTopologyConcurrent(t *testing.T) {
	topo := grid("/dc1", 4, 5)
	pol, _ := NewPolicy("")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := fmt.Sprintf("tmp%d-%d", g, i%7)
				topo.Add(&Node{ID: id, Rack: fmt.Sprintf("/dc1/r%d", i%5), Remaining: 1 << 40})
				pol.ChooseTargets(topo, Request{Replicas: 3, TotalReplicas: 3})
				topo.ChooseRandom("~/dc1/r1", nil)
				topo.Remove(id)
				topo.Racks()
			}
		}(g)
	}
	wg.Wait()
	if topo.Len() != 20 {
		t.Fatalf("len %d after churn", topo.Len())
	}
}
