package datanode

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
)

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func nodes(dns []*testDN) []*DataNode {
	out := make([]*DataNode, len(dns))
	for i, d := range dns {
		out[i] = d.DataNode
	}
	return out
}

func TestPipelineWritesEverySizeAndEveryReplicaReadsBack(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 3, nil)
	sizes := []int{0, 1, 511, 512, 513, 65535, 65536, 65537, 1<<20 - 1, 1 << 20, 1<<20 + 1}
	r := rand.New(rand.NewPCG(1, 2))
	for i, size := range sizes {
		id, gs := uint64(1000+i), uint64(1001)
		data := randomData(uint64(size), size)
		if err := writeBlockTo(nodes(dns), id, gs, data); err != nil {
			t.Fatalf("write %d bytes: %v", size, err)
		}
		// The last ack comes after every node told the NameNode.
		nn.mu.Lock()
		for _, d := range dns {
			if !nn.hasIBR(d.ID().GetUuid(), id, dnpb.ReceivedDeleted_RECEIVED) {
				t.Errorf("size %d: %s acked before reporting RECEIVED", size, d.XferAddr())
			}
		}
		nn.mu.Unlock()
		for _, d := range dns {
			rep, ok := d.Store().Get(id)
			if !ok || rep.State != storage.StateFinalized || rep.NumBytes != uint64(size) || rep.GenStamp != gs {
				t.Fatalf("size %d on %s: replica %+v (found %v)", size, d.XferAddr(), rep, ok)
			}
			blk := testBlock(id, gs, uint64(size))
			got, err := readBlockFrom(d.DataNode, blk, 0, uint64(size))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d: full read from %s: %v (equal %v)", size, d.XferAddr(), err, bytes.Equal(got, data))
			}
			for k := 0; k < 5 && size > 0; k++ {
				off := r.IntN(size)
				n := r.IntN(size - off + 1)
				got, err := readBlockFrom(d.DataNode, blk, uint64(off), uint64(n))
				if err != nil || !bytes.Equal(got, data[off:off+n]) {
					t.Fatalf("size %d: read %d+%d from %s: %v", size, off, n, d.XferAddr(), err)
				}
			}
		}
	}
}

func TestReadBeyondVisibleLengthIsRefused(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	data := randomData(7, 1000)
	if err := writeBlockTo(nodes(dns), 7, 1, data); err != nil {
		t.Fatal(err)
	}
	if _, err := readBlockFrom(dns[0].DataNode, testBlock(7, 1, 1000), 900, 101); err == nil {
		t.Fatal("a read past the end succeeded")
	}
	if got, err := readBlockFrom(dns[0].DataNode, testBlock(7, 1, 1000), 1000, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty read at the end: %v", err)
	}
	if _, err := readBlockFrom(dns[0].DataNode, testBlock(8, 1, 1000), 0, 1); err == nil {
		t.Fatal("a read of a missing block succeeded")
	}
}

func TestWrongChecksumIsAckedErrorChecksumAndNeverFinalized(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 3, nil)
	w, resp, err := openPipeline(nodes(dns), testBlock(50, 1, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("setup: %v %v", err, resp)
	}
	defer w.c.Close()
	data := randomData(50, 3*clientPacketSize)
	if _, err := w.sendPacket(data[:clientPacketSize], false, false, false); err != nil {
		t.Fatal(err)
	}
	a, err := w.readAck()
	if err != nil || a.seqno != 1 || len(a.replies) != 3 {
		t.Fatalf("first ack: %+v %v", a, err)
	}
	if _, err := w.sendPacket(data[clientPacketSize:2*clientPacketSize], false, true, false); err != nil {
		t.Fatal(err)
	}
	a, err = w.readAck()
	if err != nil {
		t.Fatalf("ack of the corrupt packet: %v", err)
	}
	if a.seqno != 2 || len(a.replies) == 0 || a.replies[0] != hadooppb.Status_ERROR_CHECKSUM {
		t.Fatalf("ack of the corrupt packet: %+v, want ERROR_CHECKSUM from the first node", a)
	}
	// The stream ends; nothing is finalized anywhere.
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := w.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after a checksum error")
	}
	time.Sleep(100 * time.Millisecond)
	for _, d := range dns {
		if rep, ok := d.Store().Get(50); ok && rep.State == storage.StateFinalized {
			t.Fatalf("%s finalized a replica with a bad packet: %+v", d.XferAddr(), rep)
		}
		if rep, ok := d.Store().Get(50); ok && rep.NumBytes > clientPacketSize {
			t.Fatalf("%s stored the bad packet: %+v", d.XferAddr(), rep)
		}
	}
}

