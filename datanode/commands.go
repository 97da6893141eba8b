package datanode

import (
	"errors"
	"fmt"
	"sync"

	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/sirupsen/logrus"
)

// Commands from the NameNodes: they ride back on heartbeat and block
// report replies and are carried out by one goroutine per NameNode, off
// the heartbeat path (a long deletion never delays a heartbeat).
// Replications run in goroutines of their own.

// commandQueue is an unbounded FIFO of commands.
type commandQueue struct {
	mu     sync.Mutex
	items  []*dnpb.Command
	signal chan struct{}
}

func newCommandQueue() *commandQueue {
	return &commandQueue{signal: make(chan struct{}, 1)}
}

func (q *commandQueue) push(cmds ...*dnpb.Command) {
	q.mu.Lock()
	q.items = append(q.items, cmds...)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *commandQueue) pop() []*dnpb.Command {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// takeCommands queues a NameNode's commands. REGISTER concerns this
// NameNode alone and is always honoured; the others only when this
// NameNode is the one to obey.
func (a *nnActor) takeCommands(cmds []*dnpb.Command) {
	var run []*dnpb.Command
	for _, c := range cmds {
		if c.GetKind() == dnpb.Command_REGISTER {
			a.log.Info("NameNode asks for a new registration")
			a.mu.Lock()
			a.registered = false
			a.mu.Unlock()
			a.signal()
			continue
		}
		run = append(run, c)
	}
	if len(run) == 0 {
		return
	}
	if !a.obeys() {
		a.log.WithField("commands", len(run)).Debug("ignoring commands from a NameNode that is not the primary")
		return
	}
	a.cmds.push(run...)
}

// runCommands carries out queued commands until the actor closes.
func (a *nnActor) runCommands() {
	for {
		select {
		case <-a.closed:
			return
		case <-a.cmds.signal:
		}
		for _, c := range a.cmds.pop() {
			select {
			case <-a.closed:
				return
			default:
			}
			a.execute(c)
		}
	}
}

// execute carries out one command.
func (a *nnActor) execute(c *dnpb.Command) {
	d := a.d
	switch c.GetKind() {
	case dnpb.Command_TRANSFER:
		for i, b := range c.GetBlocks() {
			var targets []*dnpb.Target
			if i < len(c.GetTargets()) {
				targets = c.GetTargets()[i].GetTargets()
			}
			if len(targets) == 0 {
				continue
			}
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				d.replicate(b, targets)
			}()
		}
	case dnpb.Command_INVALIDATE:
		d.invalidate(c.GetBlocks())
	case dnpb.Command_RECOVER:
		for i, b := range c.GetBlocks() {
			var targets []*dnpb.Target
			if i < len(c.GetTargets()) {
				targets = c.GetTargets()[i].GetTargets()
			}
			if err := a.recoverBlock(b, c.GetNewGenStamp(), c.GetNewLength(), targets); err != nil {
				a.log.WithError(err).WithField("block", b.GetId()).Warn("block recovery failed")
			}
		}
	case dnpb.Command_FINALIZE, dnpb.Command_CACHE, dnpb.Command_UNCACHE:
		a.log.WithField("command", c.GetKind().String()).Debug("command not implemented; ignored")
	default:
		a.log.WithField("command", c.GetKind().String()).Warn("unknown command ignored")
	}
}

// invalidate deletes replicas the NameNode no longer wants and reports
// them DELETED. A replica of another generation stamp than the command's
// is kept (it is not the one the NameNode meant), as in Hadoop.
func (d *DataNode) invalidate(blocks []*dnpb.Block) {
	for _, b := range blocks {
		log := d.log.WithFields(logrus.Fields{"block": b.GetId(), "gs": b.GetGenStamp()})
		rep, ok := d.store.Get(b.GetId())
		if !ok {
			// Gone already (or set aside as corrupt): remove what is left
			// and confirm, so the NameNode stops asking.
			if err := d.store.Delete(b.GetId()); err != nil {
				log.WithError(err).Warn("cannot delete replica")
			}
			d.notifyReplica(storage.Replica{BlockID: b.GetId(), GenStamp: b.GetGenStamp(), NumBytes: b.GetNumBytes()}, dnpb.ReceivedDeleted_DELETED, "")
			continue
		}
		if b.GetGenStamp() != 0 && rep.GenStamp != b.GetGenStamp() {
			log.WithField("replica_gs", rep.GenStamp).Warn("not deleting: the replica has another generation stamp")
			continue
		}
		if w := d.writer(b.GetId()); w != nil {
			w.stop()
		}
		if err := d.store.Delete(b.GetId()); err != nil {
			log.WithError(err).Warn("cannot delete replica")
			continue
		}
		log.Info("replica deleted")
		d.notifyReplica(rep, dnpb.ReceivedDeleted_DELETED, "")
	}
}

// recoverBlock carries out a RECOVER command as the primary DataNode of a
// block recovery (lease recovery or truncate): with every holder the
// NameNode named (targets, this DataNode among them), the replicas are
// brought to one length under the new generation stamp and finalized
// (interdatanode.go), and the NameNode is told with
// commitBlockSynchronization which holders have it.
// A new_length equal to the block's num_bytes (or 0) is a lease recovery;
// any other is a truncate.
func (a *nnActor) recoverBlock(b *dnpb.Block, newGS, newLength uint64, targets []*dnpb.Target) error {
	d := a.d
	log := a.log.WithFields(logrus.Fields{"block": b.GetId(), "gs": b.GetGenStamp(), "new_gs": newGS})
	if newGS == 0 {
		return errors.New("recovery without a new generation stamp")
	}
	holders := []*dnpb.DatanodeID{d.id}
	for _, t := range targets {
		if t.GetId() != nil && t.GetId().GetUuid() != d.id.GetUuid() {
			holders = append(holders, t.GetId())
		}
	}
	truncateTo := uint64(0)
	if newLength != 0 && newLength != b.GetNumBytes() {
		truncateTo = newLength
	}
	length, ids, storages, err := d.syncBlock(b, newGS, truncateTo, holders, log)
	if err != nil {
		return fmt.Errorf("recover block %d: %w", b.GetId(), err)
	}
	req := &dnpb.CommitBlockSynchronizationRequest{
		Block:         b,
		NewGenStamp:   newGS,
		NewLength:     length,
		CloseFile:     true,
		NewTargets:    ids,
		NewStorageIds: storages,
	}
	if err := a.call("commitBlockSynchronization", req, &dnpb.CommitBlockSynchronizationResponse{}); err != nil {
		return err
	}
	log.WithFields(logrus.Fields{"bytes": length, "holders": len(holders), "synced": len(ids)}).Info("block recovered")
	return nil
}
