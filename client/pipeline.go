package client

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/avatarfs/avatarfs/internal/rawio"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// The streamer: one goroutine per FileWriter that owns the block being
// written and its pipeline, and a responder goroutine per pipeline reading
// the DataNodes' acks.
//
// Packets wait in dataQ; the streamer sends the head and moves it to ackQ;
// the responder pops ackQ as acks arrive. When an ack names a failed
// DataNode, or the connection to the first one breaks, the streamer stops
// sending, puts the unacknowledged packets back at the front of dataQ,
// drops the bad node, optionally adds a replacement (getAdditionalDatanode
// and TRANSFER_BLOCK from a survivor), gets a new generation stamp
// (updateBlockForPipeline), sets up the pipeline again with a recovery
// stage, tells the NameNode (updatePipeline) and resends.

type stage = pb.OpWriteBlockProto_BlockConstructionStage

const (
	stageCreate            = pb.OpWriteBlockProto_PIPELINE_SETUP_CREATE
	stageAppend            = pb.OpWriteBlockProto_PIPELINE_SETUP_APPEND
	stageAppendRecovery    = pb.OpWriteBlockProto_PIPELINE_SETUP_APPEND_RECOVERY
	stageStreaming         = pb.OpWriteBlockProto_DATA_STREAMING
	stageStreamingRecovery = pb.OpWriteBlockProto_PIPELINE_SETUP_STREAMING_RECOVERY
	stageClose             = pb.OpWriteBlockProto_PIPELINE_CLOSE
	stageCloseRecovery     = pb.OpWriteBlockProto_PIPELINE_CLOSE_RECOVERY
)

type streamer struct {
	c       *Client
	src     string
	fileID  uint64
	repl    int
	cs      checksummer
	set     writerSettings
	bufSize int
	hb      *packet // the heartbeat packet, sealed once

	mu         sync.Mutex
	cond       *sync.Cond // the streamer's: packets queued, every ack in, failures
	dataQ      []*packet  // queued, not sent (resent packets at the front)
	ackQ       []*packet  // sent, waiting for their ack
	free       [][]byte
	err        error // fatal: the write cannot go on
	closing    bool  // no packet will be queued any more
	exited     bool
	done       chan struct{}
	pipeErr    error // the current pipeline failed
	badNode    int   // index of the node to drop for pipeErr
	gen        int   // pipeline generation, so a dead responder cannot mark a new pipeline
	liveConn   net.Conn
	lastAcked  int64 // seqno of the last acked packet
	lastEnd    int64 // its end offset in its block
	acked      int64 // bytes of the current block every pipeline node has acked
	hflushed   bool
	view       []string // the current pipeline's addresses, for Pipeline
	viewBlock  uint64
	recoveries int
	stuckSeq   int64 // lastAcked when the last recovery began
	stuckCount int
	prev       *pb.ExtendedBlockProto // the last block ended, with its length

	// space is the writer's condition: room in the window, an awaited
	// ack. Acks wake it only when such a waiter is there, and a full
	// window only once a quarter of it is acked.
	space        *sync.Cond
	spaceWaiters int
	ackWaiters   int

	// Owned by the streamer goroutine.
	isAppend bool
	block    *pb.ExtendedBlockProto
	stage    stage
	nodes    []*pb.DatanodeInfoProto
	types    []pb.StorageTypeProto
	ids      []string
	conn     net.Conn
	respDone chan struct{}
	batch    []*packet // the packets of one send, reused
	bufs     [][]byte  // their bytes, reused
	sent     int64     // bytes of the current block sent
	lastSend time.Time
	excluded []*pb.DatanodeInfoProto // for addBlock, for the whole file
	failed   []*pb.DatanodeInfoProto // dropped from the current block's pipeline
}