func TestDownstreamFailureIsNamedInTheAck(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 3, nil)
	w, resp, err := openPipeline(nodes(dns), testBlock(60, 1, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("setup: %v %v", err, resp)
	}
	defer w.c.Close()
	data := randomData(60, clientPacketSize)
	if _, err := w.sendPacket(data, false, false, false); err != nil {
		t.Fatal(err)
	}
	if a, err := w.readAck(); err != nil || len(a.replies) != 3 {
		t.Fatalf("first ack: %+v %v", a, err)
	}
	dns[2].Close() // the last node dies mid-block
	var failed *ackError
	for i := 0; i < 20 && failed == nil; i++ {
		if _, err := w.sendPacket(data, false, false, false); err != nil {
			t.Fatalf("send: %v", err)
		}
		a, err := w.readAck()
		if err != nil {
			t.Fatalf("ack: %v", err)
		}
		for j, st := range a.replies {
			if st != hadooppb.Status_SUCCESS {
				failed = &ackError{a.seqno, j, st}
				break
			}
		}
	}
	if failed == nil {
		t.Fatal("no ack named the dead node")
	}
	if failed.index != 2 || failed.status != hadooppb.Status_ERROR {
		t.Fatalf("ack error %v, want ERROR at index 2 (the dead node)", failed)
	}
}

func TestPipelineSetupNamesUnreachableNodeAsFirstBadLink(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 3, nil)
	dead := dns[2].XferAddr()
	dns[2].Close()
	_, resp, err := openPipeline(nodes(dns), testBlock(70, 1, 0), writeSetup{stage: stageCreate})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if resp.GetStatus() == hadooppb.Status_SUCCESS || resp.GetFirstBadLink() != dead {
		t.Fatalf("setup reply %v, want an error naming %s", resp, dead)
	}
	time.Sleep(50 * time.Millisecond)
	for _, d := range dns[:2] {
		if _, ok := d.Store().Get(70); ok {
			t.Errorf("%s kept the replica of a failed setup", d.XferAddr())
		}
	}
}

func TestHflushedDataIsVisibleToReadersBeforeTheBlockEnds(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 2, nil)
	w, resp, err := openPipeline(nodes(dns), testBlock(80, 3, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("setup: %v %v", err, resp)
	}
	defer w.c.Close()
	data := randomData(80, 1000)
	// A partial chunk, hsynced, then the rest after realignment.
	if _, err := w.sendPacket(data[:700], false, false, true); err != nil {
		t.Fatal(err)
	}
	if a, err := w.readAck(); err != nil || len(a.replies) != 2 {
		t.Fatalf("ack: %+v %v", a, err)
	}
	for _, d := range dns {
		got, err := readBlockFrom(d.DataNode, testBlock(80, 3, 700), 0, 700)
		if err != nil || !bytes.Equal(got, data[:700]) {
			t.Fatalf("read of hflushed data from %s: %v", d.XferAddr(), err)
		}
	}
	if err := w.sendHeartbeat(); err != nil {
		t.Fatal(err)
	}
	if a, err := w.readAck(); err != nil || a.seqno != heartbeatSeqno || len(a.replies) != 2 {
		t.Fatalf("heartbeat ack: %+v %v", a, err)
	}
	if err := w.writeData(data[700:], 2, nil); err != nil {
		t.Fatalf("rest of the block: %v", err)
	}
	for _, d := range dns {
		got, err := readBlockFrom(d.DataNode, testBlock(80, 3, 1000), 0, 1000)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read of the whole block from %s: %v", d.XferAddr(), err)
		}
	}
}

func TestAppendToAFinalizedReplica(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 2, nil)
	data := randomData(90, 100000)
	if err := writeBlockTo(nodes(dns), 90, 5, data[:70001]); err != nil {
		t.Fatal(err)
	}
	w, resp, err := openPipeline(nodes(dns), testBlock(90, 5, 70001), writeSetup{stage: stageAppend, offset: 70001, latestGS: 6, minBytes: 70001})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("append setup: %v %v", err, resp)
	}
	defer w.c.Close()
	if err := w.writeData(data[70001:], 2, nil); err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, d := range dns {
		rep, _ := d.Store().Get(90)
		if rep.GenStamp != 6 || rep.NumBytes != 100000 || rep.State != storage.StateFinalized {
			t.Fatalf("after append on %s: %+v", d.XferAddr(), rep)
		}
		got, err := readBlockFrom(d.DataNode, testBlock(90, 6, 100000), 0, 100000)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read after append from %s: %v", d.XferAddr(), err)
		}
	}
	// A wrong expected length is refused, naming no downstream node.
	_, resp, err = openPipeline(nodes(dns), testBlock(90, 6, 5), writeSetup{stage: stageAppend, offset: 5, latestGS: 7, minBytes: 5})
	if err != nil || resp.GetStatus() == hadooppb.Status_SUCCESS || resp.GetFirstBadLink() != "" {
		t.Fatalf("append with a wrong length: %v %v", err, resp)
	}
}

