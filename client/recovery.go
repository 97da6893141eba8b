package client

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// Pipeline recovery, as Hadoop's DataStreamer does it: after a failure the
// streamer drops the failed node, may add a replacement (copying the
// replica so far to it), bumps the generation stamp and sets the pipeline
// up again; packets not yet acked are resent.

// recoveryStage is the stage a pipeline is set up again with after a
// failure in stage st.
func recoveryStage(st stage) stage {
	switch st {
	case stageAppend, stageAppendRecovery:
		return stageAppendRecovery
	case stageClose, stageCloseRecovery:
		return stageCloseRecovery
	}
	return stageStreamingRecovery
}

// maxRecoveriesPerPacket bounds the pipeline recoveries while the same
// packet stays unacknowledged (Hadoop's limit of 5).
const maxRecoveriesPerPacket = 5

// replacePolicy is dfs.client.block.write.replace-datanode-on-failure.*.
type replacePolicy struct {
	enabled    bool
	policy     string // DEFAULT, ALWAYS or NEVER
	bestEffort bool
}

// need reports whether a pipeline left with n of repl nodes should get a
// replacement DataNode, by Hadoop's rules.
func (r replacePolicy) need(repl, n int, isAppend, hflushed bool) bool {
	if !r.enabled || n == 0 || n >= repl {
		return false
	}
	switch r.policy {
	case "NEVER":
		return false
	case "ALWAYS":
		return true
	}
	return repl >= 3 && (n <= repl/2 || isAppend || hflushed)
}

// recover handles a failed pipeline.
func (s *streamer) recover() error {
	s.teardown()
	s.mu.Lock()
	cause, bad := s.pipeErr, s.badNode
	s.pipeErr = nil
	q := make([]*packet, 0, len(s.ackQ)+len(s.dataQ))
	q = append(append(q, s.ackQ...), s.dataQ...)
	s.dataQ, s.ackQ = q, nil
	s.recoveries++
	if s.lastAcked == s.stuckSeq {
		s.stuckCount++
	} else {
		s.stuckSeq, s.stuckCount = s.lastAcked, 1
	}
	stuck := s.stuckCount > maxRecoveriesPerPacket
	s.mu.Unlock()
	if stuck {
		return fmt.Errorf("error recovering pipeline for %s: %d recoveries without progress; last failure: %w", blockName(s.block), maxRecoveriesPerPacket, cause)
	}
	return s.rebuild(bad, cause)
}

