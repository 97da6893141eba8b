package datanode

import (
	"bytes"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
)

func TestRegistersReportsAndHeartbeats(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	d := dns[0]
	u := d.ID().GetUuid()
	if u == "" || d.ID().GetIp() != "127.0.0.11" || d.ID().GetXferPort() == 0 {
		t.Fatalf("identity %v", d.ID())
	}
	nn.waitFor("heartbeats", 5*time.Second, func() bool { return nn.heartbeats[u] >= 3 })
	nn.mu.Lock()
	id := nn.registered[u]
	rep := nn.reports[u][0]
	nn.mu.Unlock()
	if id.GetHostName() != "127.0.0.11" {
		t.Errorf("host name %q, want the bound address", id.GetHostName())
	}
	if rep.GetBlockPoolId() != testPool || len(rep.GetReports()) == 0 {
		t.Errorf("block report %v", rep)
	}
}

func TestReRegistersWhenTheNameNodeForgetsIt(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	u := dns[0].ID().GetUuid()
	nn.mu.Lock()
	nn.forget = true // a restarted NameNode
	nn.mu.Unlock()
	nn.waitFor("a second registration and block report", 10*time.Second, func() bool {
		return nn.regCount[u] >= 2 && len(nn.reports[u]) >= 2
	})
}

func TestSurvivesANameNodeThatIsDownThenComesBack(t *testing.T) {
	nn := newFakeNN(t)
	addr := nn.addr
	nn.close()
	dn := startDN(t, "127.0.0.11", []string{addr}, nil)
	time.Sleep(300 * time.Millisecond) // several failed attempts
	nn2 := newFakeNNAt(t, addr)
	u := dn.ID().GetUuid()
	nn2.waitFor("registration with the restarted NameNode", 10*time.Second, func() bool {
		return len(nn2.reports[u]) > 0 && nn2.heartbeats[u] > 0
	})
	// And again after a restart while registered.
	nn2.close()
	time.Sleep(200 * time.Millisecond)
	nn3 := newFakeNNAt(t, addr)
	nn3.waitFor("registration after a restart", 10*time.Second, func() bool {
		return len(nn3.reports[u]) > 0 && nn3.heartbeats[u] > 0
	})
}

func TestTransferCommandReplicatesToAFourthNode(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 4, nil)
	data := randomData(200, 200001)
	if err := writeBlockTo(nodes(dns[:3]), 200, 9, data); err != nil {
		t.Fatal(err)
	}
	target := &dnpb.Target{Id: dns[3].ID(), StorageType: dnpb.StorageType_DISK}
	nn.queue(dns[0].ID().GetUuid(), &dnpb.Command{
		Kind:    dnpb.Command_TRANSFER,
		Blocks:  []*dnpb.Block{{Id: 200, GenStamp: 9, NumBytes: 200001}},
		Targets: []*dnpb.TargetList{{Targets: []*dnpb.Target{target}}},
	})
	u4 := dns[3].ID().GetUuid()
	nn.waitFor("RECEIVED from the fourth node", 10*time.Second, func() bool {
		return nn.hasIBR(u4, 200, dnpb.ReceivedDeleted_RECEIVED)
	})
	rep, ok := dns[3].Store().Get(200)
	if !ok || rep.State != storage.StateFinalized || rep.NumBytes != 200001 || rep.GenStamp != 9 {
		t.Fatalf("replica on the fourth node: %+v %v", rep, ok)
	}
	got, err := readBlockFrom(dns[3].DataNode, testBlock(200, 9, 200001), 0, 200001)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read from the fourth node: %v", err)
	}
}

func TestInvalidateDeletesAndReportsDeleted(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	if err := writeBlockTo(nodes(dns), 300, 4, randomData(300, 5000)); err != nil {
		t.Fatal(err)
	}
	if err := writeBlockTo(nodes(dns), 301, 4, randomData(301, 5000)); err != nil {
		t.Fatal(err)
	}
	u := dns[0].ID().GetUuid()
	nn.queue(u, &dnpb.Command{Kind: dnpb.Command_INVALIDATE, Blocks: []*dnpb.Block{{Id: 300, GenStamp: 4}, {Id: 301, GenStamp: 3}}})
	nn.waitFor("DELETED", 10*time.Second, func() bool { return nn.hasIBR(u, 300, dnpb.ReceivedDeleted_DELETED) })
	if _, ok := dns[0].Store().Get(300); ok {
		t.Fatal("replica 300 still there")
	}
	// A command naming another generation stamp does not delete.
	if _, ok := dns[0].Store().Get(301); !ok {
		t.Fatal("replica 301 of another generation was deleted")
	}
}

