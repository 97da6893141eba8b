package namenode

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// LayoutVersion is written to VERSION; Hadoop 3.3's NameNode layout is
// -66 and tools read it, so we write the same number.
const LayoutVersion = -66

// ErrNotFormatted is returned when a name directory has no VERSION.
var ErrNotFormatted = errors.New("NameNode is not formatted")

// StorageInfo is the identity recorded in every VERSION file.
type StorageInfo struct {
	NamespaceID uint32
	ClusterID   string
	BlockPoolID string
	CTime       int64
}

// Storage is the set of NameNode storage directories
// (dfs.namenode.name.dir and dfs.namenode.edits.dir), each holding
// current/VERSION, images and edits; several directories are redundant
// copies, all written.
type Storage struct {
	FS        vfs.FS
	NameDirs  []string
	EditsDirs []string
	Info      StorageInfo
	locks     []*os.File
}

// Current is a directory's current/ subdirectory.
func Current(dir string) string { return filepath.Join(dir, "current") }

// CleanDirs turns config values (file:// URIs or paths, duplicates) into
// absolute paths.
func CleanDirs(values []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range values {
		v = strings.TrimPrefix(strings.TrimSpace(v), "file://")
		if v == "" {
			continue
		}
		if abs, err := filepath.Abs(v); err == nil {
			v = abs
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func (s *Storage) allDirs() []string {
	dirs := append([]string(nil), s.NameDirs...)
	for _, d := range s.EditsDirs {
		found := false
		for _, x := range dirs {
			found = found || x == d
		}
		if !found {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// IsFormatted tells whether any directory holds a VERSION file.
func (s *Storage) IsFormatted() bool {
	for _, d := range s.allDirs() {
		if _, err := s.FS.Stat(filepath.Join(Current(d), "VERSION")); err == nil {
			return true
		}
	}
	return false
}

// NewStorageInfo makes a fresh identity; clusterID "" picks a new one.
func NewStorageInfo(clusterID, ip string) StorageInfo {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<31-1))
	if clusterID == "" {
		b := make([]byte, 16)
		rand.Read(b)
		h := hex.EncodeToString(b)
		clusterID = fmt.Sprintf("CID-%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
	}
	bp, _ := rand.Int(rand.Reader, big.NewInt(1<<31-1))
	if ip == "" {
		ip = "127.0.0.1"
	}
	return StorageInfo{NamespaceID: uint32(n.Int64()) + 1, ClusterID: clusterID,
		BlockPoolID: fmt.Sprintf("BP-%d-%s-%d", bp.Int64(), ip, time.Now().UnixMilli())}
}

// Format empties every directory and writes VERSION, seen_txid 0 and the
// image of an empty namespace (fsimage_0), as `hdfs namenode -format`.
func (s *Storage) Format(info StorageInfo, empty *Namespace) error {
	s.Info = info
	for _, d := range s.allDirs() {
		cur := Current(d)
		if err := s.FS.RemoveAll(cur); err != nil {
			return fmt.Errorf("format %s: %w", d, err)
		}
		if err := s.FS.MkdirAll(cur, 0o755); err != nil {
			return fmt.Errorf("format %s: %w", d, err)
		}
		if err := s.writeVersion(d); err != nil {
			return err
		}
		if err := s.WriteSeenTxID(d, 0); err != nil {
			return err
		}
	}
	for _, d := range s.NameDirs {
		if err := empty.SaveImage(s.FS, Current(d), s.meta(0)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Storage) meta(txid uint64) ImageMeta {
	return ImageMeta{TxID: txid, NamespaceID: s.Info.NamespaceID, ClusterID: s.Info.ClusterID, BlockPoolID: s.Info.BlockPoolID}
}

func (s *Storage) writeVersion(dir string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "#%s\n", time.Now().UTC().Format("Mon Jan 02 15:04:05 MST 2006"))
	fmt.Fprintf(&b, "namespaceID=%d\nclusterID=%s\ncTime=%d\nstorageType=NAME_NODE\nblockpoolID=%s\nlayoutVersion=%d\n",
		s.Info.NamespaceID, s.Info.ClusterID, s.Info.CTime, s.Info.BlockPoolID, LayoutVersion)
	if err := vfs.WriteFileAtomic(s.FS, filepath.Join(Current(dir), "VERSION"), []byte(b.String())); err != nil {
		return fmt.Errorf("write VERSION in %s: %w", dir, err)
	}
	return nil
}

// readVersion parses a VERSION file (Java properties).
func readVersion(fsys vfs.FS, dir string) (StorageInfo, error) {
	path := filepath.Join(Current(dir), "VERSION")
	f, err := fsys.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return StorageInfo{}, fmt.Errorf("%s: %w", dir, ErrNotFormatted)
		}
		return StorageInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if props["storageType"] != "NAME_NODE" {
		return StorageInfo{}, fmt.Errorf("%s: storage directory is not a NameNode directory (storageType=%q)", dir, props["storageType"])
	}
	ns, err := strconv.ParseUint(props["namespaceID"], 10, 32)
	if err != nil || props["clusterID"] == "" || props["blockpoolID"] == "" {
		return StorageInfo{}, fmt.Errorf("%s: VERSION is incomplete or malformed", path)
	}
	ct, _ := strconv.ParseInt(props["cTime"], 10, 64)
	return StorageInfo{NamespaceID: uint32(ns), ClusterID: props["clusterID"], BlockPoolID: props["blockpoolID"], CTime: ct}, nil
}

// Open locks every directory and reads its VERSION; all must agree.
func (s *Storage) Open() error {
	for _, d := range s.allDirs() {
		if err := s.lock(d); err != nil {
			s.Close()
			return err
		}
	}
	var first string
	for _, d := range s.allDirs() {
		info, err := readVersion(s.FS, d)
		if err != nil {
			s.Close()
			if errors.Is(err, ErrNotFormatted) {
				return fmt.Errorf("storage directory %s is not formatted: %w. Run \"hdfs namenode -format\" first", d, ErrNotFormatted)
			}
			return err
		}
		if first == "" {
			s.Info, first = info, d
			continue
		}
		if info.ClusterID != s.Info.ClusterID || info.NamespaceID != s.Info.NamespaceID {
			s.Close()
			return fmt.Errorf("storage directory %s belongs to another file system (clusterID %s, namespaceID %d) than %s (clusterID %s, namespaceID %d)",
				d, info.ClusterID, info.NamespaceID, first, s.Info.ClusterID, s.Info.NamespaceID)
		}
	}
	return nil
}

// lock takes in_use.lock in dir so no second NameNode uses it.
func (s *Storage) lock(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("storage directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "in_use.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		return fmt.Errorf("Cannot lock storage %s. The directory is already locked (held by %s)", dir, strings.TrimSpace(string(owner)))
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("%d@%s\n", os.Getpid(), host)), 0)
	s.locks = append(s.locks, f)
	return nil
}

// Close releases the directory locks.
func (s *Storage) Close() {
	for _, f := range s.locks {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	s.locks = nil
}

// WriteSeenTxID records the last txid known to be in the log.
func (s *Storage) WriteSeenTxID(dir string, txid uint64) error {
	return vfs.WriteFileAtomic(s.FS, filepath.Join(Current(dir), "seen_txid"), []byte(fmt.Sprintf("%d\n", txid)))
}

// ImageFile is one fsimage on disk.
type ImageFile struct {
	Path string
	TxID uint64
}

// Images lists the images of every name directory, newest first.
func (s *Storage) Images() []ImageFile {
	var out []ImageFile
	for _, d := range s.NameDirs {
		ents, err := s.FS.ReadDir(Current(d))
		if err != nil {
			continue
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasPrefix(name, "fsimage_") || strings.HasSuffix(name, ".md5") {
				continue
			}
			txid, err := strconv.ParseUint(strings.TrimPrefix(name, "fsimage_"), 10, 64)
			if err != nil {
				continue
			}
			out = append(out, ImageFile{Path: filepath.Join(Current(d), name), TxID: txid})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].TxID > out[j].TxID })
	return out
}

// EditsCurrent lists the current/ directories that hold edits.
func (s *Storage) EditsCurrent() []string {
	out := make([]string, len(s.EditsDirs))
	for i, d := range s.EditsDirs {
		out[i] = Current(d)
	}
	return out
}

// PurgeImages keeps the newest `retain` image txids and removes older
// images (and their .md5). It returns the oldest retained txid.
func (s *Storage) PurgeImages(retain int) uint64 {
	imgs := s.Images()
	var txids []uint64
	for _, im := range imgs {
		if len(txids) == 0 || txids[len(txids)-1] != im.TxID {
			txids = append(txids, im.TxID)
		}
	}
	if retain < 1 {
		retain = 1
	}
	if len(txids) <= retain {
		if len(txids) == 0 {
			return 0
		}
		return txids[len(txids)-1]
	}
	oldest := txids[retain-1]
	for _, im := range imgs {
		if im.TxID < oldest {
			s.FS.Remove(im.Path)
			s.FS.Remove(im.Path + ".md5")
		}
	}
	return oldest
}
