package client

import (
	"errors"
	"fmt"
	"io"
	"os"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	hdfs "github.com/colinmarc/hdfs/v2"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// FileReader reads a file. Blocks with a finalized replica on this host
// are read short-circuit when dfs.client.read.shortcircuit is on (see
// shortcircuit.go); the others, and any block whose local read fails,
// through the stock Go client's DataTransferProtocol reader.
type FileReader struct {
	c      *Client
	path   string
	remote remoteFile
	// remotePos is where remote stands: it is moved only to go elsewhere
	// (see remoteSeek).
	remotePos int64
	blocks    []*pb.LocatedBlockProto // complete blocks (short-circuit candidates)
	length    int64
	pos       int64
	cur       *localBlock
	curIdx    int
	// curNode is the DataNode whose replica cur is.
	curNode *pb.DatanodeInfoProto
	tried   map[int]bool    // blocks whose local read was given up
	bad     map[string]bool // DataNodes (uuid) whose local replica failed
	local   int64           // bytes read short-circuit
	closed  bool
}

// remoteFile is what FileReader needs of colinmarc/hdfs's reader.
type remoteFile interface {
	io.ReadSeekCloser
	Stat() os.FileInfo
}

var _ remoteFile = (*hdfs.FileReader)(nil)

// ShortCircuitBytes is how many bytes were read from local replicas.
func (f *FileReader) ShortCircuitBytes() int64 { return f.local }

// Open opens file p for reading. The file is looked up with the client's
// own RPC first, so a missing or forbidden path gives the NameNode's
// exception.
func (c *Client) Open(p string) (*FileReader, error) {
	resp := &pb.GetBlockLocationsResponseProto{}
	err := c.call("getBlockLocations", &pb.GetBlockLocationsRequestProto{Src: proto.String(p),
		Offset: proto.Uint64(0), Length: proto.Uint64(1 << 62)}, resp)
	if err != nil {
		return nil, err
	}
	if resp.Locations == nil {
		return nil, notFound("File does not exist: %s", p)
	}
	r, err := c.hc.Open(p)
	if err != nil {
		return nil, hadoopErr(err)
	}
	f := &FileReader{c: c, path: p, remote: r, curIdx: -1, tried: map[int]bool{}, bad: map[string]bool{}}
	if c.sc.enabled {
		locs := resp.GetLocations()
		f.length = int64(locs.GetFileLength())
		f.blocks = locs.GetBlocks()
		if locs.GetUnderConstruction() && len(f.blocks) > 0 && !locs.GetIsLastBlockComplete() {
			// The last block is still being written: over TCP only.
			f.blocks = f.blocks[:len(f.blocks)-1]
		}
	}
	return f, nil
}

// Stat describes the file as it was opened.
func (f *FileReader) Stat() os.FileInfo { return f.remote.Stat() }

// Read reads up to len(b) bytes at the current position.
func (f *FileReader) Read(b []byte) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	if n, ok := f.readLocal(b, f.pos); ok {
		f.pos += int64(n)
		return n, nil
	}
	if err := f.remoteSeek(f.pos); err != nil {
		return 0, hadoopErr(err)
	}
	n, err := f.remote.Read(b)
	f.pos += int64(n)
	f.remoteMoved(n, err)
	return n, hadoopErr(err)
}

// ReadAt reads len(b) bytes at off (io.ReaderAt) without moving the
// position.
func (f *FileReader) ReadAt(b []byte, off int64) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	done := 0
	for done < len(b) {
		n, ok := f.readLocal(b[done:], off+int64(done))
		if !ok {
			break
		}
		done += n
	}
	if done == len(b) {
		return done, nil
	}
	if err := f.remoteSeek(off + int64(done)); err != nil {
		return done, hadoopErr(err)
	}
	n, err := io.ReadFull(f.remote, b[done:])
	f.remoteMoved(n, err)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF // as os.File.ReadAt at the end of the file
	}
	return done + n, hadoopErr(err)
}

// remoteSeek moves the TCP reader to off unless it is there already:
// colinmarc/hdfs's Seek to its current offset drops the DataNode
// connection (its BlockReader cannot skip 0 bytes), which turned every
// Read into a new READ_BLOCK (40 MB/s for hdfs dfs -cat).
func (f *FileReader) remoteSeek(off int64) error {
	if off == f.remotePos {
		return nil
	}
	if _, err := f.remote.Seek(off, io.SeekStart); err != nil {
		f.remotePos = -1
		return err
	}
	f.remotePos = off
	return nil
}

