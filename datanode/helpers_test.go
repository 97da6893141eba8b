package datanode

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/internal/ipc"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

const testPool = "BP-1-127.0.0.1-1"

func quietLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if testing.Verbose() {
		l.SetOutput(&testLogWriter{})
		l.SetLevel(logrus.DebugLevel)
	}
	return l
}

type testLogWriter struct{}

func (testLogWriter) Write(p []byte) (int, error) { fmt.Print(string(p)); return len(p), nil }

// fakeNN is a NameNode's DatanodeProtocol side that records what
// DataNodes tell it and hands out queued commands on heartbeats.
type fakeNN struct {
	t    testing.TB
	srv  *ipc.Server
	ln   net.Listener
	addr string

	mu         sync.Mutex
	cond       *sync.Cond
	registered map[string]*dnpb.DatanodeID // by uuid
	regCount   map[string]int
	heartbeats map[string]int
	reports    map[string][]*dnpb.BlockReportRequest
	ibr        []*dnpb.ReceivedDeleted
	ibrFrom    []string // uuid per ibr entry
	bad        []*dnpb.ReportBadBlocksRequest
	commits    []*dnpb.CommitBlockSynchronizationRequest
	commands   map[string][]*dnpb.Command // by uuid, sent on the next heartbeat
	primary    bool
	forget     bool // answer everything as if no DataNode were registered
}

func newFakeNN(t testing.TB) *fakeNN {
	return newFakeNNAt(t, "127.0.0.1:0")
}

func newFakeNNAt(t testing.TB, addr string) *fakeNN {
	t.Helper()
	f := &fakeNN{
		t:          t,
		registered: map[string]*dnpb.DatanodeID{},
		regCount:   map[string]int{},
		heartbeats: map[string]int{},
		reports:    map[string][]*dnpb.BlockReportRequest{},
		commands:   map[string][]*dnpb.Command{},
		primary:    true,
	}
	f.cond = sync.NewCond(&f.mu)
	m := func(newReq func() proto.Message, h func(req proto.Message) (proto.Message, error)) ipc.Method {
		return ipc.Method{NewRequest: newReq, Handle: func(_ context.Context, _ *ipc.Call, req proto.Message) (proto.Message, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			defer f.cond.Broadcast()
			return h(req)
		}}
	}
	unregistered := func(id *dnpb.DatanodeID) error {
		if f.forget || f.registered[id.GetUuid()] == nil {
			return ipc.Errorf(classUnregistered, "DataNode %s is not registered", id.GetUuid())
		}
		return nil
	}
	methods := map[string]ipc.Method{
		"registerDatanode": m(func() proto.Message { return &dnpb.RegisterRequest{} }, func(r proto.Message) (proto.Message, error) {
			req := r.(*dnpb.RegisterRequest)
			f.forget = false
			f.registered[req.GetId().GetUuid()] = req.GetId()
			f.regCount[req.GetId().GetUuid()]++
			return &dnpb.RegisterResponse{Id: req.GetId(), ClusterId: "CID-test", BlockPoolId: testPool, NamespaceId: 1, Epoch: 1}, nil
		}),
		"sendHeartbeat": m(func() proto.Message { return &dnpb.HeartbeatRequest{} }, func(r proto.Message) (proto.Message, error) {
			req := r.(*dnpb.HeartbeatRequest)
			u := req.GetId().GetUuid()
			if f.forget || f.registered[u] == nil {
				return &dnpb.HeartbeatResponse{Commands: []*dnpb.Command{{Kind: dnpb.Command_REGISTER}}, Primary: f.primary}, nil
			}
			f.heartbeats[u]++
			cmds := f.commands[u]
			delete(f.commands, u)
			return &dnpb.HeartbeatResponse{Commands: cmds, Primary: f.primary}, nil
		}),
		"blockReport": m(func() proto.Message { return &dnpb.BlockReportRequest{} }, func(r proto.Message) (proto.Message, error) {
			req := r.(*dnpb.BlockReportRequest)
			if err := unregistered(req.GetId()); err != nil {
				return nil, err
			}
			f.reports[req.GetId().GetUuid()] = append(f.reports[req.GetId().GetUuid()], req)
			return &dnpb.BlockReportResponse{}, nil
		}),
		"blockReceivedAndDeleted": m(func() proto.Message { return &dnpb.BlockReceivedAndDeletedRequest{} }, func(r proto.Message) (proto.Message, error) {
			req := r.(*dnpb.BlockReceivedAndDeletedRequest)
			if err := unregistered(req.GetId()); err != nil {
				return nil, err
			}
			for _, b := range req.GetBlocks() {
				f.ibr = append(f.ibr, b)
				f.ibrFrom = append(f.ibrFrom, req.GetId().GetUuid())
			}
			return &dnpb.BlockReceivedAndDeletedResponse{}, nil
		}),
		"reportBadBlocks": m(func() proto.Message { return &dnpb.ReportBadBlocksRequest{} }, func(r proto.Message) (proto.Message, error) {
			f.bad = append(f.bad, r.(*dnpb.ReportBadBlocksRequest))
			return &dnpb.ReportBadBlocksResponse{}, nil
		}),
		"commitBlockSynchronization": m(func() proto.Message { return &dnpb.CommitBlockSynchronizationRequest{} }, func(r proto.Message) (proto.Message, error) {
			f.commits = append(f.commits, r.(*dnpb.CommitBlockSynchronizationRequest))
			return &dnpb.CommitBlockSynchronizationResponse{}, nil
		}),
	}
	f.srv = ipc.NewServer(ipc.Options{Logger: quietLogger()}, ipc.Protocol{Name: DatanodeProtocolName, Methods: methods})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("fake NameNode: %v", err)
	}
	f.ln, f.addr = ln, ln.Addr().String()
	go f.srv.Serve(ln)
	t.Cleanup(f.close)
	return f
}