func newStreamer(c *Client, src string, fileID uint64, repl int, cs checksummer, set writerSettings, bufSize int) *streamer {
	s := &streamer{c: c, src: src, fileID: fileID, repl: repl, cs: cs, set: set, bufSize: bufSize,
		done: make(chan struct{}), lastAcked: -1, stuckSeq: -2, stage: stageCreate}
	s.cond = sync.NewCond(&s.mu)
	s.space = sync.NewCond(&s.mu)
	s.hb = emptyPacket(0, false, false)
	s.hb.seqno = heartbeatSeqno
	s.hb.seal(cs)
	return s
}

// resumeBlock continues an appended file's partial last block.
func (s *streamer) resumeBlock(lb *pb.LocatedBlockProto) {
	s.block = proto.Clone(lb.GetB()).(*pb.ExtendedBlockProto)
	s.nodes = slices.Clone(lb.GetLocs())
	s.types = slices.Clone(lb.GetStorageTypes())
	s.ids = slices.Clone(lb.GetStorageIDs())
	s.stage = stageAppend
	s.acked = int64(lb.GetB().GetNumBytes())
	s.sent = s.acked
}

func (s *streamer) start() {
	go s.run()
	go s.tick()
}

// tick wakes the streamer now and then so an idle pipeline gets its
// heartbeats.
func (s *streamer) tick() {
	t := time.NewTicker(min(time.Second, s.set.socketTimeout/4))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			s.cond.Broadcast()
			s.mu.Unlock()
		}
	}
}

func (s *streamer) getBuf() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b
	}
	return s.c.bufs.get(s.bufSize)
}

func (s *streamer) putBuf(p *packet) {
	s.mu.Lock()
	s.putBufLocked(p)
	s.mu.Unlock()
}

func (s *streamer) putBufLocked(p *packet) {
	if p.pooled && p.buf != nil && len(s.free) < s.set.maxInFlight+2 {
		s.free = append(s.free, p.buf)
	}
	p.buf = nil
}

// refill is how many packets of the window must be acked before a writer
// waiting for room goes on.
func (s *streamer) refill() int { return max(1, s.set.maxInFlight/4) }

// wakeAll wakes the streamer and the writer (a failure, the end).
func (s *streamer) wakeAll() {
	s.cond.Broadcast()
	s.space.Broadcast()
}

// failure is the error that stopped the writer, if any.
func (s *streamer) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *streamer) setHflushed() {
	s.mu.Lock()
	s.hflushed = true
	s.mu.Unlock()
}

func (s *streamer) pipeline() (uint64, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewBlock, slices.Clone(s.view)
}

func (s *streamer) recoveryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recoveries
}

func (s *streamer) lastBlock() *pb.ExtendedBlockProto {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prev
}

// enqueue hands a sealed packet to the streamer, waiting while the window
// of packets in flight is full.
func (s *streamer) enqueue(p *packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dataQ)+len(s.ackQ) >= s.set.maxInFlight {
		// A full window: wait until a quarter of it is acked, then fill
		// it in one go (a wake-up per packet is what costs here).
		s.spaceWaiters++
		for s.err == nil && !s.exited && len(s.dataQ)+len(s.ackQ) > s.set.maxInFlight-s.refill() {
			s.space.Wait()
		}
		s.spaceWaiters--
	}
	if s.err == nil && s.exited {
		s.err = errors.New("the writer's streamer has stopped")
	}
	if s.err != nil {
		s.putBufLocked(p)
		return s.err
	}
	s.dataQ = append(s.dataQ, p)
	s.cond.Broadcast()
	return nil
}

// waitAcked waits until packet seqno is acknowledged and returns the end
// offset (in its block) of the last acknowledged packet.
func (s *streamer) waitAcked(seqno int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ackWaiters++
	for s.err == nil && s.lastAcked < seqno {
		s.space.Wait()
	}
	s.ackWaiters--
	if s.lastAcked < seqno {
		return 0, s.err
	}
	return s.lastEnd, nil
}

