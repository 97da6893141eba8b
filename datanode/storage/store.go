package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// Options configures a Store.
type Options struct {
	// FS is where every file operation goes (vfs.Default when nil).
	FS vfs.FS
	// SyncOnClose fsyncs a replica's block and meta files when it is
	// finalized (dfs.datanode.synconclose, false as in Hadoop: three
	// replicas in three page caches are the durability, and an hsync from
	// the writer still reaches the disk).
	SyncOnClose bool
	// Volumes are the dfs.datanode.data.dir entries (see ParseDataDirs).
	Volumes []VolumeConfig
	// BlockPoolID, when known, loads the block pool at Open; otherwise
	// SetBlockPool does when the NameNode tells it.
	BlockPoolID string
	// DatanodeUUID and ClusterID are recorded in every volume's VERSION.
	// An empty DatanodeUUID takes the one found there (or a new one).
	DatanodeUUID, ClusterID string
	// Reserved is dfs.datanode.du.reserved: bytes kept free per volume.
	Reserved int64
	// FailedVolumesTolerated is dfs.datanode.failed.volumes.tolerated;
	// -1 means any number as long as one volume works.
	FailedVolumesTolerated int
	// Policy is the volume choosing policy: "round-robin" (default) or
	// "available-space".
	Policy string
	// BytesPerChecksum is dfs.bytes-per-checksum (512).
	BytesPerChecksum int
	// ChecksumType is dfs.checksum.type: "CRC32C" (default), "CRC32" or
	// "NULL".
	ChecksumType string
	// IndexDir holds the replica index; "" is <first volume>/current/replica-index.
	IndexDir string
	// Logger receives the store's log (logrus.StandardLogger when nil).
	Logger logrus.FieldLogger

	// StatFS measures a volume's file system (statfs(2) when nil); tests
	// plug in small fake disks.
	StatFS func(path string) (capacity, free uint64, err error)
	// BlockSize is the room a new replica needs on a volume (dfs.blocksize,
	// 128 MiB when 0).
	BlockSize int64
	// AvailableSpaceThreshold and AvailableSpacePreference tune the
	// available-space policy (10 GiB and 0.75 when 0), as Hadoop's
	// dfs.datanode.available-space-volume-choosing-policy.* keys.
	AvailableSpaceThreshold  int64
	AvailableSpacePreference float64
	// FullRetryInterval is how long a volume that met ENOSPC is skipped
	// for new replicas (1 minute when 0), unless space is freed on it.
	FullRetryInterval time.Duration
	// RefreshInterval is how often leaf directory records are certified
	// in the index (1 minute when 0, never when negative; Close always does).
	RefreshInterval time.Duration
	// IndexMemTableSize is badger's memtable size (16 MiB when 0).
	IndexMemTableSize int64

	// DirScanInterval is dfs.datanode.directoryscan.interval: how often
	// the directory scanner (dirscan.go) checks every replica's files
	// against the map (6 hours when 0, as Hadoop; never when negative, the
	// start-up scan included). Block reports come from the map alone.
	DirScanInterval time.Duration
	// DirScanDelay is how long after the block pool is loaded the first
	// directory scan starts (10 seconds when 0), so a restart notices
	// files that vanished or changed while the DataNode was down soon
	// after its first block report rather than hours later.
	DirScanDelay time.Duration
	// DirScanThreads is dfs.datanode.directoryscan.threads: how many
	// volumes are scanned at once (1 when 0).
	DirScanThreads int
	// DirScanThrottleMsPerSec is
	// dfs.datanode.directoryscan.throttle.limit.ms.per.sec: each scanning
	// thread runs at most this many milliseconds of every second. 1000
	// (Hadoop's default, also when 0) does not throttle; values outside
	// 1..1000 are refused with a warning and do not throttle either.
	DirScanThrottleMsPerSec int

	// OnReplicaLost, when set, is told about replicas the store dropped
	// because their files vanished or changed behind its back (the
	// DataNode reports them to the NameNode). It is called without the
	// replica's locks; it must not call SetBlockPool, Rescan or Close.
	OnReplicaLost func(r Replica, err error)
	// OnVolumeFailed, when set, is told (on its own goroutine) when a
	// volume is taken out of service; the DataNode then sends a full block
	// report and checks Healthy.
	OnVolumeFailed func(v VolumeInfo)
}

