package namenode

import (
	"context"
	"fmt"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

func (ns *Namespace) sitesLocations(b *BlockInfo, machine string) []DatanodeRef {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return ns.sites.Locations(b, machine)
}

func (r *clientRPC) extBlock(b *BlockInfo) *pb.ExtendedBlockProto {
	return &pb.ExtendedBlockProto{PoolId: proto.String(r.nn.BlockPoolID()), BlockId: proto.Uint64(b.ID),
		GenerationStamp: proto.Uint64(b.GenStamp), NumBytes: proto.Uint64(b.NumBytes)}
}

func datanodeInfoPB(d DatanodeRef) *pb.DatanodeInfoProto {
	loc := d.Rack
	if loc == "" {
		loc = "/default-rack"
	}
	return &pb.DatanodeInfoProto{
		Id: &pb.DatanodeIDProto{IpAddr: proto.String(d.IP), HostName: proto.String(d.Host),
			DatanodeUuid: proto.String(d.UUID), XferPort: proto.Uint32(d.XferPort),
			InfoPort: proto.Uint32(d.InfoPort), IpcPort: proto.Uint32(d.IPCPort)},
		Capacity: proto.Uint64(d.Capacity), DfsUsed: proto.Uint64(d.Used), Remaining: proto.Uint64(d.Remaining),
		LastUpdate: proto.Uint64(uint64(d.LastUpdate)), Location: proto.String(loc),
	}
}

func (r *clientRPC) locatedBlockPB(lb *LocatedBlock) *pb.LocatedBlockProto {
	out := &pb.LocatedBlockProto{B: r.extBlock(&lb.Block), Offset: proto.Uint64(lb.Offset),
		Corrupt: proto.Bool(lb.Corrupt), BlockToken: emptyToken()}
	for _, d := range lb.Replicas {
		out.Locs = append(out.Locs, datanodeInfoPB(d))
		out.IsCached = append(out.IsCached, false)
		out.StorageTypes = append(out.StorageTypes, pb.StorageTypeProto(max(d.StorageType, 1)))
		out.StorageIDs = append(out.StorageIDs, d.StorageID)
	}
	return out
}

func emptyToken() *pb.TokenProto {
	return &pb.TokenProto{Identifier: []byte{}, Password: []byte{}, Kind: proto.String(""), Service: proto.String("")}
}

func (r *clientRPC) locatedBlocksPB(lbs *LocatedBlocks) *pb.LocatedBlocksProto {
	out := &pb.LocatedBlocksProto{FileLength: proto.Uint64(lbs.FileLength),
		UnderConstruction: proto.Bool(lbs.UnderConstruction), IsLastBlockComplete: proto.Bool(lbs.LastBlockComplete)}
	for i := range lbs.Blocks {
		out.Blocks = append(out.Blocks, r.locatedBlockPB(&lbs.Blocks[i]))
	}
	if lbs.LastBlock != nil {
		out.LastBlock = r.locatedBlockPB(lbs.LastBlock)
	}
	return out
}

func blockFromPB(b *pb.ExtendedBlockProto) *BlockInfo {
	if b == nil {
		return nil
	}
	return &BlockInfo{ID: b.GetBlockId(), GenStamp: b.GetGenerationStamp(), NumBytes: b.GetNumBytes()}
}

func addrsOf(ds []*pb.DatanodeInfoProto) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s:%d", d.GetId().GetIpAddr(), d.GetId().GetXferPort()))
	}
	return out
}

func refFromID(id *pb.DatanodeIDProto, storage string) DatanodeRef {
	return DatanodeRef{UUID: id.GetDatanodeUuid(), IP: id.GetIpAddr(), Host: id.GetHostName(),
		XferPort: id.GetXferPort(), InfoPort: id.GetInfoPort(), IPCPort: id.GetIpcPort(), StorageID: storage}
}

func (r *clientRPC) checkPool(b *pb.ExtendedBlockProto) error {
	if b != nil && b.GetPoolId() != "" && b.GetPoolId() != r.nn.BlockPoolID() {
		return errorf(ExIO, "block pool %s is not served here (this NameNode serves %s)", b.GetPoolId(), r.nn.BlockPoolID())
	}
	return nil
}

