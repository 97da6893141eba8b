package namenode

import (
	"sync"
	"time"

	"github.com/avatarfs/avatarfs/namenode/nnpb"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// Journal is where the namespace appends its operations: the edit log. The
// namespace calls Append under its lock; Sync is called after the lock is
// released, and many callers share one fsync.
type Journal interface {
	Append(op uint8, payload []byte) (txid uint64, err error)
	Sync(txid uint64) error
}

// Settings are the namespace's knobs, from Hadoop's configuration keys.
type Settings struct {
	Superuser           string // the NameNode's own user
	Supergroup          string // dfs.permissions.superusergroup
	PermissionsEnabled  bool   // dfs.permissions.enabled
	DefaultReplication  int    // dfs.replication
	MinReplication      int    // dfs.namenode.replication.min
	MaxReplication      int    // dfs.replication.max
	DefaultBlockSize    int64  // dfs.blocksize
	MinBlockSize        int64  // dfs.namenode.fs-limits.min-block-size
	MaxComponentLength  int    // dfs.namenode.fs-limits.max-component-length
	MaxDirItems         int    // dfs.namenode.fs-limits.max-directory-items
	MaxBlocksPerFile    int    // dfs.namenode.fs-limits.max-blocks-per-file
	ListLimit           int    // dfs.ls.limit
	AccessTimePrecision time.Duration
	XAttrsEnabled       bool
	MaxXAttrsPerInode   int
	MaxXAttrSize        int
	LeaseSoftLimit      time.Duration
	LeaseHardLimit      time.Duration
	RetryCacheExpiry    time.Duration // 0 disables the retry cache
	Groups              func(user string) []string
}

// DefaultSettings are Hadoop's defaults.
func DefaultSettings() Settings {
	return Settings{
		Superuser: "hdfs", Supergroup: "supergroup", PermissionsEnabled: true,
		DefaultReplication: 3, MinReplication: 1, MaxReplication: 512,
		DefaultBlockSize: 128 << 20, MinBlockSize: 1 << 20,
		MaxComponentLength: 255, MaxDirItems: 1 << 20, MaxBlocksPerFile: 10000,
		ListLimit: 1000, AccessTimePrecision: time.Hour,
		XAttrsEnabled: true, MaxXAttrsPerInode: 32, MaxXAttrSize: 16384,
		LeaseSoftLimit: 60 * time.Second, LeaseHardLimit: time.Hour,
		RetryCacheExpiry: 10 * time.Minute,
	}
}

// Namespace is the in-memory file system state and the operations on it.
// It does no I/O of its own: changes go to the Journal, and the state can
// be tested without sockets or disks.
type Namespace struct {
	mu     sync.RWMutex
	set    Settings
	log    logrus.FieldLogger
	now    func() time.Time
	root   *INode
	inodes map[uint64]*INode
	blocks map[uint64]*BlockInfo
	names  *stringTable

	lastInodeID uint64
	lastBlockID uint64
	genStamp    uint64
	lastTxID    uint64 // last applied

	leases *leaseManager
	retry  *retryCache

	journal Journal
	sites   BlockSite
	safe    safeMode
	// onSyncFailure is told when the journal could not make a record
	// durable; the NameNode enters safe mode and reloads.
	onSyncFailure func(error)

	// caller of the operation being logged, under mu (retry cache keys).
	curClientID []byte
	curCallID   int32
}

// NewNamespace returns an empty namespace: just the root directory, owned
// by the superuser and supergroup with mode 0755.
func NewNamespace(set Settings, log logrus.FieldLogger) *Namespace {
	if log == nil {
		l := logrus.New()
		l.SetLevel(logrus.WarnLevel)
		log = l
	}
	if set.Groups == nil {
		set.Groups = osGroups
	}
	ns := &Namespace{
		set:         set,
		log:         log,
		now:         time.Now,
		inodes:      map[uint64]*INode{},
		blocks:      map[uint64]*BlockInfo{},
		names:       newStringTable(),
		lastInodeID: RootInodeID,
		lastBlockID: firstBlockID,
		genStamp:    firstGenStamp,
		leases:      newLeaseManager(),
		retry:       newRetryCache(set.RetryCacheExpiry),
		sites:       NoDatanodes{},
	}
	ns.root = &INode{id: RootInodeID, isDir: true, mode: defaultDirMode,
		owner: ns.names.id(set.Superuser), group: ns.names.id(set.Supergroup)}
	ns.inodes[RootInodeID] = ns.root
	return ns
}

// SetJournal connects the namespace to its edit log.
func (ns *Namespace) SetJournal(j Journal, onSyncFailure func(error)) {
	ns.mu.Lock()
	ns.journal = j
	ns.onSyncFailure = onSyncFailure
	ns.mu.Unlock()
}

// LastAppliedTxID is the txid of the last operation applied.
func (ns *Namespace) LastAppliedTxID() uint64 {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return ns.lastTxID
}

// NumInodes counts files and directories, root included.
func (ns *Namespace) NumInodes() int {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return len(ns.inodes)
}

// Caller is who makes a request and how to recognise its retries.
type Caller struct {
	User     string
	Machine  string
	ClientID []byte
	CallID   int32
	// Detach, when set, frees the caller's RPC handler while it waits for
	// the edit log's group commit (ipc.Call.Detach).
	Detach func()
	groups []string
}

// detach frees the caller's RPC handler before a wait; always true, so it
// can lead a condition.
func (c *Caller) detach() bool {
	if c.Detach != nil {
		c.Detach()
	}
	return true
}

func (ns *Namespace) groupsOf(c *Caller) []string {
	if c.groups == nil {
		c.groups = ns.set.Groups(c.User)
		if c.groups == nil {
			c.groups = []string{}
		}
	}
	return c.groups
}

func (ns *Namespace) isSuper(c *Caller) bool {
	if !ns.set.PermissionsEnabled || c.User == ns.set.Superuser {
		return true
	}
	for _, g := range ns.groupsOf(c) {
		if g == ns.set.Supergroup {
			return true
		}
	}
	return false
}

// logApply appends op to the journal and applies it. Called under mu with
// a validated op; apply failing here is a bug, since the record is already
// in the log.
func (ns *Namespace) logApply(op *nnpb.Op) (uint64, error) {
	op.ClientId, op.CallId = ns.curClientID, ns.curCallID
	payload, err := proto.Marshal(op)
	if err != nil {
		return 0, errorf(ExIO, "encode edit: %v", err)
	}
	if ns.journal == nil {
		return 0, errorf(ExIO, "namespace has no edit log")
	}
	txid, err := ns.journal.Append(opcode(op), payload)
	if err != nil {
		return 0, errorf(ExIO, "edit log: %v", err)
	}
	if err := ns.apply(op, txid); err != nil {
		ns.log.WithError(err).WithField("txid", txid).Error("apply of a validated edit failed")
		return txid, errorf(ExIO, "apply edit %d: %v", txid, err)
	}
	return txid, nil
}

// write runs one namespace change: retry-cache check, safe-mode check,
// validation and logging under the lock (fn), then the wait for
// durability outside it.
func (ns *Namespace) write(c *Caller, what string, fn func() (any, error)) (any, error) {
	entry, done := ns.retry.begin(c.ClientID, c.CallID)
	if done {
		return entry.result, nil
	}
	ns.mu.Lock()
	if err := ns.checkSafeMode(what); err != nil {
		ns.mu.Unlock()
		ns.retry.finish(entry, nil, err)
		return nil, err
	}
	ns.curClientID, ns.curCallID = c.ClientID, c.CallID
	startTx := ns.lastTxID
	res, err := fn()
	ns.curClientID, ns.curCallID = nil, 0
	endTx := ns.lastTxID
	j := ns.journal
	ns.mu.Unlock()
	if endTx > startTx && j != nil {
		c.detach()
		if serr := j.Sync(endTx); serr != nil {
			if ns.onSyncFailure != nil {
				ns.onSyncFailure(serr)
			}
			err = errorf(ExIO, "edit log sync failed, NameNode entering safe mode: %v", serr)
			res = nil
		}
	}
	ns.retry.finish(entry, res, err)
	return res, err
}

// opcode is the edit-log record type of an op: the oneof field number.
func opcode(op *nnpb.Op) uint8 {
	if f := op.ProtoReflect().WhichOneof(op.ProtoReflect().Descriptor().Oneofs().ByName("body")); f != nil {
		return uint8(f.Number())
	}
	return 0
}

// writeBool is write for the calls that answer a boolean (delete, rename,
// complete, setReplication, truncate, recoverLease).
func (ns *Namespace) writeBool(c *Caller, what string, fn func() (any, error)) (bool, error) {
	res, err := ns.write(c, what, fn)
	if err != nil {
		return false, err
	}
	b, _ := res.(bool)
	return b, nil
}

// closeOp is the edit that completes a file with its final blocks.
func (ns *Namespace) closeOp(path string, blocks []*nnpb.Block) *nnpb.Op {
	now := ns.nowMillis()
	return &nnpb.Op{Body: &nnpb.Op_CloseFile{CloseFile: &nnpb.CloseFile{Path: path, Mtime: now, Atime: now, Blocks: blocks}}}
}