// replicaInfo is the store's record of one replica.
type replicaInfo struct {
	id uint64
	// opMu serialises structural changes of this replica (finalize,
	// delete, append, recovery); it is taken before any other lock.
	opMu sync.Mutex

	// The fields below are guarded by Store.mu.
	gs       uint64
	numBytes uint64
	state    State
	vol      *volume
	spec     checksumSpec
	version  uint64 // bumped on every change, so checks can tell staleness
	removed  bool
	writer   *ReplicaWriter

	// acct is what the replica adds to its volume's dfsUsed.
	acct atomic.Int64
}

// corruptRef is a replica MarkCorrupt set aside.
type corruptRef struct {
	vol   *volume
	gs    uint64
	state State
}

// Store is the DataNode's replica storage. It is safe for concurrent use.
type Store struct {
	opts   Options
	fs     vfs.FS
	log    logrus.FieldLogger
	statFS func(string) (uint64, uint64, error)
	spec   checksumSpec
	dnUUID string
	ix     *index

	setupMu sync.Mutex // SetBlockPool, Rescan, Close

	mu        sync.RWMutex
	vols      []*volume
	replicas  map[uint64]*replicaInfo
	corrupt   map[uint64][]corruptRef
	bpid      string
	clusterID string
	ready     bool
	closed    bool

	policyMu sync.Mutex
	rr       map[StorageType]int

	stop chan struct{}
	wg   sync.WaitGroup

	// dirScanMu lets one directory scan run at a time.
	dirScanMu sync.Mutex

	// leavesListed is how many leaf directories the last load listed.
	leavesListed int
}

