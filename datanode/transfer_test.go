package datanode

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// sendOp sends an op to a DataNode and reads its one reply.
func sendOp(t *testing.T, d *DataNode, op byte, msg proto.Message) *hadooppb.BlockOpResponseProto {
	t.Helper()
	c, err := net.DialTimeout("tcp", d.XferAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := writeOp(c, op, msg); err != nil {
		t.Fatal(err)
	}
	var resp hadooppb.BlockOpResponseProto
	if err := readPrefixedGoClient(c, &resp); err != nil {
		t.Fatalf("%s reply: %v", opName(op), err)
	}
	return &resp
}

func TestTransferBlockCopiesAnRBWReplicaForPipelineRecovery(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 2, nil)
	w, resp, err := openPipeline(nodes(dns[:1]), testBlock(600, 2, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("setup: %v %v", err, resp)
	}
	defer w.c.Close()
	data := randomData(600, 70000)
	if _, err := w.sendPacket(data[:65536], false, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.readAck(); err != nil {
		t.Fatal(err)
	}
	r := sendOp(t, dns[0].DataNode, opTransferBlock, &hadooppb.OpTransferBlockProto{
		Header:             &hadooppb.ClientOperationHeaderProto{BaseHeader: &hadooppb.BaseHeaderProto{Block: testBlock(600, 2, 65536)}, ClientName: proto.String("DFSClient_test")},
		Targets:            []*hadooppb.DatanodeInfoProto{dnInfo(dns[1].DataNode)},
		TargetStorageTypes: []hadooppb.StorageTypeProto{hadooppb.StorageTypeProto_DISK},
	})
	if r.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("TRANSFER_BLOCK: %v", r)
	}
	rep, ok := dns[1].Store().Get(600)
	if !ok || rep.State != storage.StateRBW || rep.NumBytes != 65536 || rep.GenStamp != 2 {
		t.Fatalf("transferred replica %+v %v", rep, ok)
	}
	// The recovered pipeline goes on with both nodes and a new generation.
	w.c.Close()
	w2, resp, err := openPipeline(nodes(dns), testBlock(600, 2, 65536), writeSetup{stage: stageStreamingRecovery, offset: 65536, latestGS: 3, minBytes: 65536})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("recovery setup: %v %v", err, resp)
	}
	defer w2.c.Close()
	if err := w2.writeData(data[65536:], 2, nil); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	for _, d := range dns {
		got, err := readBlockFrom(d.DataNode, testBlock(600, 3, 70000), 0, 70000)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read after recovery from %s: %v", d.XferAddr(), err)
		}
	}
}

func TestReplaceBlockPullsFromTheSourceAndReportsWithDelHint(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 2, nil)
	data := randomData(700, 150000)
	if err := writeBlockTo(nodes(dns[:1]), 700, 4, data); err != nil {
		t.Fatal(err)
	}
	r := sendOp(t, dns[1].DataNode, opReplaceBlock, &hadooppb.OpReplaceBlockProto{
		Header:  &hadooppb.BaseHeaderProto{Block: testBlock(700, 4, 150000)},
		DelHint: proto.String(dns[0].ID().GetUuid()),
		Source:  dnInfo(dns[0].DataNode),
	})
	if r.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("REPLACE_BLOCK: %v", r)
	}
	got, err := readBlockFrom(dns[1].DataNode, testBlock(700, 4, 150000), 0, 150000)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read of the moved replica: %v", err)
	}
	u := dns[1].ID().GetUuid()
	nn.waitFor("RECEIVED with a delHint", 5*time.Second, func() bool {
		for i, e := range nn.ibr {
			if nn.ibrFrom[i] == u && e.GetBlock().GetId() == 700 && e.GetStatus() == dnpb.ReceivedDeleted_RECEIVED {
				return e.GetDelHint() == dns[0].ID().GetUuid()
			}
		}
		return false
	})
	// A second move to the same node is refused.
	r = sendOp(t, dns[1].DataNode, opReplaceBlock, &hadooppb.OpReplaceBlockProto{
		Header: &hadooppb.BaseHeaderProto{Block: testBlock(700, 4, 150000)}, DelHint: proto.String(""), Source: dnInfo(dns[0].DataNode),
	})
	if r.GetStatus() == hadooppb.Status_SUCCESS {
		t.Fatal("a replace onto a node that has the replica succeeded")
	}
}

func TestCopyBlockRefusesUnfinalizedReplicas(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	w, resp, err := openPipeline(nodes(dns), testBlock(800, 1, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("setup: %v %v", err, resp)
	}
	defer w.c.Close()
	r := sendOp(t, dns[0].DataNode, opCopyBlock, &hadooppb.OpCopyBlockProto{Header: &hadooppb.BaseHeaderProto{Block: testBlock(800, 1, 0)}})
	if r.GetStatus() == hadooppb.Status_SUCCESS {
		t.Fatal("COPY_BLOCK of an RBW replica succeeded")
	}
}

func TestScannerReportsCorruptReplicas(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, map[string]string{"dfs.datanode.scan.period.seconds": "1"})
	if err := writeBlockTo(nodes(dns), 900, 1, randomData(900, 10000)); err != nil {
		t.Fatal(err)
	}
	if err := writeBlockTo(nodes(dns), 901, 1, randomData(901, 10000)); err != nil {
		t.Fatal(err)
	}
	if s := dns[0].Settings().ScanPeriod; s != time.Second {
		t.Fatalf("scan period %v", s)
	}
	corruptReplica(t, dns[0], 901, 5000)
	nn.waitFor("the scanner's bad block report", 10*time.Second, func() bool {
		for _, b := range nn.bad {
			for _, blk := range b.GetBlocks() {
				if blk.GetId() == 901 {
					return true
				}
			}
		}
		return false
	})
	nn.mu.Lock()
	defer nn.mu.Unlock()
	for _, b := range nn.bad {
		for _, blk := range b.GetBlocks() {
			if blk.GetId() == 900 {
				t.Fatal("a good replica was reported corrupt")
			}
		}
	}
}
