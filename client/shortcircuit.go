package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Short-circuit local reads (Hadoop's dfs.client.read.shortcircuit): for a
// block with a replica on a DataNode of this host, the client asks that
// DataNode, over the UNIX domain socket at dfs.domain.socket.path, for the
// replica's open block and meta files, and reads them itself. Checksums
// are verified unless dfs.client.read.shortcircuit.skip.checksum.

const (
	opRequestShortCircuitFds byte = 87
	// blockFormatVersion is the replica layout this reader understands
	// (Hadoop's DataNode.CURRENT_BLOCK_FORMAT_VERSION).
	blockFormatVersion = 1
	// metaHeaderSize is the meta file's header: version (2 bytes),
	// checksum type (1), bytes per checksum (4).
	metaHeaderSize = 7
	// scBufferSize is the read-ahead of a local block (Hadoop's
	// dfs.client.read.shortcircuit.buffer.size): smaller reads are served
	// from it; reads of at least this size go straight to the caller.
	scBufferSize = 1 << 20
)

// shortCircuit is the client's short-circuit configuration.
type shortCircuit struct {
	enabled      bool
	skipChecksum bool
	socketPath   string // "_PORT" not replaced
	timeout      time.Duration

	mu       sync.Mutex
	disabled map[string]time.Time // socket path → when it last failed
}

func newShortCircuit(c *conf.Config) *shortCircuit {
	return &shortCircuit{
		enabled:      c.Bool("dfs.client.read.shortcircuit") && c.String("dfs.domain.socket.path") != "",
		skipChecksum: c.Bool("dfs.client.read.shortcircuit.skip.checksum"),
		socketPath:   c.String("dfs.domain.socket.path"),
		timeout:      c.Duration("dfs.client.socket-timeout"),
		disabled:     map[string]time.Time{},
	}
}

// scRetryAfter is how long a DataNode socket that failed is not tried.
const scRetryAfter = 10 * time.Minute

var (
	localIPsOnce sync.Once
	localIPs     map[string]bool
)

// isLocal tells whether ip is an address of this host.
func isLocal(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	if p.IsLoopback() {
		return true
	}
	localIPsOnce.Do(func() {
		localIPs = map[string]bool{}
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				localIPs[n.IP.String()] = true
			}
		}
	})
	return localIPs[p.String()]
}

// localBlock is one replica opened for short-circuit reading.
type localBlock struct {
	blk, meta *os.File
	length    int64 // bytes of the block readable (the located length)
	bpc       int
	table     *crc32.Table // nil: no checksums to verify
	buf       []byte       // verified read-ahead: bytes [bufStart, bufStart+len(buf))
	bufStart  int64
	sums      []byte
}

// open asks the DataNode dn for the replica of b. An error means "read it
// over TCP instead"; a DataNode whose socket cannot be used is not asked
// again for a while.
func (sc *shortCircuit) open(dn *pb.DatanodeInfoProto, b *pb.ExtendedBlockProto, length int64) (*localBlock, error) {
	id := dn.GetId()
	if !sc.enabled || !isLocal(id.GetIpAddr()) {
		return nil, errors.New("no local replica")
	}
	path := conf.DomainSocketPath(sc.socketPath, int(id.GetXferPort()))
	sc.mu.Lock()
	when, bad := sc.disabled[path]
	sc.mu.Unlock()
	if bad && time.Since(when) < scRetryAfter {
		return nil, fmt.Errorf("domain socket %s failed recently", path)
	}
	blk, meta, err := sc.requestFds(path, b)
	if err != nil {
		var refused *scRefused
		if !errors.As(err, &refused) {
			// The socket itself is unusable (no DataNode there, or a
			// foreign one): stop asking it for a while.
			sc.mu.Lock()
			sc.disabled[path] = time.Now()
			sc.mu.Unlock()
		}
		return nil, err
	}
	lb := &localBlock{blk: blk, meta: meta, length: length}
	if err := lb.readHeader(sc.skipChecksum); err != nil {
		lb.close()
		return nil, err
	}
	return lb, nil
}

