package namenode

import (
	"fmt"

	"github.com/avatarfs/avatarfs/namenode/nnpb"
	"google.golang.org/protobuf/proto"
)

// ApplyRecord decodes one edit-log record and applies it: start-up replay
// and a standby tailing the log both come here. It also refills the retry
// cache from the record's client and call ids.
func (ns *Namespace) ApplyRecord(txid uint64, opc uint8, payload []byte) error {
	var op nnpb.Op
	if err := proto.Unmarshal(payload, &op); err != nil {
		return fmt.Errorf("replay edit %d: decode: %w", txid, err)
	}
	if got := opcode(&op); got != opc {
		return fmt.Errorf("replay edit %d: opcode %d does not match body %d", txid, opc, got)
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if err := ns.apply(&op, txid); err != nil {
		return fmt.Errorf("replay edit %d: %w", txid, err)
	}
	ns.retry.record(op.ClientId, op.CallId, ns.retryResultFor(&op))
	return nil
}

// retryResultFor rebuilds, after replay, the answer a retried call should
// get: the new file's status for create and append, true otherwise.
func (ns *Namespace) retryResultFor(op *nnpb.Op) any {
	switch b := op.Body.(type) {
	case *nnpb.Op_AddFile:
		if n := ns.inodes[b.AddFile.InodeId]; n != nil {
			return ns.status(n, "")
		}
	case *nnpb.Op_Append:
		if n, _ := ns.lookup(b.Append.Path); n != nil {
			r := &AppendResult{Stat: ns.status(n, "")}
			if lb := n.lastBlock(); lb != nil && lb.State == BlockUnderConstruction {
				r.LastBlock = lb
			}
			return r
		}
	case *nnpb.Op_Truncate:
		return !b.Truncate.UnderRecovery
	case *nnpb.Op_AddBlock:
		if n, _ := ns.lookup(b.AddBlock.Path); n != nil {
			if lb := n.lastBlock(); lb != nil {
				return &LocatedBlock{Block: *lb, Offset: n.length() - lb.NumBytes}
			}
		}
	case *nnpb.Op_SetGenStamp:
		return nil
	}
	return true
}

// SetLastTxID records where an empty log starts (after format, or after
// loading an image with no edits).
func (ns *Namespace) SetLastTxID(txid uint64) {
	ns.mu.Lock()
	ns.lastTxID = txid
	ns.mu.Unlock()
}
