// Package client is AvatarFS's file-system client. It speaks to the
// NameNode over Hadoop RPC for every namespace operation, so errors carry
// the NameNode's exception class and message unchanged (what Hadoop's
// shell prints), and it wraps the stock Go client github.com/colinmarc/hdfs
// for the data path (reading and writing blocks on DataNodes).
//
// Paths given to Client methods are absolute paths on the file system
// ("/user/alice/x"); Abs resolves what a user typed (relative paths,
// hdfs://authority/path URIs) to one.
package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/internal/ipc"
	hdfs "github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"
)

// ClientProtocol is the RPC protocol name of the NameNode's client protocol.
const ClientProtocol = "org.apache.hadoop.hdfs.protocol.ClientProtocol"

// Hadoop exception classes the client looks at.
const (
	ExFileNotFound      = "java.io.FileNotFoundException"
	ExFileAlreadyExists = "org.apache.hadoop.fs.FileAlreadyExistsException"
	ExAccessControl     = "org.apache.hadoop.security.AccessControlException"
	ExParentNotDir      = "org.apache.hadoop.fs.ParentNotDirectoryException"
	ExNotEmptyDir       = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"
	exStandby           = "org.apache.hadoop.ipc.StandbyException"
	exRetriable         = "org.apache.hadoop.ipc.RetriableException"
)

// Client is a connection to one file system (fs.defaultFS). It is safe for
// concurrent use.
type Client struct {
	conf      *conf.Config
	addrs     []string
	user      string
	umask     uint16
	defaultFS string
	name      string

	mu  sync.Mutex
	nn  *ipc.Client
	cur int

	hc *hdfs.Client
	sc *shortCircuit
	// bufs keeps packet buffers from one writer to the next.
	bufs bufPool
}

// UserName is the user a client acts as under simple authentication:
// $HADOOP_USER_NAME, else the OS user.
func UserName() string {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "nobody"
}

// New connects to the NameNode(s) of c's fs.defaultFS, which must be an
// hdfs:// URI, as UserName(). A NameNode that cannot be reached gives a
// *ConnectError, whose message is Hadoop's one line naming the address.
func New(c *conf.Config) (*Client, error) {
	if u, err := url.Parse(c.DefaultFS()); err == nil && u.Scheme != "hdfs" {
		return nil, fmt.Errorf("No FileSystem for scheme \"%s\"", u.Scheme)
	}
	addrs, err := c.NameNodeRPCAddresses()
	if err != nil {
		return nil, err
	}
	umask, err := Umask(c)
	if err != nil {
		return nil, err
	}
	cl := &Client{
		conf:      c,
		addrs:     addrs,
		user:      UserName(),
		umask:     umask,
		defaultFS: defaultFS(c),
		name:      clientName(),
		sc:        newShortCircuit(c),
	}
	if err := cl.connect(0); err != nil {
		return nil, err
	}
	ordered := append(append([]string{}, addrs[cl.cur:]...), addrs[:cl.cur]...)
	hc, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses:           ordered,
		User:                cl.user,
		UseDatanodeHostname: c.Bool("dfs.client.use.datanode.hostname"),
		NamenodeDialFunc:    (&net.Dialer{Timeout: cl.connectTimeout()}).DialContext,
	})
	if err != nil {
		cl.nn.Close()
		return nil, &ConnectError{Addr: ordered[0], Err: err}
	}
	cl.hc = hc
	return cl, nil
}

// defaultFS is fs.defaultFS as a file system URI without a trailing slash
// ("hdfs://127.0.0.1:8020").
func defaultFS(c *conf.Config) string {
	fs := c.DefaultFS()
	if u, err := url.Parse(fs); err == nil && u.Scheme != "" {
		return u.Scheme + "://" + u.Host
	}
	return strings.TrimRight(fs, "/")
}

// clientName is a DFSClient name in Hadoop's form, the lease holder of the
// files this client creates.
func clientName() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("DFSClient_NONMAPREDUCE_%d_1", int32(binary.BigEndian.Uint32(b[:4]))&0x7fffffff)
}

func (c *Client) connectTimeout() time.Duration {
	d := c.conf.Duration("ipc.client.connect.timeout")
	if d <= 0 {
		d = 20 * time.Second
	}
	return d
}

