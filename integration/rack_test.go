package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	hdfs "github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"
)

// topologyScript is the shared example script (Hadoop's contract):
// 127.0.0.1x -> /dc1/rack1, 127.0.0.2x -> /dc1/rack2.
func topologyScript(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"../../shared/examples/topology.sh", "../scripts/topology.sh"} {
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	t.Fatal("topology.sh not found")
	return ""
}

func rackCluster(t *testing.T, extra map[string]string) *Cluster {
	conf := DataConf()
	conf["net.topology.script.file.name"] = topologyScript(t)
	for k, v := range extra {
		conf[k] = v
	}
	c := NewCluster(t, conf)
	c.Start()
	c.StartDataNodes("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.21", "127.0.0.22", "127.0.0.23")
	waitLive(t, c, 6)
	return c
}

// clientFrom is a Hadoop client whose NameNode and DataNode connections
// come from ip, as a client running on that host.
func clientFrom(t *testing.T, c *Cluster, ip string) *hdfs.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	cl, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.NNAddr}, User: currentUserName(),
		NamenodeDialFunc: d.DialContext, DatanodeDialFunc: d.DialContext})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func locationsFrom(t *testing.T, c *Cluster, ip, name string) *pb.LocatedBlocksProto {
	t.Helper()
	cl, err := ipc.Dial(context.Background(), c.NNAddr, ipc.ClientOptions{User: currentUserName(),
		Protocol: "org.apache.hadoop.hdfs.protocol.ClientProtocol", LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp := &pb.GetBlockLocationsResponseProto{}
	if err := cl.Call(context.Background(), "getBlockLocations", &pb.GetBlockLocationsRequestProto{Src: proto.String(name), Offset: proto.Uint64(0), Length: proto.Uint64(1 << 40)}, resp); err != nil {
		t.Fatal(err)
	}
	return resp.GetLocations()
}

func rackOfIP(ip string) string {
	switch {
	case strings.HasPrefix(ip, "127.0.0.1") && len(ip) == len("127.0.0.11"):
		return "/dc1/rack1"
	case strings.HasPrefix(ip, "127.0.0.2") && len(ip) == len("127.0.0.21"):
		return "/dc1/rack2"
	}
	return "/default-rack"
}

func TestRackAwarePlacementAndReads(t *testing.T) {
	c := rackCluster(t, nil)
	writer := clientFrom(t, c, "127.0.0.21")
	writer.MkdirAll("/racks", 0o755)
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("/racks/f%d", i)
		writeFile(t, writer, name, randomBytes(uint64(i), 300000))
		for _, b := range blockLocations(t, c, name).GetBlocks() {
			racks := map[string]int{}
			for _, l := range b.GetLocs() {
				racks[l.GetLocation()]++
			}
			if len(b.GetLocs()) != 3 || len(racks) != 2 {
				t.Fatalf("%s: replicas %v: want 3 on 2 racks", name, racks)
			}
			// Seeds' policy: the writer's node, one beside it, one on the other rack.
			if racks["/dc1/rack2"] != 2 {
				t.Fatalf("%s: writer on rack2 but rack2 holds %d replicas", name, racks["/dc1/rack2"])
			}
		}
		lbs := locationsFrom(t, c, "127.0.0.21", name)
		for _, b := range lbs.GetBlocks() {
			if first := b.GetLocs()[0].GetId().GetIpAddr(); first != "127.0.0.21" {
				t.Fatalf("%s: reader on 127.0.0.21 (holding a replica) got %s first", name, first)
			}
		}
		lbs = locationsFrom(t, c, "127.0.0.25", name)
		for _, b := range lbs.GetBlocks() {
			if r := rackOfIP(b.GetLocs()[0].GetId().GetIpAddr()); r != "/dc1/rack2" {
				t.Fatalf("%s: reader on rack2 got a %s replica first", name, r)
			}
		}
	}
	out := c.Run("dfsadmin", "-printTopology")
	if !strings.Contains(out, "Rack: /dc1/rack1\n   127.0.0.11:") || !strings.Contains(out, "Rack: /dc1/rack2\n") {
		t.Fatalf("printTopology:\n%s", out)
	}
	out = c.Run("fsck", "/racks", "-files", "-blocks", "-racks")
	if !strings.Contains(out, "/dc1/rack1/127.0.0.1") || !strings.Contains(out, "is HEALTHY") {
		t.Fatalf("fsck -racks:\n%s", out)
	}
}

func TestLosingARackReReplicates(t *testing.T) {
	c := rackCluster(t, nil)
	cl := c.Client(currentUserName())
	cl.MkdirAll("/rk", 0o755)
	for i := 0; i < 4; i++ {
		writeFile(t, cl, fmt.Sprintf("/rk/f%d", i), randomBytes(uint64(100+i), 1<<20+17))
	}
	for _, d := range c.DataNodes[:3] { // all of rack1
		d.Kill()
	}
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("/rk/f%d", i)
		if _, err := c.Client(currentUserName()).ReadFile(name); err != nil {
			t.Fatalf("read %s with a rack down: %v", name, err)
		}
		waitReplicatedOn(t, c, name, 3, "/dc1/rack2", 90*time.Second)
	}
	for _, d := range c.DataNodes[:3] {
		d.Start()
	}
	// Back to two racks: excess removed, spread restored.
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("/rk/f%d", i)
		deadline := time.Now().Add(90 * time.Second)
		for {
			ok := true
			for _, b := range blockLocations(t, c, name).GetBlocks() {
				racks := map[string]bool{}
				for _, l := range b.GetLocs() {
					racks[l.GetLocation()] = true
				}
				ok = ok && len(b.GetLocs()) == 3 && len(racks) == 2
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: two-rack spread not restored\n%s", name, c.NNLog())
			}
			time.Sleep(time.Second)
		}
	}
}

