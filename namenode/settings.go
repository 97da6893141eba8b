package namenode

import (
	"os/user"

	"github.com/avatarfs/avatarfs/conf"
)

// serverDefaults are what getServerDefaults reports to clients.
type serverDefaults struct {
	BlockSize            int64
	BytesPerChecksum     uint32
	WritePacketSize      uint32
	Replication          uint32
	TrashIntervalMinutes uint64
}

// currentUser is the NameNode's own user: Hadoop's superuser.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "hdfs"
}

// SettingsFromConf reads the namespace's knobs from Hadoop keys.
func SettingsFromConf(c *conf.Config) Settings {
	s := DefaultSettings()
	s.Superuser = currentUser()
	s.Supergroup = c.String("dfs.permissions.superusergroup")
	s.PermissionsEnabled = c.Bool("dfs.permissions.enabled")
	s.DefaultReplication = int(c.Int("dfs.replication"))
	s.MinReplication = int(c.Int("dfs.namenode.replication.min"))
	s.MaxReplication = int(c.Int("dfs.replication.max"))
	s.DefaultBlockSize = c.Size("dfs.blocksize")
	s.MinBlockSize = c.Size("dfs.namenode.fs-limits.min-block-size")
	s.MaxComponentLength = int(c.Int("dfs.namenode.fs-limits.max-component-length"))
	s.MaxDirItems = int(c.Int("dfs.namenode.fs-limits.max-directory-items"))
	s.MaxBlocksPerFile = int(c.Int("dfs.namenode.fs-limits.max-blocks-per-file"))
	s.ListLimit = int(c.Int("dfs.ls.limit"))
	s.AccessTimePrecision = c.Duration("dfs.namenode.accesstime.precision")
	s.XAttrsEnabled = c.Bool("dfs.namenode.xattrs.enabled")
	s.MaxXAttrsPerInode = int(c.Int("dfs.namenode.fs-limits.max-xattrs-per-inode"))
	s.MaxXAttrSize = int(c.Int("dfs.namenode.fs-limits.max-xattr-size"))
	if c.Bool("dfs.namenode.enable.retrycache") {
		s.RetryCacheExpiry = c.Duration("dfs.namenode.retrycache.expirytime.millis")
	} else {
		s.RetryCacheExpiry = 0
	}
	return s
}

func defaultsFromConf(c *conf.Config) serverDefaults {
	return serverDefaults{
		BlockSize:            c.Size("dfs.blocksize"),
		BytesPerChecksum:     uint32(c.Int("dfs.bytes-per-checksum")),
		WritePacketSize:      uint32(c.Int("dfs.client-write-packet-size")),
		Replication:          uint32(c.Int("dfs.replication")),
		TrashIntervalMinutes: uint64(c.Float("fs.trash.interval")),
	}
}