// remoteMoved records a read of n bytes through remote; after an error
// where remote stands is not trusted.
func (f *FileReader) remoteMoved(n int, err error) {
	if err != nil && err != io.EOF {
		f.remotePos = -1
		return
	}
	f.remotePos += int64(n)
}

// Seek sets the position (io.Seeker).
func (f *FileReader) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = f.pos + offset
	case io.SeekEnd:
		pos = f.remote.Stat().Size() + offset
	default:
		return f.pos, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if pos < 0 {
		return f.pos, fmt.Errorf("seek %s: negative position %d", f.path, pos)
	}
	f.pos = pos
	return pos, nil
}

// Close releases the reader and its local replicas.
func (f *FileReader) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.cur != nil {
		f.cur.close()
		f.cur = nil
	}
	return f.remote.Close()
}

// readLocal reads at off from a local replica of the block holding off;
// false when there is none left (the block then goes over TCP). A local
// replica that fails is dropped and the next local one tried, as Hadoop's
// reader moves to another DataNode; a corrupt one is also reported.
func (f *FileReader) readLocal(b []byte, off int64) (int, bool) {
	i := f.blockAt(off)
	if i < 0 {
		return 0, false
	}
	lb := f.blocks[i]
	for !f.tried[i] {
		if f.curIdx != i {
			if f.cur != nil {
				f.cur.close()
				f.cur = nil
			}
			f.curIdx = i
			f.cur, f.curNode = f.openLocal(lb)
			if f.cur == nil {
				f.tried[i] = true
				f.curIdx = -1
				return 0, false
			}
		}
		n, err := f.cur.readAt(b, off-int64(lb.GetOffset()))
		f.local += int64(n)
		if err == io.EOF {
			return 0, false // past the located length: let the TCP reader answer
		}
		if err == nil {
			return n, true
		}
		log := logrus.WithFields(logrus.Fields{"path": f.path, "block": lb.GetB().GetBlockId(),
			"datanode": xferAddrOf(f.curNode)}).WithError(err)
		if errors.Is(err, errLocalChecksum) {
			log.Warn("corrupt local replica: reporting it and reading another")
			f.reportBad(lb, f.curNode)
		} else {
			log.Info("short-circuit read failed; trying another replica")
		}
		f.bad[f.curNode.GetId().GetDatanodeUuid()] = true
		f.cur.close()
		f.cur, f.curIdx = nil, -1
	}
	return 0, false
}

func xferAddrOf(dn *pb.DatanodeInfoProto) string {
	return fmt.Sprintf("%s:%d", dn.GetId().GetIpAddr(), dn.GetId().GetXferPort())
}

// blockAt is the index of the complete block holding off, -1 if none.
func (f *FileReader) blockAt(off int64) int {
	for i, lb := range f.blocks {
		start := int64(lb.GetOffset())
		if off >= start && off < start+int64(lb.GetB().GetNumBytes()) {
			return i
		}
	}
	return -1
}

// openLocal opens the block's replica on the first local DataNode that
// hands it out and has not failed this reader.
func (f *FileReader) openLocal(lb *pb.LocatedBlockProto) (*localBlock, *pb.DatanodeInfoProto) {
	if lb.GetCorrupt() {
		return nil, nil
	}
	for _, dn := range lb.GetLocs() {
		if !isLocal(dn.GetId().GetIpAddr()) || f.bad[dn.GetId().GetDatanodeUuid()] {
			continue
		}
		b, err := f.c.sc.open(dn, lb.GetB(), int64(lb.GetB().GetNumBytes()))
		if err == nil {
			return b, dn
		}
		logrus.WithFields(logrus.Fields{"path": f.path, "block": lb.GetB().GetBlockId()}).WithError(err).Debug("no short-circuit read")
	}
	return nil, nil
}

// reportBad tells the NameNode that dn's replica of a block is corrupt.
func (f *FileReader) reportBad(lb *pb.LocatedBlockProto, dn *pb.DatanodeInfoProto) {
	if dn == nil {
		return
	}
	bad := &pb.LocatedBlockProto{B: lb.GetB(), Offset: lb.Offset, Locs: []*pb.DatanodeInfoProto{dn},
		Corrupt: proto.Bool(true), BlockToken: lb.GetBlockToken()}
	if err := f.c.call("reportBadBlocks", &pb.ReportBadBlocksRequestProto{Blocks: []*pb.LocatedBlockProto{bad}},
		&pb.ReportBadBlocksResponseProto{}); err != nil {
		logrus.WithError(err).Warn("cannot report a corrupt replica")
	}
}

var (
	_ io.ReadSeekCloser = (*FileReader)(nil)
	_ io.ReaderAt       = (*FileReader)(nil)
)
