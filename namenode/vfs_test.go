package namenode

import "github.com/avatarfs/avatarfs/internal/vfs"

func osFS() vfs.FS { return vfs.Default }
