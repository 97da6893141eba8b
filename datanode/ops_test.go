package datanode

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
)

// expectedMD5CRC is Hadoop's MD5CRC of data: the MD5 of its chunk CRCs.
func expectedMD5CRC(data []byte, bpc int) []byte {
	h := md5.New()
	for p := 0; p < len(data); p += bpc {
		h.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data[p:min(p+bpc, len(data))], castagnoli)))
	}
	return h.Sum(nil)
}

func blockChecksumFrom(d *DataNode, blk *hadooppb.ExtendedBlockProto) (*hadooppb.BlockOpResponseProto, error) {
	c, err := net.DialTimeout("tcp", d.XferAddr(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeOp(c, opBlockChecksum, &hadooppb.OpBlockChecksumProto{Header: &hadooppb.BaseHeaderProto{Block: blk}}); err != nil {
		return nil, err
	}
	var resp hadooppb.BlockOpResponseProto
	if err := readPrefixedGoClient(c, &resp); err != nil {
		return nil, err
	}
	if resp.GetStatus() != hadooppb.Status_SUCCESS {
		return &resp, errorf("block checksum: %s: %s", resp.GetStatus(), resp.GetMessage())
	}
	return &resp, nil
}

func dialRaw(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 5*time.Second)
}

// rawOp sends raw bytes as an op and returns the reply and whether the
// DataNode closed the connection afterwards.
func rawOp(addr string, b []byte) (*hadooppb.BlockOpResponseProto, bool, error) {
	c, err := dialRaw(addr)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		return nil, false, err
	}
	br := bufio.NewReader(c)
	var resp hadooppb.BlockOpResponseProto
	if err := readPrefixedGoClient(br, &resp); err != nil {
		return nil, false, err
	}
	_, err = br.ReadByte()
	return &resp, err != nil && !isTimeout(err), nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func errorf(format string, args ...any) error {
	return &opError{msg: fmt.Sprintf(format, args...)}
}

// corruptReplica flips a byte of a replica's block file.
func corruptReplica(t *testing.T, d *testDN, id uint64, off int64) {
	t.Helper()
	var path string
	filepath.Walk(d.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) == "blk_"+strconv.FormatUint(id, 10) {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatalf("no block file of blk_%d under %s", id, d.dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