func TestClientChecksumChoiceIsKeptAndServed(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 2, nil)
	for i, cs := range []*hadooppb.ChecksumProto{
		{Type: hadooppb.ChecksumTypeProto_CHECKSUM_CRC32.Enum(), BytesPerChecksum: ptr(uint32(512))},
		{Type: hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C.Enum(), BytesPerChecksum: ptr(uint32(1024))},
		{Type: hadooppb.ChecksumTypeProto_CHECKSUM_NULL.Enum(), BytesPerChecksum: ptr(uint32(512))},
	} {
		id := uint64(95 + i)
		data := randomData(id, 5000)
		w, resp, err := openPipeline(nodes(dns), testBlock(id, 1, 0), writeSetup{stage: stageCreate, checksums: cs})
		if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
			t.Fatalf("%v write: %v %v", cs, err, resp)
		}
		if err := w.writeData(data, 2, nil); err != nil {
			t.Fatalf("%v write: %v", cs, err)
		}
		w.c.Close()
		for _, d := range dns {
			got, err := readBlockFrom(d.DataNode, testBlock(id, 1, 5000), 100, 4000)
			if err != nil || !bytes.Equal(got, data[100:4100]) {
				t.Fatalf("%v read from %s: %v", cs, d.XferAddr(), err)
			}
		}
	}
	_, resp, err := openPipeline(nodes(dns), testBlock(99, 1, 0), writeSetup{stage: stageCreate,
		checksums: &hadooppb.ChecksumProto{Type: hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C.Enum(), BytesPerChecksum: ptr(uint32(0))}})
	if err != nil || resp.GetStatus() != hadooppb.Status_ERROR_UNSUPPORTED {
		t.Fatalf("write with 0 bytes per checksum: %v %v", err, resp)
	}
}

func ptr[T any](v T) *T { return &v }

func TestBlockChecksumIsEqualOnEveryReplica(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 3, nil)
	data := randomData(100, 300000)
	if err := writeBlockTo(nodes(dns), 100, 2, data); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{300000, 1000, 1024} {
		var first []byte
		for _, d := range dns {
			resp, err := blockChecksumFrom(d.DataNode, testBlock(100, 2, n))
			if err != nil {
				t.Fatalf("checksum from %s: %v", d.XferAddr(), err)
			}
			cr := resp.GetChecksumResponse()
			if cr.GetBytesPerCrc() != 512 || cr.GetCrcPerBlock() != uint64(numChunks(300000, 512)) || cr.GetCrcType() != hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C {
				t.Fatalf("checksum response %v", cr)
			}
			if first == nil {
				first = cr.GetBlockChecksum()
			} else if !bytes.Equal(first, cr.GetBlockChecksum()) {
				t.Fatalf("length %d: checksums differ between replicas", n)
			}
		}
		if exp := expectedMD5CRC(data[:n], 512); !bytes.Equal(first, exp) {
			t.Fatalf("length %d: checksum %x, want %x", n, first, exp)
		}
	}
}

func TestReplicaThatFailsItsChecksumWhileSentIsReported(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	data := randomData(110, 200000)
	if err := writeBlockTo(nodes(dns), 110, 1, data); err != nil {
		t.Fatal(err)
	}
	corruptReplica(t, dns[0], 110, 150000)
	_, err := readBlockFrom(dns[0].DataNode, testBlock(110, 1, 200000), 0, 200000)
	if err == nil {
		t.Fatal("a corrupt replica was read without error")
	}
	nn.waitFor("reportBadBlocks", 5*time.Second, func() bool {
		for _, b := range nn.bad {
			if len(b.GetBlocks()) > 0 && b.GetBlocks()[0].GetId() == 110 {
				return true
			}
		}
		return false
	})
}

func TestMalformedOpsGetAnErrorAndClose(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, nil)
	cases := map[string][]byte{
		"bad version":      {0x00, 0x1b, opReadBlock, 0x00},
		"unknown op":       {0x00, 28, 0x70, 0x00},
		"short-circuit op": {0x00, 28, opRequestSCFds, 0x00},
		"garbage message":  {0x00, 28, opReadBlock, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff},
		"missing fields":   {0x00, 28, opWriteBlock, 0x00},
		"huge length":      {0x00, 28, opWriteBlock, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"varint overflow":  {0x00, 28, opReadBlock, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			resp, closed, err := rawOp(dns[0].XferAddr(), b)
			if err != nil {
				t.Fatalf("reply: %v", err)
			}
			if resp.GetStatus() == hadooppb.Status_SUCCESS || resp.GetMessage() == "" {
				t.Fatalf("reply %v, want an error with a message", resp)
			}
			if !closed {
				t.Fatal("connection left open")
			}
		})
	}
}