// finish waits until every queued packet is acknowledged and the last
// block ended, then stops the streamer.
func (s *streamer) finish() error {
	s.mu.Lock()
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// abort stops the streamer with err, cutting the pipeline.
func (s *streamer) abort(err error) {
	s.fail(err)
	s.mu.Lock()
	if s.liveConn != nil {
		s.liveConn.Close()
	}
	s.mu.Unlock()
	<-s.done
}

func (s *streamer) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.wakeAll()
	s.mu.Unlock()
}

// markError records a failure of pipeline gen: the node at index bad is to
// be dropped. Only the first failure of a pipeline counts (a write error
// after an ack naming a downstream node does not blame the first node).
func (s *streamer) markError(gen, bad int, err error) {
	s.mu.Lock()
	if gen == s.gen && s.pipeErr == nil {
		s.pipeErr, s.badNode = err, bad
	}
	s.wakeAll()
	s.mu.Unlock()
}

func (s *streamer) heartbeatDue() bool {
	return s.conn != nil && s.stage == stageStreaming && time.Since(s.lastSend) >= s.set.socketTimeout/2
}

func (s *streamer) run() {
	defer s.shutdown()
	for {
		s.mu.Lock()
		for s.err == nil && s.pipeErr == nil && len(s.dataQ) == 0 && !(s.closing && len(s.ackQ) == 0) && !s.heartbeatDue() {
			s.cond.Wait()
		}
		switch {
		case s.err != nil:
			s.mu.Unlock()
			return
		case s.pipeErr != nil:
			s.mu.Unlock()
			if err := s.recover(); err != nil {
				s.fail(err)
				return
			}
			continue
		case len(s.dataQ) == 0 && len(s.ackQ) == 0 && s.closing:
			s.mu.Unlock()
			return
		case len(s.dataQ) == 0:
			gen := s.gen
			s.mu.Unlock()
			if err := s.send(s.hb); err != nil {
				s.markError(gen, 0, fmt.Errorf("send heartbeat to %s: %w", nodeAddr(s.nodes[0], s.set.useHostname), err))
			}
			continue
		}
		p := s.dataQ[0]
		s.mu.Unlock()
		if s.conn == nil {
			if err := s.setup(); err != nil {
				s.fail(err)
				return
			}
			continue
		}
		if p.last {
			// The end of the block goes out once all its data is acked.
			if !s.waitAllAcked() {
				continue
			}
			s.stage = stageClose
		}
		s.mu.Lock()
		// The data packets queued together go out in one write.
		n := 1
		for !p.last && n < len(s.dataQ) && n < sendBatch && !s.dataQ[n].last {
			n++
		}
		batch := append(s.batch[:0], s.dataQ[:n]...)
		s.dataQ = s.dataQ[n:]
		s.ackQ = append(s.ackQ, batch...)
		for _, q := range batch {
			q.sendDone, q.acked = false, false
		}
		gen := s.gen
		s.mu.Unlock()
		s.sent = max(s.sent, batch[n-1].end()) // an upper bound for maxBytesRcvd
		err := s.sendAll(batch)
		s.mu.Lock()
		for _, q := range batch {
			q.sendDone = true
			if q.acked {
				s.putBufLocked(q)
			}
		}
		s.batch = batch[:0]
		s.mu.Unlock()
		if err != nil {
			s.markError(gen, 0, fmt.Errorf("send packet %d to %s: %w", p.seqno, nodeAddr(s.nodes[0], s.set.useHostname), err))
			continue
		}
		if p.last {
			if !s.waitAllAcked() {
				continue
			}
			s.endBlock()
		}
	}
}

// shutdown runs when the streamer goroutine ends.
func (s *streamer) shutdown() {
	s.teardown()
	s.mu.Lock()
	if s.err == nil && (len(s.dataQ) > 0 || len(s.ackQ) > 0) {
		s.err = errors.New("the writer's streamer stopped with data unsent")
	}
	s.exited = true
	s.c.bufs.put(s.free) // for the next writer
	s.free = nil
	close(s.done)
	s.wakeAll()
	s.mu.Unlock()
}