func TestRecoverCommandFinalizesAndCommitsSynchronization(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	w, resp, err := openPipeline(nodes(dns), testBlock(400, 10, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != 0 {
		t.Fatalf("setup: %v %v", err, resp)
	}
	data := randomData(400, 3000)
	if _, err := w.sendPacket(data, false, false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.readAck(); err != nil {
		t.Fatal(err)
	}
	w.c.Close() // the writer dies: lease recovery follows
	u := dns[0].ID().GetUuid()
	nn.queue(u, &dnpb.Command{Kind: dnpb.Command_RECOVER, NewGenStamp: 11,
		Blocks:  []*dnpb.Block{{Id: 400, GenStamp: 10, NumBytes: 0}},
		Targets: []*dnpb.TargetList{{Targets: []*dnpb.Target{{Id: dns[0].ID()}}}}})
	nn.waitFor("commitBlockSynchronization", 10*time.Second, func() bool { return len(nn.commits) > 0 })
	nn.mu.Lock()
	c := nn.commits[0]
	nn.mu.Unlock()
	if c.GetNewGenStamp() != 11 || c.GetNewLength() != 3000 || !c.GetCloseFile() || len(c.GetNewTargets()) != 1 || c.GetNewTargets()[0].GetUuid() != u {
		t.Fatalf("commit %v", c)
	}
	rep, _ := dns[0].Store().Get(400)
	if rep.State != storage.StateFinalized || rep.GenStamp != 11 || rep.NumBytes != 3000 {
		t.Fatalf("replica after recovery %+v", rep)
	}
}

func TestCommandsAreObeyedOnlyFromThePrimary(t *testing.T) {
	active, standby := newFakeNN(t), newFakeNN(t)
	standby.mu.Lock()
	standby.primary = false
	standby.mu.Unlock()
	dn := startDN(t, "127.0.0.11", []string{active.addr, standby.addr}, nil)
	u := dn.ID().GetUuid()
	for _, nn := range []*fakeNN{active, standby} {
		nn.waitFor("registration", 10*time.Second, func() bool { return len(nn.reports[u]) > 0 })
	}
	for _, id := range []uint64{500, 501} {
		if err := writeBlockTo([]*DataNode{dn.DataNode}, id, 1, randomData(id, 100)); err != nil {
			t.Fatal(err)
		}
	}
	// Both NameNodes hear of every replica.
	for _, nn := range []*fakeNN{active, standby} {
		nn.waitFor("RECEIVED", 5*time.Second, func() bool { return nn.hasIBR(u, 501, dnpb.ReceivedDeleted_RECEIVED) })
	}
	standby.queue(u, &dnpb.Command{Kind: dnpb.Command_INVALIDATE, Blocks: []*dnpb.Block{{Id: 500, GenStamp: 1}}})
	active.queue(u, &dnpb.Command{Kind: dnpb.Command_INVALIDATE, Blocks: []*dnpb.Block{{Id: 501, GenStamp: 1}}})
	active.waitFor("DELETED of 501", 5*time.Second, func() bool { return active.hasIBR(u, 501, dnpb.ReceivedDeleted_DELETED) })
	standby.waitFor("the standby's command to be taken", 5*time.Second, func() bool { return len(standby.commands[u]) == 0 })
	time.Sleep(300 * time.Millisecond)
	if _, ok := dn.Store().Get(500); !ok {
		t.Fatal("the standby's invalidate was obeyed")
	}
}

func TestDataNodeStopsItselfWhenItsOnlyVolumeFails(t *testing.T) {
	nn := newFakeNN(t)
	inj := vfs.NewInjectFS(vfs.Default)
	c, _ := testConf(t, "127.0.0.11", []string{nn.addr}, nil)
	d, err := New(Options{Conf: c, NameNodes: []string{nn.addr}, FS: inj, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	u := d.ID().GetUuid()
	nn.waitFor("registration", 10*time.Second, func() bool { return len(nn.reports[u]) > 0 })
	inj.SetRule(func(op vfs.Op, path string) error {
		if op == vfs.OpWrite && strings.Contains(filepath.Base(path), "blk_") {
			return syscall.EIO
		}
		return nil
	})
	if err := writeBlockTo([]*DataNode{d}, 1, 1, randomData(1, 5000)); err == nil {
		t.Fatal("a write to a failing disk succeeded")
	}
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the DataNode kept running without a working volume")
	}
	if d.Err() == nil {
		t.Fatal("no reason given for the shutdown")
	}
}