// rebuild sets up the current block's pipeline again under a new
// generation stamp: without node bad (when ≥ 0), with a replacement when
// the policy asks for one. cause is the failure being recovered from (nil
// for the first setup of an appended block).
func (s *streamer) rebuild(bad int, cause error) error {
	recovering := cause != nil
	closing := s.stage == stageClose
	s.mu.Lock()
	acked := s.acked
	s.mu.Unlock()
	maxAttempts := 2*s.repl + 3
	var newGS uint64
	for attempt := 0; ; attempt++ {
		if bad >= 0 {
			if bad >= len(s.nodes) {
				bad = 0
			}
			s.dropNode(bad)
			if len(s.nodes) == 0 {
				return fmt.Errorf("all DataNodes of the pipeline of%s are bad (%s); aborting: %w", blockName(s.block), nodeList(s.failed, s.set.useHostname), cause)
			}
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("cannot set up a pipeline for%s after %d attempts: %w", blockName(s.block), attempt, cause)
		}
		if !closing && (recovering || s.stage != stageAppend) {
			if err := s.addDatanode(acked); err != nil {
				return err
			}
		}
		resp := &pb.UpdateBlockForPipelineResponseProto{}
		if err := s.c.call("updateBlockForPipeline", &pb.UpdateBlockForPipelineRequestProto{Block: s.block, ClientName: proto.String(s.c.name)}, resp); err != nil {
			return fmt.Errorf("updateBlockForPipeline of%s: %w", blockName(s.block), err)
		}
		newGS = resp.GetBlock().GetB().GetGenerationStamp()
		st := s.stage
		if recovering {
			st = recoveryStage(s.stage)
		}
		b, err := s.connect(st, newGS, acked, max(s.sent, acked))
		if err == nil {
			break
		}
		bad, cause, recovering = b, err, true
	}
	nb := &pb.ExtendedBlockProto{PoolId: proto.String(s.block.GetPoolId()), BlockId: proto.Uint64(s.block.GetBlockId()),
		GenerationStamp: proto.Uint64(newGS), NumBytes: proto.Uint64(uint64(acked))}
	req := &pb.UpdatePipelineRequestProto{ClientName: proto.String(s.c.name), OldBlock: s.block, NewBlock: nb, StorageIDs: s.ids}
	for _, d := range s.nodes {
		req.NewNodes = append(req.NewNodes, d.GetId())
	}
	if len(req.StorageIDs) != len(req.NewNodes) {
		req.StorageIDs = nil
	}
	if err := s.c.call("updatePipeline", req, &pb.UpdatePipelineResponseProto{}); err != nil {
		return fmt.Errorf("updatePipeline of%s: %w", blockName(s.block), err)
	}
	s.block = nb
	if closing {
		// PIPELINE_CLOSE_RECOVERY finalized the replicas during setup: the
		// block's end packet is not sent.
		s.mu.Lock()
		if len(s.dataQ) > 0 && s.dataQ[0].last {
			p := s.dataQ[0]
			s.dataQ = s.dataQ[1:]
			s.lastAcked, s.lastEnd = p.seqno, p.end()
		}
		s.wakeAll()
		s.mu.Unlock()
		s.endBlock()
		return nil
	}
	s.stage = stageStreaming
	return nil
}

// dropNode removes node i from the pipeline; it is excluded from this
// file's later blocks too.
func (s *streamer) dropNode(i int) {
	d := s.nodes[i]
	s.failed = append(s.failed, d)
	if !slices.ContainsFunc(s.excluded, func(e *pb.DatanodeInfoProto) bool { return sameNode(e, d) }) {
		s.excluded = append(s.excluded, d)
	}
	n := len(s.nodes)
	s.nodes = slices.Delete(slices.Clone(s.nodes), i, i+1)
	if len(s.types) == n {
		s.types = slices.Delete(slices.Clone(s.types), i, i+1)
	} else {
		s.types = nil
	}
	if len(s.ids) == n {
		s.ids = slices.Delete(slices.Clone(s.ids), i, i+1)
	} else {
		s.ids = nil
	}
}

func nodeList(ds []*pb.DatanodeInfoProto, useHostname bool) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = nodeAddr(d, useHostname)
	}
	return strings.Join(out, ", ")
}

