package namenode

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/internal/ipc"
	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/avatarfs/avatarfs/namenode/editlog"
	"github.com/sirupsen/logrus"
)

// Options configure a NameNode process.
type Options struct {
	Conf   *conf.Config
	FS     vfs.FS             // nil: the OS file system
	Logger logrus.FieldLogger // nil: logrus' standard logger
	// OnCorruption, when set, is asked what to do about each corrupt
	// edit-log record at start-up (`hdfs namenode -recover`).
	OnCorruption func(*editlog.CorruptionError) editlog.Action
}

// NameNode is the metadata server: storage directories, the namespace
// with its edit log, checkpoints, and the RPC server.
type NameNode struct {
	opts     Options
	log      logrus.FieldLogger
	fs       vfs.FS
	storage  *Storage
	ns       *Namespace
	bm       *BlockManager
	set      Settings
	defaults serverDefaults

	jmu           sync.Mutex // guards journal swaps and journalFailed
	journal       *editlog.Writer
	journalFailed bool
	epoch         uint64

	ckptMu       sync.Mutex
	lastCkptTx   uint64
	lastCkptTime time.Time

	rpc     *ipc.Server
	stop    chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Once
}

// StorageFromConf builds the Storage for the configured directories.
func StorageFromConf(c *conf.Config, fsys vfs.FS) (*Storage, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	names := CleanDirs(c.Strings("dfs.namenode.name.dir"))
	edits := CleanDirs(c.Strings("dfs.namenode.edits.dir"))
	if len(names) == 0 {
		return nil, fmt.Errorf("dfs.namenode.name.dir is empty")
	}
	if len(edits) == 0 {
		edits = names
	}
	return &Storage{FS: fsys, NameDirs: names, EditsDirs: edits}, nil
}

// Format formats the configured directories. With force false it refuses
// to touch directories that already hold a file system.
func Format(c *conf.Config, fsys vfs.FS, clusterID string, force bool) (StorageInfo, error) {
	st, err := StorageFromConf(c, fsys)
	if err != nil {
		return StorageInfo{}, err
	}
	if st.IsFormatted() && !force {
		return StorageInfo{}, fmt.Errorf("storage directories %s already hold a file system: format aborted (use -force to reformat)", strings.Join(st.allDirs(), ","))
	}
	for _, d := range st.allDirs() {
		if err := st.lock(d); err != nil {
			st.Close()
			return StorageInfo{}, err
		}
	}
	defer st.Close()
	info := NewStorageInfo(clusterID, "127.0.0.1")
	ns := NewNamespace(SettingsFromConf(c), nil)
	if err := st.Format(info, ns); err != nil {
		return StorageInfo{}, err
	}
	return info, nil
}

// New opens the storage directories, loads the newest image, replays the
// edit log through the namespace's apply, and opens a new log segment.
func New(opts Options) (*NameNode, error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = logrus.StandardLogger()
	}
	st, err := StorageFromConf(opts.Conf, opts.FS)
	if err != nil {
		return nil, err
	}
	if err := st.Open(); err != nil {
		return nil, err
	}
	nn := &NameNode{opts: opts, log: opts.Logger, fs: opts.FS, storage: st,
		set: SettingsFromConf(opts.Conf), defaults: defaultsFromConf(opts.Conf),
		epoch: 1, stop: make(chan struct{})}
	ns, last, err := nn.loadNamespace(true)
	if err != nil {
		st.Close()
		return nil, err
	}
	nn.ns = ns
	nn.bm, err = NewBlockManager(ns, BlockSettingsFromConf(opts.Conf), nn.log)
	if err != nil {
		st.Close()
		return nil, err
	}
	nn.bm.StartSafeMode()
	nn.lastCkptTx, nn.lastCkptTime = nn.newestImageTxID(), time.Now()
	if err := nn.openJournal(last + 1); err != nil {
		st.Close()
		return nil, err
	}
	nn.log.WithFields(logrus.Fields{"txid": last, "inodes": ns.NumInodes(), "clusterID": st.Info.ClusterID}).Info("namespace loaded")
	return nn, nil
}

func (nn *NameNode) newestImageTxID() uint64 {
	if imgs := nn.storage.Images(); len(imgs) > 0 {
		return imgs[0].TxID
	}
	return 0
}

