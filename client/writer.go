package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The project's own block writer. FileWriter cuts what it is given into
// packets (CRC32C per 512-byte chunk, about 64 KiB of data each, never
// across a block boundary) and queues them; a streamer goroutine
// (pipeline.go) allocates blocks, builds DataNode pipelines, sends the
// packets and, when a DataNode fails, rebuilds the pipeline without it and
// resends what was not acknowledged, as Hadoop's DataStreamer does.

// WriteOptions are the parameters of a new file; zero values take the
// client's defaults (FileMode(), dfs.replication, dfs.blocksize).
type WriteOptions struct {
	Replication int
	BlockSize   int64
	Perm        os.FileMode // permission bits; the umask applies
	Overwrite   bool
	NoParents   bool // fail when the parent directory is missing
}

// Hadoop exception classes the writer looks at.
const (
	exNotReplicatedYet = "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException"
)

// leaseRenewal is how often an open writer renews its lease (half the
// NameNode's 60 s soft limit, as Hadoop's LeaseRenewer).
const leaseRenewal = 30 * time.Second

// ErrWriterClosed is returned by a FileWriter used after Close.
var ErrWriterClosed = errors.New("write to a closed file")

// FileWriter writes a file through DataNode pipelines it builds and
// repairs itself. It is safe for concurrent use; writes are appended in
// the order their calls take the writer's lock.
type FileWriter struct {
	c               *Client
	path            string
	fileID          uint64
	blockSize       int64
	cs              checksummer
	chunksPerPacket int
	s               *streamer

	mu            sync.Mutex
	cur           *packet // packet being filled, nil when none
	fresh         bool    // cur holds bytes not sent yet
	bytesCurBlock int64   // offset in the current block of the next byte
	written       int64
	nextSeqno     int64
	closed        bool
	closeErr      error
	leaseStop     chan struct{}
	leaseDone     chan struct{}
}

var _ io.WriteCloser = (*FileWriter)(nil)

// writerSettings are the client keys the writer reads, with Hadoop's names
// and defaults.
type writerSettings struct {
	bpc           int
	checksumType  string
	packetSize    int
	maxInFlight   int
	socketTimeout time.Duration
	writeTimeout  time.Duration
	useHostname   bool
	replace       replacePolicy
	blockRetries  int
	locateRetries int
	locateDelay   time.Duration
}

func (c *Client) writerSettings() writerSettings {
	cf := c.conf
	s := writerSettings{
		bpc:           int(cf.Int("dfs.bytes-per-checksum")),
		checksumType:  strings.ToUpper(strings.TrimSpace(cf.String("dfs.checksum.type"))),
		packetSize:    int(cf.Int("dfs.client-write-packet-size")),
		maxInFlight:   int(confInt(cf, "dfs.client.write.max-packets-in-flight", 80)),
		socketTimeout: cf.Duration("dfs.client.socket-timeout"),
		writeTimeout:  cf.Duration("dfs.datanode.socket.write.timeout"),
		useHostname:   cf.Bool("dfs.client.use.datanode.hostname"),
		replace: replacePolicy{
			enabled:    confBool(cf, "dfs.client.block.write.replace-datanode-on-failure.enable", true),
			policy:     strings.ToUpper(strings.TrimSpace(confString(cf, "dfs.client.block.write.replace-datanode-on-failure.policy", "DEFAULT"))),
			bestEffort: confBool(cf, "dfs.client.block.write.replace-datanode-on-failure.best-effort", false),
		},
		blockRetries:  int(confInt(cf, "dfs.client.block.write.retries", 3)),
		locateRetries: int(confInt(cf, "dfs.client.block.write.locateFollowingBlock.retries", 5)),
		locateDelay:   time.Duration(confInt(cf, "dfs.client.block.write.locateFollowingBlock.initial.delay.ms", 400)) * time.Millisecond,
	}
	if s.bpc <= 0 {
		s.bpc = 512
	}
	if s.packetSize <= 0 {
		s.packetSize = 64 << 10
	}
	if s.maxInFlight < 1 {
		s.maxInFlight = 1
	}
	if s.socketTimeout <= 0 {
		s.socketTimeout = 60 * time.Second
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = 480 * time.Second
	}
	return s
}