// waitAllAcked waits until ackQ is empty; false when the pipeline or the
// writer failed first.
func (s *streamer) waitAllAcked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.err == nil && s.pipeErr == nil && len(s.ackQ) > 0 {
		s.cond.Wait()
	}
	return s.err == nil && s.pipeErr == nil
}

// sendBatch bounds the packets sent in one write (512 KiB of 64 KiB
// packets).
const sendBatch = 8

// sendAll sends packets in one (vectored) write.
func (s *streamer) sendAll(ps []*packet) error {
	if len(ps) == 1 {
		return s.send(ps[0])
	}
	ext := time.Duration(len(s.nodes)*timeoutExtension) * time.Second
	s.conn.SetWriteDeadline(time.Now().Add(s.set.writeTimeout + ext))
	bufs := s.bufs[:0]
	for _, p := range ps {
		bufs = append(bufs, p.wire())
	}
	s.bufs = bufs
	var err error
	if rc, ok := s.conn.(*rawio.Conn); ok {
		_, err = rc.Writev(bufs)
	} else {
		nb := net.Buffers(bufs)
		_, err = nb.WriteTo(s.conn)
	}
	clear(s.bufs)
	s.lastSend = time.Now()
	return err
}

func (s *streamer) send(p *packet) error {
	ext := time.Duration(len(s.nodes)*timeoutExtension) * time.Second
	s.conn.SetWriteDeadline(time.Now().Add(s.set.writeTimeout + ext))
	_, err := s.conn.Write(p.wire())
	s.lastSend = time.Now()
	return err
}

// respond reads the acks of one pipeline until its last packet is acked
// or it fails.
func (s *streamer) respond(conn net.Conn, br *bufio.Reader, gen int, nodes []string, done chan struct{}) {
	defer close(done)
	timeout := s.set.socketTimeout + time.Duration(len(nodes)*timeoutExtension)*time.Second
	for {
		conn.SetReadDeadline(time.Now().Add(timeout))
		seqno, replies, err := readAck(br)
		if err != nil {
			s.markError(gen, 0, fmt.Errorf("reading an ack from %s (pipeline %s): %w", nodes[0], strings.Join(nodes, ", "), err))
			return
		}
		for i, st := range replies {
			if st != pb.Status_SUCCESS {
				name := "?"
				if i < len(nodes) {
					name = nodes[i]
				}
				s.markError(gen, i, fmt.Errorf("DataNode %s (node %d of pipeline %s) answered %s for packet %d", name, i+1, strings.Join(nodes, ", "), st, seqno))
				return
			}
		}
		if seqno == heartbeatSeqno {
			continue
		}
		s.mu.Lock()
		if gen != s.gen {
			s.mu.Unlock()
			return
		}
		if len(s.ackQ) == 0 || s.ackQ[0].seqno != seqno {
			want := int64(-1)
			if len(s.ackQ) > 0 {
				want = s.ackQ[0].seqno
			}
			s.mu.Unlock()
			s.markError(gen, 0, fmt.Errorf("ack from %s for packet %d, expected %d", nodes[0], seqno, want))
			return
		}
		p := s.ackQ[0]
		s.ackQ[0] = nil
		s.ackQ = s.ackQ[1:]
		s.lastAcked, s.lastEnd = p.seqno, p.end()
		s.acked = max(s.acked, p.end())
		p.acked = true
		if p.sendDone {
			s.putBufLocked(p)
		}
		if len(s.ackQ) == 0 {
			s.cond.Broadcast() // the streamer may wait for every ack
		}
		if s.ackWaiters > 0 || (s.spaceWaiters > 0 && len(s.dataQ)+len(s.ackQ) <= s.set.maxInFlight-s.refill()) {
			s.space.Broadcast()
		}
		s.mu.Unlock()
		if p.last {
			return
		}
	}
}

