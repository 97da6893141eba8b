package storage

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// volume is one dfs.datanode.data.dir entry.
type volume struct {
	s         *Store
	path      string
	typ       StorageType
	storageID string
	lay       bpLayout // set by SetBlockPool
	lockFile  *os.File

	failed    atomic.Bool
	failCause atomic.Value // string

	// fullAt is when a write last met ENOSPC (unix nanoseconds; 0: not
	// known full). The choosing policy skips the volume for a while.
	fullAt atomic.Int64
	// dfsUsed is the bytes of our block and meta files.
	dfsUsed atomic.Int64
	// reserved is space promised to replicas being written.
	reserved atomic.Int64
	// count is the number of replicas in the store's map (under s.mu).
	count int

	// dirMu serialises every change to a finalized leaf directory with
	// the index update recording it.
	dirMu    [numLeaves]sync.Mutex
	leafMade [numLeaves]atomic.Bool

	// lastRec is the mtime in the leaf's latest index record (0: none);
	// guarded by dirMu[leaf].
	lastRec [numLeaves]int64

	dirtyMu sync.Mutex
	dirty   map[uint16]struct{} // leaves whose record is racy

	probeMu   sync.Mutex
	lastProbe time.Time
	probeErr  error
}

func (v *volume) String() string { return v.path + " (" + v.storageID + ")" }

// cause is why the volume failed.
func (v *volume) cause() string {
	c, _ := v.failCause.Load().(string)
	return c
}

// markDirty notes a leaf whose record the refresher must certify.
func (v *volume) markDirty(leaf uint16) {
	v.dirtyMu.Lock()
	if v.dirty == nil {
		v.dirty = map[uint16]struct{}{}
	}
	v.dirty[leaf] = struct{}{}
	v.dirtyMu.Unlock()
}

// takeDirty returns and clears the dirty leaves.
func (v *volume) takeDirty() []uint16 {
	v.dirtyMu.Lock()
	defer v.dirtyMu.Unlock()
	out := make([]uint16, 0, len(v.dirty))
	for l := range v.dirty {
		out = append(out, l)
	}
	v.dirty = nil
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// newUUID is a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// readProps reads a Java properties file of key=value lines.
func readProps(fsys vfs.FS, path string) (map[string]string, error) {
	data, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return nil, err
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return props, nil
}

// writeProps writes a properties file atomically, keys in the given order.
func writeProps(fsys vfs.FS, path string, keys []string, props map[string]string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "#%s\n", time.Now().UTC().Format("Mon Jan 02 15:04:05 MST 2006"))
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	return vfs.WriteFileAtomic(fsys, path, []byte(b.String()))
}

// volumeVersion is what a volume's current/VERSION records.
type volumeVersion struct {
	StorageID, ClusterID, DatanodeUUID string
}

var volumeVersionKeys = []string{"storageID", "clusterID", "cTime", "datanodeUuid", "storageType", "layoutVersion"}

func (v *volume) versionPath() string { return filepath.Join(v.path, dirCurrent, fileVersion) }

// readVersion reads current/VERSION; ok is false when there is none.
func (v *volume) readVersion(fsys vfs.FS) (volumeVersion, bool, error) {
	props, err := readProps(fsys, v.versionPath())
	if errors.Is(err, fs.ErrNotExist) {
		return volumeVersion{}, false, nil
	}
	if err != nil {
		return volumeVersion{}, false, fmt.Errorf("storage: read %s: %w", v.versionPath(), err)
	}
	if t := props["storageType"]; t != "" && t != "DATA_NODE" {
		return volumeVersion{}, false, fmt.Errorf("storage: %s is not a DataNode directory (storageType=%s)", v.path, t)
	}
	vv := volumeVersion{StorageID: props["storageID"], ClusterID: props["clusterID"], DatanodeUUID: props["datanodeUuid"]}
	if vv.StorageID == "" {
		return vv, false, nil
	}
	return vv, true, nil
}

// writeVersion writes current/VERSION.
func (v *volume) writeVersion(fsys vfs.FS, vv volumeVersion) error {
	props := map[string]string{
		"storageID": vv.StorageID, "clusterID": vv.ClusterID, "cTime": "0",
		"datanodeUuid": vv.DatanodeUUID, "storageType": "DATA_NODE",
		"layoutVersion": fmt.Sprint(dataNodeLayoutVersion),
	}
	if err := writeProps(fsys, v.versionPath(), volumeVersionKeys, props); err != nil {
		return fmt.Errorf("storage: write %s: %w", v.versionPath(), err)
	}
	return nil
}