func confString(c *conf.Config, key, def string) string {
	if v, ok := c.Get(key); ok && strings.TrimSpace(v) != "" {
		return v
	}
	return def
}

func confInt(c *conf.Config, key string, def int64) int64 {
	v, ok := c.Get(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return def
	}
	return n
}

func confBool(c *conf.Config, key string, def bool) bool {
	v, ok := c.Get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(strings.ToLower(v)))
	if err != nil {
		return def
	}
	return b
}

// CreateWriter creates file p and returns a writer for its data. The file
// is open (its lease held by this client) until Close.
func (c *Client) CreateWriter(p string, o WriteOptions) (*FileWriter, error) {
	perm := uint16(o.Perm.Perm())
	if o.Perm&os.ModeSticky != 0 {
		perm |= 0o1000
	}
	if perm == 0 {
		perm = 0o666
	}
	perm &^= c.umask
	repl, bs := o.Replication, o.BlockSize
	if repl <= 0 {
		repl = int(c.conf.Int("dfs.replication"))
	}
	if bs <= 0 {
		bs = c.conf.Size("dfs.blocksize")
	}
	set := c.writerSettings()
	cs, err := newChecksummer(set.checksumType, set.bpc)
	if err != nil {
		return nil, err
	}
	if bs%int64(set.bpc) != 0 {
		return nil, fmt.Errorf("Invalid values: dfs.bytes-per-checksum (=%d) must divide block size (=%d).", set.bpc, bs)
	}
	flag := uint32(FlagCreate)
	if o.Overwrite {
		flag |= FlagOverwrite
	}
	resp := &pb.CreateResponseProto{}
	err = c.call("create", &pb.CreateRequestProto{
		Src: proto.String(p), Masked: &pb.FsPermissionProto{Perm: proto.Uint32(uint32(perm))},
		ClientName: proto.String(c.name), CreateFlag: proto.Uint32(flag), CreateParent: proto.Bool(!o.NoParents),
		Replication: proto.Uint32(uint32(repl)), BlockSize: proto.Uint64(uint64(bs)),
	}, resp)
	if err != nil {
		return nil, err
	}
	if st := resp.GetFs(); st != nil {
		if st.GetBlocksize() > 0 {
			bs = int64(st.GetBlocksize())
		}
		if st.GetBlockReplication() > 0 {
			repl = int(st.GetBlockReplication())
		}
	}
	return c.newFileWriter(p, resp.GetFs().GetFileId(), repl, bs, set, cs, nil, false), nil
}

// AppendWriter opens existing file p for appending. A last block with room
// is continued (its pipeline set up again under a new generation stamp);
// otherwise the next byte starts a new block.
func (c *Client) AppendWriter(p string) (*FileWriter, error) {
	set := c.writerSettings()
	cs, err := newChecksummer(set.checksumType, set.bpc)
	if err != nil {
		return nil, err
	}
	resp := &pb.AppendResponseProto{}
	err = c.call("append", &pb.AppendRequestProto{Src: proto.String(p), ClientName: proto.String(c.name),
		Flag: proto.Uint32(FlagAppend)}, resp)
	if err != nil {
		return nil, err
	}
	st := resp.GetStat()
	bs := int64(st.GetBlocksize())
	if bs <= 0 {
		bs = c.conf.Size("dfs.blocksize")
	}
	repl := int(st.GetBlockReplication())
	if repl <= 0 {
		repl = int(c.conf.Int("dfs.replication"))
	}
	return c.newFileWriter(p, st.GetFileId(), repl, bs, set, cs, resp.GetBlock(), true), nil
}

