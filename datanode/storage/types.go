// Package storage is the DataNode's local replica store: volumes laid out
// as Hadoop lays out dfs.datanode.data.dir (current/<bpid>/current/
// {finalized,rbw}, subdir fan-out, blk_<id> and blk_<id>_<gs>.meta files in
// Hadoop's BlockMetadataHeader format), replica states (RBW, RWR,
// finalized), volume choosing, failed-volume handling, a block scanner, a
// directory scanner reconciling the replica map with the disks in the
// background (so block reports come from memory), and a replica index in
// badger so a restart does not list every directory.
//
// The index is a cache of the disk, certified per finalized leaf directory
// by the directory's mtime: every change we make to a leaf directory is
// recorded in the same index transaction as the directory's new mtime, so
// at start-up only directories whose mtime differs from the record (or
// whose record may be racy, see refresh.go) are listed again. rbw/ is
// always listed; it holds only replicas being written.
package storage

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// StorageType is a volume's medium, numbered as Hadoop's StorageTypeProto.
type StorageType int

// The storage types of dfs.datanode.data.dir tags.
const (
	StorageDisk    StorageType = 1
	StorageSSD     StorageType = 2
	StorageArchive StorageType = 3
	StorageRAMDisk StorageType = 4
)

// String is the type's Hadoop name (DISK, SSD, ARCHIVE, RAM_DISK).
func (t StorageType) String() string {
	switch t {
	case StorageDisk:
		return "DISK"
	case StorageSSD:
		return "SSD"
	case StorageArchive:
		return "ARCHIVE"
	case StorageRAMDisk:
		return "RAM_DISK"
	}
	return fmt.Sprintf("StorageType(%d)", int(t))
}

// ParseStorageType reads a Hadoop storage type name, case-insensitively.
func ParseStorageType(name string) (StorageType, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "DISK":
		return StorageDisk, nil
	case "SSD":
		return StorageSSD, nil
	case "ARCHIVE":
		return StorageArchive, nil
	case "RAM_DISK":
		return StorageRAMDisk, nil
	}
	return 0, fmt.Errorf("storage: unknown storage type %q (want DISK, SSD, ARCHIVE or RAM_DISK)", name)
}

// VolumeConfig is one dfs.datanode.data.dir entry.
type VolumeConfig struct {
	Path string
	Type StorageType
}

// ParseDataDirs parses dfs.datanode.data.dir: comma-separated entries, each
// an optional storage-type tag ("[SSD]") followed by a path or a file://
// URI. Untagged entries are DISK. An unknown tag, a non-file URI, an empty
// or duplicate path is an error naming the entry.
func ParseDataDirs(value string) ([]VolumeConfig, error) {
	var out []VolumeConfig
	seen := map[string]bool{}
	for _, raw := range strings.Split(value, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		typ := StorageDisk
		rest := entry
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("storage: data dir %q: unterminated storage type tag", entry)
			}
			t, err := ParseStorageType(rest[1:end])
			if err != nil {
				return nil, fmt.Errorf("storage: data dir %q: unknown storage type tag [%s]", entry, rest[1:end])
			}
			typ, rest = t, strings.TrimSpace(rest[end+1:])
		}
		p, err := dirPath(rest)
		if err != nil {
			return nil, fmt.Errorf("storage: data dir %q: %w", entry, err)
		}
		if seen[p] {
			return nil, fmt.Errorf("storage: data dir %q: %s is listed twice", entry, p)
		}
		seen[p] = true
		out = append(out, VolumeConfig{Path: p, Type: typ})
	}
	if len(out) == 0 {
		return nil, errors.New("storage: dfs.datanode.data.dir names no directory")
	}
	return out, nil
}

// dirPath turns a path or file: URI into a clean absolute path.
func dirPath(s string) (string, error) {
	if strings.Contains(s, ":") {
		if u, err := url.Parse(s); err == nil && u.Scheme != "" {
			if !strings.EqualFold(u.Scheme, "file") {
				return "", fmt.Errorf("scheme %q is not supported (only file)", u.Scheme)
			}
			if u.Host != "" && u.Host != "localhost" {
				return "", fmt.Errorf("file URI names the remote host %q", u.Host)
			}
			s = u.Path
			if u.Opaque != "" {
				s = u.Opaque
			}
		}
	}
	if s == "" {
		return "", errors.New("empty path")
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", err
	}
	return abs, nil
}

