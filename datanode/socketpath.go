package datanode

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// socketPathHelp is where Hadoop explains the rules its messages name.
const socketPathHelp = "https://wiki.apache.org/hadoop/SocketPathSecurity"

// checkSocketPathSecurity applies Hadoop's rules for
// dfs.domain.socket.path (SocketPathSecurity) to every directory from /
// down to the socket's: none may be writable by others, writable by a
// group other than root's, or owned by a user other than root and the
// DataNode's; otherwise another user could put their own socket where
// clients look for the DataNode's and be handed their reads. Unlike
// Hadoop, a world-writable directory with the sticky bit (/tmp) is
// accepted above the socket's own directory: nobody else can rename or
// remove what we own in it. The messages are Hadoop's.
func checkSocketPathSecurity(path string, uid uint32) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("domain socket path %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	var comps []string
	for d := dir; ; d = filepath.Dir(d) {
		comps = append(comps, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		fi, err := os.Stat(c)
		if err != nil {
			return fmt.Errorf("failed to stat a path component: '%s' in '%s': %w. Ensure that the path is configured correctly", c, abs, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("cannot check the owner of '%s' in '%s'", c, abs)
		}
		perm := fi.Mode().Perm()
		prefix := fmt.Sprintf("The path component: '%s' in '%s' has permissions 0%03o uid %d and gid %d. It is not protected because", c, abs, perm, st.Uid, st.Gid)
		switch {
		case !fi.IsDir():
			return fmt.Errorf("the path component: '%s' in '%s' is not a directory", c, abs)
		case perm&0o002 != 0 && (fi.Mode()&os.ModeSticky == 0 || c == dir):
			return fmt.Errorf("%s it is world-writable. This might help: 'chmod o-w %s'. For more information: %s", prefix, c, socketPathHelp)
		case perm&0o020 != 0 && st.Gid != 0:
			return fmt.Errorf("%s it is group-writable and not owned by root. This might help: 'chmod g-w %s' or 'chown root %s'. For more information: %s", prefix, c, c, socketPathHelp)
		case st.Uid != 0 && st.Uid != uid:
			return fmt.Errorf("%s it is owned by a user who is not root and not the effective user: '%d'. This might help: 'chown root %s' or 'chown %d %s'. For more information: %s", prefix, uid, c, uid, c, socketPathHelp)
		}
	}
	return nil
}
