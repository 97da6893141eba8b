package client

import (
	"fmt"
	"os"
	"path"
	"time"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// FileStatus is what the NameNode reports about one path.
type FileStatus struct {
	Path        string // absolute path
	IsDir       bool
	IsSymlink   bool
	Length      int64
	Perm        uint16 // permission bits including the sticky bit (01000)
	Owner       string
	Group       string
	Mtime       int64 // milliseconds since the epoch
	Atime       int64 // milliseconds since the epoch
	Replication int
	BlockSize   int64
	FileID      uint64
	Children    int
	HasACL      bool
	IsEC        bool
	Policy      uint8 // storage policy id
}

// Name returns the last element of the path ("" for the root).
func (s *FileStatus) Name() string {
	if s.Path == "/" {
		return ""
	}
	return path.Base(s.Path)
}

// ModTime returns the modification time.
func (s *FileStatus) ModTime() time.Time { return time.UnixMilli(s.Mtime) }

// AccessTime returns the access time.
func (s *FileStatus) AccessTime() time.Time { return time.UnixMilli(s.Atime) }

func statusFromPB(p string, st *pb.HdfsFileStatusProto) *FileStatus {
	return &FileStatus{
		Path:        p,
		IsDir:       st.GetFileType() == pb.HdfsFileStatusProto_IS_DIR,
		IsSymlink:   st.GetFileType() == pb.HdfsFileStatusProto_IS_SYMLINK,
		Length:      int64(st.GetLength()),
		Perm:        uint16(st.GetPermission().GetPerm()) & 0o7777,
		Owner:       st.GetOwner(),
		Group:       st.GetGroup(),
		Mtime:       int64(st.GetModificationTime()),
		Atime:       int64(st.GetAccessTime()),
		Replication: int(st.GetBlockReplication()),
		BlockSize:   int64(st.GetBlocksize()),
		FileID:      st.GetFileId(),
		Children:    int(st.GetChildrenNum()),
		HasACL:      st.GetFlags()&uint32(pb.HdfsFileStatusProto_HAS_ACL) != 0,
		IsEC:        st.GetFlags()&uint32(pb.HdfsFileStatusProto_HAS_EC) != 0,
		Policy:      uint8(st.GetStoragePolicy()),
	}
}

func notFound(format string, args ...any) error {
	return &RemoteError{Class: ExFileNotFound, Message: fmt.Sprintf(format, args...)}
}

// Stat returns the status of p; a missing path gives an error for which
// errors.Is(err, os.ErrNotExist) holds.
func (c *Client) Stat(p string) (*FileStatus, error) {
	resp := &pb.GetFileInfoResponseProto{}
	if err := c.call("getFileInfo", &pb.GetFileInfoRequestProto{Src: proto.String(p)}, resp); err != nil {
		return nil, err
	}
	if resp.Fs == nil {
		return nil, notFound("File does not exist: %s", p)
	}
	return statusFromPB(p, resp.Fs), nil
}

// Exists reports whether p exists.
func (c *Client) Exists(p string) (bool, error) {
	_, err := c.Stat(p)
	if err == nil {
		return true, nil
	}
	if os.IsNotExist(err) || isNotExist(err) {
		return false, nil
	}
	return false, err
}

func isNotExist(err error) bool { return IsClass(err, ExFileNotFound) }

// List returns the entries of directory p in the NameNode's order (by
// name); for a file it returns the file itself, as HDFS does.
func (c *Client) List(p string) ([]FileStatus, error) {
	var out []FileStatus
	var after []byte
	for {
		resp := &pb.GetListingResponseProto{}
		req := &pb.GetListingRequestProto{Src: proto.String(p), StartAfter: after, NeedLocation: proto.Bool(false)}
		if req.StartAfter == nil {
			req.StartAfter = []byte{}
		}
		if err := c.call("getListing", req, resp); err != nil {
			return nil, err
		}
		dl := resp.GetDirList()
		if dl == nil {
			if out != nil {
				return out, nil // the directory went away while listing
			}
			return nil, notFound("File %s does not exist.", p)
		}
		for _, e := range dl.GetPartialListing() {
			name := string(e.GetPath())
			child := p
			if name != "" {
				child = path.Join(p, name)
			}
			out = append(out, *statusFromPB(child, e))
		}
		if dl.GetRemainingEntries() == 0 || len(dl.GetPartialListing()) == 0 {
			return out, nil
		}
		after = dl.GetPartialListing()[len(dl.GetPartialListing())-1].GetPath()
	}
}

// Mkdirs creates directory p with permission perm (the umask is not
// applied here: callers pass DirMode() or an explicit mode), and its
// missing parents when parents is set.
func (c *Client) Mkdirs(p string, perm uint16, parents bool) error {
	resp := &pb.MkdirsResponseProto{}
	err := c.call("mkdirs", &pb.MkdirsRequestProto{Src: proto.String(p),
		Masked: &pb.FsPermissionProto{Perm: proto.Uint32(uint32(perm))}, CreateParent: proto.Bool(parents)}, resp)
	if err != nil {
		return err
	}
	if !resp.GetResult() {
		return fmt.Errorf("mkdirs %s failed", p)
	}
	return nil
}

// CreateFlag values of the create RPC.
const (
	FlagCreate    = 1
	FlagOverwrite = 2
	FlagAppend    = 4
)

// CreateOptions are the parameters of a new file; zero values take the
// client's defaults (FileMode(), dfs.replication, dfs.blocksize).
type CreateOptions struct {
	Perm        uint16
	Overwrite   bool
	NoParents   bool // fail when the parent directory is missing
	Replication int
	BlockSize   int64
}

func (c *Client) createArgs(o CreateOptions) (perm uint16, repl int, bs int64, flag uint32) {
	perm, repl, bs = o.Perm, o.Replication, o.BlockSize
	if perm == 0 {
		perm = c.FileMode()
	}
	if repl == 0 {
		repl = int(c.conf.Int("dfs.replication"))
	}
	if bs == 0 {
		bs = c.conf.Size("dfs.blocksize")
	}
	flag = FlagCreate
	if o.Overwrite {
		flag |= FlagOverwrite
	}
	return
}

// CreateEmpty creates p as an empty, closed file.
func (c *Client) CreateEmpty(p string, o CreateOptions) error {
	perm, repl, bs, flag := c.createArgs(o)
	resp := &pb.CreateResponseProto{}
	err := c.call("create", &pb.CreateRequestProto{
		Src: proto.String(p), Masked: &pb.FsPermissionProto{Perm: proto.Uint32(uint32(perm))},
		ClientName: proto.String(c.name), CreateFlag: proto.Uint32(flag), CreateParent: proto.Bool(!o.NoParents),
		Replication: proto.Uint32(uint32(repl)), BlockSize: proto.Uint64(uint64(bs)),
	}, resp)
	if err != nil {
		return err
	}
	req := &pb.CompleteRequestProto{Src: proto.String(p), ClientName: proto.String(c.name), FileId: proto.Uint64(resp.GetFs().GetFileId())}
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		cresp := &pb.CompleteResponseProto{}
		if err := c.call("complete", req, cresp); err != nil {
			return err
		}
		if cresp.GetResult() {
			return nil
		}
		if wait > 5*time.Second {
			return fmt.Errorf("Unable to close file because the last block does not have enough number of replicas.")
		}
		time.Sleep(wait)
	}
}