func (f *fakeNN) close() { f.srv.Close() }

// waitFor waits until cond (called under the lock) holds.
func (f *fakeNN) waitFor(what string, timeout time.Duration, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	go func() {
		time.Sleep(timeout)
		f.cond.Broadcast()
	}()
	f.mu.Lock()
	defer f.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("fake NameNode: timed out waiting for %s", what)
		}
		f.cond.Wait()
	}
}

// received reports whether uuid reported block id with status.
func (f *fakeNN) hasIBR(uuid string, id uint64, st dnpb.ReceivedDeleted_Status) bool {
	for i, e := range f.ibr {
		if f.ibrFrom[i] == uuid && e.GetBlock().GetId() == id && e.GetStatus() == st {
			return true
		}
	}
	return false
}

func (f *fakeNN) queue(uuid string, cmds ...*dnpb.Command) {
	f.mu.Lock()
	f.commands[uuid] = append(f.commands[uuid], cmds...)
	f.mu.Unlock()
}

// testDN is a DataNode under test.
type testDN struct {
	*DataNode
	dir string
}

// testConf is the configuration of a test DataNode on ip.
func testConf(t testing.TB, ip string, nns []string, extra map[string]string) (*conf.Config, string) {
	dir := t.TempDir()
	c := conf.New()
	c.Set("dfs.datanode.address", net.JoinHostPort(ip, "0"))
	c.Set("dfs.datanode.ipc.address", net.JoinHostPort(ip, "0"))
	c.Set("dfs.datanode.data.dir", dir)
	c.Set("dfs.heartbeat.interval", "100ms")
	c.Set("dfs.client.socket-timeout", "10s")
	c.Set("dfs.datanode.socket.write.timeout", "10s")
	if len(nns) > 0 {
		c.Set("fs.defaultFS", "hdfs://"+nns[0])
	}
	for k, v := range extra {
		c.Set(k, v)
	}
	return c, dir
}

// startDN starts a DataNode on ip reporting to the given NameNodes.
func startDN(t testing.TB, ip string, nns []string, extra map[string]string) *testDN {
	t.Helper()
	c, dir := testConf(t, ip, nns, extra)
	d, err := New(Options{Conf: c, NameNodes: nns, Logger: quietLogger().WithField("test_dn", ip)})
	if err != nil {
		t.Fatalf("new DataNode on %s: %v", ip, err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("start DataNode on %s: %v", ip, err)
	}
	t.Cleanup(func() { d.Close() })
	return &testDN{DataNode: d, dir: dir}
}

// startCluster starts n DataNodes on 127.0.0.11.. and waits until each has
// registered and sent its first block report.
func startCluster(t testing.TB, nn *fakeNN, n int, extra map[string]string) []*testDN {
	t.Helper()
	var dns []*testDN
	for i := 0; i < n; i++ {
		dn := startDN(t, fmt.Sprintf("127.0.0.%d", 11+i), []string{nn.addr}, extra)
		dns = append(dns, dn)
	}
	for _, dn := range dns {
		u := dn.ID().GetUuid()
		nn.waitFor("registration and block report of "+dn.XferAddr(), 10*time.Second, func() bool {
			return len(nn.reports[u]) > 0
		})
	}
	return dns
}

// packetReader hands out a packetStream's packets one at a time. A packet
// is valid until the batch it came in is used up.
type packetReader struct {
	s *packetStream
	q []packet
}

func (r *packetReader) read() (*packet, error) {
	if len(r.q) == 0 {
		pkts, err := r.s.next()
		if err != nil {
			return nil, err
		}
		r.q = pkts
	}
	p := &r.q[0]
	r.q = r.q[1:]
	return p, nil
}