// scRefused is a DataNode's refusal of one request (the replica is not
// finalized, not there...): the socket works, the block must go over TCP.
type scRefused struct {
	status pb.Status
	msg    string
}

func (e *scRefused) Error() string {
	return fmt.Sprintf("short-circuit read refused: %s: %s", e.status, e.msg)
}

// requestFds sends REQUEST_SHORT_CIRCUIT_FDS and receives the block and
// meta file descriptors.
func (sc *shortCircuit) requestFds(path string, b *pb.ExtendedBlockProto) (*os.File, *os.File, error) {
	c, err := net.DialTimeout("unix", path, sc.timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	uc := c.(*net.UnixConn)
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(sc.timeout))
	if err := writeOp(uc, opRequestShortCircuitFds, &pb.OpRequestShortCircuitAccessProto{
		Header:                      &pb.BaseHeaderProto{Block: b},
		MaxVersion:                  proto.Uint32(blockFormatVersion),
		SupportsReceiptVerification: proto.Bool(true),
	}); err != nil {
		return nil, nil, fmt.Errorf("request descriptors from %s: %w", path, err)
	}
	// The reply is read byte-exact: a buffered read could swallow the
	// byte that carries the descriptors (and with it, the descriptors).
	var resp pb.BlockOpResponseProto
	if err := readDelimitedExact(uc, &resp); err != nil {
		return nil, nil, fmt.Errorf("reply from %s: %w", path, err)
	}
	if resp.GetStatus() != pb.Status_SUCCESS {
		return nil, nil, &scRefused{resp.GetStatus(), resp.GetMessage()}
	}
	var one [1]byte
	oob := make([]byte, syscall.CmsgSpace(2*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(one[:], oob)
	if err != nil || n != 1 {
		return nil, nil, fmt.Errorf("descriptors from %s: %d bytes: %v", path, n, err)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, nil, fmt.Errorf("descriptors from %s: %w", path, err)
	}
	if len(fds) != 2 {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, nil, fmt.Errorf("descriptors from %s: got %d, want 2", path, len(fds))
	}
	blk := os.NewFile(uintptr(fds[0]), fmt.Sprintf("blk_%d", int64(b.GetBlockId())))
	meta := os.NewFile(uintptr(fds[1]), fmt.Sprintf("blk_%d.meta", int64(b.GetBlockId())))
	if pb.ShortCircuitFdResponse(one[0]) == pb.ShortCircuitFdResponse_USE_RECEIPT_VERIFICATION {
		if _, err := uc.Write([]byte{0}); err != nil {
			blk.Close()
			meta.Close()
			return nil, nil, fmt.Errorf("confirm descriptors to %s: %w", path, err)
		}
	}
	return blk, meta, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		f, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

// readDelimitedExact reads one varint-delimited message without reading
// past it.
func readDelimitedExact(r io.Reader, msg proto.Message) error {
	var lenBuf []byte
	var one [1]byte
	for {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return err
		}
		lenBuf = append(lenBuf, one[0])
		if one[0] < 0x80 {
			break
		}
		if len(lenBuf) >= binary.MaxVarintLen64 {
			return errors.New("bad length prefix")
		}
	}
	n, k := protowire.ConsumeVarint(lenBuf)
	if k < 0 || n > maxReplyLength {
		return fmt.Errorf("reply of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return proto.Unmarshal(b, msg)
}

// readHeader reads the meta file's header: version and checksum.
func (lb *localBlock) readHeader(skip bool) error {
	var hdr [metaHeaderSize]byte
	if _, err := lb.meta.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("meta header of %s: %w", lb.blk.Name(), err)
	}
	if v := binary.BigEndian.Uint16(hdr[:2]); v != blockFormatVersion {
		return fmt.Errorf("meta file of %s has version %d", lb.blk.Name(), v)
	}
	lb.bpc = int(binary.BigEndian.Uint32(hdr[3:]))
	if lb.bpc <= 0 || lb.bpc > 1<<20 {
		return fmt.Errorf("meta file of %s: %d bytes per checksum", lb.blk.Name(), lb.bpc)
	}
	switch pb.ChecksumTypeProto(hdr[2]) {
	case pb.ChecksumTypeProto_CHECKSUM_NULL:
	case pb.ChecksumTypeProto_CHECKSUM_CRC32:
		lb.table = crc32.IEEETable
	case pb.ChecksumTypeProto_CHECKSUM_CRC32C:
		lb.table = crc32.MakeTable(crc32.Castagnoli)
	default:
		return fmt.Errorf("meta file of %s: checksum type %d", lb.blk.Name(), hdr[2])
	}
	if skip {
		lb.table = nil
	}
	return nil
}

func (lb *localBlock) close() {
	lb.blk.Close()
	lb.meta.Close()
}

// errLocalChecksum is a checksum mismatch in a local replica.
var errLocalChecksum = errors.New("checksum error")

// readAt reads from the replica at off (within the block) into p: a
// verified, possibly short, read. At the block's end it returns io.EOF.
func (lb *localBlock) readAt(p []byte, off int64) (int, error) {
	if off >= lb.length {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), lb.length)
	if lb.table == nil {
		n, err := lb.blk.ReadAt(p[:end-off], off)
		if n > 0 || err == nil {
			return n, nil
		}
		return 0, unexpected(err)
	}
	if off >= lb.bufStart && off < lb.bufStart+int64(len(lb.buf)) {
		return copy(p[:end-off], lb.buf[off-lb.bufStart:]), nil
	}
	bpc := int64(lb.bpc)
	if off%bpc == 0 && end-off >= scBufferSize {
		// Large reads: whole chunks straight into the caller's buffer.
		n := end - off
		if end < lb.length {
			n -= n % bpc
		}
		if good, err := lb.readVerified(p[:n], off); err != nil {
			if good > 0 {
				return good, nil // the bad chunk fails the next read
			}
			return 0, err
		}
		return int(n), nil
	}
	// Smaller reads, or a start inside a chunk: through the read-ahead.
	start := off - off%bpc
	stop := min(start+scBufferSize, lb.length)
	if cap(lb.buf) < scBufferSize {
		lb.buf = make([]byte, scBufferSize)
	}
	lb.buf, lb.bufStart = lb.buf[:stop-start], start
	if good, err := lb.readVerified(lb.buf, start); err != nil {
		// Keep the chunks before a bad one: a read that ends before it
		// succeeds, as it would without read-ahead.
		lb.buf = lb.buf[:good]
		if off >= start+int64(good) {
			return 0, err
		}
	}
	return copy(p[:end-off], lb.buf[off-start:]), nil
}

// readVerified fills b from the chunk-aligned offset off and checks every
// chunk against the meta file. On a mismatch it returns how many bytes
// (whole chunks) before the bad chunk are good.
func (lb *localBlock) readVerified(b []byte, off int64) (int, error) {
	if n, err := lb.blk.ReadAt(b, off); n < len(b) {
		return 0, fmt.Errorf("read %s at %d: %w", lb.blk.Name(), off, unexpected(err))
	}
	bpc := lb.bpc
	chunks := (len(b) + bpc - 1) / bpc
	if cap(lb.sums) < 4*chunks {
		lb.sums = make([]byte, 4*chunks)
	}
	sums := lb.sums[:4*chunks]
	if n, err := lb.meta.ReadAt(sums, metaHeaderSize+off/int64(bpc)*4); n < len(sums) {
		return 0, fmt.Errorf("read checksums of %s at %d: %w", lb.blk.Name(), off, unexpected(err))
	}
	for i := 0; i < chunks; i++ {
		chunk := b[i*bpc : min((i+1)*bpc, len(b))]
		if crc32.Checksum(chunk, lb.table) != binary.BigEndian.Uint32(sums[4*i:]) {
			return i * bpc, fmt.Errorf("%w in %s at offset %d", errLocalChecksum, lb.blk.Name(), off+int64(i*bpc))
		}
	}
	return len(b), nil
}

func unexpected(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
