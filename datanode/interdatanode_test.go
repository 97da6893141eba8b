package datanode

import (
	"bytes"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
)

// putReplica lays a replica of n bytes of data (gs 10) straight into a
// DataNode's store: RBW, or finalized.
func putReplica(t *testing.T, d *DataNode, id uint64, data []byte, finalized bool) {
	t.Helper()
	w, err := d.Store().CreateRBW(id, 10, storage.StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cs := checksumSpec{storage.ChecksumCRC32C, 512}
	if err := w.WriteChunks(0, data, cs.appendSums(nil, data, 0)); err != nil {
		t.Fatal(err)
	}
	if finalized {
		if _, err := w.Finalize(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBlockRecoveryAcrossDataNodes runs RECOVER commands on a primary
// whose fellow holders have replicas of other lengths and states: the
// agreed length follows Hadoop's rules, every holder that can take it is
// cut to it and finalized under the new generation stamp, and the
// NameNode hears which ones.
func TestBlockRecoveryAcrossDataNodes(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 3, nil)
	data := randomData(77, 4000)
	type replica struct {
		n         int // bytes; -1: no replica
		finalized bool
	}
	for i, tc := range []struct {
		name       string
		replicas   [3]replica
		newLength  uint64 // truncate; 0 for a lease recovery
		wantLength uint64
		wantSynced []int // holders finalized at wantLength
	}{
		{"being written, of different lengths", [3]replica{{3000, false}, {2000, false}, {2500, false}}, 0, 2000, []int{0, 1, 2}},
		{"a finalized replica sets the length", [3]replica{{3000, false}, {2500, true}, {2000, false}}, 0, 2500, []int{0, 1}},
		{"a holder without the replica", [3]replica{{1500, false}, {1800, false}, {-1, false}}, 0, 1500, []int{0, 1}},
		{"truncate", [3]replica{{4000, true}, {4000, true}, {4000, true}}, 1000, 1000, []int{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := uint64(9000 + i)
			var targets []*dnpb.Target
			for k, r := range tc.replicas {
				if r.n >= 0 {
					putReplica(t, dns[k].DataNode, id, data[:r.n], r.finalized)
				}
				targets = append(targets, &dnpb.Target{Id: dns[k].ID()})
			}
			nn.mu.Lock()
			before := len(nn.commits)
			nn.mu.Unlock()
			nn.queue(dns[0].ID().GetUuid(), &dnpb.Command{Kind: dnpb.Command_RECOVER, NewGenStamp: 11, NewLength: tc.newLength,
				Blocks:  []*dnpb.Block{{Id: id, GenStamp: 10, NumBytes: 4000}},
				Targets: []*dnpb.TargetList{{Targets: targets}}})
			nn.waitFor("commitBlockSynchronization", 20*time.Second, func() bool { return len(nn.commits) > before })
			nn.mu.Lock()
			c := nn.commits[before]
			nn.mu.Unlock()
			if c.GetNewGenStamp() != 11 || c.GetNewLength() != tc.wantLength || len(c.GetNewTargets()) != len(tc.wantSynced) {
				t.Fatalf("commit: gs %d length %d targets %d, want 11 %d %d", c.GetNewGenStamp(), c.GetNewLength(), len(c.GetNewTargets()), tc.wantLength, len(tc.wantSynced))
			}
			got := map[string]bool{}
			for k, tgt := range c.GetNewTargets() {
				if c.GetNewStorageIds()[k] == "" {
					t.Errorf("target %s without a storage id", tgt.GetIp())
				}
				got[tgt.GetUuid()] = true
			}
			for _, want := range tc.wantSynced {
				d := dns[want]
				if !got[d.ID().GetUuid()] {
					t.Errorf("%s is not among the committed targets", d.ID().GetIp())
				}
				rep, _ := d.Store().Get(id)
				if rep.State != storage.StateFinalized || rep.GenStamp != 11 || rep.NumBytes != tc.wantLength {
					t.Fatalf("replica on %s after recovery: %+v", d.ID().GetIp(), rep)
				}
				back, err := readBlockFrom(d.DataNode, testBlock(id, 11, tc.wantLength), 0, tc.wantLength)
				if err != nil || !bytes.Equal(back, data[:tc.wantLength]) {
					t.Fatalf("read back from %s: %d bytes, %v", d.ID().GetIp(), len(back), err)
				}
			}
		})
	}
}

func TestChooseRecoveryRefusesDisagreeingFinalizedReplicas(t *testing.T) {
	peer := func(st dnpb.ReplicaState, n uint64) recoveryPeer {
		return recoveryPeer{id: &dnpb.DatanodeID{}, info: &dnpb.InitReplicaRecoveryResponse{ReplicaFound: true, State: st, Block: &dnpb.Block{NumBytes: n}}}
	}
	if _, _, err := chooseRecovery([]recoveryPeer{peer(dnpb.ReplicaState_FINALIZED, 10), peer(dnpb.ReplicaState_FINALIZED, 20)}, 0); err == nil {
		t.Fatal("finalized replicas of 10 and 20 bytes were reconciled")
	}
	if _, _, err := chooseRecovery([]recoveryPeer{peer(dnpb.ReplicaState_RBW, 10)}, 20); err == nil {
		t.Fatal("a truncate to 20 bytes of a 10-byte replica was accepted")
	}
	n, sync, err := chooseRecovery([]recoveryPeer{peer(dnpb.ReplicaState_RWR, 10), peer(dnpb.ReplicaState_RWR, 7)}, 0)
	if err != nil || n != 7 || len(sync) != 2 {
		t.Fatalf("replicas waiting for recovery: %d %d %v", n, len(sync), err)
	}
}