// Open opens the volumes (creating their layout and VERSION files when
// new) and the replica index, and loads the block pool when
// opts.BlockPoolID is set. Volumes that cannot be opened are failed; more
// than FailedVolumesTolerated of them is an error.
func Open(opts Options) (*Store, error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = logrus.StandardLogger()
	}
	if opts.BytesPerChecksum == 0 {
		opts.BytesPerChecksum = DefaultBytesPerChecksum
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = 128 << 20
	}
	if opts.AvailableSpaceThreshold <= 0 {
		opts.AvailableSpaceThreshold = 10 << 30
	}
	if opts.AvailableSpacePreference <= 0 || opts.AvailableSpacePreference > 1 {
		opts.AvailableSpacePreference = 0.75
	}
	if opts.FullRetryInterval <= 0 {
		opts.FullRetryInterval = time.Minute
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Minute
	}
	if opts.IndexMemTableSize <= 0 {
		opts.IndexMemTableSize = 16 << 20
	}
	if opts.DirScanInterval == 0 {
		opts.DirScanInterval = DefaultDirScanInterval
	}
	if opts.DirScanDelay <= 0 {
		opts.DirScanDelay = DefaultDirScanDelay
	}
	if opts.DirScanThreads <= 0 {
		opts.DirScanThreads = 1
	}
	if t := opts.DirScanThrottleMsPerSec; t < 1 || t > 1000 {
		if t != 0 {
			opts.Logger.WithField("dfs.datanode.directoryscan.throttle.limit.ms.per.sec", t).
				Warn("directory scan throttle outside 1..1000 ms per second; not throttling")
		}
		opts.DirScanThrottleMsPerSec = 1000
	}
	switch opts.Policy {
	case "":
		opts.Policy = PolicyRoundRobin
	case PolicyRoundRobin, PolicyAvailableSpace:
	default:
		return nil, fmt.Errorf("storage: unknown volume choosing policy %q (want %s or %s)", opts.Policy, PolicyRoundRobin, PolicyAvailableSpace)
	}
	var typ byte
	switch strings.ToUpper(opts.ChecksumType) {
	case "", "CRC32C":
		typ = ChecksumCRC32C
	case "CRC32":
		typ = ChecksumCRC32
	case "NULL":
		typ = ChecksumNull
	default:
		return nil, fmt.Errorf("storage: unsupported checksum type %q", opts.ChecksumType)
	}
	spec, err := newChecksumSpec(typ, opts.BytesPerChecksum)
	if err != nil {
		return nil, err
	}
	if len(opts.Volumes) == 0 {
		return nil, errors.New("storage: no volumes configured")
	}
	if t := opts.FailedVolumesTolerated; t < -1 || t >= len(opts.Volumes) {
		return nil, fmt.Errorf("storage: invalid dfs.datanode.failed.volumes.tolerated %d: it must be -1 or less than the %d configured volumes", t, len(opts.Volumes))
	}
	s := &Store{
		opts:      opts,
		fs:        opts.FS,
		log:       opts.Logger.WithField("component", "datanode/storage"),
		statFS:    opts.StatFS,
		spec:      spec,
		replicas:  map[uint64]*replicaInfo{},
		corrupt:   map[uint64][]corruptRef{},
		clusterID: opts.ClusterID,
		rr:        map[StorageType]int{},
		stop:      make(chan struct{}),
	}
	if s.statFS == nil {
		s.statFS = defaultStatFS
	}
	if err := s.openVolumes(); err != nil {
		s.release()
		return nil, err
	}
	if err := s.openIndex(); err != nil {
		s.release()
		return nil, err
	}
	if opts.RefreshInterval > 0 {
		s.wg.Add(1)
		go s.refreshLoop(opts.RefreshInterval)
	}
	if opts.BlockPoolID != "" {
		if err := s.SetBlockPool(opts.BlockPoolID, opts.ClusterID); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// openVolumes locks every volume and reads or writes its VERSION.
func (s *Store) openVolumes() error {
	found := map[string]string{} // datanode uuid -> volume
	type pending struct {
		v  *volume
		vv volumeVersion
		ok bool
	}
	var ps []pending
	for _, vc := range s.opts.Volumes {
		typ := vc.Type
		if typ == 0 {
			typ = StorageDisk
		}
		v := &volume{s: s, path: vc.Path, typ: typ}
		s.vols = append(s.vols, v)
		if err := s.fs.MkdirAll(filepath.Join(v.path, dirCurrent), 0o755); err != nil {
			s.failAtStart(v, err)
			continue
		}
		if err := v.lock(); err != nil {
			return err
		}
		vv, ok, err := v.readVersion(s.fs)
		if err != nil {
			s.failAtStart(v, err)
			continue
		}
		if ok && vv.DatanodeUUID != "" {
			found[vv.DatanodeUUID] = v.path
		}
		if ok && s.clusterID != "" && vv.ClusterID != "" && vv.ClusterID != s.clusterID {
			return fmt.Errorf("storage: incompatible clusterIDs in %s: namenode clusterID = %s; datanode clusterID = %s", v.path, s.clusterID, vv.ClusterID)
		}
		ps = append(ps, pending{v, vv, ok})
	}
	s.dnUUID = s.opts.DatanodeUUID
	for u, path := range found {
		if s.dnUUID == "" {
			s.dnUUID = u
		} else if u != s.dnUUID {
			return fmt.Errorf("storage: volume %s belongs to datanode %s, not %s", path, u, s.dnUUID)
		}
	}
	if s.dnUUID == "" {
		s.dnUUID = newUUID()
	}
	seen := map[string]string{}
	for _, p := range ps {
		vv := p.vv
		if !p.ok {
			vv.StorageID = "DS-" + newUUID()
		}
		if other, dup := seen[vv.StorageID]; dup {
			// A copied volume: give this one its own identity.
			s.log.WithFields(logrus.Fields{"volume": p.v.path, "other": other, "storageID": vv.StorageID}).Warn("duplicate storage id; assigning a new one")
			vv.StorageID, p.ok = "DS-"+newUUID(), false
		}
		seen[vv.StorageID] = p.v.path
		if vv.ClusterID == "" && s.clusterID != "" {
			vv.ClusterID, p.ok = s.clusterID, false
		}
		if vv.DatanodeUUID != s.dnUUID {
			vv.DatanodeUUID, p.ok = s.dnUUID, false
		}
		if !p.ok {
			if err := p.v.writeVersion(s.fs, vv); err != nil {
				s.failAtStart(p.v, err)
				continue
			}
		}
		p.v.storageID = vv.StorageID
		s.log.WithFields(logrus.Fields{"volume": p.v.path, "storageID": vv.StorageID, "type": p.v.typ}).Info("volume added")
	}
	return s.Healthy()
}

// failAtStart records a volume that could not be opened.
func (s *Store) failAtStart(v *volume, err error) {
	v.failed.Store(true)
	v.failCause.Store(err.Error())
	s.log.WithFields(logrus.Fields{"volume": v.path}).WithError(err).Error("volume failed at start-up")
}

// openIndex opens the replica index, recreating it when it is unreadable.
func (s *Store) openIndex() error {
	dir := s.opts.IndexDir
	if dir == "" {
		for _, v := range s.vols {
			if !v.failed.Load() {
				dir = filepath.Join(v.path, dirCurrent, "replica-index")
				break
			}
		}
	}
	if dir == "" {
		return errors.New("storage: no working volume to hold the replica index")
	}
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("storage: replica index %s: %w", dir, err)
	}
	ix, err := openIndex(dir, s.opts.IndexMemTableSize, s.log)
	if err != nil {
		s.log.WithError(err).Warn("replica index unreadable; recreating it (volumes will be listed)")
		if rerr := s.fs.RemoveAll(dir); rerr != nil {
			return fmt.Errorf("%w (and removing it: %v)", err, rerr)
		}
		if err := s.fs.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("storage: replica index %s: %w", dir, err)
		}
		if ix, err = openIndex(dir, s.opts.IndexMemTableSize, s.log); err != nil {
			return err
		}
	}
	s.ix = ix
	return nil
}

