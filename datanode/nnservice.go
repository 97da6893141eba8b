package datanode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/ipc"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// The DataNode's side of DatanodeProtocol: one actor per NameNode (the
// Avatar pair has two), each with its own connection, registration,
// heartbeat and report schedule, so a NameNode that is down or slow never
// holds back the others. Incremental reports and bad-block reports go to
// every NameNode; commands are obeyed only from the primary (or from the
// only NameNode).

// DatanodeProtocolName is the protocol the NameNode serves DataNodes under.
const DatanodeProtocolName = "org.apache.hadoop.hdfs.server.protocol.DatanodeProtocol"

// classUnregistered is the exception a NameNode answers a DataNode it does
// not know with; the DataNode registers again.
const classUnregistered = "org.apache.hadoop.hdfs.protocol.UnregisteredNodeException"

const (
	callTimeout = 30 * time.Second
	dialTimeout = 5 * time.Second
	minBackoff  = 100 * time.Millisecond
)

// ibrTicket lets the writer of a replica wait until every registered
// NameNode was told about it (or failed to be told once).
type ibrTicket struct {
	remaining atomic.Int32
	done      chan struct{}
}

func (t *ibrTicket) release() {
	if t != nil && t.remaining.Add(-1) == 0 {
		close(t.done)
	}
}

// ibrEntry is one incremental report entry queued for one NameNode.
type ibrEntry struct {
	rd     *dnpb.ReceivedDeleted
	ticket *ibrTicket // released after the first attempt to deliver
}

// badEntry is one replica to report as corrupt.
type badEntry struct {
	block     *dnpb.Block
	storageID string
}

// nnActor is the DataNode's conversation with one NameNode.
type nnActor struct {
	d    *DataNode
	addr string
	only bool
	log  logrus.FieldLogger

	wake   chan struct{} // something is queued
	closed chan struct{}
	cmds   *commandQueue
	soon   atomic.Bool // send a heartbeat and a full report at once

	dialMu     sync.Mutex // one dial at a time
	mu         sync.Mutex
	client     *ipc.Client
	registered bool
	primary    bool
	ibr        []ibrEntry
	bad        []badEntry
	closeOnce  sync.Once
}

func newNNActor(d *DataNode, addr string, only bool) *nnActor {
	return &nnActor{
		d:      d,
		addr:   addr,
		only:   only,
		log:    d.log.WithField("nn", addr),
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		cmds:   newCommandQueue(),
	}
}

func (a *nnActor) close() {
	a.closeOnce.Do(func() {
		close(a.closed)
		a.mu.Lock()
		if a.client != nil {
			a.client.Close()
			a.client = nil
		}
		a.mu.Unlock()
	})
}

// reportSoon asks for a heartbeat and a full block report right away
// (a volume failed).
func (a *nnActor) reportSoon() {
	a.soon.Store(true)
	a.signal()
}

func (a *nnActor) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// sleep waits d or until the actor closes; false when closed.
func (a *nnActor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.closed:
		return false
	}
}

func (a *nnActor) isRegistered() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.registered
}

// obeys reports whether this NameNode's commands are carried out.
func (a *nnActor) obeys() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.only || a.primary
}