// teardown closes the current pipeline and waits for its responder.
func (s *streamer) teardown() {
	if s.conn == nil {
		return
	}
	s.mu.Lock()
	s.gen++
	s.liveConn = nil
	s.mu.Unlock()
	s.conn.Close()
	if s.respDone != nil {
		<-s.respDone
	}
	s.conn, s.respDone = nil, nil
}

// setup builds the pipeline the head of dataQ needs: the appended block's
// or a new block's.
func (s *streamer) setup() error {
	if s.block != nil && s.stage == stageAppend {
		return s.rebuild(-1, nil)
	}
	return s.newBlock()
}

// newBlock allocates the next block and sets up its pipeline. A pipeline
// that cannot be built is abandoned and the node that failed excluded
// (Hadoop's createBlockOutputStream retry).
func (s *streamer) newBlock() error {
	var lastErr error
	for attempt := 0; attempt <= s.set.blockRetries; attempt++ {
		lb, err := s.addBlock()
		if err != nil {
			return err
		}
		s.block = proto.Clone(lb.GetB()).(*pb.ExtendedBlockProto)
		s.nodes = slices.Clone(lb.GetLocs())
		s.types = slices.Clone(lb.GetStorageTypes())
		s.ids = slices.Clone(lb.GetStorageIDs())
		s.failed, s.sent = nil, 0
		s.mu.Lock()
		s.acked = 0
		s.mu.Unlock()
		if len(s.nodes) == 0 {
			return fmt.Errorf("the NameNode gave no DataNodes for%s", blockName(s.block))
		}
		s.stage = stageCreate
		bad, err := s.connect(stageCreate, s.block.GetGenerationStamp(), 0, 0)
		if err == nil {
			s.stage = stageStreaming
			return nil
		}
		lastErr = err
		if err := s.c.call("abandonBlock", &pb.AbandonBlockRequestProto{B: s.block, Src: proto.String(s.src),
			Holder: proto.String(s.c.name), FileId: proto.Uint64(s.fileID)}, &pb.AbandonBlockResponseProto{}); err != nil {
			return fmt.Errorf("abandonBlock%s: %w", blockName(s.block), err)
		}
		if bad < 0 || bad >= len(s.nodes) {
			bad = 0
		}
		s.excluded = append(s.excluded, s.nodes[bad])
		s.mu.Lock()
		s.recoveries++
		s.mu.Unlock()
		s.block, s.nodes, s.types, s.ids = nil, nil, nil, nil
	}
	return fmt.Errorf("Unable to create new block for %s: %w", s.src, lastErr)
}

// addBlock asks the NameNode for the next block, retrying while the
// previous one waits for its minimum replicas.
func (s *streamer) addBlock() (*pb.LocatedBlockProto, error) {
	s.mu.Lock()
	prev := s.prev
	s.mu.Unlock()
	req := &pb.AddBlockRequestProto{Src: proto.String(s.src), ClientName: proto.String(s.c.name), Previous: prev,
		ExcludeNodes: s.excluded, FileId: proto.Uint64(s.fileID)}
	delay := s.set.locateDelay
	for retries := s.set.locateRetries; ; retries-- {
		resp := &pb.AddBlockResponseProto{}
		err := s.c.call("addBlock", req, resp)
		if err == nil {
			if resp.GetBlock() == nil {
				return nil, fmt.Errorf("addBlock for %s: no block in the answer", s.src)
			}
			return resp.GetBlock(), nil
		}
		if !IsClass(err, exNotReplicatedYet) || retries <= 0 {
			return nil, err
		}
		if s.failure() != nil {
			return nil, err
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Second)
	}
}