// release closes the index and unlocks the volumes.
func (s *Store) release() {
	if s.ix != nil {
		if err := s.ix.close(); err != nil {
			s.log.WithError(err).Warn("closing replica index")
		}
	}
	for _, v := range s.vols {
		v.unlock()
	}
}

// DatanodeUUID is the DataNode's uuid as recorded in the volumes.
func (s *Store) DatanodeUUID() string { return s.dnUUID }

// BlockPoolID is the block pool set so far ("" before SetBlockPool).
func (s *Store) BlockPoolID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bpid
}

// SetBlockPool tells the store its block pool (from the NameNode's
// handshake) and loads it: the layout is created on every volume, the
// replica index is read and checked against the volumes. Calling it again
// with the same pool does nothing; another pool is an error (one block
// pool per DataNode).
func (s *Store) SetBlockPool(bpid, clusterID string) error {
	if bpid == "" || strings.ContainsAny(bpid, "/\x00") {
		return fmt.Errorf("storage: bad block pool id %q", bpid)
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("storage: %w", ErrClosed)
	}
	if s.bpid != "" {
		cur := s.bpid
		s.mu.Unlock()
		if cur != bpid {
			return fmt.Errorf("storage: block pool %s is already set; cannot serve %s too", cur, bpid)
		}
		return s.checkClusterID(clusterID)
	}
	s.bpid = bpid
	s.mu.Unlock()
	if err := s.checkClusterID(clusterID); err != nil {
		s.mu.Lock()
		s.bpid = ""
		s.mu.Unlock()
		return err
	}
	for _, v := range s.vols {
		if v.failed.Load() {
			continue
		}
		v.lay = newBPLayout(v.path, bpid)
		if err := s.prepareBP(v); err != nil {
			s.failVolume(v, err)
		}
	}
	if err := s.load(); err != nil {
		return err
	}
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	if s.opts.DirScanInterval > 0 {
		s.wg.Add(1)
		go s.dirScanLoop(s.opts.DirScanDelay, s.opts.DirScanInterval)
	}
	return s.Healthy()
}