func (c *Client) newFileWriter(p string, fileID uint64, repl int, bs int64, set writerSettings, cs checksummer, last *pb.LocatedBlockProto, isAppend bool) *FileWriter {
	// As Hadoop: as many whole chunks as fit a packet of
	// dfs.client-write-packet-size with its header.
	chunks := max((set.packetSize-33)/(set.bpc+4), 1)
	w := &FileWriter{c: c, path: p, fileID: fileID, blockSize: bs, cs: cs, chunksPerPacket: chunks,
		leaseStop: make(chan struct{}), leaseDone: make(chan struct{})}
	w.s = newStreamer(c, p, fileID, repl, cs, set, packetHeadroom+4*chunks+chunks*set.bpc)
	w.s.isAppend = isAppend
	if last != nil && last.GetB() != nil {
		n := int64(last.GetB().GetNumBytes())
		if n < bs {
			w.s.resumeBlock(last)
			w.bytesCurBlock = n
		} else {
			w.s.prev = proto.Clone(last.GetB()).(*pb.ExtendedBlockProto)
		}
	}
	go w.renewLease()
	w.s.start()
	return w
}

// renewLease keeps the file's lease while the writer is open.
func (w *FileWriter) renewLease() {
	defer close(w.leaseDone)
	t := time.NewTicker(leaseRenewal)
	defer t.Stop()
	for {
		select {
		case <-w.leaseStop:
			return
		case <-t.C:
			// A failure is retried at the next tick; the NameNode's hard
			// limit (1 h) leaves plenty of room.
			w.c.call("renewLease", &pb.RenewLeaseRequestProto{ClientName: proto.String(w.c.name)}, &pb.RenewLeaseResponseProto{})
		}
	}
}

// Path returns the path of the file being written.
func (w *FileWriter) Path() string { return w.path }

// Written returns the number of bytes written through this writer.
func (w *FileWriter) Written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Pipeline returns the block being streamed and the transfer addresses of
// its pipeline's DataNodes, first node first (0 and nil between blocks).
func (w *FileWriter) Pipeline() (block uint64, nodes []string) { return w.s.pipeline() }

// Recoveries returns how many times the writer worked around a failed
// DataNode: pipelines rebuilt after a failure, and pipelines of new blocks
// abandoned and asked for again without the node that failed.
func (w *FileWriter) Recoveries() int { return w.s.recoveryCount() }

// packet is one data packet. Its buffer holds room for the length prefix
// and header, then the checksums, then the data, so an encoded packet goes
// out in one write and can be sent again after a pipeline recovery.
type packet struct {
	buf       []byte
	dataStart int   // index of the first data byte
	dataEnd   int   // index after the last data byte
	wireStart int   // where the encoded packet begins (set by seal)
	offset    int64 // offset in the block of the first data byte
	first     int   // bytes in the packet's first chunk
	capacity  int   // most data bytes the packet may hold
	seqno     int64
	last      bool // the empty packet ending a block
	sync      bool // the DataNodes sync the replica to disk (hsync)
	pooled    bool
	// sendDone and acked (under the streamer's lock) decide who recycles
	// the buffer: the later of the send returning and the ack arriving.
	sendDone bool
	acked    bool
}

func (p *packet) dataLen() int { return p.dataEnd - p.dataStart }

// end is the offset in the block after the packet's data.
func (p *packet) end() int64 { return p.offset + int64(p.dataLen()) }

// wire is the encoded packet.
func (p *packet) wire() []byte { return p.buf[p.wireStart:p.dataEnd] }

