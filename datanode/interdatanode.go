package datanode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/avatarfs/avatarfs/internal/ipc"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// Block recovery between DataNodes (Hadoop's BlockRecoveryWorker and
// InterDatanodeProtocol). The NameNode names a primary among the holders
// of a block under construction; the primary asks every holder to stop
// writing and describe its replica, chooses the length they can agree on
// (a finalized replica's length; else the shortest replica being written;
// else the shortest waiting to be recovered; a truncate's new length),
// has each holder cut its replica to it under the new generation stamp,
// and tells the NameNode which holders succeeded.

// InterDatanodeProtocolName is the protocol DataNodes serve each other on
// dfs.datanode.ipc.address.
const InterDatanodeProtocolName = "org.apache.hadoop.hdfs.server.protocol.InterDatanodeProtocol"

// recoveryCallTimeout bounds one call to another DataNode of a recovery.
const recoveryCallTimeout = 30 * time.Second

// listenIPC binds dfs.datanode.ipc.address and prepares the server of
// InterDatanodeProtocol; the port actually bound is the one advertised.
func (d *DataNode) listenIPC() error {
	ln, err := net.Listen("tcp", d.set.IPCAddr)
	if err != nil {
		return fmt.Errorf("datanode: listen on %s (dfs.datanode.ipc.address): %w", d.set.IPCAddr, err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		d.set.IPCPort = uint32(a.Port)
	}
	m := func(newReq func() proto.Message, h func(proto.Message) (proto.Message, error)) ipc.Method {
		return ipc.Method{NewRequest: newReq, Handle: func(_ context.Context, _ *ipc.Call, req proto.Message) (proto.Message, error) {
			return h(req)
		}}
	}
	d.ipcLn = ln
	d.ipcSrv = ipc.NewServer(ipc.Options{Logger: d.log.WithField("component", "ipc")}, ipc.Protocol{
		Name: InterDatanodeProtocolName,
		Methods: map[string]ipc.Method{
			"initReplicaRecovery": m(func() proto.Message { return &dnpb.InitReplicaRecoveryRequest{} }, func(r proto.Message) (proto.Message, error) {
				return d.initReplicaRecovery(r.(*dnpb.InitReplicaRecoveryRequest))
			}),
			"updateReplicaUnderRecovery": m(func() proto.Message { return &dnpb.UpdateReplicaUnderRecoveryRequest{} }, func(r proto.Message) (proto.Message, error) {
				return d.updateReplicaUnderRecovery(r.(*dnpb.UpdateReplicaUnderRecoveryRequest))
			}),
		},
	})
	return nil
}

// initReplicaRecovery stops the writer of a replica, remembers the
// recovery (a later one with an older id is refused) and describes the
// replica.
func (d *DataNode) initReplicaRecovery(req *dnpb.InitReplicaRecoveryRequest) (*dnpb.InitReplicaRecoveryResponse, error) {
	b, rid := req.GetBlock(), req.GetRecoveryId()
	id := b.GetId()
	d.mu.Lock()
	if cur, ok := d.recovering[id]; ok && cur > rid {
		d.mu.Unlock()
		return nil, ipc.Errorf("java.io.IOException", "block %d: recovery id %d is older than recovery %d in progress", id, rid, cur)
	}
	d.recovering[id] = rid
	d.mu.Unlock()
	if err := d.stopWriter(id); err != nil {
		return nil, ipc.Errorf("java.io.IOException", "block %d: %v", id, err)
	}
	rep, ok := d.store.Get(id)
	if !ok {
		return &dnpb.InitReplicaRecoveryResponse{ReplicaFound: false}, nil
	}
	if rep.GenStamp < b.GetGenStamp() {
		return nil, ipc.Errorf("java.io.IOException", "replica of block %d has generation stamp %d, older than the block's %d", id, rep.GenStamp, b.GetGenStamp())
	}
	if rep.GenStamp >= rid {
		return nil, ipc.Errorf("java.io.IOException", "replica of block %d has generation stamp %d, not older than recovery id %d", id, rep.GenStamp, rid)
	}
	return &dnpb.InitReplicaRecoveryResponse{
		ReplicaFound: true,
		State:        dnpb.ReplicaState(rep.State),
		Block:        &dnpb.Block{Id: id, GenStamp: rep.GenStamp, NumBytes: rep.NumBytes},
	}, nil
}

// updateReplicaUnderRecovery cuts a replica to the agreed length, gives
// it the recovery id as generation stamp and finalizes it.
func (d *DataNode) updateReplicaUnderRecovery(req *dnpb.UpdateReplicaUnderRecoveryRequest) (*dnpb.UpdateReplicaUnderRecoveryResponse, error) {
	id, rid := req.GetBlock().GetId(), req.GetRecoveryId()
	d.mu.Lock()
	cur, ok := d.recovering[id]
	d.mu.Unlock()
	if !ok || cur != rid {
		return nil, ipc.Errorf("java.io.IOException", "block %d: no recovery with id %d in progress", id, rid)
	}
	if err := d.stopWriter(id); err != nil {
		return nil, ipc.Errorf("java.io.IOException", "block %d: %v", id, err)
	}
	final, err := d.store.FinalizeRecovered(id, rid, req.GetNewLength())
	if err != nil {
		return nil, ipc.Errorf("java.io.IOException", "recover block %d to %d bytes: %v", id, req.GetNewLength(), err)
	}
	d.mu.Lock()
	if d.recovering[id] == rid {
		delete(d.recovering, id)
	}
	d.mu.Unlock()
	d.notifyReplica(final, dnpb.ReceivedDeleted_RECEIVED, "")
	return &dnpb.UpdateReplicaUnderRecoveryResponse{StorageId: final.StorageID,
		Block: &dnpb.Block{Id: id, GenStamp: final.GenStamp, NumBytes: final.NumBytes}}, nil
}

// recoveryPeer is one holder of a block in a recovery.
type recoveryPeer struct {
	id   *dnpb.DatanodeID
	info *dnpb.InitReplicaRecoveryResponse
}

// callPeer runs an InterDatanodeProtocol method on a holder: locally for
// this DataNode, else over IPC.
func (d *DataNode) callPeer(peer *dnpb.DatanodeID, method string, req, resp proto.Message) error {
	if peer.GetUuid() == d.id.GetUuid() {
		var out proto.Message
		var err error
		switch r := req.(type) {
		case *dnpb.InitReplicaRecoveryRequest:
			out, err = d.initReplicaRecovery(r)
		case *dnpb.UpdateReplicaUnderRecoveryRequest:
			out, err = d.updateReplicaUnderRecovery(r)
		default:
			return fmt.Errorf("unknown recovery call %T", req)
		}
		if err == nil {
			proto.Merge(resp, out)
		}
		return err
	}
	addr := net.JoinHostPort(peer.GetIp(), strconv.Itoa(int(peer.GetIpcPort())))
	ctx, cancel := context.WithTimeout(d.ctx, recoveryCallTimeout)
	defer cancel()
	c, err := ipc.Dial(ctx, addr, ipc.ClientOptions{Protocol: InterDatanodeProtocolName, DialTimeout: connectTimeout})
	if err != nil {
		return fmt.Errorf("connect to DataNode %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Call(ctx, method, req, resp); err != nil {
		return fmt.Errorf("%s on %s: %w", method, addr, err)
	}
	return nil
}

// syncBlock is the primary's part of a recovery: it returns the agreed
// length and the holders whose replicas now have it, finalized under
// newGS. newLength is a truncate's target, 0 for a lease recovery.
func (d *DataNode) syncBlock(b *dnpb.Block, newGS, newLength uint64, holders []*dnpb.DatanodeID, log logrus.FieldLogger) (uint64, []*dnpb.DatanodeID, []string, error) {
	var peers []recoveryPeer
	for _, h := range holders {
		var info dnpb.InitReplicaRecoveryResponse
		err := d.callPeer(h, "initReplicaRecovery", &dnpb.InitReplicaRecoveryRequest{Block: b, RecoveryId: newGS}, &info)
		switch {
		case err != nil:
			log.WithError(err).WithField("datanode", h.GetIp()).Warn("holder left out of the recovery")
		case !info.GetReplicaFound():
			log.WithField("datanode", h.GetIp()).Info("holder has no replica")
		default:
			peers = append(peers, recoveryPeer{id: h, info: &info})
		}
	}
	if len(peers) == 0 {
		return 0, nil, nil, errors.New("no holder has a replica to recover")
	}
	length, sync, err := chooseRecovery(peers, newLength)
	if err != nil {
		return 0, nil, nil, err
	}
	var ids []*dnpb.DatanodeID
	var storages []string
	for _, p := range sync {
		var resp dnpb.UpdateReplicaUnderRecoveryResponse
		err := d.callPeer(p.id, "updateReplicaUnderRecovery", &dnpb.UpdateReplicaUnderRecoveryRequest{Block: b, RecoveryId: newGS, NewLength: length}, &resp)
		if err != nil {
			log.WithError(err).WithField("datanode", p.id.GetIp()).Warn("holder failed to take the recovered length")
			continue
		}
		ids = append(ids, p.id)
		storages = append(storages, resp.GetStorageId())
	}
	if len(ids) == 0 {
		return 0, nil, nil, errors.New("no holder could take the recovered length")
	}
	return length, ids, storages, nil
}

// chooseRecovery picks the length replicas agree on and the replicas to
// bring to it (Hadoop's rules): for a truncate, every replica long
// enough; else the finalized replicas' length (they must agree) with the
// finalized replicas and those being written that reach it; else the
// shortest replica being written, with all of them; else the same among
// replicas waiting to be recovered.
func chooseRecovery(peers []recoveryPeer, truncateTo uint64) (uint64, []recoveryPeer, error) {
	if truncateTo > 0 {
		var sync []recoveryPeer
		for _, p := range peers {
			if p.info.GetBlock().GetNumBytes() >= truncateTo {
				sync = append(sync, p)
			}
		}
		if len(sync) == 0 {
			return 0, nil, fmt.Errorf("no replica holds the %d bytes to truncate to", truncateTo)
		}
		return truncateTo, sync, nil
	}
	byState := map[dnpb.ReplicaState][]recoveryPeer{}
	for _, p := range peers {
		byState[p.info.GetState()] = append(byState[p.info.GetState()], p)
	}
	if fin := byState[dnpb.ReplicaState_FINALIZED]; len(fin) > 0 {
		length := fin[0].info.GetBlock().GetNumBytes()
		for _, p := range fin[1:] {
			if n := p.info.GetBlock().GetNumBytes(); n != length {
				return 0, nil, fmt.Errorf("finalized replicas disagree on the length: %d and %d", length, n)
			}
		}
		sync := append([]recoveryPeer(nil), fin...)
		for _, p := range byState[dnpb.ReplicaState_RBW] {
			if p.info.GetBlock().GetNumBytes() >= length {
				sync = append(sync, p)
			}
		}
		return length, sync, nil
	}
	for _, st := range []dnpb.ReplicaState{dnpb.ReplicaState_RBW, dnpb.ReplicaState_RWR, dnpb.ReplicaState_RUR} {
		if ps := byState[st]; len(ps) > 0 {
			length := ps[0].info.GetBlock().GetNumBytes()
			for _, p := range ps[1:] {
				length = min(length, p.info.GetBlock().GetNumBytes())
			}
			return length, ps, nil
		}
	}
	return 0, nil, errors.New("no replica in a recoverable state")
}