// writeBPVersion writes the block pool's current/VERSION when missing.
func (v *volume) writeBPVersion(fsys vfs.FS, bpid string) error {
	path := filepath.Join(v.lay.current, fileVersion)
	if _, err := fsys.Stat(path); err == nil {
		props, err := readProps(fsys, path)
		if err != nil {
			return fmt.Errorf("storage: read %s: %w", path, err)
		}
		if p := props["blockpoolID"]; p != "" && p != bpid {
			return fmt.Errorf("storage: %s belongs to block pool %s, not %s", path, p, bpid)
		}
		return nil
	}
	props := map[string]string{"namespaceID": "0", "cTime": "0", "blockpoolID": bpid, "layoutVersion": fmt.Sprint(dataNodeLayoutVersion)}
	if err := writeProps(fsys, path, []string{"namespaceID", "cTime", "blockpoolID", "layoutVersion"}, props); err != nil {
		return fmt.Errorf("storage: write %s: %w", path, err)
	}
	return nil
}

// lock takes in_use.lock (flock) so a second DataNode cannot use the
// volume. The lock is the OS's business, not file data, so it bypasses vfs.
func (v *volume) lock() error {
	path := filepath.Join(v.path, fileLock)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("storage: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		return fmt.Errorf("storage: cannot lock volume %s: already locked (held by %s)", v.path, strings.TrimSpace(string(owner)))
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	f.WriteAt(fmt.Appendf(nil, "%d@%s\n", os.Getpid(), host), 0)
	v.lockFile = f
	return nil
}

func (v *volume) unlock() {
	if v.lockFile != nil {
		syscall.Flock(int(v.lockFile.Fd()), syscall.LOCK_UN)
		v.lockFile.Close()
		v.lockFile = nil
	}
}

// space measures the volume: capacity (less the reserve), the space new
// replicas may use, and the space used by other files.
func (v *volume) space() (capacity, available, nonDfs uint64, err error) {
	total, free, err := v.s.statFS(v.path)
	if err != nil {
		return 0, 0, 0, err
	}
	sub := func(a, b uint64) uint64 {
		if a > b {
			return a - b
		}
		return 0
	}
	res := uint64(max(v.s.opts.Reserved, 0))
	used := uint64(max(v.dfsUsed.Load(), 0))
	capacity = sub(total, res)
	available = min(sub(free, res), sub(capacity, used))
	available = sub(available, uint64(max(v.reserved.Load(), 0)))
	nonDfs = sub(sub(total, free), used)
	return capacity, available, nonDfs, nil
}

// defaultStatFS measures a file system with statfs(2).
func defaultStatFS(path string) (capacity, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Blocks) * uint64(st.Bsize), uint64(st.Bavail) * uint64(st.Bsize), nil
}

// probe checks the volume still works, as Hadoop's disk checker does:
// its directory is there and a small file can be written, synced and
// removed. A full disk passes (it is full, not dead). Results are cached
// for a second so an error storm does not become a probe storm.
func (v *volume) probe() error {
	v.probeMu.Lock()
	defer v.probeMu.Unlock()
	if time.Since(v.lastProbe) < time.Second {
		return v.probeErr
	}
	v.lastProbe = time.Now()
	v.probeErr = v.probeOnce()
	return v.probeErr
}

func (v *volume) probeOnce() error {
	fsys := v.s.fs
	cur := filepath.Join(v.path, dirCurrent)
	st, err := fsys.Stat(cur)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", cur)
	}
	if v.lay.current != "" {
		if _, err := fsys.Stat(v.lay.current); err != nil {
			return err
		}
	}
	name := filepath.Join(cur, fmt.Sprintf(".probe-%s", newUUID()[:8]))
	f, err := fsys.Create(name)
	if err != nil {
		if isNoSpace(err) {
			return nil
		}
		return err
	}
	_, werr := f.Write([]byte{1})
	serr := f.Sync()
	cerr := f.Close()
	rerr := fsys.Remove(name)
	for _, e := range []error{werr, serr, cerr, rerr} {
		if e != nil && !isNoSpace(e) {
			return e
		}
	}
	return nil
}

// isNoSpace tells a full disk (or quota) from other errors.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isFatalIO tells errors that condemn a volume without a probe.
func isFatalIO(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS)
}
