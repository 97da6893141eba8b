package datanode

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// Replica transfers between DataNodes: replication ordered by the
// NameNode, TRANSFER_BLOCK for a client's pipeline recovery, and
// REPLACE_BLOCK (balancer, mover) which pulls a replica with COPY_BLOCK.

// selfInfo is this DataNode as a DatanodeInfoProto.
func (d *DataNode) selfInfo() *hadooppb.DatanodeInfoProto {
	return &hadooppb.DatanodeInfoProto{Id: toHadoopID(d.id)}
}

func toHadoopID(id *dnpb.DatanodeID) *hadooppb.DatanodeIDProto {
	return &hadooppb.DatanodeIDProto{
		IpAddr:       proto.String(id.GetIp()),
		HostName:     proto.String(id.GetHostName()),
		DatanodeUuid: proto.String(id.GetUuid()),
		XferPort:     proto.Uint32(id.GetXferPort()),
		InfoPort:     proto.Uint32(id.GetInfoPort()),
		IpcPort:      proto.Uint32(id.GetIpcPort()),
	}
}

// transferReplica sends a local replica to targets with WRITE_BLOCK and
// returns the bytes sent. With an empty clientName and stageCreate it is a
// replication: the targets form a pipeline and answer nothing. With a
// client name and a TRANSFER stage there is one target, which answers
// once it has the replica.
func (d *DataNode) transferReplica(blockID, genStamp uint64, targets []*hadooppb.DatanodeInfoProto,
	types []hadooppb.StorageTypeProto, ids []string, st stage, clientName string) (uint64, error) {
	d.xceivers.Add(1)
	defer d.xceivers.Add(-1)
	if len(targets) == 0 {
		return 0, errors.New("no targets")
	}
	r, err := d.store.OpenReplica(blockID, genStamp)
	if err != nil {
		return 0, fmt.Errorf("open replica %d: %w", blockID, err)
	}
	defer r.Close()
	rep := r.Replica()
	visible := r.VisibleLength()
	addr := xferAddr(targets[0])
	c, err := d.dialDataNode(addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	op := &hadooppb.OpWriteBlockProto{
		Header: &hadooppb.ClientOperationHeaderProto{
			BaseHeader: &hadooppb.BaseHeaderProto{Block: &hadooppb.ExtendedBlockProto{
				PoolId: proto.String(d.blockPool()), BlockId: proto.Uint64(blockID),
				GenerationStamp: proto.Uint64(rep.GenStamp), NumBytes: proto.Uint64(visible),
			}},
			ClientName: proto.String(clientName),
		},
		Targets:               targets[1:],
		Source:                d.selfInfo(),
		Stage:                 st.Enum(),
		PipelineSize:          proto.Uint32(uint32(len(targets))),
		MinBytesRcvd:          proto.Uint64(0),
		MaxBytesRcvd:          proto.Uint64(0),
		LatestGenerationStamp: proto.Uint64(rep.GenStamp),
		RequestedChecksum:     readerSpec(r).proto(),
	}
	if len(types) > 0 {
		op.StorageType = types[0].Enum()
		op.TargetStorageTypes = types[1:]
	}
	if len(ids) > 0 {
		op.StorageId = proto.String(ids[0])
		op.TargetStorageIds = ids[1:]
	}
	c.SetWriteDeadline(time.Now().Add(d.set.WriteTimeout))
	if err := writeOp(c, opWriteBlock, op); err != nil {
		return 0, fmt.Errorf("send WRITE_BLOCK to %s: %w", addr, err)
	}
	log := d.log.WithFields(logrus.Fields{"block": blockID, "gs": rep.GenStamp, "to": addr, "stage": st.String()})
	if err := d.sendReplica(c, r, 0, visible, true, log); err != nil {
		return 0, err
	}
	if clientName != "" {
		c.SetReadDeadline(time.Now().Add(d.set.SocketTimeout + timeoutExtension))
		var resp hadooppb.BlockOpResponseProto
		if err := readDelimited(bufio.NewReader(c), &resp, maxAckLength); err != nil {
			return 0, fmt.Errorf("close reply from %s: %w", addr, err)
		}
		if resp.GetStatus() != hadooppb.Status_SUCCESS {
			return 0, fmt.Errorf("%s answered %s: %s", addr, resp.GetStatus(), resp.GetMessage())
		}
	}
	log.WithField("bytes", visible).Info("replica transferred")
	return visible, nil
}

// transferBlock serves TRANSFER_BLOCK: a client recovering its pipeline
// asks this DataNode to copy its replica (RBW or finalized) to new nodes.
func (x *xconn) transferBlock(op *hadooppb.OpTransferBlockProto) error {
	b := op.GetHeader().GetBaseHeader().GetBlock()
	d := x.d
	rep, ok := d.store.Get(b.GetBlockId())
	switch {
	case !ok:
		x.replyError(hadooppb.Status_ERROR, "block %d not found", b.GetBlockId())
		return fmt.Errorf("transfer block %d: %w", b.GetBlockId(), storage.ErrReplicaNotFound)
	case rep.GenStamp < b.GetGenerationStamp():
		x.replyError(hadooppb.Status_ERROR, "replica of block %d has generation stamp %d, older than %d", b.GetBlockId(), rep.GenStamp, b.GetGenerationStamp())
		return fmt.Errorf("transfer block %d: stale replica", b.GetBlockId())
	}
	st := stageTransferRBW
	if rep.State == storage.StateFinalized {
		st = stageTransferFinalized
	}
	types, ids := op.GetTargetStorageTypes(), op.GetTargetStorageIds()
	for i, t := range op.GetTargets() {
		var ty []hadooppb.StorageTypeProto
		var id []string
		if i < len(types) {
			ty = types[i : i+1]
		}
		if i < len(ids) {
			id = ids[i : i+1]
		}
		n, err := d.transferReplica(rep.BlockID, rep.GenStamp, []*hadooppb.DatanodeInfoProto{t}, ty, id, st, op.GetHeader().GetClientName())
		if err == nil && n < b.GetNumBytes() {
			err = fmt.Errorf("replica has %d visible bytes, the client asked for %d", n, b.GetNumBytes())
		}
		if err != nil {
			x.replyError(hadooppb.Status_ERROR, "transfer of block %d to %s failed: %v", b.GetBlockId(), xferAddr(t), err)
			return fmt.Errorf("transfer block %d: %w", b.GetBlockId(), err)
		}
	}
	return x.reply(&hadooppb.BlockOpResponseProto{Status: hadooppb.Status_SUCCESS.Enum(), FirstBadLink: proto.String("")})
}

// replaceBlock serves REPLACE_BLOCK: copy the block from the source
// DataNode named in the op (with COPY_BLOCK), then tell the NameNodes the
// replica arrived, with the delHint naming the replica it replaces.
func (x *xconn) replaceBlock(op *hadooppb.OpReplaceBlockProto) error {
	d := x.d
	b := op.GetHeader().GetBlock()
	log := x.log.WithFields(blockFields(b)).WithField("source", xferAddr(op.GetSource()))
	fail := func(status hadooppb.Status, format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		x.replyError(status, "%s", msg)
		return errors.New(msg)
	}
	if _, ok := d.store.Get(b.GetBlockId()); ok {
		return fail(hadooppb.Status_ERROR_EXISTS, "block %d already has a replica here", b.GetBlockId())
	}
	src := xferAddr(op.GetSource())
	c, err := d.dialDataNode(src)
	if err != nil {
		return fail(hadooppb.Status_ERROR, "replace block %d: %v", b.GetBlockId(), err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(d.set.WriteTimeout))
	if err := writeOp(c, opCopyBlock, &hadooppb.OpCopyBlockProto{Header: &hadooppb.BaseHeaderProto{Block: b}}); err != nil {
		return fail(hadooppb.Status_ERROR, "replace block %d: send COPY_BLOCK to %s: %v", b.GetBlockId(), src, err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	c.SetReadDeadline(time.Now().Add(d.set.SocketTimeout))
	var resp hadooppb.BlockOpResponseProto
	if err := readDelimited(br, &resp, maxAckLength); err != nil {
		return fail(hadooppb.Status_ERROR, "replace block %d: reply from %s: %v", b.GetBlockId(), src, err)
	}
	if resp.GetStatus() != hadooppb.Status_SUCCESS {
		return fail(hadooppb.Status_ERROR, "replace block %d: copy from %s refused: %s %s", b.GetBlockId(), src, resp.GetStatus(), resp.GetMessage())
	}
	ci := resp.GetReadOpChecksumInfo()
	spec, err := specFromProto(ci.GetChecksum())
	if err != nil || ci.GetChunkOffset() != 0 {
		return fail(hadooppb.Status_ERROR_UNSUPPORTED, "replace block %d: source sends %v/%d from %d", b.GetBlockId(),
			ci.GetChecksum().GetType(), ci.GetChecksum().GetBytesPerChecksum(), ci.GetChunkOffset())
	}
	typ := storage.StorageType(op.GetStorageType())
	w, err := d.store.CreateRBWWithChecksum(b.GetBlockId(), b.GetGenerationStamp(), typ, spec.typ, spec.bpc)
	if err != nil {
		return fail(statusFor(err), "replace block %d: %v", b.GetBlockId(), err)
	}
	defer w.Close()
	held, _ := br.Peek(br.Buffered())
	rc := &receiver{d: d, log: log, in: newPacketStream(c, held, d.streamBufs.get()), inConn: c, w: w, cs: spec, blockID: b.GetBlockId()}
	defer d.streamBufs.put(rc.in.buf)
	rc.unregister = d.addWriter(b.GetBlockId(), rc.abort)
	defer rc.unregister()
	rc.finish = func() (storage.Replica, error) {
		rep, err := w.Finalize()
		if err != nil {
			return rep, err
		}
		d.notifyReplica(rep, dnpb.ReceivedDeleted_RECEIVED, op.GetDelHint())
		return rep, nil
	}
	final, err := rc.receive()
	if err == nil {
		err = final.err
	}
	if err != nil {
		if aerr := w.Abort(); aerr != nil {
			log.WithError(aerr).Warn("cannot remove the partial replica")
		}
		return fail(hadooppb.Status_ERROR, "replace block %d: %v", b.GetBlockId(), err)
	}
	log.WithField("bytes", final.rep.NumBytes).Info("replica moved here")
	return x.reply(&hadooppb.BlockOpResponseProto{Status: hadooppb.Status_SUCCESS.Enum(), FirstBadLink: proto.String("")})
}

// replicate copies a replica to the targets a TRANSFER command names.
func (d *DataNode) replicate(blk *dnpb.Block, targets []*dnpb.Target) {
	log := d.log.WithFields(logrus.Fields{"block": blk.GetId(), "gs": blk.GetGenStamp()})
	if len(targets) == 0 {
		return
	}
	rep, ok := d.store.Get(blk.GetId())
	if !ok || rep.GenStamp < blk.GetGenStamp() || rep.State != storage.StateFinalized {
		log.Warn("cannot replicate: no finalized replica of that generation here")
		return
	}
	if blk.GetNumBytes() != 0 && rep.NumBytes != blk.GetNumBytes() {
		log.WithFields(logrus.Fields{"have": rep.NumBytes, "want": blk.GetNumBytes()}).Warn("cannot replicate: replica length differs from the NameNode's")
		return
	}
	infos := make([]*hadooppb.DatanodeInfoProto, len(targets))
	types := make([]hadooppb.StorageTypeProto, len(targets))
	ids := make([]string, len(targets))
	for i, t := range targets {
		infos[i] = &hadooppb.DatanodeInfoProto{Id: toHadoopID(t.GetId())}
		types[i] = hadooppb.StorageTypeProto_DISK
		if t.GetStorageType() != dnpb.StorageType_STORAGE_UNSPECIFIED {
			types[i] = hadooppb.StorageTypeProto(t.GetStorageType())
		}
		ids[i] = t.GetStorageId()
	}
	if _, err := d.transferReplica(rep.BlockID, rep.GenStamp, infos, types, ids, stageCreate, ""); err != nil {
		log.WithError(err).Warn("replication failed")
	}
}