// run is the actor's life: register, then heartbeats, block reports and
// incremental reports until the DataNode closes. Failures back off and
// retry; an unknown-node answer leads to a new registration.
func (a *nnActor) run() {
	var cmdWG sync.WaitGroup
	cmdWG.Add(1)
	go func() {
		defer cmdWG.Done()
		a.runCommands()
	}()
	defer cmdWG.Wait()
	backoff := minBackoff
	maxBackoff := max(a.d.set.HeartbeatInterval, time.Second)
	streak := 0 // failures in a row: the first of a streak and every 30th are warned about
	failed := func(what string, err error) bool {
		a.handleError(err)
		l := a.log.WithError(err).WithField("retry_in", backoff)
		if streak%30 == 0 {
			l.Warn(what + " failed")
		} else {
			l.Debug(what + " failed")
		}
		streak++
		ok := a.sleep(backoff)
		backoff = min(2*backoff, maxBackoff)
		return ok
	}
	var nextHB, nextBR time.Time
	for {
		select {
		case <-a.closed:
			return
		default:
		}
		if !a.isRegistered() {
			a.releaseTickets()
			if err := a.register(); err != nil {
				if !failed("registration", err) {
					return
				}
				continue
			}
			nextBR, nextHB = time.Time{}, time.Time{}
		}
		if a.soon.Swap(false) {
			nextBR, nextHB = time.Time{}, time.Time{}
		}
		if now := time.Now(); !now.Before(nextBR) {
			if err := a.blockReport(); err != nil {
				if !failed("block report", err) {
					return
				}
				continue
			}
			nextBR = now.Add(a.d.set.BlockReportInterval)
		}
		if now := time.Now(); !now.Before(nextHB) {
			if err := a.heartbeat(); err != nil {
				if !failed("heartbeat", err) {
					return
				}
				continue
			}
			nextHB = now.Add(a.d.set.HeartbeatInterval)
		}
		if err := a.flushReports(); err != nil {
			if !failed("incremental report", err) {
				return
			}
			continue
		}
		backoff, streak = minBackoff, 0
		wait := time.Until(nextHB)
		if w := time.Until(nextBR); w < wait {
			wait = w
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-a.wake:
			case <-a.closed:
				t.Stop()
				return
			}
			t.Stop()
		}
	}
}

// handleError drops a broken connection and forgets the registration when
// the NameNode no longer knows this DataNode.
func (a *nnActor) handleError(err error) {
	var ie *ipc.Error
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case errors.As(err, &ie) && ie.Class == classUnregistered:
		a.registered = false
	case errors.As(err, &ie) && !ie.Fatal:
		// The call failed; the connection is fine.
	default:
		if a.client != nil {
			a.client.Close()
			a.client = nil
		}
	}
}