// waitReplicatedOn waits until every block of name has want replicas, all
// on rack.
func waitReplicatedOn(t *testing.T, c *Cluster, name string, want int, rack string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, b := range blockLocations(t, c, name).GetBlocks() {
			n := 0
			for _, l := range b.GetLocs() {
				if l.GetLocation() == rack {
					n++
				}
			}
			ok = ok && n >= want
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %d replicas on %s within %s\n%s", name, want, rack, within, c.NNLog())
		}
		time.Sleep(time.Second)
	}
}

func TestBrokenTopologyScriptFallsBack(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"fail.sh":  "#!/bin/sh\nexit 1\n",
		"short.sh": "#!/bin/sh\n# one answer too few for any batch\nshift\nfor h in \"$@\"; do echo /r1; done\n",
		"slow.sh":  "#!/bin/sh\nsleep 30\n",
	} {
		script := filepath.Join(dir, name)
		os.WriteFile(script, []byte(body), 0o755)
		t.Run(name, func(t *testing.T) {
			conf := DataConf()
			conf["net.topology.script.file.name"] = script
			conf["net.topology.script.timeout"] = "2s"
			c := NewCluster(t, conf)
			c.Start()
			c.StartDataNodes("127.0.0.11", "127.0.0.12")
			waitLive(t, c, 2)
			cl := c.Client(currentUserName())
			writeFile(t, cl, "/x", []byte("still serving"))
			if got, err := cl.ReadFile("/x"); err != nil || string(got) != "still serving" {
				t.Fatalf("read: %q %v", got, err)
			}
			if !strings.Contains(c.Run("dfsadmin", "-printTopology"), "Rack: /default-rack") {
				t.Fatal("nodes not on /default-rack")
			}
			if !strings.Contains(c.NNLog(), name) {
				t.Fatalf("no warning naming the script:\n%s", c.NNLog())
			}
		})
	}
}

func TestDecommissionCompletes(t *testing.T) {
	exclude := filepath.Join(t.TempDir(), "exclude")
	os.WriteFile(exclude, nil, 0o644)
	conf := DataConf()
	conf["dfs.hosts.exclude"] = exclude
	c := NewCluster(t, conf)
	c.Start()
	c.StartDataNodes("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
	waitLive(t, c, 4)
	cl := c.Client(currentUserName())
	for i := 0; i < 3; i++ {
		writeFile(t, cl, fmt.Sprintf("/dec%d", i), randomBytes(uint64(i+50), 400000))
	}
	os.WriteFile(exclude, []byte("127.0.0.11\n"), 0o644)
	c.Run("dfsadmin", "-refreshNodes")
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(c.Run("dfsadmin", "-report"), "Decommission Status : Decommissioned") {
		if time.Now().After(deadline) {
			t.Fatalf("127.0.0.11 never reached Decommissioned\n%s", c.Run("dfsadmin", "-report"))
		}
		time.Sleep(time.Second)
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("/dec%d", i)
		for _, b := range blockLocations(t, c, name).GetBlocks() {
			others := 0
			for _, l := range b.GetLocs() {
				if l.GetId().GetIpAddr() != "127.0.0.11" {
					others++
				}
			}
			if others < 3 {
				t.Fatalf("%s: only %d replicas off the decommissioned node", name, others)
			}
		}
	}
}
