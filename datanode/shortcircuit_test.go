package datanode

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// scRequest sends REQUEST_SHORT_CIRCUIT_FDS over c and returns the reply
// and the descriptors that came with it (closed by the test's cleanup).
func scRequest(t *testing.T, c net.Conn, op *hadooppb.OpRequestShortCircuitAccessProto) (*hadooppb.BlockOpResponseProto, []*os.File) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeOp(c, opRequestSCFds, op); err != nil {
		t.Fatal(err)
	}
	var resp hadooppb.BlockOpResponseProto
	// Byte by byte: a buffered read could swallow the descriptors' byte.
	if err := readDelimited(byteReader{c}, &resp, maxAckLength); err != nil {
		t.Fatalf("reply: %v", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok || resp.GetStatus() != hadooppb.Status_SUCCESS {
		return &resp, nil
	}
	var one [1]byte
	oob := make([]byte, syscall.CmsgSpace(8))
	n, oobn, _, _, err := uc.ReadMsgUnix(one[:], oob)
	if err != nil || n != 1 {
		t.Fatalf("descriptors: %d bytes, %v", n, err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v %v", msgs, err)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for _, fd := range fds {
		f := os.NewFile(uintptr(fd), "passed")
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	if hadooppb.ShortCircuitFdResponse(one[0]) == hadooppb.ShortCircuitFdResponse_USE_RECEIPT_VERIFICATION {
		c.Write([]byte{0})
	}
	return &resp, files
}

type byteReader struct{ c net.Conn }

func (b byteReader) ReadByte() (byte, error) {
	var one [1]byte
	_, err := b.c.Read(one[:])
	return one[0], err
}

func (b byteReader) Read(p []byte) (int, error) { return b.c.Read(p) }

func TestShortCircuitDescriptors(t *testing.T) {
	nn := newFakeNN(t)
	sock := filepath.Join(t.TempDir(), "dn._PORT")
	dns := startCluster(t, nn, 1, map[string]string{
		"dfs.domain.socket.path":       sock,
		"dfs.client.read.shortcircuit": "true",
	})
	d := dns[0].DataNode
	data := bytes.Repeat([]byte("short-circuit "), 10000)
	if err := writeBlockTo([]*DataNode{d}, 7001, 1, data); err != nil {
		t.Fatal(err)
	}
	// A replica still being written: RBW, not handed out.
	w, _, err := openPipeline([]*DataNode{d}, testBlock(7002, 1, 0), writeSetup{stage: stageCreate})
	if err != nil {
		t.Fatal(err)
	}
	defer w.c.Close()
	if _, err := w.sendPacket(data[:1000], false, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.readAck(); err != nil {
		t.Fatal(err)
	}

	dial := func() net.Conn {
		c, err := net.Dial("unix", d.DomainSocketPath())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	req := func(id, gs uint64, version uint32, verify bool) *hadooppb.OpRequestShortCircuitAccessProto {
		return &hadooppb.OpRequestShortCircuitAccessProto{Header: &hadooppb.BaseHeaderProto{Block: testBlock(id, gs, 0)},
			MaxVersion: proto.Uint32(version), SupportsReceiptVerification: proto.Bool(verify)}
	}
	for _, tc := range []struct {
		name   string
		conn   func() net.Conn
		op     *hadooppb.OpRequestShortCircuitAccessProto
		status hadooppb.Status
	}{
		{"finalized replica", dial, req(7001, 1, 1, true), hadooppb.Status_SUCCESS},
		{"without receipt verification", dial, req(7001, 1, 1, false), hadooppb.Status_SUCCESS},
		{"replica being written", dial, req(7002, 1, 1, true), hadooppb.Status_ERROR},
		{"unknown block", dial, req(7999, 1, 1, true), hadooppb.Status_ERROR},
		{"old block format", dial, req(7001, 1, 0, true), hadooppb.Status_ERROR_UNSUPPORTED},
		{"over TCP", func() net.Conn {
			c, err := net.Dial("tcp", d.XferAddr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}, req(7001, 1, 1, true), hadooppb.Status_ERROR_UNSUPPORTED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, files := scRequest(t, tc.conn(), tc.op)
			if resp.GetStatus() != tc.status {
				t.Fatalf("status %s (%s), want %s", resp.GetStatus(), resp.GetMessage(), tc.status)
			}
			if tc.status != hadooppb.Status_SUCCESS {
				if resp.GetMessage() == "" {
					t.Error("a refusal without a message")
				}
				return
			}
			if len(files) != 2 || resp.GetShortCircuitAccessVersion() != 1 {
				t.Fatalf("%d descriptors, version %d", len(files), resp.GetShortCircuitAccessVersion())
			}
			got := make([]byte, len(data)+1)
			if n, _ := files[0].ReadAt(got, 0); !bytes.Equal(got[:n], data) {
				t.Fatalf("block file through the descriptor: %d bytes, not what was written", n)
			}
			hdr := make([]byte, 7)
			if _, err := files[1].ReadAt(hdr, 0); err != nil || hdr[1] != 1 || hdr[2] != byte(hadooppb.ChecksumTypeProto_CHECKSUM_CRC32C) {
				t.Fatalf("meta header %v: %v", hdr, err)
			}
		})
	}
	t.Run("shared memory segments are refused", func(t *testing.T) {
		c := dial()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := writeOp(c, opRequestSCShm, &hadooppb.ShortCircuitShmRequestProto{ClientName: proto.String("t")}); err != nil {
			t.Fatal(err)
		}
		var resp hadooppb.ShortCircuitShmResponseProto
		if err := readDelimited(bufio.NewReader(c), &resp, maxAckLength); err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus() != hadooppb.Status_ERROR_UNSUPPORTED || resp.GetError() == "" {
			t.Fatalf("REQUEST_SHORT_CIRCUIT_SHM answered %s %q", resp.GetStatus(), resp.GetError())
		}
	})
	t.Run("other ops work on the domain socket", func(t *testing.T) {
		c := dial()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := writeOp(c, opReadBlock, &hadooppb.OpReadBlockProto{
			Header: &hadooppb.ClientOperationHeaderProto{BaseHeader: &hadooppb.BaseHeaderProto{Block: testBlock(7001, 1, 0)}, ClientName: proto.String("t")},
			Offset: proto.Uint64(0), Len: proto.Uint64(100)}); err != nil {
			t.Fatal(err)
		}
		var resp hadooppb.BlockOpResponseProto
		if err := readDelimited(bufio.NewReader(c), &resp, maxAckLength); err != nil || resp.GetStatus() != hadooppb.Status_SUCCESS {
			t.Fatalf("READ_BLOCK on the domain socket: %s %v", resp.GetStatus(), err)
		}
	})
}