// addDatanode adds a DataNode to a pipeline that lost some, when the
// replacement policy asks for it: the NameNode picks it
// (getAdditionalDatanode), a surviving node copies the replica to it
// (TRANSFER_BLOCK), and it joins the pipeline.
func (s *streamer) addDatanode(acked int64) error {
	s.mu.Lock()
	hflushed := s.hflushed
	s.mu.Unlock()
	if !s.set.replace.need(s.repl, len(s.nodes), s.isAppend, hflushed) {
		return nil
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		blk := proto.Clone(s.block).(*pb.ExtendedBlockProto)
		blk.NumBytes = proto.Uint64(uint64(acked))
		req := &pb.GetAdditionalDatanodeRequestProto{Src: proto.String(s.src), Blk: blk, Existings: s.nodes,
			Excludes: s.failed, NumAdditionalNodes: proto.Uint32(1), ClientName: proto.String(s.c.name),
			ExistingStorageUuids: s.ids, FileId: proto.Uint64(s.fileID)}
		if len(req.ExistingStorageUuids) != len(req.Existings) {
			req.ExistingStorageUuids = nil
		}
		resp := &pb.GetAdditionalDatanodeResponseProto{}
		if err := s.c.call("getAdditionalDatanode", req, resp); err != nil {
			lastErr = err
			break
		}
		lb := resp.GetBlock()
		idx := slices.IndexFunc(lb.GetLocs(), func(d *pb.DatanodeInfoProto) bool {
			return !slices.ContainsFunc(s.nodes, func(e *pb.DatanodeInfoProto) bool { return sameNode(d, e) })
		})
		if idx < 0 {
			lastErr = errors.New("the NameNode named no new DataNode")
			break
		}
		target := lb.GetLocs()[idx]
		var typ *pb.StorageTypeProto
		var id string
		if ts := lb.GetStorageTypes(); idx < len(ts) {
			typ = ts[idx].Enum()
		}
		if ids := lb.GetStorageIDs(); idx < len(ids) {
			id = ids[idx]
		}
		for _, src := range s.nodes {
			if lastErr = s.transfer(src, target, blk, typ, id); lastErr == nil {
				break
			}
		}
		if lastErr == nil {
			n := len(lb.GetLocs())
			s.nodes = slices.Clone(lb.GetLocs())
			s.types, s.ids = nil, nil
			if len(lb.GetStorageTypes()) == n {
				s.types = slices.Clone(lb.GetStorageTypes())
			}
			if len(lb.GetStorageIDs()) == n {
				s.ids = slices.Clone(lb.GetStorageIDs())
			}
			return nil
		}
		s.failed = append(s.failed, target)
	}
	if s.set.replace.bestEffort {
		return nil
	}
	return fmt.Errorf("Failed to replace a bad datanode on the existing pipeline due to no more good datanodes being available to try. (Nodes: current=[%s], failed=[%s]). The current failed datanode replacement policy is %s, and a client may configure this via 'dfs.client.block.write.replace-datanode-on-failure.policy' in its configuration: %w",
		nodeList(s.nodes, s.set.useHostname), nodeList(s.failed, s.set.useHostname), s.set.replace.policy, lastErr)
}

// transfer asks src to copy its replica of blk (acked length) to target.
func (s *streamer) transfer(src, target *pb.DatanodeInfoProto, blk *pb.ExtendedBlockProto, typ *pb.StorageTypeProto, id string) error {
	addr := nodeAddr(src, s.set.useHostname)
	conn, err := net.DialTimeout("tcp", addr, s.set.socketTimeout)
	if err != nil {
		return fmt.Errorf("connect to %s for a transfer: %w", addr, err)
	}
	defer conn.Close()
	op := &pb.OpTransferBlockProto{
		Header:  &pb.ClientOperationHeaderProto{BaseHeader: &pb.BaseHeaderProto{Block: blk}, ClientName: proto.String(s.c.name)},
		Targets: []*pb.DatanodeInfoProto{target},
	}
	if typ != nil {
		op.TargetStorageTypes = []pb.StorageTypeProto{*typ}
	}
	if id != "" {
		op.TargetStorageIds = []string{id}
	}
	conn.SetDeadline(time.Now().Add(2*s.set.socketTimeout + 2*timeoutExtension*time.Second))
	if err := writeOp(conn, opTransferBlock, op); err != nil {
		return fmt.Errorf("send TRANSFER_BLOCK to %s: %w", addr, err)
	}
	var resp pb.BlockOpResponseProto
	if err := readDelimited(bufio.NewReader(conn), &resp); err != nil {
		return fmt.Errorf("TRANSFER_BLOCK reply from %s: %w", addr, err)
	}
	if resp.GetStatus() != pb.Status_SUCCESS {
		return fmt.Errorf("%s could not transfer%s to %s: %s %s", addr, blockName(blk), nodeAddr(target, s.set.useHostname), resp.GetStatus(), resp.GetMessage())
	}
	return nil
}