// seal computes the checksums and encodes the header in front of them.
func (p *packet) seal(cs checksummer) {
	n := p.dataLen()
	k := cs.chunks(n, p.first)
	sums := p.dataStart - 4*k
	cs.sum(p.buf[sums:p.dataStart], p.buf[p.dataStart:p.dataEnd], p.first)
	var hb [40]byte
	h := hb[:0]
	h = protowire.AppendTag(h, 1, protowire.Fixed64Type)
	h = protowire.AppendFixed64(h, uint64(p.offset))
	h = protowire.AppendTag(h, 2, protowire.Fixed64Type)
	h = protowire.AppendFixed64(h, uint64(p.seqno))
	h = protowire.AppendTag(h, 3, protowire.VarintType)
	h = protowire.AppendVarint(h, protowire.EncodeBool(p.last))
	h = protowire.AppendTag(h, 4, protowire.Fixed32Type)
	h = protowire.AppendFixed32(h, uint32(int32(n)))
	if p.sync {
		h = protowire.AppendTag(h, 5, protowire.VarintType)
		h = protowire.AppendVarint(h, 1)
	}
	p.wireStart = sums - 6 - len(h)
	binary.BigEndian.PutUint32(p.buf[p.wireStart:], uint32(4+4*k+n))
	binary.BigEndian.PutUint16(p.buf[p.wireStart+4:], uint16(len(h)))
	copy(p.buf[p.wireStart+6:], h)
}

// newPacket starts a data packet at offset off of the current block. A
// packet starting inside a chunk (after an append to a partial chunk)
// holds only the rest of that chunk, so later packets start on chunk
// boundaries.
func (w *FileWriter) newPacket(off int64) *packet {
	bpc := w.cs.bpc
	buf := w.s.getBuf()
	p := &packet{buf: buf, dataStart: packetHeadroom + 4*w.chunksPerPacket, offset: off, pooled: true}
	p.dataEnd = p.dataStart
	p.first = bpc - int(off%int64(bpc))
	p.capacity = w.chunksPerPacket * bpc
	if p.first < bpc {
		p.capacity = p.first
	}
	p.capacity = int(min(int64(p.capacity), w.blockSize-off))
	return p
}

// emptyPacket is a packet without data: the end of a block, or an hsync
// with nothing new to send.
func emptyPacket(off int64, last, sync bool) *packet {
	return &packet{buf: make([]byte, packetHeadroom), dataStart: packetHeadroom, dataEnd: packetHeadroom,
		offset: off, first: 1, last: last, sync: sync}
}

// queue seals p with the next seqno and hands it to the streamer, waiting
// while the window of packets in flight is full.
func (w *FileWriter) queue(p *packet) error {
	p.seqno = w.nextSeqno
	w.nextSeqno++
	p.seal(w.cs)
	return w.s.enqueue(p)
}

// queueFull queues the current packet; at the end of a block it also
// queues the block's last packet.
func (w *FileWriter) queueFull(sync bool) error {
	p := w.cur
	w.cur, w.fresh = nil, false
	p.sync = sync
	if err := w.queue(p); err != nil {
		return err
	}
	if w.bytesCurBlock == w.blockSize {
		w.bytesCurBlock = 0
		return w.queue(emptyPacket(w.blockSize, true, false))
	}
	return nil
}