// call makes one DatanodeProtocol call, dialing first when needed.
func (a *nnActor) call(method string, req, resp proto.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	go func() {
		select {
		case <-a.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := a.conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if err := c.Call(ctx, method, req, resp); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// conn returns the connection to the NameNode, dialing when there is none.
func (a *nnActor) conn(ctx context.Context) (*ipc.Client, error) {
	a.dialMu.Lock()
	defer a.dialMu.Unlock()
	a.mu.Lock()
	c := a.client
	a.mu.Unlock()
	if c != nil {
		return c, nil
	}
	opts := ipc.ClientOptions{Protocol: DatanodeProtocolName, DialTimeout: dialTimeout}
	if ip := net.ParseIP(a.d.id.GetIp()); ip != nil && a.d.boundToIP() {
		opts.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c, err := ipc.Dial(ctx, a.addr, opts)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.closed:
		c.Close()
		return nil, ipc.ErrClientClosed
	default:
	}
	a.client = c
	return c, nil
}

// register registers with the NameNode and adopts its block pool.
func (a *nnActor) register() error {
	d := a.d
	var resp dnpb.RegisterResponse
	req := &dnpb.RegisterRequest{
		Id:              d.id,
		Storages:        d.storageReports(),
		ClusterId:       d.clusterID(),
		SoftwareVersion: SoftwareVersion,
	}
	if err := a.call("registerDatanode", req, &resp); err != nil {
		return err
	}
	if resp.GetBlockPoolId() == "" {
		return errors.New("registerDatanode: the NameNode sent no block pool id")
	}
	if err := d.adoptBlockPool(resp.GetBlockPoolId(), resp.GetClusterId()); err != nil {
		return err
	}
	a.mu.Lock()
	a.registered = true
	a.mu.Unlock()
	a.log.WithFields(logrus.Fields{"bpid": resp.GetBlockPoolId(), "cluster": resp.GetClusterId()}).Info("registered with NameNode")
	return nil
}

// heartbeat sends the DataNode's load and takes the commands back.
func (a *nnActor) heartbeat() error {
	d := a.d
	storages := d.storageReports()
	failed := 0
	for _, s := range storages {
		if s.GetFailed() {
			failed++
		}
	}
	var resp dnpb.HeartbeatResponse
	req := &dnpb.HeartbeatRequest{
		Id:            d.id,
		Storages:      storages,
		XceiverCount:  uint32(d.XceiverCount()),
		FailedVolumes: uint32(failed),
	}
	if err := a.call("sendHeartbeat", req, &resp); err != nil {
		return err
	}
	a.mu.Lock()
	if a.primary != resp.GetPrimary() {
		a.log.WithField("primary", resp.GetPrimary()).Info("NameNode role changed")
	}
	a.primary = resp.GetPrimary()
	a.mu.Unlock()
	a.takeCommands(resp.GetCommands())
	return nil
}

// blockReport sends the full list of replicas, per storage.
func (a *nnActor) blockReport() error {
	d := a.d
	start := time.Now()
	// Incremental entries queued before the report was taken are in it.
	a.mu.Lock()
	covered := len(a.ibr)
	a.mu.Unlock()
	byStorage := d.store.Report()
	req := &dnpb.BlockReportRequest{Id: d.id, BlockPoolId: d.blockPool()}
	seen := map[string]bool{}
	n := 0
	for _, v := range d.store.Volumes() {
		if v.Failed {
			continue
		}
		seen[v.StorageID] = true
		req.Reports = append(req.Reports, storageReport(v.StorageID, byStorage[v.StorageID]))
		n += len(byStorage[v.StorageID])
	}
	var extra []string
	for id := range byStorage {
		if !seen[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		req.Reports = append(req.Reports, storageReport(id, byStorage[id]))
		n += len(byStorage[id])
	}
	var resp dnpb.BlockReportResponse
	if err := a.call("blockReport", req, &resp); err != nil {
		return err
	}
	a.mu.Lock()
	covered = min(covered, len(a.ibr))
	for i := range a.ibr[:covered] {
		a.ibr[i].ticket.release()
	}
	a.ibr = append([]ibrEntry(nil), a.ibr[covered:]...)
	a.mu.Unlock()
	a.log.WithFields(logrus.Fields{"replicas": n, "took": time.Since(start).Round(time.Millisecond)}).Info("full block report sent")
	a.takeCommands(resp.GetCommands())
	return nil
}

func storageReport(id string, reps []storage.Replica) *dnpb.StorageReport {
	sr := &dnpb.StorageReport{StorageId: id, Replicas: make([]*dnpb.ReportedReplica, 0, len(reps))}
	for _, r := range reps {
		sr.Replicas = append(sr.Replicas, &dnpb.ReportedReplica{
			Block: &dnpb.Block{Id: r.BlockID, GenStamp: r.GenStamp, NumBytes: r.NumBytes},
			State: dnpb.ReplicaState(r.State),
		})
	}
	return sr
}

// queueIBR queues an incremental report entry; t is released at once if
// this NameNode cannot be told now.
func (a *nnActor) queueIBR(rd *dnpb.ReceivedDeleted, t *ibrTicket) {
	a.mu.Lock()
	if !a.registered {
		t.release()
		t = nil
	}
	a.ibr = append(a.ibr, ibrEntry{rd: rd, ticket: t})
	a.mu.Unlock()
	a.signal()
}

// queueBad queues a corrupt replica report.
func (a *nnActor) queueBad(b badEntry) {
	a.mu.Lock()
	a.bad = append(a.bad, b)
	a.mu.Unlock()
	a.signal()
}

// releaseTickets frees the writers waiting on this NameNode.
func (a *nnActor) releaseTickets() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.ibr {
		a.ibr[i].ticket.release()
		a.ibr[i].ticket = nil
	}
}

// flushReports sends the queued incremental and bad-block reports, each
// batch in one call. Entries that could not be delivered stay queued.
func (a *nnActor) flushReports() error {
	d := a.d
	a.mu.Lock()
	ibr, bad := a.ibr, a.bad
	a.ibr, a.bad = nil, nil
	a.mu.Unlock()
	requeue := func() {
		a.mu.Lock()
		a.ibr = append(ibr, a.ibr...)
		a.bad = append(bad, a.bad...)
		a.mu.Unlock()
	}
	if len(ibr) > 0 {
		req := &dnpb.BlockReceivedAndDeletedRequest{Id: d.id, BlockPoolId: d.blockPool()}
		for _, e := range ibr {
			req.Blocks = append(req.Blocks, e.rd)
		}
		err := a.call("blockReceivedAndDeleted", req, &dnpb.BlockReceivedAndDeletedResponse{})
		for i := range ibr {
			ibr[i].ticket.release()
			ibr[i].ticket = nil
		}
		if err != nil {
			requeue()
			return err
		}
		ibr = nil
	}
	if len(bad) > 0 {
		req := &dnpb.ReportBadBlocksRequest{Id: d.id}
		for _, b := range bad {
			req.Blocks = append(req.Blocks, b.block)
			req.StorageIds = append(req.StorageIds, b.storageID)
		}
		if err := a.call("reportBadBlocks", req, &dnpb.ReportBadBlocksResponse{}); err != nil {
			requeue()
			return err
		}
	}
	return nil
}

// notifyReplica tells every NameNode about a replica received, being
// received or deleted. The returned channel closes once every registered
// NameNode was told (or a first attempt to tell it failed).
func (d *DataNode) notifyReplica(rep storage.Replica, status dnpb.ReceivedDeleted_Status, delHint string) <-chan struct{} {
	rd := &dnpb.ReceivedDeleted{
		Block:     &dnpb.Block{Id: rep.BlockID, GenStamp: rep.GenStamp, NumBytes: rep.NumBytes},
		Status:    status,
		StorageId: rep.StorageID,
		DelHint:   delHint,
	}
	t := &ibrTicket{done: make(chan struct{})}
	t.remaining.Store(int32(len(d.actors)) + 1)
	for _, a := range d.actors {
		a.queueIBR(rd, t)
	}
	t.release()
	d.log.WithFields(logrus.Fields{"block": rep.BlockID, "gs": rep.GenStamp, "bytes": rep.NumBytes, "status": status.String()}).Debug("replica change queued for the NameNodes")
	return t.done
}

// reportCorrupt sets a corrupt replica aside and reports it to every
// NameNode.
func (d *DataNode) reportCorrupt(rep storage.Replica, cause error) {
	d.log.WithFields(logrus.Fields{"block": rep.BlockID, "gs": rep.GenStamp, "storage": rep.StorageID}).WithError(cause).Warn("corrupt replica")
	d.store.MarkCorrupt(rep.BlockID)
	b := badEntry{block: &dnpb.Block{Id: rep.BlockID, GenStamp: rep.GenStamp, NumBytes: rep.NumBytes}, storageID: rep.StorageID}
	for _, a := range d.actors {
		a.queueBad(b)
	}
}

// storageReports describes every volume for registration and heartbeats.
func (d *DataNode) storageReports() []*dnpb.Storage {
	vols := d.store.Volumes()
	out := make([]*dnpb.Storage, 0, len(vols))
	for _, v := range vols {
		out = append(out, &dnpb.Storage{
			StorageId:     v.StorageID,
			Type:          dnpb.StorageType(v.Type),
			Failed:        v.Failed,
			Capacity:      v.Capacity,
			DfsUsed:       v.DfsUsed,
			Remaining:     v.Remaining,
			NonDfsUsed:    v.NonDfsUsed,
			BlockPoolUsed: v.DfsUsed,
		})
	}
	return out
}

// adoptBlockPool sets the store's block pool from a NameNode's answer.
func (d *DataNode) adoptBlockPool(bpid, clusterID string) error {
	if err := d.store.SetBlockPool(bpid, clusterID); err != nil {
		return fmt.Errorf("block pool %s of cluster %s: %w", bpid, clusterID, err)
	}
	d.mu.Lock()
	if clusterID != "" {
		d.cluster = clusterID
	}
	d.mu.Unlock()
	return nil
}

// blockPool is the block pool id ("" before the first registration).
func (d *DataNode) blockPool() string { return d.store.BlockPoolID() }

// clusterID is the cluster id learned from a NameNode ("" before).
func (d *DataNode) clusterID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cluster
}

// boundToIP reports whether the transfer server listens on one address
// (tests give each DataNode its own 127.0.0.x), so NameNode connections
// should come from it too.
func (d *DataNode) boundToIP() bool {
	host, _, err := net.SplitHostPort(d.ln.Addr().String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && !ip.IsUnspecified()
}
