package main

import (
	"bytes"
	"testing"
	"time"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

func TestByteDescMatchesHadoop(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{{0, "0 B"}, {24576, "24 KB"}, {44389347328, "41.34 GB"}, {1055463948288, "982.98 GB"}, {1023, "1023 B"}} {
		if got := byteDesc(c.n); got != c.want {
			t.Errorf("byteDesc(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestReportGolden(t *testing.T) {
	last := uint64(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC).UnixMilli())
	dn := &pb.DatanodeInfoProto{Id: &pb.DatanodeIDProto{IpAddr: proto.String("127.0.0.11"), HostName: proto.String("h11"),
		DatanodeUuid: proto.String("u"), XferPort: proto.Uint32(9866), InfoPort: proto.Uint32(9864), IpcPort: proto.Uint32(9867)},
		Capacity: proto.Uint64(1 << 30), DfsUsed: proto.Uint64(24576), Remaining: proto.Uint64(1 << 29), NonDfsUsed: proto.Uint64(1<<29 - 24576),
		LastUpdate: proto.Uint64(last), Location: proto.String("/dc1/rack1"), XceiverCount: proto.Uint32(1), NumBlocks: proto.Uint32(3)}
	st := &pb.GetFsStatsResponseProto{Capacity: proto.Uint64(1 << 30), Used: proto.Uint64(24576), Remaining: proto.Uint64(1 << 29)}
	var b bytes.Buffer
	t.Setenv("TZ", "UTC")
	time.Local = time.UTC
	writeReport(&b, st, []*pb.DatanodeInfoProto{dn}, nil)
	want := `Configured Capacity: 1073741824 (1 GB)
Present Capacity: 536895488 (512.02 MB)
DFS Remaining: 536870912 (512 MB)
DFS Used: 24576 (24 KB)
DFS Used%: 0.00%
Replicated Blocks:
	Under replicated blocks: 0
	Blocks with corrupt replicas: 0
	Missing blocks: 0
	Missing blocks (with replication factor 1): 0
	Pending deletion blocks: 0

-------------------------------------------------
Live datanodes (1):

Name: 127.0.0.11:9866 (h11)
Hostname: h11
Rack: /dc1/rack1
Decommission Status : Normal
Configured Capacity: 1073741824 (1 GB)
DFS Used: 24576 (24 KB)
Non DFS Used: 536846336 (511.98 MB)
DFS Remaining: 536870912 (512 MB)
DFS Used%: 0.00%
DFS Remaining%: 50.00%
Configured Cache Capacity: 0 (0 B)
Cache Used: 0 (0 B)
Cache Remaining: 0 (0 B)
Cache Used%: 100.00%
Cache Remaining%: 0.00%
Xceivers: 1
Last contact: Wed Nov 25 14:00:00 UTC 2026
Num of Blocks: 3


`
	if b.String() != want {
		t.Fatalf("report:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeTopology(&b, []*pb.DatanodeInfoProto{dn})
	if b.String() != "Rack: /dc1/rack1\n   127.0.0.11:9866 (h11)\n\n" {
		t.Fatalf("topology: %q", b.String())
	}
}
