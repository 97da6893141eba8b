package namenode

import (
	"strings"
	"unicode/utf8"
)

// splitPath validates an absolute HDFS path and returns its components
// (none for "/"). The rules are Hadoop's DFSUtil.isValidName: absolute,
// '/'-separated, no "." or ".." components, no ':' in a component, no empty
// component except a trailing slash.
func splitPath(src string) ([]string, error) {
	if src == "" || src[0] != '/' {
		return nil, errorf(ExInvalidPath, "Invalid path name Path is not absolute: %s", src)
	}
	if !utf8.ValidString(src) {
		return nil, errorf(ExInvalidPath, "Invalid path name Invalid file name: %s", src)
	}
	trimmed := strings.TrimRight(src, "/")
	if trimmed == "" {
		return nil, nil
	}
	parts := strings.Split(trimmed[1:], "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsRune(p, ':') || strings.ContainsRune(p, 0) {
			return nil, errorf(ExInvalidPath, "Invalid path name Invalid file name: %s", src)
		}
	}
	return parts, nil
}

// joinPath renders components as an absolute path.
func joinPath(parts []string) string {
	if len(parts) == 0 {
		return "/"
	}
	return "/" + strings.Join(parts, "/")
}

// parentPath returns the parent of an absolute path ("/" for top-level).
func parentPath(parts []string) string { return joinPath(parts[:len(parts)-1]) }
