package namenode

import (
	"context"

	"github.com/avatarfs/avatarfs/internal/ipc"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
)

// DatanodeProtocolName is the protocol DataNodes call the NameNode with.
const DatanodeProtocolName = "org.apache.hadoop.hdfs.server.protocol.DatanodeProtocol"

// datanodeRPC decodes DatanodeProtocol calls into block-manager calls.
type datanodeRPC struct{ nn *NameNode }

func (r *datanodeRPC) protocol() ipc.Protocol {
	return ipc.Protocol{Name: DatanodeProtocolName, Methods: map[string]ipc.Method{
		"registerDatanode":           handler(false, r.register),
		"sendHeartbeat":              handler(false, r.heartbeat),
		"blockReport":                handler(false, r.blockReport),
		"blockReceivedAndDeleted":    handler(false, r.blockReceivedAndDeleted),
		"reportBadBlocks":            handler(false, r.reportBadBlocks),
		"commitBlockSynchronization": handler(false, r.commitBlockSync),
	}}
}

func (r *datanodeRPC) register(_ context.Context, _ *Caller, req *dnpb.RegisterRequest) (*dnpb.RegisterResponse, error) {
	return r.nn.bm.Register(req, r.nn.storage.Info)
}

func (r *datanodeRPC) heartbeat(_ context.Context, _ *Caller, req *dnpb.HeartbeatRequest) (*dnpb.HeartbeatResponse, error) {
	resp, err := r.nn.bm.Heartbeat(req, r.nn.ns.InSafeMode())
	if resp != nil {
		for _, c := range resp.Commands {
			c.BlockPoolId = r.nn.BlockPoolID()
		}
	}
	return resp, err
}

func (r *datanodeRPC) blockReport(_ context.Context, _ *Caller, req *dnpb.BlockReportRequest) (*dnpb.BlockReportResponse, error) {
	return r.nn.bm.BlockReport(req)
}

func (r *datanodeRPC) blockReceivedAndDeleted(_ context.Context, _ *Caller, req *dnpb.BlockReceivedAndDeletedRequest) (*dnpb.BlockReceivedAndDeletedResponse, error) {
	return &dnpb.BlockReceivedAndDeletedResponse{}, r.nn.bm.BlockReceivedAndDeleted(req)
}

func (r *datanodeRPC) reportBadBlocks(_ context.Context, _ *Caller, req *dnpb.ReportBadBlocksRequest) (*dnpb.ReportBadBlocksResponse, error) {
	for _, b := range req.GetBlocks() {
		r.nn.bm.MarkCorrupt(b.GetId(), req.GetId().GetUuid())
	}
	return &dnpb.ReportBadBlocksResponse{}, nil
}

func (r *datanodeRPC) commitBlockSync(_ context.Context, c *Caller, req *dnpb.CommitBlockSynchronizationRequest) (*dnpb.CommitBlockSynchronizationResponse, error) {
	var nodes []DatanodeRef
	for i, id := range req.GetNewTargets() {
		sid := ""
		if i < len(req.GetNewStorageIds()) {
			sid = req.GetNewStorageIds()[i]
		}
		nodes = append(nodes, DatanodeRef{UUID: id.GetUuid(), IP: id.GetIp(), XferPort: id.GetXferPort(), StorageID: sid})
	}
	c.User = r.nn.ns.set.Superuser
	err := r.nn.ns.CommitBlockSync(c, req.GetBlock().GetId(), req.GetNewGenStamp(), req.GetNewLength(), req.GetCloseFile(), req.GetDeleteBlock(), nodes)
	return &dnpb.CommitBlockSynchronizationResponse{}, err
}
