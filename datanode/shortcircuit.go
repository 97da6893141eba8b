package datanode

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// Short-circuit local reads, as in Hadoop (HDFS-347): a client on the
// DataNode's host connects to the UNIX domain socket at
// dfs.domain.socket.path, asks for a finalized replica with
// REQUEST_SHORT_CIRCUIT_FDS and receives the open block and meta files
// (SCM_RIGHTS), then reads them without the DataNode. The same socket
// serves every other DataTransferProtocol op. Hadoop's shared-memory
// slots (REQUEST_SHORT_CIRCUIT_SHM) are not offered: clients then ask
// for descriptors without a slot, as Hadoop's do.

// blockFormatVersion is Hadoop's DataNode.CURRENT_BLOCK_FORMAT_VERSION:
// the block/meta file layout a short-circuit reader must understand.
const blockFormatVersion = 1

// receiptWait bounds the wait for a client's receipt of the descriptors.
const receiptWait = 10 * time.Second

// listenDomain binds dfs.domain.socket.path (with _PORT replaced by the
// transfer port) when it is set, once its directories pass Hadoop's
// security rules (socketpath.go). A stale socket file from an earlier run
// is replaced.
func (d *DataNode) listenDomain() error {
	if d.set.DomainSocketPath == "" {
		return nil
	}
	port := 0
	if a, ok := d.ln.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	path := conf.DomainSocketPath(d.set.DomainSocketPath, port)
	if err := checkSocketPathSecurity(path, uint32(os.Geteuid())); err != nil {
		return fmt.Errorf("datanode: dfs.domain.socket.path: %w", err)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("datanode: listen on domain socket %s (dfs.domain.socket.path): %w", path, err)
	}
	// Any local user may connect, as to the transfer port.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return fmt.Errorf("datanode: domain socket %s: %w", path, err)
	}
	d.domainLn = ln
	d.log.WithFields(logrus.Fields{"path": path, "shortcircuit": d.set.ShortCircuit}).Info("serving the domain socket")
	return nil
}

// DomainSocketPath is the domain socket the DataNode serves, "" when none.
func (d *DataNode) DomainSocketPath() string {
	if d.domainLn == nil {
		return ""
	}
	return d.domainLn.Addr().String()
}

// requestShortCircuitFds serves REQUEST_SHORT_CIRCUIT_FDS: the reply, then
// the block and meta file descriptors with one byte saying whether the
// client is to confirm their receipt.
func (x *xconn) requestShortCircuitFds(op *hadooppb.OpRequestShortCircuitAccessProto) error {
	b := op.GetHeader().GetBlock()
	uc, ok := x.c.(*net.UnixConn)
	switch {
	case !ok:
		x.replyError(hadooppb.Status_ERROR_UNSUPPORTED, "short-circuit access needs a UNIX domain socket (dfs.domain.socket.path)")
		return errors.New("short-circuit request over TCP")
	case !x.d.set.ShortCircuit:
		x.replyError(hadooppb.Status_ERROR_UNSUPPORTED, "short-circuit reads are disabled on this DataNode (dfs.client.read.shortcircuit)")
		return errors.New("short-circuit reads are disabled")
	case op.GetSlotId() != nil:
		x.replyError(hadooppb.Status_ERROR_UNSUPPORTED, "shared memory slots are not supported by this DataNode")
		return errors.New("short-circuit request with a shared memory slot")
	case op.GetMaxVersion() < blockFormatVersion:
		x.replyError(hadooppb.Status_ERROR_UNSUPPORTED, "the client's block format version %d is older than the DataNode's %d", op.GetMaxVersion(), blockFormatVersion)
		return fmt.Errorf("short-circuit block format version %d", op.GetMaxVersion())
	}
	r, err := x.d.openReplica(b.GetBlockId(), b.GetGenerationStamp())
	if err != nil {
		x.replyError(statusFor(err), "cannot open block %d gs %d for short-circuit read: %v", b.GetBlockId(), b.GetGenerationStamp(), err)
		return fmt.Errorf("short-circuit open of block %d: %w", b.GetBlockId(), err)
	}
	defer r.Close()
	if st := r.Replica().State; st != storage.StateFinalized {
		x.replyError(hadooppb.Status_ERROR, "block %d is %v, not finalized: no short-circuit read", b.GetBlockId(), st)
		return fmt.Errorf("short-circuit read of block %d: replica is %v", b.GetBlockId(), st)
	}
	blk, meta := r.Files()
	bfd, ok1 := blk.(interface{ Fd() uintptr })
	mfd, ok2 := meta.(interface{ Fd() uintptr })
	if !ok1 || !ok2 {
		x.replyError(hadooppb.Status_ERROR_UNSUPPORTED, "the DataNode's storage cannot pass file descriptors")
		return errors.New("storage files without descriptors")
	}
	if err := x.reply(&hadooppb.BlockOpResponseProto{Status: hadooppb.Status_SUCCESS.Enum(),
		ShortCircuitAccessVersion: proto.Uint32(blockFormatVersion)}); err != nil {
		return err
	}
	verify := op.GetSupportsReceiptVerification()
	flag := byte(hadooppb.ShortCircuitFdResponse_DO_NOT_USE_RECEIPT_VERIFICATION)
	if verify {
		flag = byte(hadooppb.ShortCircuitFdResponse_USE_RECEIPT_VERIFICATION)
	}
	x.setWriteDeadline(x.d.set.WriteTimeout)
	rights := syscall.UnixRights(int(bfd.Fd()), int(mfd.Fd()))
	if _, _, err := uc.WriteMsgUnix([]byte{flag}, rights, nil); err != nil {
		return fmt.Errorf("send descriptors of block %d: %w", b.GetBlockId(), err)
	}
	if verify {
		x.setReadDeadline(receiptWait)
		var one [1]byte
		if _, err := io.ReadFull(x.br, one[:]); err != nil {
			return fmt.Errorf("receipt of the descriptors of block %d: %w", b.GetBlockId(), err)
		}
	}
	x.log.WithFields(blockFields(b)).Debug("short-circuit descriptors sent")
	return nil
}

// releaseShortCircuitFds answers RELEASE_SHORT_CIRCUIT_FDS: there are no
// slots to release.
func (x *xconn) releaseShortCircuitFds() error {
	x.setWriteDeadline(x.d.set.WriteTimeout)
	return writeDelimited(x.c, &hadooppb.ReleaseShortCircuitAccessResponseProto{
		Status: hadooppb.Status_ERROR_UNSUPPORTED.Enum(),
		Error:  proto.String("shared memory slots are not supported by this DataNode"),
	})
}

// requestShortCircuitShm refuses REQUEST_SHORT_CIRCUIT_SHM; Hadoop clients
// then request descriptors without a slot.
func (x *xconn) requestShortCircuitShm() error {
	x.setWriteDeadline(x.d.set.WriteTimeout)
	return writeDelimited(x.c, &hadooppb.ShortCircuitShmResponseProto{
		Status: hadooppb.Status_ERROR_UNSUPPORTED.Enum(),
		Error:  proto.String("shared memory segments are not supported by this DataNode"),
	})
}
