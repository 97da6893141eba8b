package rack

// seedsPattern is the project's default placement, from the original HDFS
// design: the first replica on the writer's node (when the writer is a
// DataNode with room; else a random node, on the writer's rack when that
// is known), the second on another node of the first one's rack, the
// third on a different rack, and any further ones at random within the
// per-rack maximum (see MaxNodesPerRack).
//
// The per-rack maximum overrides the same-rack step: with replication 2
// on a multi-rack cluster the second replica goes to another rack, so the
// replicas never all sit in one rack while two racks exist. When the first
// replica's rack has no other usable node the second goes to a remote
// rack; when no remote rack is usable the third stays local.
//
// It continues local, same rack, other rack, random from however
// many replicas exist. With two existing replicas on different racks the
// next joins the first one's rack (two on one rack, one on another).
func seedsPattern(p *placer, need int) {
	for ; need > 0; need-- {
		var ok bool
		switch len(p.results) {
		case 0:
			ok = p.local()
		case 1:
			ok = p.localRack(p.results[0].Rack)
		case 2:
			r0, r1 := p.results[0].Rack, p.results[1].Rack
			if r0 == r1 {
				ok = p.remoteRack(r0)
			} else {
				ok = p.localRack(r0)
			}
		default:
			ok = p.random("")
		}
		if !ok {
			return
		}
	}
}
