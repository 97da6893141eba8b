package client

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	hdfs "github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"
)

// Writer writes data to a file of the file system through the project's
// own block writer (FileWriter: a deep packet window and pipeline
// recovery); Close completes the file.
type Writer struct {
	w *FileWriter
	n int64
}

// Write writes b.
func (w *Writer) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.n += int64(n)
	return n, hadoopErr(err)
}

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// Close flushes the data and closes the file (FileWriter.Close waits for
// the minimum replication as Hadoop's client does).
func (w *Writer) Close() error {
	return hadoopErr(w.w.Close())
}

// Append opens existing file p for appending through the data path.
func (c *Client) Append(p string) (*Writer, error) {
	w, err := c.AppendWriter(p)
	if err != nil {
		return nil, hadoopErr(err)
	}
	return &Writer{w: w}, nil
}

// Create creates file p (see CreateOptions) and returns a writer for its
// data. The file is created and closed through the client's own RPC, so
// refusals carry the NameNode's message, then reopened for append on the
// data path.
func (c *Client) Create(p string, o CreateOptions) (*Writer, error) {
	if err := c.CreateEmpty(p, o); err != nil {
		return nil, err
	}
	return c.Append(p)
}

// Block is one block of a file and how many DataNodes hold it.
type Block struct {
	ID        uint64
	Offset    int64
	Length    int64
	Locations int
}

// BlockLocations returns the blocks of file p covering [offset,
// offset+length).
func (c *Client) BlockLocations(p string, offset, length int64) ([]Block, error) {
	resp := &pb.GetBlockLocationsResponseProto{}
	err := c.call("getBlockLocations", &pb.GetBlockLocationsRequestProto{Src: proto.String(p),
		Offset: proto.Uint64(uint64(offset)), Length: proto.Uint64(uint64(length))}, resp)
	if err != nil {
		return nil, err
	}
	if resp.Locations == nil {
		return nil, notFound("File does not exist: %s", p)
	}
	var out []Block
	for _, b := range resp.GetLocations().GetBlocks() {
		out = append(out, Block{ID: b.GetB().GetBlockId(), Offset: int64(b.GetOffset()),
			Length: int64(b.GetB().GetNumBytes()), Locations: len(b.GetLocs())})
	}
	return out, nil
}

// LiveDataNodes returns how many DataNodes the NameNode counts live.
func (c *Client) LiveDataNodes() (int, error) {
	resp := &pb.GetDatanodeReportResponseProto{}
	err := c.call("getDatanodeReport", &pb.GetDatanodeReportRequestProto{Type: pb.DatanodeReportTypeProto_LIVE.Enum()}, resp)
	return len(resp.GetDi()), err
}

// FileChecksum is HDFS's MD5-of-MD5-of-CRC file checksum.
type FileChecksum struct {
	BytesPerCRC int32
	CRCPerBlock int64
	CRCType     string // CRC32 or CRC32C
	MD5         [16]byte
}

// Algorithm is Hadoop's algorithm name, e.g. "MD5-of-0MD5-of-512CRC32C".
func (f *FileChecksum) Algorithm() string {
	return fmt.Sprintf("MD5-of-%dMD5-of-%d%s", f.CRCPerBlock, f.BytesPerCRC, f.CRCType)
}

// Bytes is Hadoop's serialised form: bytesPerCRC (4 bytes), crcPerBlock (8
// bytes) and the MD5, big-endian.
func (f *FileChecksum) Bytes() []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint32(b, uint32(f.BytesPerCRC))
	binary.BigEndian.PutUint64(b[4:], uint64(f.CRCPerBlock))
	copy(b[12:], f.MD5[:])
	return b
}

// Checksum computes file p's checksum as HDFS does. An empty file has
// Hadoop's fixed answer (MD5-of-0MD5-of-0CRC32 and the MD5 of 32 zero
// bytes); others need the DataNodes holding the blocks.
func (c *Client) Checksum(p string) (*FileChecksum, error) {
	blocks, err := c.BlockLocations(p, 0, 1<<62)
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		return &FileChecksum{CRCType: "CRC32", MD5: md5.Sum(make([]byte, 32))}, nil
	}
	d, err := c.ServerDefaults()
	if err != nil {
		return nil, err
	}
	r, err := c.hc.Open(p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	sum, err := r.Checksum()
	if err != nil {
		return nil, hadoopErr(err)
	}
	fc := &FileChecksum{BytesPerCRC: int32(d.BytesPerChecksum), CRCType: d.ChecksumType}
	if fc.BytesPerCRC <= 0 {
		fc.BytesPerCRC = 512
	}
	if len(blocks) > 1 {
		fc.CRCPerBlock = (blocks[0].Length + int64(fc.BytesPerCRC) - 1) / int64(fc.BytesPerCRC)
	}
	copy(fc.MD5[:], sum)
	return fc, nil
}

var _ io.WriteCloser = (*Writer)(nil)

// hadoopErr turns an exception the colinmarc client got from the NameNode
// into a *RemoteError carrying its message (that client keeps only the
// class in its error text).
func hadoopErr(err error) error {
	if err == nil {
		return nil
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if he, ok := e.(hdfs.Error); ok && he.Exception() != "" {
			return &RemoteError{Class: he.Exception(), Message: he.Message()}
		}
	}
	return err
}