// connect dials the NameNodes in order starting at from and keeps the first
// that answers.
func (c *Client) connect(from int) error {
	var first error
	for i := 0; i < len(c.addrs); i++ {
		idx := (from + i) % len(c.addrs)
		a := c.addrs[idx]
		ctx, cancel := context.WithTimeout(context.Background(), c.connectTimeout())
		nn, err := ipc.Dial(ctx, a, ipc.ClientOptions{User: c.user, Protocol: ClientProtocol, DialTimeout: c.connectTimeout()})
		cancel()
		if err == nil {
			c.nn, c.cur = nn, idx
			return nil
		}
		if first == nil {
			first = &ConnectError{Addr: a, Err: err}
		}
	}
	return first
}

// Close closes the client's connections.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hc != nil {
		c.hc.Close()
	}
	if c.nn != nil {
		return c.nn.Close()
	}
	return nil
}

// Hadoop returns the colinmarc/hdfs client used for the data path.
func (c *Client) Hadoop() *hdfs.Client { return c.hc }

// Conf returns the configuration the client was made from.
func (c *Client) Conf() *conf.Config { return c.conf }

// User returns the user the client acts as.
func (c *Client) User() string { return c.user }

// Name returns the client name this client holds leases under.
func (c *Client) Name() string { return c.name }

// Home returns the user's home directory, /user/<name>; relative paths are
// resolved against it.
func (c *Client) Home() string { return "/user/" + c.user }

// DefaultFS returns the file system URI, e.g. "hdfs://127.0.0.1:8020".
func (c *Client) DefaultFS() string { return c.defaultFS }

// Qualify returns the fully qualified form of absolute path p
// ("hdfs://127.0.0.1:8020/user/alice/x").
func (c *Client) Qualify(p string) string { return c.defaultFS + p }

// Umask returns the umask applied to new files and directories.
func (c *Client) Umask() uint16 { return c.umask }

// FileMode is the permission of a new file: 0666 less the umask.
func (c *Client) FileMode() uint16 { return 0o666 &^ c.umask }

// DirMode is the permission of a new directory: 0777 less the umask.
func (c *Client) DirMode() uint16 { return 0o777 &^ c.umask }

// Abs resolves p as Hadoop resolves a path against this file system; see
// ResolvePath.
func (c *Client) Abs(p string) (string, error) { return ResolvePath(c.defaultFS, c.Home(), p) }

// ResolvePath resolves p against file system fsURI ("hdfs://host:port")
// with working directory home: hdfs://authority/path must name this file
// system, /path is taken as is, and anything else is relative to home. The
// result has no duplicate or trailing slashes; "." and ".." are resolved in
// relative paths.
func ResolvePath(fsURI, home, p string) (string, error) {
	if scheme, rest, ok := splitScheme(p); ok {
		auth, pth := "", rest
		if strings.HasPrefix(rest, "//") {
			auth, pth, _ = strings.Cut(rest[2:], "/")
			pth = "/" + pth
		}
		if scheme != "hdfs" || (auth != "" && scheme+"://"+auth != fsURI) {
			return "", fmt.Errorf("Wrong FS: %s, expected: %s", p, fsURI)
		}
		p = pth
	}
	if !strings.HasPrefix(p, "/") {
		return CleanRelative(home, p), nil
	}
	return CleanSlashes(p), nil
}

// splitScheme splits "scheme:rest" when p starts with a URI scheme followed
// by a slash, as Hadoop's Path does.
func splitScheme(p string) (scheme, rest string, ok bool) {
	i := strings.Index(p, ":")
	if i <= 0 || i+1 >= len(p) || p[i+1] != '/' {
		return "", "", false
	}
	for j, r := range p[:i] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || j > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(p[:i]), p[i+1:], true
}

// CleanSlashes removes duplicate and trailing slashes, as Hadoop's Path
// normalises; "." and ".." are left for the NameNode to refuse.
func CleanSlashes(p string) string {
	var b strings.Builder
	prev := byte(0)
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && prev == '/' {
			continue
		}
		b.WriteByte(p[i])
		prev = p[i]
	}
	s := b.String()
	if len(s) > 1 {
		s = strings.TrimSuffix(s, "/")
	}
	return s
}

// CleanRelative resolves relative path rel against absolute directory dir,
// resolving "." and ".." as URI resolution does.
func CleanRelative(dir, rel string) string {
	parts := strings.Split(strings.TrimPrefix(dir, "/"), "/")
	if dir == "/" {
		parts = nil
	}
	for _, e := range strings.Split(rel, "/") {
		switch e {
		case "", ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, e)
		}
	}
	return "/" + strings.Join(parts, "/")
}