// Delete deletes p (recursively when recursive is set); it reports whether
// anything was deleted.
func (c *Client) Delete(p string, recursive bool) (bool, error) {
	resp := &pb.DeleteResponseProto{}
	err := c.call("delete", &pb.DeleteRequestProto{Src: proto.String(p), Recursive: proto.Bool(recursive)}, resp)
	return resp.GetResult(), err
}

// Rename is the original rename: it answers false, not an error, for most
// failures (missing source, existing destination).
func (c *Client) Rename(src, dst string) (bool, error) {
	resp := &pb.RenameResponseProto{}
	err := c.call("rename", &pb.RenameRequestProto{Src: proto.String(src), Dst: proto.String(dst)}, resp)
	return resp.GetResult(), err
}

// Rename2 renames src to dst with exceptions for every failure; overwrite
// replaces an existing file or empty directory; toTrash marks a move into
// the trash.
func (c *Client) Rename2(src, dst string, overwrite, toTrash bool) error {
	req := &pb.Rename2RequestProto{Src: proto.String(src), Dst: proto.String(dst), OverwriteDest: proto.Bool(overwrite)}
	if toTrash {
		req.MoveToTrash = proto.Bool(true)
	}
	return c.call("rename2", req, &pb.Rename2ResponseProto{})
}

// SetPermission sets p's permission bits (including the sticky bit).
func (c *Client) SetPermission(p string, perm uint16) error {
	return c.call("setPermission", &pb.SetPermissionRequestProto{Src: proto.String(p),
		Permission: &pb.FsPermissionProto{Perm: proto.Uint32(uint32(perm))}}, &pb.SetPermissionResponseProto{})
}

