package rack

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func policies(t testing.TB) []Policy {
	var out []Policy
	for _, name := range []string{PolicySeeds, PolicyHadoop} {
		p, err := NewPolicy(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestNewPolicy(t *testing.T) {
	for _, c := range []struct{ in, want string }{{"", "seeds"}, {"seeds", "seeds"}, {"Hadoop", "hadoop"}} {
		p, err := NewPolicy(c.in)
		if err != nil || p.Name() != c.want {
			t.Errorf("NewPolicy(%q) = %v, %v", c.in, p, err)
		}
	}
	if _, err := NewPolicy("rackfault"); err == nil {
		t.Error("unknown policy accepted")
	}
}

func TestMaxNodesPerRack(t *testing.T) {
	for _, c := range []struct{ total, racks, want int }{
		{1, 3, 1}, {3, 1, 3}, {2, 2, 1}, {3, 2, 2}, {3, 3, 2}, {4, 2, 3}, {5, 2, 4}, {10, 40, 2}, {2, 40, 1},
	} {
		if got := MaxNodesPerRack(c.total, c.racks); got != c.want {
			t.Errorf("MaxNodesPerRack(%d,%d) = %d, want %d", c.total, c.racks, got, c.want)
		}
	}
}

// checkPipeline: each node is nearest to the previous among the rest.
func checkPipeline(t *testing.T, topo *Topology, writer *Node, got []*Node) {
	t.Helper()
	prev := writer
	for i := range got {
		if prev == nil {
			prev = got[0]
			continue
		}
		d := topo.Distance(prev, got[i])
		for _, later := range got[i+1:] {
			if topo.Distance(prev, later) < d {
				t.Fatalf("pipeline not ordered by distance: %v from %v", got, writer)
			}
		}
		prev = got[i]
	}
}

func TestPlacementRules(t *testing.T) {
	topos := []struct {
		name         string
		racks, nodes int
	}{{"2x3", 2, 3}, {"3x4", 3, 4}}
	for _, pol := range policies(t) {
		for _, tc := range topos {
			t.Run(pol.Name()+"/"+tc.name, func(t *testing.T) {
				topo := grid("/dc1", tc.racks, tc.nodes)
				all := topo.Nodes()
				for repl := 1; repl <= 5; repl++ {
					for i := 0; i < 1000; i++ {
						var writer *Node
						if i%5 != 0 { // one in five writers is off the cluster
							writer = all[rand.IntN(len(all))]
						}
						got := pol.ChooseTargets(topo, Request{Writer: writer, Replicas: repl, TotalReplicas: repl, BlockSize: 1 << 27})
						checkTargets(t, pol.Name(), topo, writer, repl, got)
					}
				}
			})
		}
	}
}

func checkTargets(t *testing.T, policy string, topo *Topology, writer *Node, repl int, got []*Node) {
	t.Helper()
	if len(got) != repl {
		t.Fatalf("%d targets for replication %d", len(got), repl)
	}
	seen := map[string]bool{}
	for _, n := range got {
		if seen[n.ID] {
			t.Fatalf("duplicate target %s in %v", n.ID, got)
		}
		seen[n.ID] = true
	}
	racks := RackCounts(got)
	limit := MaxNodesPerRack(repl, topo.NumRacks())
	for r, c := range racks {
		if c > limit {
			t.Fatalf("%d replicas on %s, limit %d: %v", c, r, limit, got)
		}
	}
	if repl >= 2 && len(racks) < 2 {
		t.Fatalf("all %d replicas on one rack: %v", repl, got)
	}
	if writer != nil && got[0] != writer {
		t.Fatalf("first target %s is not the writer %s", got[0].ID, writer.ID)
	}
	checkPipeline(t, topo, writer, got)
	if repl == 3 {
		first := got[0].Rack
		switch policy {
		case PolicySeeds: // two on the first replica's rack, one elsewhere
			if racks[first] != 2 || len(racks) != 2 {
				t.Fatalf("seeds: want 2 on %s and 1 elsewhere: %v", first, got)
			}
		case PolicyHadoop: // first alone, the other two together elsewhere
			if racks[first] != 1 || len(racks) != 2 {
				t.Fatalf("hadoop: want 1 on %s and 2 on another rack: %v", first, got)
			}
		}
	}
}

func ids(ns []*Node) string {
	s := ""
	for _, n := range ns {
		s += n.ID + " "
	}
	return s
}

func TestPlacementSkipsBadNodes(t *testing.T) {
	for _, pol := range policies(t) {
		t.Run(pol.Name(), func(t *testing.T) {
			topo := grid("/dc1", 3, 4)
			topo.Update("r0n1", func(n *Node) { n.Remaining = 1 << 20 }) // full
			topo.Update("r0n2", func(n *Node) { n.Decommissioning = true })
			topo.Update("r1n0", func(n *Node) { n.Remaining = 0 })
			bad := map[string]bool{"r0n1": true, "r0n2": true, "r1n0": true, "r2n0": true, "r2n1": true}
			exclude := map[string]bool{"r2n0": true, "10.0.2.1:9866": true} // by ID and by address
			for i := 0; i < 500; i++ {
				writer := topo.Get(fmt.Sprintf("r0n%d", rand.IntN(4)))
				got := pol.ChooseTargets(topo, Request{Writer: writer, Replicas: 3, TotalReplicas: 3, BlockSize: 1 << 27, Exclude: exclude})
				if len(got) != 3 {
					t.Fatalf("got %d targets", len(got))
				}
				for _, n := range got {
					if bad[n.ID] {
						t.Fatalf("chose unusable node %s: %s", n.ID, ids(got))
					}
				}
				if !bad[writer.ID] && got[0] != writer {
					t.Fatalf("writer %s not first: %s", writer.ID, ids(got))
				}
				if bad[writer.ID] && got[0].Rack != writer.Rack {
					t.Fatalf("unusable writer: first replica should stay on its rack: %s", ids(got))
				}
			}
		})
	}
}

func TestPlacementPreferences(t *testing.T) {
	for _, pol := range policies(t) {
		t.Run(pol.Name()+"/stale", func(t *testing.T) {
			topo := grid("/dc1", 2, 3)
			topo.Update("r0n1", func(n *Node) { n.Stale = true })
			topo.Update("r1n1", func(n *Node) { n.Stale = true })
			for i := 0; i < 200; i++ {
				got := pol.ChooseTargets(topo, Request{Replicas: 3, TotalReplicas: 3})
				for _, n := range got {
					if n.Stale {
						t.Fatalf("stale node chosen while others exist: %s", ids(got))
					}
				}
			}
			// Only stale nodes on rack 1: still used.
			for _, id := range []string{"r1n0", "r1n2"} {
				topo.Update(id, func(n *Node) { n.Stale = true })
			}
			got := pol.ChooseTargets(topo, Request{Writer: topo.Get("r0n0"), Replicas: 3, TotalReplicas: 3})
			if len(got) != 3 || len(RackCounts(got)) != 2 {
				t.Fatalf("stale fallback: %s", ids(got))
			}
		})
		t.Run(pol.Name()+"/load", func(t *testing.T) {
			topo := grid("/dc1", 2, 3)
			for _, n := range topo.Nodes() {
				topo.Update(n.ID, func(n *Node) { n.Load = 2 })
			}
			topo.Update("r1n0", func(n *Node) { n.Load = 40 })
			for i := 0; i < 200; i++ {
				got := pol.ChooseTargets(topo, Request{Writer: topo.Get("r1n0"), Replicas: 3, TotalReplicas: 3})
				for _, n := range got {
					if n.ID == "r1n0" {
						t.Fatalf("overloaded node chosen: %s", ids(got))
					}
				}
			}
			// Ask for every node: the loaded one is used as a last resort.
			if got := pol.ChooseTargets(topo, Request{Replicas: 6, TotalReplicas: 6}); len(got) != 6 {
				t.Fatalf("load fallback: %s", ids(got))
			}
		})
		t.Run(pol.Name()+"/storage type", func(t *testing.T) {
			topo := grid("/dc1", 2, 3)
			for _, id := range []string{"r0n2", "r1n2"} {
				topo.Update(id, func(n *Node) { n.StorageTypes = []int{StorageDisk, StorageSSD} })
			}
			got := pol.ChooseTargets(topo, Request{Replicas: 2, TotalReplicas: 2, StorageType: StorageSSD})
			if ids(got) != "r0n2 r1n2 " && ids(got) != "r1n2 r0n2 " {
				t.Fatalf("SSD nodes not preferred: %s", ids(got))
			}
			got = pol.ChooseTargets(topo, Request{Replicas: 3, TotalReplicas: 3, StorageType: StorageSSD})
			if len(got) != 3 {
				t.Fatalf("storage type fallback: %s", ids(got))
			}
		})
	}
}

func TestPlacementShortfall(t *testing.T) {
	for _, pol := range policies(t) {
		cases := []struct {
			name    string
			topo    *Topology
			req     Request
			want    int
			twoRack bool
		}{
			{"two nodes", grid("/dc1", 2, 1), Request{Replicas: 3, TotalReplicas: 3}, 2, true},
			{"one rack", grid("/dc1", 1, 3), Request{Replicas: 3, TotalReplicas: 3}, 3, false},
			{"empty", NewTopology(), Request{Replicas: 3}, 0, false},
			{"nothing asked", grid("/dc1", 2, 3), Request{Replicas: 0}, 0, false},
			{"all full", grid("/dc1", 2, 3), Request{Replicas: 3, BlockSize: 1 << 50}, 0, false},
			// Rack 1 unusable: the per-rack maximum keeps the block at two
			// replicas on rack 0 rather than three.
			{"remote rack excluded", grid("/dc1", 2, 3), Request{Replicas: 3, TotalReplicas: 3,
				Exclude: map[string]bool{"r1n0": true, "r1n1": true, "r1n2": true}}, 2, false},
		}
		for _, c := range cases {
			got := pol.ChooseTargets(c.topo, c.req)
			if len(got) != c.want {
				t.Errorf("%s/%s: %d targets (%s), want %d", pol.Name(), c.name, len(got), ids(got), c.want)
			}
			if c.twoRack && len(RackCounts(got)) != 2 {
				t.Errorf("%s/%s: %s", pol.Name(), c.name, ids(got))
			}
		}
	}
}

func TestPlacementContinuesPattern(t *testing.T) {
	topo := grid("/dc1", 3, 4)
	n := topo.Get
	cases := []struct {
		policy string
		chosen []*Node
		want   func(got *Node) bool
		what   string
	}{
		{PolicySeeds, []*Node{n("r0n0"), n("r0n1")}, func(g *Node) bool { return g.Rack != "/dc1/r0" }, "two on r0 → another rack"},
		{PolicyHadoop, []*Node{n("r0n0"), n("r0n1")}, func(g *Node) bool { return g.Rack != "/dc1/r0" }, "two on r0 → another rack"},
		{PolicySeeds, []*Node{n("r0n0")}, func(g *Node) bool { return g.Rack == "/dc1/r0" }, "one on r0 → beside it"},
		{PolicyHadoop, []*Node{n("r0n0")}, func(g *Node) bool { return g.Rack != "/dc1/r0" }, "one on r0 → remote"},
		{PolicySeeds, []*Node{n("r0n0"), n("r1n0")}, func(g *Node) bool { return g.Rack == "/dc1/r0" }, "r0+r1 → beside the first"},
		{PolicyHadoop, []*Node{n("r0n0"), n("r1n0")}, func(g *Node) bool { return g.Rack == "/dc1/r1" }, "r0+r1 → beside the second"},
	}
	for _, c := range cases {
		pol, _ := NewPolicy(c.policy)
		for i := 0; i < 100; i++ {
			got := pol.ChooseTargets(topo, Request{Chosen: c.chosen, Replicas: 1, TotalReplicas: 3})
			if len(got) != 1 || !c.want(got[0]) {
				t.Fatalf("%s: %s: got %s", c.policy, c.what, ids(got))
			}
			for _, ch := range c.chosen {
				if got[0] == ch {
					t.Fatalf("%s: chose an existing replica", c.policy)
				}
			}
		}
	}
	// Replication 2, one replica: the second must leave the rack (seeds too).
	for _, pol := range policies(t) {
		got := pol.ChooseTargets(topo, Request{Chosen: []*Node{n("r2n3")}, Replicas: 1, TotalReplicas: 2})
		if len(got) != 1 || got[0].Rack == "/dc1/r2" {
			t.Fatalf("%s: replication 2 kept one rack: %s", pol.Name(), ids(got))
		}
	}
}

func TestWriterRackOnly(t *testing.T) {
	topo := grid("/dc1", 3, 4)
	for _, pol := range policies(t) {
		for i := 0; i < 100; i++ {
			got := pol.ChooseTargets(topo, Request{WriterRack: "/dc1/r2", Replicas: 3, TotalReplicas: 3})
			if len(got) != 3 || got[0].Rack != "/dc1/r2" {
				t.Fatalf("%s: first replica not on the client's rack: %s", pol.Name(), ids(got))
			}
		}
	}
}

func TestChooseExcess(t *testing.T) {
	topo := grid("/dc1", 3, 4)
	n := topo.Get
	topo.Update("r0n1", func(n *Node) { n.Remaining = 5 })
	topo.Update("r1n2", func(n *Node) { n.Stale = true })
	cases := []struct {
		name        string
		replicas    []*Node
		replication int
		want        string
	}{
		{"not over", []*Node{n("r0n0"), n("r1n0")}, 2, ""},
		{"crowded rack, least space", []*Node{n("r0n0"), n("r0n1"), n("r0n2"), n("r1n0")}, 3, "r0n1 "},
		{"two from crowded rack", []*Node{n("r0n0"), n("r0n1"), n("r0n2"), n("r1n0")}, 2, "r0n1 r0n0 "},
		{"stale first", []*Node{n("r1n0"), n("r1n2"), n("r0n0")}, 2, "r1n2 "},
		{"one per rack", []*Node{n("r0n1"), n("r1n0"), n("r2n0")}, 2, "r0n1 "},
		{"duplicate", []*Node{n("r0n0"), n("r1n0"), n("r0n0")}, 2, "r0n0 "},
	}
	for _, pol := range policies(t) {
		for _, c := range cases {
			if got := ids(pol.ChooseExcess(topo, c.replicas, c.replication)); got != c.want {
				t.Errorf("%s/%s: %q, want %q", pol.Name(), c.name, got, c.want)
			}
		}
		// Random sets: the survivors keep min(2, racks) racks.
		all := topo.Nodes()
		for i := 0; i < 1000; i++ {
			perm := rand.Perm(len(all))
			k := 2 + rand.IntN(6)
			reps := make([]*Node, k)
			for j := range reps {
				reps[j] = all[perm[j]]
			}
			repl := 1 + rand.IntN(k)
			gone := pol.ChooseExcess(topo, reps, repl)
			if len(gone) != k-repl {
				t.Fatalf("%d removed from %d for replication %d", len(gone), k, repl)
			}
			del := map[*Node]bool{}
			for _, g := range gone {
				del[g] = true
			}
			var keep []*Node
			for _, r := range reps {
				if !del[r] {
					keep = append(keep, r)
				}
			}
			if want := min(2, repl, len(RackCounts(reps))); len(RackCounts(keep)) < want {
				t.Fatalf("%s: kept %s from %s: fewer than %d racks", pol.Name(), ids(keep), ids(reps), want)
			}
		}
	}
}

func TestIsMisplaced(t *testing.T) {
	topo := grid("/dc1", 2, 3)
	one := grid("/dc1", 1, 3)
	n := topo.Get
	cases := []struct {
		name        string
		topo        *Topology
		replicas    []*Node
		replication int
		want        bool
	}{
		{"spread", topo, []*Node{n("r0n0"), n("r0n1"), n("r1n0")}, 3, false},
		{"one rack", topo, []*Node{n("r0n0"), n("r0n1"), n("r0n2")}, 3, true},
		{"two on one rack", topo, []*Node{n("r0n0"), n("r0n1")}, 2, true},
		{"replication 1", topo, []*Node{n("r1n0")}, 1, false},
		{"under-replicated single", topo, []*Node{n("r1n0")}, 3, true},
		{"single-rack cluster", one, []*Node{one.Get("r0n0"), one.Get("r0n1")}, 3, false},
		{"no replicas", topo, nil, 3, true},
	}
	for _, pol := range policies(t) {
		for _, c := range cases {
			if got := pol.IsMisplaced(c.topo, c.replicas, c.replication); got != c.want {
				t.Errorf("%s/%s: IsMisplaced = %v", pol.Name(), c.name, got)
			}
		}
	}
}

// BenchmarkChooseTargets places 3 replicas in a 2,000-node, 50-rack
// topology (the target: at most 5 µs per block).
func BenchmarkChooseTargets(b *testing.B) {
	topo := grid("/dc1", 50, 40)
	all := topo.Nodes()
	for _, pol := range policies(b) {
		b.Run(pol.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				w := all[i%len(all)]
				if got := pol.ChooseTargets(topo, Request{Writer: w, Replicas: 3, TotalReplicas: 3, BlockSize: 1 << 27}); len(got) != 3 {
					b.Fatal(len(got))
				}
			}
		})
	}
}
