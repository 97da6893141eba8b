package namenode

import (
	"fmt"
	"time"
)

// DatanodeRef is a DataNode storage as block locations name it.
type DatanodeRef struct {
	UUID        string
	IP          string
	Host        string
	XferPort    uint32
	InfoPort    uint32
	IPCPort     uint32
	StorageID   string
	StorageType uint32
	Rack        string
	Capacity    uint64
	Used        uint64
	Remaining   uint64
	LastUpdate  int64
	Corrupt     bool // the replica on this node is known corrupt
}

// Addr is the DataNode's transfer address.
func (d DatanodeRef) Addr() string { return fmt.Sprintf("%s:%d", d.IP, d.XferPort) }

// BlockSite is the namespace's view of where blocks live: the block
// manager and placement policy behind one seam. The namespace asks it for
// targets and locations; it never opens sockets itself. Until DataNodes
// register, NoDatanodes answers.
type BlockSite interface {
	// ChooseTargets picks n DataNodes for a new replica pipeline of a
	// block of src, written from clientMachine, avoiding exclude (transfer
	// addresses).
	// favored names nodes the client prefers (HBase's favoredNodes).
	ChooseTargets(src string, n int, clientMachine string, exclude, favored []string, blockSize int64) []DatanodeRef
	// Locations lists the replicas of a block, nearest to clientMachine first.
	Locations(b *BlockInfo, clientMachine string) []DatanodeRef
	// LiveDatanodes counts DataNodes that can take writes.
	LiveDatanodes() int
	// MinReplicated tells whether a block has the minimum replicas.
	MinReplicated(b *BlockInfo, min int) bool
	// PipelineUpdated records the replicas expected after updatePipeline.
	PipelineUpdated(b *BlockInfo, nodes []DatanodeRef)
	// BlockRemoved forgets a block's replicas (delete, abandon, truncate).
	BlockRemoved(id uint64)
	// ReplicationChanged has a block's replicas checked again against its
	// file's (new) replication: copies or deletions follow.
	ReplicationChanged(id uint64)
	// WaitMinReplicated waits up to timeout for every block to reach min
	// good replicas; called without the namespace lock.
	WaitMinReplicated(ids []uint64, min int, timeout time.Duration) bool
	// StartRecovery asks the block's DataNodes to agree on its length
	// under newGS: newLength == fromLength is a lease recovery (keep what
	// the replicas hold), a smaller newLength a truncate. False when no
	// DataNode holds the block.
	StartRecovery(b *BlockInfo, newGS, newLength, fromLength uint64) bool
}

// NoDatanodes is a BlockSite with no DataNodes: every write of a block
// fails with Hadoop's "could only be written to 0 of the 1 minReplication
// nodes" and files without blocks work.
type NoDatanodes struct{}

// ChooseTargets finds none.
func (NoDatanodes) ChooseTargets(string, int, string, []string, []string, int64) []DatanodeRef {
	return nil
}

// Locations finds none.
func (NoDatanodes) Locations(*BlockInfo, string) []DatanodeRef { return nil }

// LiveDatanodes is zero.
func (NoDatanodes) LiveDatanodes() int { return 0 }

// MinReplicated holds only for a block with no bytes.
func (NoDatanodes) MinReplicated(b *BlockInfo, min int) bool { return min <= 0 || b.NumBytes == 0 }

// PipelineUpdated does nothing.
func (NoDatanodes) PipelineUpdated(*BlockInfo, []DatanodeRef) {}

// BlockRemoved does nothing.
func (NoDatanodes) BlockRemoved(uint64) {}

// ReplicationChanged does nothing.
func (NoDatanodes) ReplicationChanged(uint64) {}

// WaitMinReplicated has nothing to wait for.
func (NoDatanodes) WaitMinReplicated([]uint64, int, time.Duration) bool { return false }

// StartRecovery has nobody to ask.
func (NoDatanodes) StartRecovery(*BlockInfo, uint64, uint64, uint64) bool { return false }

// SetBlockSite connects the namespace to the block manager.
func (ns *Namespace) SetBlockSite(s BlockSite) {
	ns.mu.Lock()
	ns.sites = s
	ns.mu.Unlock()
}
