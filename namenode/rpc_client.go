package namenode

import (
	"context"

	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// ClientProtocolName is the protocol name Hadoop clients put in every call.
const ClientProtocolName = "org.apache.hadoop.hdfs.protocol.ClientProtocol"

// clientRPC decodes ClientProtocol requests into namespace calls and
// encodes the answers; it holds no state of its own.
type clientRPC struct{ nn *NameNode }

func (r *clientRPC) protocol() ipc.Protocol {
	m := map[string]ipc.Method{
		"getFileInfo":            handler(false, r.getFileInfo),
		"getListing":             handler(false, r.getListing),
		"mkdirs":                 handler(false, r.mkdirs),
		"create":                 handler(true, r.create),
		"append":                 handler(true, r.append),
		"delete":                 handler(true, r.delete),
		"rename":                 handler(true, r.rename),
		"rename2":                handler(true, r.rename2),
		"setPermission":          handler(false, r.setPermission),
		"setOwner":               handler(false, r.setOwner),
		"setTimes":               handler(false, r.setTimes),
		"setReplication":         handler(false, r.setReplication),
		"getContentSummary":      handler(false, r.getContentSummary),
		"getFsStats":             handler(false, r.getFsStats),
		"getServerDefaults":      handler(false, r.getServerDefaults),
		"renewLease":             handler(false, r.renewLease),
		"recoverLease":           handler(false, r.recoverLease),
		"getXAttrs":              handler(false, r.getXAttrs),
		"listXAttrs":             handler(false, r.listXAttrs),
		"setXAttr":               handler(true, r.setXAttr),
		"removeXAttr":            handler(true, r.removeXAttr),
		"getDataEncryptionKey":   handler(false, r.getDataEncryptionKey),
		"truncate":               handler(false, r.truncate),
		"fsync":                  handler(false, r.fsync),
		"getPreferredBlockSize":  handler(false, r.getPreferredBlockSize),
		"isFileClosed":           handler(false, r.isFileClosed),
		"addBlock":               handler(false, r.addBlock),
		"complete":               handler(false, r.complete),
		"abandonBlock":           handler(false, r.abandonBlock),
		"updateBlockForPipeline": handler(false, r.updateBlockForPipeline),
		"updatePipeline":         handler(true, r.updatePipeline),
		"getAdditionalDatanode":  handler(false, r.getAdditionalDatanode),
		"getBlockLocations":      handler(false, r.getBlockLocations),
		"setSafeMode":            handler(false, r.setSafeMode),
		"saveNamespace":          handler(false, r.saveNamespace),
		"rollEdits":              handler(false, r.rollEdits),
		"setStoragePolicy":       handler(false, r.setStoragePolicy),
		"getStoragePolicy":       handler(false, r.getStoragePolicy),
		"getStoragePolicies":     handler(false, r.getStoragePolicies),
		"getDatanodeReport":      handler(false, r.getDatanodeReport),
		"getTransactionId":       handler(false, r.getTransactionID),
		"reportBadBlocks":        handler(false, r.reportBadBlocks),
		"refreshNodes":           handler(false, r.refreshNodes),
	}
	return ipc.Protocol{Name: ClientProtocolName, Methods: m}
}

func (r *clientRPC) ns() *Namespace { return r.nn.ns }

func fileStatusPB(st *FileStatus) *pb.HdfsFileStatusProto {
	t := pb.HdfsFileStatusProto_IS_FILE
	if st.IsDir {
		t = pb.HdfsFileStatusProto_IS_DIR
	}
	out := &pb.HdfsFileStatusProto{
		FileType: t.Enum(), Path: []byte(st.Name), Length: proto.Uint64(st.Length),
		Permission: &pb.FsPermissionProto{Perm: proto.Uint32(uint32(st.Mode))},
		Owner:      proto.String(st.Owner), Group: proto.String(st.Group),
		ModificationTime: proto.Uint64(uint64(st.Mtime)), AccessTime: proto.Uint64(uint64(st.Atime)),
		BlockReplication: proto.Uint32(uint32(st.Replication)), Blocksize: proto.Uint64(uint64(st.BlockSize)),
		FileId: proto.Uint64(st.FileID), ChildrenNum: proto.Int32(st.ChildrenNum),
		StoragePolicy: proto.Uint32(uint32(st.StoragePolicy)),
	}
	if !st.IsDir {
		out.ChildrenNum = proto.Int32(0)
	}
	return out
}

func (r *clientRPC) getFileInfo(_ context.Context, c *Caller, req *pb.GetFileInfoRequestProto) (*pb.GetFileInfoResponseProto, error) {
	st, err := r.ns().GetFileInfo(c, req.GetSrc())
	if err != nil || st == nil {
		return &pb.GetFileInfoResponseProto{}, err
	}
	return &pb.GetFileInfoResponseProto{Fs: fileStatusPB(st)}, nil
}

func (r *clientRPC) getListing(_ context.Context, c *Caller, req *pb.GetListingRequestProto) (*pb.GetListingResponseProto, error) {
	l, err := r.ns().GetListing(c, req.GetSrc(), req.GetStartAfter())
	if err != nil || l == nil {
		return &pb.GetListingResponseProto{}, err
	}
	dl := &pb.DirectoryListingProto{RemainingEntries: proto.Uint32(uint32(l.Remaining)),
		PartialListing: make([]*pb.HdfsFileStatusProto, len(l.Entries))}
	for i, st := range l.Entries {
		dl.PartialListing[i] = fileStatusPB(st)
	}
	if req.GetNeedLocation() {
		for i, st := range l.Entries {
			if st.IsDir {
				continue
			}
			if lbs, err := r.ns().GetBlockLocations(c, joinChild(req.GetSrc(), st.Name), 0, st.Length); err == nil {
				dl.PartialListing[i].Locations = r.locatedBlocksPB(lbs)
			}
		}
	}
	return &pb.GetListingResponseProto{DirList: dl}, nil
}

func joinChild(dir, name string) string {
	if name == "" {
		return dir
	}
	if len(dir) > 0 && dir[len(dir)-1] == '/' {
		return dir + name
	}
	return dir + "/" + name
}

func (r *clientRPC) mkdirs(_ context.Context, c *Caller, req *pb.MkdirsRequestProto) (*pb.MkdirsResponseProto, error) {
	err := r.ns().Mkdirs(c, req.GetSrc(), req.GetMasked().GetPerm(), req.GetCreateParent())
	return &pb.MkdirsResponseProto{Result: proto.Bool(err == nil)}, err
}

func (r *clientRPC) create(_ context.Context, c *Caller, req *pb.CreateRequestProto) (*pb.CreateResponseProto, error) {
	policy := uint8(0)
	if name := req.GetStoragePolicy(); name != "" {
		p, ok := storagePolicyByName(name)
		if !ok {
			return nil, errorf(ExIllegalArgument, "Cannot find a block policy with the name %s", name)
		}
		policy = p.id
	}
	st, err := r.ns().Create(c, CreateArgs{Src: req.GetSrc(), Mode: req.GetMasked().GetPerm(),
		ClientName: req.GetClientName(), Flags: req.GetCreateFlag(), CreateParent: req.GetCreateParent(),
		Replication: int(req.GetReplication()), BlockSize: int64(req.GetBlockSize()), StoragePolicy: policy})
	if err != nil {
		return nil, err
	}
	return &pb.CreateResponseProto{Fs: fileStatusPB(st)}, nil
}

func (r *clientRPC) append(_ context.Context, c *Caller, req *pb.AppendRequestProto) (*pb.AppendResponseProto, error) {
	res, err := r.ns().Append(c, req.GetSrc(), req.GetClientName())
	if err != nil {
		return nil, err
	}
	out := &pb.AppendResponseProto{Stat: fileStatusPB(res.Stat)}
	if res.LastBlock != nil {
		lb := LocatedBlock{Block: *res.LastBlock, Offset: res.Stat.Length - res.LastBlock.NumBytes,
			Replicas: r.ns().sitesLocations(res.LastBlock, c.Machine)}
		out.Block = r.locatedBlockPB(&lb)
	}
	return out, nil
}

func (r *clientRPC) delete(_ context.Context, c *Caller, req *pb.DeleteRequestProto) (*pb.DeleteResponseProto, error) {
	ok, err := r.ns().Delete(c, req.GetSrc(), req.GetRecursive())
	return &pb.DeleteResponseProto{Result: proto.Bool(ok)}, err
}

func (r *clientRPC) rename(_ context.Context, c *Caller, req *pb.RenameRequestProto) (*pb.RenameResponseProto, error) {
	ok, err := r.ns().Rename(c, req.GetSrc(), req.GetDst())
	return &pb.RenameResponseProto{Result: proto.Bool(ok)}, err
}

func (r *clientRPC) rename2(_ context.Context, c *Caller, req *pb.Rename2RequestProto) (*pb.Rename2ResponseProto, error) {
	return &pb.Rename2ResponseProto{}, r.ns().Rename2(c, req.GetSrc(), req.GetDst(), req.GetOverwriteDest())
}

func (r *clientRPC) setPermission(_ context.Context, c *Caller, req *pb.SetPermissionRequestProto) (*pb.SetPermissionResponseProto, error) {
	return &pb.SetPermissionResponseProto{}, r.ns().SetPermission(c, req.GetSrc(), req.GetPermission().GetPerm())
}

func (r *clientRPC) setOwner(_ context.Context, c *Caller, req *pb.SetOwnerRequestProto) (*pb.SetOwnerResponseProto, error) {
	return &pb.SetOwnerResponseProto{}, r.ns().SetOwner(c, req.GetSrc(), req.GetUsername(), req.GetGroupname())
}

func (r *clientRPC) setTimes(_ context.Context, c *Caller, req *pb.SetTimesRequestProto) (*pb.SetTimesResponseProto, error) {
	return &pb.SetTimesResponseProto{}, r.ns().SetTimes(c, req.GetSrc(), int64(req.GetMtime()), int64(req.GetAtime()))
}

func (r *clientRPC) setReplication(_ context.Context, c *Caller, req *pb.SetReplicationRequestProto) (*pb.SetReplicationResponseProto, error) {
	ok, err := r.ns().SetReplication(c, req.GetSrc(), int(req.GetReplication()))
	return &pb.SetReplicationResponseProto{Result: proto.Bool(ok)}, err
}

func (r *clientRPC) getContentSummary(_ context.Context, c *Caller, req *pb.GetContentSummaryRequestProto) (*pb.GetContentSummaryResponseProto, error) {
	cs, err := r.ns().GetContentSummary(c, req.GetPath())
	if err != nil {
		return nil, err
	}
	none := uint64(1<<64 - 1) // -1 as Hadoop's unsigned field carries "no quota"
	return &pb.GetContentSummaryResponseProto{Summary: &pb.ContentSummaryProto{
		Length: proto.Uint64(cs.Length), FileCount: proto.Uint64(cs.FileCount),
		DirectoryCount: proto.Uint64(cs.DirectoryCount), Quota: proto.Uint64(none),
		SpaceConsumed: proto.Uint64(cs.SpaceConsumed), SpaceQuota: proto.Uint64(none),
		TypeQuotaInfos: &pb.StorageTypeQuotaInfosProto{}}}, nil
}

func (r *clientRPC) getFsStats(_ context.Context, _ *Caller, _ *pb.GetFsStatusRequestProto) (*pb.GetFsStatsResponseProto, error) {
	s := r.nn.FsStats()
	return &pb.GetFsStatsResponseProto{Capacity: proto.Uint64(s.Capacity), Used: proto.Uint64(s.Used),
		Remaining: proto.Uint64(s.Remaining), UnderReplicated: proto.Uint64(s.UnderReplicated),
		CorruptBlocks: proto.Uint64(s.CorruptBlocks), MissingBlocks: proto.Uint64(s.MissingBlocks),
		MissingReplOneBlocks: proto.Uint64(0), BlocksInFuture: proto.Uint64(0),
		PendingDeletionBlocks: proto.Uint64(0)}, nil
}

func (r *clientRPC) getServerDefaults(_ context.Context, _ *Caller, _ *pb.GetServerDefaultsRequestProto) (*pb.GetServerDefaultsResponseProto, error) {
	d := r.nn.defaults
	return &pb.GetServerDefaultsResponseProto{ServerDefaults: &pb.FsServerDefaultsProto{
		BlockSize: proto.Uint64(uint64(d.BlockSize)), BytesPerChecksum: proto.Uint32(d.BytesPerChecksum),
		WritePacketSize: proto.Uint32(d.WritePacketSize), Replication: proto.Uint32(d.Replication),
		FileBufferSize: proto.Uint32(4096), EncryptDataTransfer: proto.Bool(false),
		TrashInterval: proto.Uint64(d.TrashIntervalMinutes), ChecksumType: pb.ChecksumTypeProto_CHECKSUM_CRC32C.Enum(),
		KeyProviderUri: proto.String(""), PolicyId: proto.Uint32(0)}}, nil
}

func (r *clientRPC) renewLease(_ context.Context, _ *Caller, req *pb.RenewLeaseRequestProto) (*pb.RenewLeaseResponseProto, error) {
	return &pb.RenewLeaseResponseProto{}, r.ns().RenewLease(req.GetClientName())
}

func (r *clientRPC) recoverLease(_ context.Context, c *Caller, req *pb.RecoverLeaseRequestProto) (*pb.RecoverLeaseResponseProto, error) {
	ok, err := r.ns().RecoverLease(c, req.GetSrc(), req.GetClientName(), true)
	return &pb.RecoverLeaseResponseProto{Result: proto.Bool(ok)}, err
}

func xattrFromWire(x *pb.XAttrProto) XAttr {
	return XAttr{NS: uint32(x.GetNamespace()), Name: x.GetName(), Value: x.GetValue()}
}

func xattrToWire(x XAttr, withValue bool) *pb.XAttrProto {
	out := &pb.XAttrProto{Namespace: pb.XAttrProto_XAttrNamespaceProto(x.NS).Enum(), Name: proto.String(x.Name)}
	if withValue {
		out.Value = x.Value
		if out.Value == nil {
			out.Value = []byte{}
		}
	}
	return out
}

func (r *clientRPC) getXAttrs(_ context.Context, c *Caller, req *pb.GetXAttrsRequestProto) (*pb.GetXAttrsResponseProto, error) {
	var want []XAttr
	for _, x := range req.GetXAttrs() {
		want = append(want, xattrFromWire(x))
	}
	got, err := r.ns().GetXAttrs(c, req.GetSrc(), want)
	if err != nil {
		return nil, err
	}
	out := &pb.GetXAttrsResponseProto{}
	for _, x := range got {
		out.XAttrs = append(out.XAttrs, xattrToWire(x, true))
	}
	return out, nil
}

func (r *clientRPC) listXAttrs(_ context.Context, c *Caller, req *pb.ListXAttrsRequestProto) (*pb.ListXAttrsResponseProto, error) {
	got, err := r.ns().ListXAttrs(c, req.GetSrc())
	if err != nil {
		return nil, err
	}
	out := &pb.ListXAttrsResponseProto{}
	for _, x := range got {
		out.XAttrs = append(out.XAttrs, xattrToWire(x, false))
	}
	return out, nil
}

func (r *clientRPC) setXAttr(_ context.Context, c *Caller, req *pb.SetXAttrRequestProto) (*pb.SetXAttrResponseProto, error) {
	if req.GetXAttr() == nil {
		return nil, errorf(ExIllegalArgument, "XAttr is null")
	}
	return &pb.SetXAttrResponseProto{}, r.ns().SetXAttr(c, req.GetSrc(), xattrFromWire(req.GetXAttr()), req.GetFlag())
}

func (r *clientRPC) removeXAttr(_ context.Context, c *Caller, req *pb.RemoveXAttrRequestProto) (*pb.RemoveXAttrResponseProto, error) {
	if req.GetXAttr() == nil {
		return nil, errorf(ExIllegalArgument, "XAttr is null")
	}
	return &pb.RemoveXAttrResponseProto{}, r.ns().RemoveXAttr(c, req.GetSrc(), xattrFromWire(req.GetXAttr()))
}

func (r *clientRPC) getDataEncryptionKey(context.Context, *Caller, *pb.GetDataEncryptionKeyRequestProto) (*pb.GetDataEncryptionKeyResponseProto, error) {
	return &pb.GetDataEncryptionKeyResponseProto{}, nil
}

func (r *clientRPC) truncate(_ context.Context, c *Caller, req *pb.TruncateRequestProto) (*pb.TruncateResponseProto, error) {
	ok, err := r.ns().Truncate(c, req.GetSrc(), int64(req.GetNewLength()), req.GetClientName())
	return &pb.TruncateResponseProto{Result: proto.Bool(ok)}, err
}

func (r *clientRPC) fsync(_ context.Context, c *Caller, req *pb.FsyncRequestProto) (*pb.FsyncResponseProto, error) {
	return &pb.FsyncResponseProto{}, r.ns().Fsync(c, req.GetSrc(), req.GetFileId(), req.GetClient(), req.GetLastBlockLength())
}

func (r *clientRPC) getPreferredBlockSize(_ context.Context, c *Caller, req *pb.GetPreferredBlockSizeRequestProto) (*pb.GetPreferredBlockSizeResponseProto, error) {
	bs, err := r.ns().GetPreferredBlockSize(c, req.GetFilename())
	return &pb.GetPreferredBlockSizeResponseProto{Bsize: proto.Uint64(uint64(bs))}, err
}

func (r *clientRPC) isFileClosed(_ context.Context, c *Caller, req *pb.IsFileClosedRequestProto) (*pb.IsFileClosedResponseProto, error) {
	ok, err := r.ns().IsFileClosed(c, req.GetSrc())
	return &pb.IsFileClosedResponseProto{Result: proto.Bool(ok)}, err
}

func (r *clientRPC) getTransactionID(context.Context, *Caller, *pb.GetCurrentEditLogTxidRequestProto) (*pb.GetCurrentEditLogTxidResponseProto, error) {
	return &pb.GetCurrentEditLogTxidResponseProto{Txid: proto.Int64(int64(r.ns().LastAppliedTxID()))}, nil
}

func (r *clientRPC) setSafeMode(_ context.Context, c *Caller, req *pb.SetSafeModeRequestProto) (*pb.SetSafeModeResponseProto, error) {
	var a SafeModeAction
	switch req.GetAction() {
	case pb.SafeModeActionProto_SAFEMODE_ENTER:
		a = SafeModeEnter
	case pb.SafeModeActionProto_SAFEMODE_LEAVE:
		a = SafeModeLeave
	case pb.SafeModeActionProto_SAFEMODE_FORCE_EXIT:
		a = SafeModeForceExit
	default:
		a = SafeModeGet
	}
	on, err := r.nn.SetSafeMode(c, a)
	return &pb.SetSafeModeResponseProto{Result: proto.Bool(on)}, err
}

func (r *clientRPC) saveNamespace(_ context.Context, c *Caller, _ *pb.SaveNamespaceRequestProto) (*pb.SaveNamespaceResponseProto, error) {
	if !r.ns().isSuper(c) {
		return nil, errorf(ExAccessControl, "Access denied for user %s. Superuser privilege is required", c.User)
	}
	if !r.ns().InSafeMode() {
		return nil, errorf(ExIO, "Safe mode should be turned ON in order to create namespace image.")
	}
	if err := r.nn.Checkpoint("saveNamespace"); err != nil {
		return nil, err
	}
	return &pb.SaveNamespaceResponseProto{Saved: proto.Bool(true)}, nil
}

func (r *clientRPC) rollEdits(_ context.Context, c *Caller, _ *pb.RollEditsRequestProto) (*pb.RollEditsResponseProto, error) {
	if !r.ns().isSuper(c) {
		return nil, errorf(ExAccessControl, "Access denied for user %s. Superuser privilege is required", c.User)
	}
	txid, err := r.nn.RollEdits()
	return &pb.RollEditsResponseProto{NewSegmentTxId: proto.Uint64(txid)}, err
}

func (r *clientRPC) setStoragePolicy(_ context.Context, c *Caller, req *pb.SetStoragePolicyRequestProto) (*pb.SetStoragePolicyResponseProto, error) {
	p, ok := storagePolicyByName(req.GetPolicyName())
	if !ok {
		return nil, errorf(ExIllegalArgument, "Cannot find a block policy with the name %s", req.GetPolicyName())
	}
	return &pb.SetStoragePolicyResponseProto{}, r.ns().SetStoragePolicy(c, req.GetSrc(), p.id)
}

func (r *clientRPC) getStoragePolicy(_ context.Context, c *Caller, req *pb.GetStoragePolicyRequestProto) (*pb.GetStoragePolicyResponseProto, error) {
	st, err := r.ns().GetFileInfo(c, req.GetPath())
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNotFound("File/Directory does not exist: %s", req.GetPath())
	}
	id := st.StoragePolicy
	if id == 0 {
		id = policyHot
	}
	p, _ := storagePolicyByID(id)
	return &pb.GetStoragePolicyResponseProto{StoragePolicy: p.toPB()}, nil
}