// RemoteError is an exception the NameNode answered with.
type RemoteError struct {
	Class   string // Java class, e.g. java.io.FileNotFoundException
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Is makes errors.Is(err, os.ErrNotExist), os.ErrExist and os.ErrPermission
// work for the matching Hadoop exceptions.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case os.ErrNotExist:
		return e.Class == ExFileNotFound
	case os.ErrExist:
		return e.Class == ExFileAlreadyExists
	case os.ErrPermission:
		return e.Class == ExAccessControl
	}
	return false
}

// IsClass reports whether err is a RemoteError of the given class.
func IsClass(err error, class string) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.Class == class
}

// ConnectError is a NameNode that could not be reached. Its message is
// Hadoop's: "Call From <host> to <addr> failed on connection exception:
// java.net.ConnectException: Connection refused; For more details see: ...".
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Unwrap() error { return e.Err }

func (e *ConnectError) Error() string {
	host, _ := os.Hostname()
	var dnsErr *net.DNSError
	switch {
	case errors.As(e.Err, &dnsErr):
		return "java.net.UnknownHostException: " + dnsErr.Name
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("Call From %s to %s failed on connection exception: java.net.ConnectException: Connection refused; For more details see:  http://wiki.apache.org/hadoop/ConnectionRefused", host, e.Addr)
	case isTimeout(e.Err):
		return fmt.Sprintf("Call From %s to %s failed on socket timeout exception: org.apache.hadoop.net.ConnectTimeoutException: connect timed out; For more details see:  http://wiki.apache.org/hadoop/SocketTimeout", host, e.Addr)
	case errors.Is(e.Err, syscall.EHOSTUNREACH) || errors.Is(e.Err, syscall.ENETUNREACH):
		return fmt.Sprintf("Call From %s to %s failed on connection exception: java.net.NoRouteToHostException: No route to host; For more details see:  http://wiki.apache.org/hadoop/NoRouteToHost", host, e.Addr)
	}
	msg := e.Err.Error()
	var oe *net.OpError
	if errors.As(e.Err, &oe) && oe.Err != nil {
		msg = oe.Err.Error()
	}
	return fmt.Sprintf("Call From %s to %s failed on connection exception: java.io.IOException: %s", host, e.Addr, msg)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// call makes one RPC to the active NameNode: a StandbyException or a broken
// connection moves to the next NameNode, a RetriableException is retried
// after a pause. Remote exceptions are returned as *RemoteError.
func (c *Client) call(method string, req, resp proto.Message) error {
	var err error
	for attempt := 0; attempt < 2*len(c.addrs)+8; attempt++ {
		c.mu.Lock()
		nn, cur := c.nn, c.cur
		c.mu.Unlock()
		if nn == nil {
			c.mu.Lock()
			if c.nn == nil {
				err = c.connect(cur)
			}
			nn = c.nn
			c.mu.Unlock()
			if nn == nil {
				return err
			}
		}
		err = nn.Call(context.Background(), method, req, resp)
		var ie *ipc.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ie) && ie.Class == exStandby && len(c.addrs) > 1:
			c.dropConn(nn, cur+1)
			continue
		case errors.As(err, &ie) && ie.Class == exRetriable:
			time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
			continue
		case errors.As(err, &ie):
			return &RemoteError{Class: ie.Class, Message: ie.Message}
		case attempt == 0 && isIdempotent(method):
			// The connection broke (e.g. the NameNode closed an idle
			// connection): reconnect once and retry a call that is safe to
			// repeat.
			c.dropConn(nn, cur)
			continue
		default:
			return &ConnectError{Addr: c.addrs[cur], Err: err}
		}
	}
	return err
}

// dropConn forgets a failed connection; the next call connects starting at
// NameNode index next.
func (c *Client) dropConn(nn *ipc.Client, next int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nn == nn {
		nn.Close()
		c.nn = nil
		c.cur = next % len(c.addrs)
	}
}

func isIdempotent(method string) bool {
	switch method {
	case "getFileInfo", "getListing", "getContentSummary", "getFsStats", "getServerDefaults",
		"getXAttrs", "listXAttrs", "getBlockLocations", "getDatanodeReport", "setPermission",
		"setOwner", "setTimes", "setReplication", "mkdirs":
		return true
	}
	return false
}