// loadNamespace builds a namespace from the newest readable image and the
// finalized edits after it. With recover set, in-progress segments are
// recovered (torn tails cut) first.
func (nn *NameNode) loadNamespace(recover bool) (*Namespace, uint64, error) {
	ns := NewNamespace(nn.set, nn.log)
	imgs := nn.storage.Images()
	if len(imgs) == 0 {
		return nil, 0, fmt.Errorf("no fsimage in %s: %w", strings.Join(nn.storage.NameDirs, ","), ErrNotFormatted)
	}
	var meta ImageMeta
	var loaded bool
	for _, im := range imgs {
		m, err := ns.LoadImage(nn.fs, im.Path)
		if err != nil {
			nn.log.WithError(err).WithField("image", im.Path).Warn("fsimage unusable, trying an older one")
			ns = NewNamespace(nn.set, nn.log)
			continue
		}
		if m.ClusterID != nn.storage.Info.ClusterID || m.NamespaceID != nn.storage.Info.NamespaceID {
			return nil, 0, fmt.Errorf("fsimage %s belongs to cluster %s namespace %d, not %s %d", im.Path, m.ClusterID, m.NamespaceID, nn.storage.Info.ClusterID, nn.storage.Info.NamespaceID)
		}
		meta, loaded = m, true
		nn.log.WithFields(logrus.Fields{"image": im.Path, "txid": m.TxID}).Info("fsimage loaded")
		break
	}
	if !loaded {
		return nil, 0, fmt.Errorf("no valid fsimage among %d in %s", len(imgs), strings.Join(nn.storage.NameDirs, ","))
	}
	dirs := nn.storage.EditsCurrent()
	if recover {
		if _, err := editlog.Recover(nn.fs, dirs, editlog.RecoverOptions{OnCorruption: nn.opts.OnCorruption, Logger: nn.log,
			CheckFinalized: nn.opts.OnCorruption != nil}); err != nil {
			return nil, 0, fmt.Errorf("recover edit log: %w", err)
		}
	}
	last, err := editlog.ReadFrom(nn.fs, dirs, meta.TxID+1, func(r editlog.Record) error {
		return ns.ApplyRecord(r.TxID, r.Op, r.Payload)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("replay edit log after fsimage %d: %w", meta.TxID, err)
	}
	if last < meta.TxID {
		last = meta.TxID
	}
	ns.SetLastTxID(last)
	return ns, last, nil
}

// openJournal starts a new segment at first and connects it to the
// namespace.
func (nn *NameNode) openJournal(first uint64) error {
	w, err := editlog.NewWriter(editlog.WriterOptions{FS: nn.fs, Dirs: nn.storage.EditsCurrent(), Logger: nn.log})
	if err != nil {
		return fmt.Errorf("open edit log: %w", err)
	}
	if err := w.StartSegment(first, nn.epoch); err != nil {
		w.Close()
		return fmt.Errorf("start edit log segment %d: %w", first, err)
	}
	for _, d := range nn.storage.NameDirs {
		if err := nn.storage.WriteSeenTxID(d, first-1); err != nil {
			nn.log.WithError(err).WithField("dir", d).Warn("seen_txid not written")
		}
	}
	nn.jmu.Lock()
	nn.journal, nn.journalFailed = w, false
	nn.jmu.Unlock()
	nn.ns.SetJournal(w, nn.onJournalFailure)
	return nil
}

// onJournalFailure runs when no edits directory could make a record
// durable (a full disk, a dead device). Writes stop (safe mode), and the
// in-memory state is rebuilt from what is on disk, so a change whose
// caller got an error does not linger in memory.
func (nn *NameNode) onJournalFailure(cause error) {
	nn.jmu.Lock()
	if nn.journalFailed {
		nn.jmu.Unlock()
		return
	}
	nn.journalFailed = true
	w := nn.journal
	nn.jmu.Unlock()
	nn.log.WithError(cause).Error("edit log failed: entering safe mode and reloading the namespace from disk")
	nn.ns.enterResourceSafeMode()
	nn.ns.SetJournal(failedJournal{cause}, nil)
	if w != nil {
		w.Close()
	}
	fresh, _, err := nn.loadNamespace(true)
	if err != nil {
		nn.log.WithError(err).Error("reload after edit-log failure failed; the NameNode stays in safe mode")
		return
	}
	nn.ns.replaceState(fresh)
}

// failedJournal refuses every append until the journal is reopened.
type failedJournal struct{ cause error }

func (f failedJournal) Append(uint8, []byte) (uint64, error) {
	return 0, fmt.Errorf("edit log unavailable: %w", f.cause)
}
func (f failedJournal) Sync(uint64) error { return f.cause }

// SetSafeMode is the setSafeMode RPC; leaving safe mode after an edit-log
// failure first reopens the log, and stays in safe mode if that fails.
func (nn *NameNode) SetSafeMode(c *Caller, a SafeModeAction) (bool, error) {
	if a == SafeModeLeave || a == SafeModeForceExit {
		nn.jmu.Lock()
		failed := nn.journalFailed
		nn.jmu.Unlock()
		if failed {
			if !nn.ns.isSuper(c) {
				return true, errorf(ExAccessControl, "Access denied for user %s. Superuser privilege is required", c.User)
			}
			// Rebuild from what is durable, so the new segment continues
			// exactly where the log ends and memory matches it.
			fresh, last, err := nn.loadNamespace(true)
			if err != nil {
				return true, errorf(ExIO, "NameNode still lacks resources, staying in safe mode: %v", err)
			}
			nn.ns.replaceState(fresh)
			if err := nn.openJournal(last + 1); err != nil {
				return true, errorf(ExIO, "NameNode still lacks resources, staying in safe mode: %v", err)
			}
		}
	}
	return nn.ns.SetSafeMode(c, a)
}

// replaceState swaps in another namespace's tree and counters (after a
// reload from disk). Settings, journal and retry cache stay.
func (ns *Namespace) replaceState(from *Namespace) {
	from.mu.Lock()
	defer from.mu.Unlock()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.root, ns.inodes, ns.blocks, ns.names = from.root, from.inodes, from.blocks, from.names
	ns.lastInodeID, ns.lastBlockID, ns.genStamp, ns.lastTxID = from.lastInodeID, from.lastBlockID, from.genStamp, from.lastTxID
	ns.leases = from.leases
}

// Namespace exposes the namespace (tests, tools).
func (nn *NameNode) Namespace() *Namespace { return nn.ns }

// BlockPoolID is the block pool this NameNode serves.
func (nn *NameNode) BlockPoolID() string { return nn.storage.Info.BlockPoolID }

// ClusterID is the cluster's id from VERSION.
func (nn *NameNode) ClusterID() string { return nn.storage.Info.ClusterID }

// FsStatsInfo is getFsStats' answer.
type FsStatsInfo struct {
	Capacity, Used, Remaining, UnderReplicated, CorruptBlocks, MissingBlocks uint64
}

// FsStats totals capacity over live DataNodes and counts block health.
func (nn *NameNode) FsStats() FsStatsInfo {
	c, u, r := nn.bm.Totals()
	h := nn.bm.Health()
	return FsStatsInfo{Capacity: c, Used: u, Remaining: r, UnderReplicated: uint64(h.UnderReplicated),
		CorruptBlocks: uint64(h.Corrupt), MissingBlocks: uint64(h.Missing)}
}

// BlockManager exposes the block manager (reports, fsck, tests).
func (nn *NameNode) BlockManager() *BlockManager { return nn.bm }

// Serve answers RPCs on ln and runs the background loops (checkpoints,
// lease monitor) until Close.
func (nn *NameNode) Serve(ln net.Listener) error {
	c := nn.opts.Conf
	handlers := int(c.Int("dfs.namenode.handler.count"))
	nn.rpc = ipc.NewServer(ipc.Options{
		MaxDataLength: int(c.Size("ipc.maximum.data.length")),
		Handlers:      handlers,
		QueueSize:     handlers * int(c.Int("ipc.server.handler.queue.size")),
		IdleTimeout:   2 * c.Duration("ipc.client.connection.maxidletime"),
		Logger:        nn.log,
	}, (&clientRPC{nn: nn}).protocol(), (&datanodeRPC{nn: nn}).protocol())
	nn.wg.Add(3)
	go nn.checkpointLoop()
	go nn.leaseLoop()
	go func() { defer nn.wg.Done(); nn.bm.Run(nn.stop) }()
	nn.log.WithField("addr", ln.Addr().String()).Info("NameNode RPC server listening")
	return nn.rpc.Serve(ln)
}

// Close stops the RPC server and loops, closes the edit log (its
// in-progress segment is finalized at the next start) and unlocks storage.
func (nn *NameNode) Close() error {
	nn.closeMu.Do(func() {
		close(nn.stop)
		if nn.rpc != nil {
			nn.rpc.Close()
		}
		nn.wg.Wait()
		nn.jmu.Lock()
		if nn.journal != nil && !nn.journalFailed {
			if err := nn.journal.Close(); err != nil {
				nn.log.WithError(err).Warn("closing edit log")
			}
		}
		nn.jmu.Unlock()
		nn.storage.Close()
	})
	return nil
}

func (nn *NameNode) leaseLoop() {
	defer nn.wg.Done()
	t := time.NewTicker(nn.opts.Conf.Duration("dfs.namenode.lease-recheck-interval-ms"))
	defer t.Stop()
	for {
		select {
		case <-nn.stop:
			return
		case <-t.C:
			nn.ns.CheckLeases()
		}
	}
}