// State is a replica's state, numbered as Hadoop's ReplicaStateProto.
type State int

// Replica states.
const (
	StateFinalized State = 0 // complete, in finalized/
	StateRBW       State = 1 // being written, in rbw/
	StateRWR       State = 2 // found in rbw/ at start-up: waiting to be recovered
	StateRUR       State = 3 // under recovery
	StateTemporary State = 4 // a transfer in progress
)

// String is Hadoop's name of the state.
func (s State) String() string {
	switch s {
	case StateFinalized:
		return "FINALIZED"
	case StateRBW:
		return "RBW"
	case StateRWR:
		return "RWR"
	case StateRUR:
		return "RUR"
	case StateTemporary:
		return "TEMPORARY"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Replica describes one replica held by the store.
type Replica struct {
	BlockID  uint64
	GenStamp uint64
	// NumBytes is the length: finalized and RWR replicas' length, an RBW
	// replica's bytes on disk.
	NumBytes  uint64
	State     State
	StorageID string
	Type      StorageType
	// VisibleLength is what readers may see: NumBytes, or for an RBW
	// replica the bytes acknowledged so far.
	VisibleLength uint64
}

// VolumeInfo describes one volume for storage reports.
type VolumeInfo struct {
	StorageID string
	Path      string
	Type      StorageType
	Failed    bool
	// FailureCause says why a failed volume failed.
	FailureCause string
	// Capacity is the file system's size less dfs.datanode.du.reserved.
	Capacity uint64
	// DfsUsed is the bytes of block and meta files.
	DfsUsed uint64
	// Remaining is the space new replicas may still use.
	Remaining uint64
	// NonDfsUsed is the space used by other files.
	NonDfsUsed uint64
	// NumReplicas counts the volume's replicas.
	NumReplicas int
}

// Errors returned by the store; they are wrapped with context, test them
// with errors.Is.
var (
	// ErrChecksum: a chunk's checksum does not match its data. The error
	// is a *ChecksumError carrying the chunk's offset.
	ErrChecksum = errors.New("checksum error")
	// ErrReplicaNotFound: no such replica (or its files vanished).
	ErrReplicaNotFound = errors.New("replica not found")
	// ErrGenStampMismatch: the replica has another generation stamp.
	ErrGenStampMismatch = errors.New("generation stamp mismatch")
	// ErrReplicaExists: a replica with this block id already exists.
	ErrReplicaExists = errors.New("replica already exists")
	// ErrNoSpace: no volume (or not the chosen one) has room.
	ErrNoSpace = errors.New("out of space")
	// ErrVolumeFailed: the replica's volume failed and is out of service.
	ErrVolumeFailed = errors.New("volume failed")
	// ErrReplicaState: the replica is not in a state the call accepts.
	ErrReplicaState = errors.New("replica in wrong state")
	// ErrBadOffset: a write does not continue the replica's data.
	ErrBadOffset = errors.New("bad write offset")
	// ErrClosed: the store or writer is closed.
	ErrClosed = errors.New("closed")
	// ErrNoBlockPool: SetBlockPool has not been called yet.
	ErrNoBlockPool = errors.New("block pool not set")
)

// ChecksumError is the ErrChecksum a write, read or scan reports: which
// block, and the offset in the block of the first chunk that failed.
type ChecksumError struct {
	BlockID uint64
	Offset  uint64
	// Detail says what failed, e.g. "meta file too short".
	Detail string
}

// Error describes the failing chunk.
func (e *ChecksumError) Error() string {
	d := e.Detail
	if d == "" {
		d = "checksum mismatch"
	}
	return fmt.Sprintf("blk_%d: %s at offset %d", int64(e.BlockID), d, e.Offset)
}

// Unwrap makes errors.Is(err, ErrChecksum) hold.
func (e *ChecksumError) Unwrap() error { return ErrChecksum }