func TestTransferThreadLimitRefusesWithAClearError(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, map[string]string{"dfs.datanode.max.transfer.threads": "1"})
	data := randomData(120, 1000)
	if err := writeBlockTo(nodes(dns), 120, 1, data); err != nil {
		t.Fatal(err)
	}
	// One idle connection holds the only slot.
	hold, err := dialRaw(dns[0].XferAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	waitUntil(t, "the idle connection to count", func() bool { return dns[0].XceiverCount() == 1 })
	_, err = readBlockFrom(dns[0].DataNode, testBlock(120, 1, 1000), 0, 1000)
	if err == nil || !bytesContains(err.Error(), "max.transfer.threads") {
		t.Fatalf("read beyond the limit: %v", err)
	}
	hold.Close()
	waitUntil(t, "the slot to free", func() bool { return dns[0].XceiverCount() == 0 })
	if _, err := readBlockFrom(dns[0].DataNode, testBlock(120, 1, 1000), 0, 1000); err != nil {
		t.Fatalf("read after the slot freed: %v", err)
	}
}

func TestStalledClientDoesNotPinTheDataNode(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 1, map[string]string{"dfs.client.socket-timeout": "300ms"})
	w, resp, err := openPipeline(nodes(dns), testBlock(130, 1, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("setup: %v %v", err, resp)
	}
	defer w.c.Close()
	c, err := dialRaw(dns[0].XferAddr()) // never sends an op
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitUntil(t, "stalled peers to be dropped", func() bool { return dns[0].XceiverCount() == 0 })
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPacketsArrivingTogether sends good packets, a heartbeat and a
// corrupt packet in one write, so they reach the first DataNode together
// (one read, one run): each good packet and the heartbeat are acked in
// order with every node's SUCCESS, the corrupt one with ERROR_CHECKSUM,
// and every node keeps exactly the good packets' bytes.
func TestPacketsArrivingTogether(t *testing.T) {
	nn := newFakeNN(t)
	dns := startCluster(t, nn, 3, nil)
	w, resp, err := openPipeline(nodes(dns), testBlock(51, 1, 0), writeSetup{stage: stageCreate})
	if err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
		t.Fatalf("setup: %v %v", err, resp)
	}
	defer w.c.Close()
	const good = 5
	data := randomData(51, (good+1)*clientPacketSize)
	var batch []byte
	var order []int64
	for i := 0; i <= good; i++ {
		chunk := data[i*clientPacketSize : (i+1)*clientPacketSize]
		var sums []byte
		for p := 0; p < len(chunk); p += w.cs.bpc {
			sums = binary.BigEndian.AppendUint32(sums, crc32.Checksum(chunk[p:p+w.cs.bpc], w.cs.table()))
		}
		if i == good {
			sums[3] ^= 0xff
		}
		batch = appendPacket(batch, packetHeader{offset: int64(i * clientPacketSize), seqno: int64(i + 1)}, sums, chunk)
		order = append(order, int64(i+1))
		if i == 2 {
			batch = appendPacket(batch, packetHeader{seqno: heartbeatSeqno}, nil, nil)
			order = append(order, heartbeatSeqno)
		}
	}
	if _, err := w.c.Write(batch); err != nil {
		t.Fatal(err)
	}
	for _, seq := range order {
		a, err := w.readAck()
		if err != nil {
			t.Fatalf("ack for %d: %v", seq, err)
		}
		if seq == good+1 {
			if a.seqno != seq || len(a.replies) == 0 || a.replies[0] != hadooppb.Status_ERROR_CHECKSUM {
				t.Fatalf("ack of the corrupt packet: %+v, want ERROR_CHECKSUM", a)
			}
			continue
		}
		if a.seqno != seq || len(a.replies) != 3 {
			t.Fatalf("ack %+v, want seqno %d from 3 nodes", a, seq)
		}
		for i, st := range a.replies {
			if st != hadooppb.Status_SUCCESS {
				t.Fatalf("ack for %d: node %d answered %s", seq, i, st)
			}
		}
	}
	for _, d := range dns {
		waitUntil(t, "the good packets stored on "+d.XferAddr(), func() bool {
			rep, ok := d.Store().Get(51)
			return ok && rep.NumBytes == good*clientPacketSize
		})
		if rep, _ := d.Store().Get(51); rep.State == storage.StateFinalized {
			t.Fatalf("%s finalized a replica with a bad packet", d.XferAddr())
		}
		got, err := readBlockFrom(d.DataNode, testBlock(51, 1, good*clientPacketSize), 0, good*clientPacketSize)
		if err != nil {
			t.Fatalf("read from %s: %v", d.XferAddr(), err)
		}
		if !bytes.Equal(got, data[:good*clientPacketSize]) {
			t.Fatalf("%s holds other bytes than the good packets", d.XferAddr())
		}
	}
}