func (r *clientRPC) getStoragePolicies(context.Context, *Caller, *pb.GetStoragePoliciesRequestProto) (*pb.GetStoragePoliciesResponseProto, error) {
	out := &pb.GetStoragePoliciesResponseProto{}
	for _, p := range storagePolicies {
		out.Policies = append(out.Policies, p.toPB())
	}
	return out, nil
}

func (r *clientRPC) getDatanodeReport(_ context.Context, _ *Caller, req *pb.GetDatanodeReportRequestProto) (*pb.GetDatanodeReportResponseProto, error) {
	out := &pb.GetDatanodeReportResponseProto{}
	for _, d := range r.nn.bm.Report() {
		switch req.GetType() {
		case pb.DatanodeReportTypeProto_LIVE:
			if d.Dead {
				continue
			}
		case pb.DatanodeReportTypeProto_DEAD:
			if !d.Dead {
				continue
			}
		case pb.DatanodeReportTypeProto_DECOMMISSIONING:
			if !d.Decommission || d.Decommissioned {
				continue
			}
		}
		di := datanodeInfoPB(d.DatanodeRef)
		di.NonDfsUsed = proto.Uint64(d.NonDfsUsed)
		di.XceiverCount = proto.Uint32(uint32(d.Xceivers))
		di.NumBlocks = proto.Uint32(uint32(d.Blocks))
		switch {
		case d.InMaintenance:
			di.AdminState = pb.DatanodeInfoProto_IN_MAINTENANCE.Enum()
		case d.Maintenance:
			di.AdminState = pb.DatanodeInfoProto_ENTERING_MAINTENANCE.Enum()
		case d.Decommissioned:
			di.AdminState = pb.DatanodeInfoProto_DECOMMISSIONED.Enum()
		case d.Decommission:
			di.AdminState = pb.DatanodeInfoProto_DECOMMISSION_INPROGRESS.Enum()
		}
		out.Di = append(out.Di, di)
	}
	return out, nil
}

// reportBadBlocks records replicas a client found corrupt while reading.
func (r *clientRPC) reportBadBlocks(_ context.Context, _ *Caller, req *pb.ReportBadBlocksRequestProto) (*pb.ReportBadBlocksResponseProto, error) {
	for _, lb := range req.GetBlocks() {
		for _, loc := range lb.GetLocs() {
			id := loc.GetId()
			node := id.GetDatanodeUuid()
			if node == "" {
				node = addrsOf([]*pb.DatanodeInfoProto{loc})[0]
			}
			r.nn.bm.MarkCorrupt(lb.GetB().GetBlockId(), node)
		}
	}
	return &pb.ReportBadBlocksResponseProto{}, nil
}

func (r *clientRPC) refreshNodes(_ context.Context, c *Caller, _ *pb.RefreshNodesRequestProto) (*pb.RefreshNodesResponseProto, error) {
	if !r.ns().isSuper(c) {
		return nil, errorf(ExAccessControl, "Access denied for user %s. Superuser privilege is required", c.User)
	}
	if err := r.nn.bm.RefreshNodes(); err != nil {
		return nil, errorf(ExIO, "%v", err)
	}
	return &pb.RefreshNodesResponseProto{}, nil
}
