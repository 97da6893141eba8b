package rack

// hadoopPattern is Hadoop's BlockPlacementPolicyDefault as its code does
// today: the first replica on the writer's node (or a random node, on the
// writer's rack when that is known), the second on a remote rack, the
// third on the second one's rack, further ones at random within the
// per-rack maximum (see MaxNodesPerRack).
//
// Where Hadoop distinguishes a new block from pipeline recovery for the
// third replica (next to the second, or on the writer's rack), this always
// places it next to the second existing replica.
//
// It is chooseTargetInOrder: local, remote, beside the second
// (or remote when the first two share a rack), then random.
func hadoopPattern(p *placer, need int) {
	for ; need > 0; need-- {
		var ok bool
		switch len(p.results) {
		case 0:
			ok = p.local()
		case 1:
			ok = p.remoteRack(p.results[0].Rack)
		case 2:
			r0, r1 := p.results[0].Rack, p.results[1].Rack
			if r0 == r1 {
				ok = p.remoteRack(r0)
			} else {
				ok = p.localRack(r1)
			}
		default:
			ok = p.random("")
		}
		if !ok {
			return
		}
	}
}
