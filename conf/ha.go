package conf

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// DefaultNameNodePort is the NameNode RPC port used when an address or an
// hdfs:// URI gives none.
const DefaultNameNodePort = "8020"

// SuffixedKey joins key and the non-empty suffixes with dots, as Hadoop's
// DFSUtil.addKeySuffixes: SuffixedKey("dfs.namenode.rpc-address", "ns1",
// "nn0") is "dfs.namenode.rpc-address.ns1.nn0".
func SuffixedKey(key string, suffixes ...string) string {
	for _, s := range suffixes {
		if s != "" {
			key += "." + s
		}
	}
	return key
}

// NameServices returns the nameservice IDs in dfs.nameservices.
func (c *Config) NameServices() []string { return c.Strings("dfs.nameservices") }

// NameNodeIDs returns the NameNode IDs of nameservice ns, from
// dfs.ha.namenodes.<ns>.
func (c *Config) NameNodeIDs(ns string) []string {
	return c.Strings(SuffixedKey("dfs.ha.namenodes", ns))
}

// NameNodeRPCAddress returns dfs.namenode.rpc-address.<ns>.<nnID> (empty
// parts left out: nnID "" reads dfs.namenode.rpc-address.<ns>), as
// written; ok is false when it is unset or empty.
func (c *Config) NameNodeRPCAddress(ns, nnID string) (string, bool) {
	v := c.String(SuffixedKey("dfs.namenode.rpc-address", ns, nnID))
	return v, v != ""
}

// NameNodeHTTPAddress returns dfs.namenode.http-address.<ns>.<nnID> (empty
// parts left out), falling back to dfs.namenode.http-address; ok is false
// when neither is set.
func (c *Config) NameNodeHTTPAddress(ns, nnID string) (string, bool) {
	if v := c.String(SuffixedKey("dfs.namenode.http-address", ns, nnID)); v != "" {
		return v, true
	}
	v := c.String("dfs.namenode.http-address")
	return v, v != ""
}

// DefaultFS returns fs.defaultFS normalised as Hadoop's FileSystem does:
// "local" or "" is file:///, and a name without a slash ("host:port", a
// Hadoop 1 habit) gets hdfs:// in front.
func (c *Config) DefaultFS() string {
	fs := c.String("fs.defaultFS")
	switch {
	case fs == "" || fs == "local":
		return "file:///"
	case !strings.Contains(fs, "/"):
		return "hdfs://" + fs
	}
	return fs
}

// IsNameService reports whether id names a logical (HA) nameservice: it is
// listed in dfs.nameservices, or has dfs.ha.namenodes.<id> or a
// dfs.client.failover.proxy.provider.<id>.
func (c *Config) IsNameService(id string) bool {
	if id == "" {
		return false
	}
	return slices.Contains(c.NameServices(), id) || len(c.NameNodeIDs(id)) > 0 ||
		c.String("dfs.client.failover.proxy.provider."+id) != ""
}

// NameServiceRPCAddresses returns the RPC addresses (host:port, port 8020
// when none is given) of nameservice ns's NameNodes, in the order of
// dfs.ha.namenodes.<ns>; for a nameservice without HA NameNode IDs,
// dfs.namenode.rpc-address.<ns>. NameNodes without an address are skipped;
// none at all is an error.
func (c *Config) NameServiceRPCAddresses(ns string) ([]string, error) {
	var addrs []string
	ids := c.NameNodeIDs(ns)
	for _, id := range ids {
		if a, ok := c.NameNodeRPCAddress(ns, id); ok {
			addrs = append(addrs, WithDefaultPort(a, DefaultNameNodePort))
		}
	}
	if len(ids) == 0 {
		if a, ok := c.NameNodeRPCAddress(ns, ""); ok {
			addrs = append(addrs, WithDefaultPort(a, DefaultNameNodePort))
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("conf: nameservice %q: no NameNode RPC address (set dfs.ha.namenodes.%s and dfs.namenode.rpc-address.%s.<nnid>)", ns, ns, ns)
	}
	return addrs, nil
}

// NameNodeRPCAddresses returns the NameNode RPC addresses a client should
// try, in order. For fs.defaultFS hdfs://<ns> where ns is a nameservice:
// its NameNodes' addresses; for hdfs://host[:port]: host:port (port 8020
// by default). For any other fs.defaultFS (file:/// by default):
// dfs.namenode.rpc-address when set, else the NameNodes of the only
// nameservice in dfs.nameservices. It is an error when none resolves.
func (c *Config) NameNodeRPCAddresses() ([]string, error) {
	fs := c.DefaultFS()
	u, err := url.Parse(fs)
	if err != nil {
		return nil, fmt.Errorf("conf: fs.defaultFS %q: %v", fs, err)
	}
	if u.Scheme == "hdfs" {
		host := u.Hostname()
		if host == "" {
			return nil, fmt.Errorf("conf: fs.defaultFS %q: no NameNode host", fs)
		}
		if c.IsNameService(host) {
			if u.Port() != "" {
				return nil, fmt.Errorf("conf: fs.defaultFS %q: port given for nameservice %s, which is logical (HA)", fs, host)
			}
			return c.NameServiceRPCAddresses(host)
		}
		port := u.Port()
		if port == "" {
			port = DefaultNameNodePort
		}
		return []string{net.JoinHostPort(host, port)}, nil
	}
	if a, ok := c.NameNodeRPCAddress("", ""); ok {
		return []string{WithDefaultPort(a, DefaultNameNodePort)}, nil
	}
	if ns := c.NameServices(); len(ns) == 1 {
		return c.NameServiceRPCAddresses(ns[0])
	}
	return nil, fmt.Errorf("conf: no NameNode address: fs.defaultFS is %q, not hdfs://, and dfs.namenode.rpc-address is not set", fs)
}

// WithDefaultPort returns addr as host:port, adding port when addr has none.
// It accepts host, host:port, [v6], [v6]:port, a bare IPv6 address and
// scheme://host[:port] URIs.
func WithDefaultPort(addr, port string) string {
	addr = strings.TrimSpace(addr)
	if strings.Contains(addr, "://") {
		if u, err := url.Parse(addr); err == nil && u.Host != "" {
			addr = u.Host
		}
	}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if p == "" {
			return net.JoinHostPort(h, port)
		}
		return addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	return net.JoinHostPort(host, port)
}