// Write writes b; it blocks while the window of unacknowledged packets is
// full. After a failure the pipeline could not survive, every call
// returns that error.
func (w *FileWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrWriterClosed
	}
	if err := w.s.failure(); err != nil {
		return 0, err
	}
	n := 0
	for len(b) > 0 {
		if w.cur == nil {
			w.cur = w.newPacket(w.bytesCurBlock)
		}
		p := w.cur
		k := copy(p.buf[p.dataEnd:p.dataStart+p.capacity], b)
		p.dataEnd += k
		b = b[k:]
		n += k
		w.written += int64(k)
		w.bytesCurBlock += int64(k)
		w.fresh = true
		if p.dataLen() == p.capacity {
			if err := w.queueFull(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Hflush sends everything written so far, waits until every DataNode of
// the pipeline has acknowledged it, and records the file's length on the
// NameNode, so new readers see the data.
func (w *FileWriter) Hflush() error { return w.flush(false) }

// Hsync is Hflush that also has the DataNodes sync the replica to disk.
func (w *FileWriter) Hsync() error { return w.flush(true) }

func (w *FileWriter) flush(sync bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrWriterClosed
	}
	if err := w.s.failure(); err != nil {
		return err
	}
	w.s.setHflushed()
	switch {
	case w.cur != nil && w.fresh:
		p := w.cur
		// A partial last chunk is sent now and again with the bytes that
		// complete it (Hadoop's way): the next packet starts where the
		// chunk does.
		var next *packet
		n := p.dataLen()
		partial := 0
		if n < p.first {
			partial = n
		} else if n > p.first {
			partial = (n - p.first) % w.cs.bpc
		}
		if partial > 0 {
			next = w.newPacket(p.end() - int64(partial))
			next.dataEnd += copy(next.buf[next.dataStart:], p.buf[p.dataEnd-partial:p.dataEnd])
		}
		w.cur, w.fresh = nil, false
		p.sync = sync
		if err := w.queue(p); err != nil {
			if next != nil {
				w.s.putBuf(next)
			}
			return err
		}
		w.cur = next
	case sync && w.bytesCurBlock > 0:
		if err := w.queue(emptyPacket(w.bytesCurBlock, false, true)); err != nil {
			return err
		}
	}
	length, err := w.s.waitAcked(w.nextSeqno - 1)
	if err != nil {
		return err
	}
	req := &pb.FsyncRequestProto{Src: proto.String(w.path), Client: proto.String(w.c.name),
		LastBlockLength: proto.Int64(length), FileId: proto.Uint64(w.fileID)}
	return w.c.call("fsync", req, &pb.FsyncResponseProto{})
}

// Close sends the rest of the data, ends the last block, waits for every
// acknowledgement and completes the file on the NameNode (waiting while
// its last block reaches the minimum replication).
func (w *FileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	err := w.s.failure()
	if err == nil && w.cur != nil {
		if w.fresh {
			p := w.cur
			w.cur, w.fresh = nil, false
			err = w.queue(p)
		} else {
			w.s.putBuf(w.cur)
			w.cur = nil
		}
	}
	if err == nil && w.bytesCurBlock > 0 {
		err = w.queue(emptyPacket(w.bytesCurBlock, true, false))
	}
	if err == nil {
		err = w.s.finish()
	} else {
		w.s.abort(err)
	}
	close(w.leaseStop)
	<-w.leaseDone
	if err == nil {
		err = w.complete(w.s.lastBlock())
	}
	w.closeErr = err
	return err
}

// Abort stops the writer without completing the file: the pipeline is cut
// and the NameNode recovers the file when the lease expires.
func (w *FileWriter) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	w.closeErr = errors.New("writer aborted")
	w.s.abort(w.closeErr)
	close(w.leaseStop)
	<-w.leaseDone
}

// complete closes the file on the NameNode, retrying while the last block
// waits for its minimum replicas.
func (w *FileWriter) complete(last *pb.ExtendedBlockProto) error {
	req := &pb.CompleteRequestProto{Src: proto.String(w.path), ClientName: proto.String(w.c.name),
		Last: last, FileId: proto.Uint64(w.fileID)}
	wait := w.s.set.locateDelay
	for retries := w.s.set.locateRetries; ; retries-- {
		resp := &pb.CompleteResponseProto{}
		if err := w.c.call("complete", req, resp); err != nil {
			return err
		}
		if resp.GetResult() {
			return nil
		}
		if retries <= 0 {
			return fmt.Errorf("Unable to close file because the last block%s does not have enough number of replicas.", blockName(last))
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Second)
	}
}

func blockName(b *pb.ExtendedBlockProto) string {
	if b == nil {
		return ""
	}
	return fmt.Sprintf(" %s:blk_%d_%d", b.GetPoolId(), int64(b.GetBlockId()), b.GetGenerationStamp())
}
