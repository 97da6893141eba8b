package conf

import (
	"strconv"
	"strings"
)

// DomainSocketPath is dfs.domain.socket.path for the DataNode whose
// transfer port is port: Hadoop replaces every "_PORT" in the path with
// it, so DataNodes of one host can share one configuration.
func DomainSocketPath(path string, port int) string {
	return strings.ReplaceAll(path, "_PORT", strconv.Itoa(port))
}