// SetOwner sets p's owner and/or group; "" leaves one unchanged.
func (c *Client) SetOwner(p, owner, group string) error {
	req := &pb.SetOwnerRequestProto{Src: proto.String(p)}
	if owner != "" {
		req.Username = proto.String(owner)
	}
	if group != "" {
		req.Groupname = proto.String(group)
	}
	return c.call("setOwner", req, &pb.SetOwnerResponseProto{})
}

// SetTimes sets p's modification and access times in milliseconds; -1
// leaves one unchanged.
func (c *Client) SetTimes(p string, mtime, atime int64) error {
	return c.call("setTimes", &pb.SetTimesRequestProto{Src: proto.String(p),
		Mtime: proto.Uint64(uint64(mtime)), Atime: proto.Uint64(uint64(atime))}, &pb.SetTimesResponseProto{})
}

// SetReplication sets file p's replication; false means p is not a file.
func (c *Client) SetReplication(p string, r int) (bool, error) {
	resp := &pb.SetReplicationResponseProto{}
	err := c.call("setReplication", &pb.SetReplicationRequestProto{Src: proto.String(p), Replication: proto.Uint32(uint32(r))}, resp)
	return resp.GetResult(), err
}

// Truncate truncates file p to length n. It reports whether the file is
// ready at once (false: block recovery of the last block is under way).
func (c *Client) Truncate(p string, n int64) (bool, error) {
	resp := &pb.TruncateResponseProto{}
	err := c.call("truncate", &pb.TruncateRequestProto{Src: proto.String(p), NewLength: proto.Uint64(uint64(n)), ClientName: proto.String(c.name)}, resp)
	return resp.GetResult(), err
}

// ContentSummary is the subtree summary of getContentSummary. Quotas are
// -1 when none is set.
type ContentSummary struct {
	Length, FileCount, DirectoryCount int64
	Quota, SpaceConsumed, SpaceQuota  int64
	SnapshotLength                    int64
	SnapshotSpaceConsumed             int64
}

// ContentSummary returns the summary of the subtree at p.
func (c *Client) ContentSummary(p string) (*ContentSummary, error) {
	resp := &pb.GetContentSummaryResponseProto{}
	if err := c.call("getContentSummary", &pb.GetContentSummaryRequestProto{Path: proto.String(p)}, resp); err != nil {
		return nil, err
	}
	s := resp.GetSummary()
	return &ContentSummary{
		Length: int64(s.GetLength()), FileCount: int64(s.GetFileCount()), DirectoryCount: int64(s.GetDirectoryCount()),
		Quota: int64(s.GetQuota()), SpaceConsumed: int64(s.GetSpaceConsumed()), SpaceQuota: int64(s.GetSpaceQuota()),
		SnapshotLength: int64(s.GetSnapshotLength()), SnapshotSpaceConsumed: int64(s.GetSnapshotSpaceConsumed()),
	}, nil
}

// FsStats is the file system's capacity, as getFsStats reports it.
type FsStats struct {
	Capacity, Used, Remaining int64
}

// FsStats returns the file system's capacity and usage.
func (c *Client) FsStats() (*FsStats, error) {
	resp := &pb.GetFsStatsResponseProto{}
	if err := c.call("getFsStats", &pb.GetFsStatusRequestProto{}, resp); err != nil {
		return nil, err
	}
	return &FsStats{Capacity: int64(resp.GetCapacity()), Used: int64(resp.GetUsed()), Remaining: int64(resp.GetRemaining())}, nil
}

// ServerDefaults are the NameNode's defaults for new files and the trash.
type ServerDefaults struct {
	BlockSize        int64
	BytesPerChecksum int
	Replication      int
	TrashInterval    time.Duration
	ChecksumType     string // "CRC32" or "CRC32C"
}

// ServerDefaults returns the NameNode's server defaults.
func (c *Client) ServerDefaults() (*ServerDefaults, error) {
	resp := &pb.GetServerDefaultsResponseProto{}
	if err := c.call("getServerDefaults", &pb.GetServerDefaultsRequestProto{}, resp); err != nil {
		return nil, err
	}
	d := resp.GetServerDefaults()
	ct := "CRC32"
	if d.GetChecksumType() == pb.ChecksumTypeProto_CHECKSUM_CRC32C {
		ct = "CRC32C"
	}
	return &ServerDefaults{BlockSize: int64(d.GetBlockSize()), BytesPerChecksum: int(d.GetBytesPerChecksum()),
		Replication: int(d.GetReplication()), TrashInterval: time.Duration(d.GetTrashInterval()) * time.Minute, ChecksumType: ct}, nil
}