// checkClusterID records a cluster id in VERSION files without one and
// refuses a different one.
func (s *Store) checkClusterID(clusterID string) error {
	if clusterID == "" {
		return nil
	}
	for _, v := range s.vols {
		if v.failed.Load() {
			continue
		}
		vv, ok, err := v.readVersion(s.fs)
		if err != nil {
			s.failVolume(v, err)
			continue
		}
		if !ok {
			continue
		}
		if vv.ClusterID != "" && vv.ClusterID != clusterID {
			return fmt.Errorf("storage: incompatible clusterIDs in %s: namenode clusterID = %s; datanode clusterID = %s", v.path, clusterID, vv.ClusterID)
		}
		if vv.ClusterID == "" {
			vv.ClusterID = clusterID
			if err := v.writeVersion(s.fs, vv); err != nil {
				s.failVolume(v, err)
			}
		}
	}
	s.mu.Lock()
	s.clusterID = clusterID
	s.mu.Unlock()
	return nil
}

// prepareBP creates a volume's block pool layout and empties tmp/.
func (s *Store) prepareBP(v *volume) error {
	for _, d := range []string{v.lay.finalized, v.lay.rbw, v.lay.tmp} {
		if err := s.fs.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := v.writeBPVersion(s.fs, s.bpid); err != nil {
		return err
	}
	ents, err := s.fs.ReadDir(v.lay.tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := s.fs.RemoveAll(filepath.Join(v.lay.tmp, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Close certifies the index's directory records, closes the index and
// unlocks the volumes. Writers still open stay RBW (RWR after a restart).
func (s *Store) Close() error {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ready := s.ready
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	if ready {
		s.refreshDirty()
	}
	var err error
	if s.ix != nil {
		if e := s.ix.sync(); e != nil {
			err = fmt.Errorf("storage: sync replica index: %w", e)
		}
	}
	s.release()
	return err
}

// checkOpen returns an error unless the store is open and has a block pool.
// Callers hold s.mu.
func (s *Store) checkOpenLocked() error {
	if s.closed {
		return fmt.Errorf("storage: %w", ErrClosed)
	}
	if !s.ready {
		return fmt.Errorf("storage: %w", ErrNoBlockPool)
	}
	return nil
}

// Volumes describes every volume, failed ones included.
func (s *Store) Volumes() []VolumeInfo {
	s.mu.RLock()
	vols := append([]*volume(nil), s.vols...)
	counts := make([]int, len(vols))
	for i, v := range vols {
		counts[i] = v.count
	}
	s.mu.RUnlock()
	out := make([]VolumeInfo, len(vols))
	for i, v := range vols {
		out[i] = s.volumeInfo(v)
		out[i].NumReplicas = counts[i]
	}
	return out
}

func (s *Store) volumeInfo(v *volume) VolumeInfo {
	vi := VolumeInfo{StorageID: v.storageID, Path: v.path, Type: v.typ, Failed: v.failed.Load(), FailureCause: v.cause()}
	if vi.Failed {
		return vi
	}
	vi.DfsUsed = uint64(max(v.dfsUsed.Load(), 0))
	capacity, avail, nonDfs, err := v.space()
	if err != nil {
		s.log.WithField("volume", v.path).WithError(err).Warn("cannot measure volume")
		return vi
	}
	vi.Capacity, vi.Remaining, vi.NonDfsUsed = capacity, avail, nonDfs
	return vi
}

// Healthy returns an error when more volumes failed than
// FailedVolumesTolerated allows (or none works); the DataNode then shuts
// down, as Hadoop's does.
func (s *Store) Healthy() error {
	var failed []string
	for _, v := range s.vols {
		if v.failed.Load() {
			failed = append(failed, fmt.Sprintf("%s (%s)", v.path, v.cause()))
		}
	}
	tol := s.opts.FailedVolumesTolerated
	switch {
	case len(failed) == len(s.vols):
		return fmt.Errorf("storage: all %d volumes failed: %s", len(failed), strings.Join(failed, "; "))
	case tol >= 0 && len(failed) > tol:
		return fmt.Errorf("storage: %d volumes failed, %d tolerated (dfs.datanode.failed.volumes.tolerated): %s",
			len(failed), tol, strings.Join(failed, "; "))
	}
	return nil
}