// connect opens a pipeline to s.nodes in stage st. On failure it returns
// the index of the node to blame: the reply's firstBadLink, else the first.
func (s *streamer) connect(st stage, gs uint64, minBytes, maxBytes int64) (int, error) {
	n := len(s.nodes)
	addrs := make([]string, n)
	for i, d := range s.nodes {
		addrs[i] = nodeAddr(d, s.set.useHostname)
	}
	ext := time.Duration(n*timeoutExtension) * time.Second
	conn, err := net.DialTimeout("tcp", addrs[0], s.set.socketTimeout)
	if err != nil {
		return 0, fmt.Errorf("connect to DataNode %s: %w", addrs[0], err)
	}
	op := &pb.OpWriteBlockProto{
		Header: &pb.ClientOperationHeaderProto{
			BaseHeader: &pb.BaseHeaderProto{Block: s.block},
			ClientName: proto.String(s.c.name),
		},
		Targets:               s.nodes[1:],
		Stage:                 st.Enum(),
		PipelineSize:          proto.Uint32(uint32(n)),
		MinBytesRcvd:          proto.Uint64(uint64(minBytes)),
		MaxBytesRcvd:          proto.Uint64(uint64(maxBytes)),
		LatestGenerationStamp: proto.Uint64(gs),
		RequestedChecksum:     s.cs.proto(),
	}
	if len(s.types) == n {
		op.StorageType = s.types[0].Enum()
		op.TargetStorageTypes = s.types[1:]
	}
	if len(s.ids) == n {
		op.StorageId = proto.String(s.ids[0])
		op.TargetStorageIds = s.ids[1:]
	}
	conn.SetDeadline(time.Now().Add(s.set.socketTimeout + ext))
	if err := writeOp(conn, opWriteBlock, op); err != nil {
		conn.Close()
		return 0, fmt.Errorf("send WRITE_BLOCK (%s) to %s: %w", st, addrs[0], err)
	}
	br := bufio.NewReaderSize(rawio.Wrap(conn), 4<<10)
	var resp pb.BlockOpResponseProto
	if err := readDelimited(br, &resp); err != nil {
		conn.Close()
		return 0, fmt.Errorf("WRITE_BLOCK (%s) reply from %s: %w", st, addrs[0], err)
	}
	if resp.GetStatus() != pb.Status_SUCCESS || resp.GetFirstBadLink() != "" {
		conn.Close()
		bad := 0
		if fbl := resp.GetFirstBadLink(); fbl != "" {
			if i := slices.IndexFunc(s.nodes, func(d *pb.DatanodeInfoProto) bool { return matchesAddr(d, fbl) }); i >= 0 {
				bad = i
			}
		}
		return bad, fmt.Errorf("pipeline %s for%s (%s): %s from %s: %s (first bad link %q)", strings.Join(addrs, ", "),
			blockName(s.block), st, resp.GetStatus(), addrs[0], resp.GetMessage(), resp.GetFirstBadLink())
	}
	conn.SetDeadline(time.Time{})
	if st == stageCloseRecovery {
		conn.Close() // the replicas are finalized; nothing is streamed
		return -1, nil
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.liveConn = conn
	s.view, s.viewBlock = addrs, s.block.GetBlockId()
	s.mu.Unlock()
	s.conn, s.respDone, s.lastSend = rawio.Wrap(conn), done, time.Now()
	go s.respond(conn, br, gen, addrs, done)
	return -1, nil
}

// endBlock closes the pipeline of a block whose last packet is acked and
// records the block for addBlock and complete.
func (s *streamer) endBlock() {
	s.teardown()
	b := proto.Clone(s.block).(*pb.ExtendedBlockProto)
	s.mu.Lock()
	b.NumBytes = proto.Uint64(uint64(s.acked))
	s.prev = b
	s.acked = 0
	s.view, s.viewBlock = nil, 0
	s.mu.Unlock()
	s.block, s.nodes, s.types, s.ids, s.failed = nil, nil, nil, nil, nil
	s.sent = 0
	s.stage = stageCreate
}