func (r *clientRPC) addBlock(_ context.Context, c *Caller, req *pb.AddBlockRequestProto) (*pb.AddBlockResponseProto, error) {
	if err := r.checkPool(req.GetPrevious()); err != nil {
		return nil, err
	}
	r.nn.bm.ResolveClient(c.Machine)
	lb, err := r.ns().AddBlock(c, AddBlockArgs{Src: req.GetSrc(), FileID: req.GetFileId(), ClientName: req.GetClientName(),
		Previous: blockFromPB(req.GetPrevious()), Exclude: addrsOf(req.GetExcludeNodes()), Favored: req.GetFavoredNodes()})
	if err != nil {
		return nil, err
	}
	return &pb.AddBlockResponseProto{Block: r.locatedBlockPB(lb)}, nil
}

func (r *clientRPC) complete(_ context.Context, c *Caller, req *pb.CompleteRequestProto) (*pb.CompleteResponseProto, error) {
	if err := r.checkPool(req.GetLast()); err != nil {
		return nil, err
	}
	ok, err := r.ns().Complete(c, req.GetSrc(), req.GetFileId(), req.GetClientName(), blockFromPB(req.GetLast()))
	return &pb.CompleteResponseProto{Result: proto.Bool(ok)}, err
}

func (r *clientRPC) abandonBlock(_ context.Context, c *Caller, req *pb.AbandonBlockRequestProto) (*pb.AbandonBlockResponseProto, error) {
	return &pb.AbandonBlockResponseProto{}, r.ns().AbandonBlock(c, req.GetSrc(), req.GetFileId(), req.GetHolder(), req.GetB().GetBlockId())
}

func (r *clientRPC) updateBlockForPipeline(_ context.Context, c *Caller, req *pb.UpdateBlockForPipelineRequestProto) (*pb.UpdateBlockForPipelineResponseProto, error) {
	lb, err := r.ns().UpdateBlockForPipeline(c, req.GetBlock().GetBlockId(), req.GetClientName())
	if err != nil {
		return nil, err
	}
	return &pb.UpdateBlockForPipelineResponseProto{Block: r.locatedBlockPB(lb)}, nil
}

func (r *clientRPC) updatePipeline(_ context.Context, c *Caller, req *pb.UpdatePipelineRequestProto) (*pb.UpdatePipelineResponseProto, error) {
	var nodes []DatanodeRef
	for i, id := range req.GetNewNodes() {
		sid := ""
		if i < len(req.GetStorageIDs()) {
			sid = req.GetStorageIDs()[i]
		}
		nodes = append(nodes, refFromID(id, sid))
	}
	err := r.ns().UpdatePipeline(c, req.GetClientName(), *blockFromPB(req.GetOldBlock()), *blockFromPB(req.GetNewBlock()), nodes)
	return &pb.UpdatePipelineResponseProto{}, err
}

func (r *clientRPC) getAdditionalDatanode(_ context.Context, c *Caller, req *pb.GetAdditionalDatanodeRequestProto) (*pb.GetAdditionalDatanodeResponseProto, error) {
	var existing []DatanodeRef
	for i, d := range req.GetExistings() {
		sid := ""
		if i < len(req.GetExistingStorageUuids()) {
			sid = req.GetExistingStorageUuids()[i]
		}
		existing = append(existing, refFromID(d.GetId(), sid))
	}
	lb, err := r.ns().GetAdditionalDatanode(c, req.GetSrc(), req.GetFileId(), req.GetClientName(), req.GetBlk().GetBlockId(),
		existing, addrsOf(req.GetExcludes()), int(req.GetNumAdditionalNodes()))
	if err != nil {
		return nil, err
	}
	lb.Block.NumBytes = req.GetBlk().GetNumBytes()
	lb.Block.GenStamp = req.GetBlk().GetGenerationStamp()
	return &pb.GetAdditionalDatanodeResponseProto{Block: r.locatedBlockPB(lb)}, nil
}

func (r *clientRPC) getBlockLocations(_ context.Context, c *Caller, req *pb.GetBlockLocationsRequestProto) (*pb.GetBlockLocationsResponseProto, error) {
	r.nn.bm.ResolveClient(c.Machine)
	lbs, err := r.ns().GetBlockLocations(c, req.GetSrc(), req.GetOffset(), req.GetLength())
	if err != nil {
		return nil, err
	}
	return &pb.GetBlockLocationsResponseProto{Locations: r.locatedBlocksPB(lbs)}, nil
}
