// Package integration holds the end-to-end tests and the one mini-cluster
// harness they share: real processes of the `hdfs` binary on loopback
// addresses, driven with the independent Hadoop client
// github.com/colinmarc/hdfs/v2. Production code never imports it.
package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hdfs "github.com/colinmarc/hdfs/v2"
)

// Binary is the path of the hdfs binary the harness runs; TestMain builds it.
var Binary string

// BuildBinary compiles cmd/hdfs into dir and returns its path, or returns
// AVATARFS_HDFS_BIN when set (a prebuilt binary, to compare two builds).
func BuildBinary(dir string) (string, error) {
	if bin := os.Getenv("AVATARFS_HDFS_BIN"); bin != "" {
		return bin, nil // a prebuilt binary, e.g. to compare two builds
	}
	out := filepath.Join(dir, "hdfs")
	args := []string{"build", "-o", out}
	if os.Getenv("AVATARFS_RACE") != "" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/avatarfs/avatarfs/cmd/hdfs")...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build hdfs: %w", err)
	}
	return out, nil
}

// Cluster is a mini cluster: one NameNode process and DataNode processes. Its
// configuration directory is written from Conf, so the processes read it
// exactly as an operator's would.
type Cluster struct {
	t       testing.TB
	Dir     string
	ConfDir string
	NNAddr  string
	Conf    map[string]string

	mu sync.Mutex
	nn *proc

	DataNodes []*DataNode
}

// DataNode is one DataNode process of the cluster, on its own loopback
// address (127.0.0.x) so racks are real.
type DataNode struct {
	c        *Cluster
	IP       string
	XferPort int
	Dir      string
	p        *proc
}

// proc is one running daemon of the harness.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	logf *os.File
}

// startProc runs the hdfs binary with args, appending its output to
// logPath, and waits until addr accepts connections. A daemon that exits
// or never listens fails the test with its log.
func startProc(t testing.TB, what, logPath, addr string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), logf: logf}
	go func() { cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited at start-up:\n%s", what, b)
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("%s did not listen on %s within 60s:\n%s", what, addr, b)
	return nil
}

// signal sends sig and waits for the process to exit (SIGKILL after 30 s).
func (p *proc) signal(sig syscall.Signal) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.logf.Close()
}

// Addr is the DataNode's transfer address.
func (d *DataNode) Addr() string { return fmt.Sprintf("%s:%d", d.IP, d.XferPort) }

// FreePort finds a free TCP port on ip.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// NewCluster formats a NameNode under a temp dir with conf overriding the
// harness defaults; Start runs it.
func NewCluster(t testing.TB, conf map[string]string) *Cluster {
	t.Helper()
	dir := t.TempDir()
	c := &Cluster{t: t, Dir: dir, ConfDir: filepath.Join(dir, "conf")}
	c.NNAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	c.Conf = map[string]string{
		"fs.defaultFS":                         "hdfs://" + c.NNAddr,
		"dfs.namenode.name.dir":                filepath.Join(dir, "name"),
		"dfs.replication":                      "3",
		"dfs.namenode.checkpoint.check.period": "1s",
		"dfs.permissions.superusergroup":       "supergroup",
	}
	for k, v := range conf {
		c.Conf[k] = v
	}
	c.WriteConf()
	c.Run("namenode", "-format", "-nonInteractive")
	t.Cleanup(c.Stop)
	return c
}

// WriteConf (re)writes core-site.xml and hdfs-site.xml from c.Conf.
func (c *Cluster) WriteConf() {
	os.MkdirAll(c.ConfDir, 0o755)
	keys := make([]string, 0, len(c.Conf))
	for k := range c.Conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<configuration>\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  <property><name>%s</name><value>%s</value></property>\n", k, c.Conf[k])
	}
	b.WriteString("</configuration>\n")
	for _, f := range []string{"core-site.xml", "hdfs-site.xml"} {
		if err := os.WriteFile(filepath.Join(c.ConfDir, f), []byte(b.String()), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
}

// Run runs `hdfs --config <confdir> args...` to completion and returns its
// output; a failure fails the test.
func (c *Cluster) Run(args ...string) string {
	c.t.Helper()
	out, code := c.RunCode(args...)
	if code != 0 {
		c.t.Fatalf("hdfs %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// RunCode runs the binary and returns combined output and exit code.
func (c *Cluster) RunCode(args ...string) (string, int) {
	cmd := exec.Command(Binary, append([]string{"--config", c.ConfDir}, args...)...)
	cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+c.ConfDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("hdfs %v: %v", args, err)
	}
	return out.String(), code
}

// Start runs the NameNode and waits until it answers on its port.
func (c *Cluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nn != nil {
		c.t.Fatal("NameNode already running")
	}
	c.nn = startProc(c.t, "NameNode", filepath.Join(c.Dir, "namenode.log"), c.NNAddr, "--config", c.ConfDir, "namenode")
}

// NNLog returns the NameNode's log so far.
func (c *Cluster) NNLog() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "namenode.log"))
	return string(b)
}

func (c *Cluster) signal(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nn != nil {
		c.nn.signal(sig)
		c.nn = nil
	}
}

// Kill kills the NameNode with SIGKILL (a crash).
func (c *Cluster) Kill() { c.signal(syscall.SIGKILL) }

// Stop stops the NameNode cleanly (SIGTERM).
func (c *Cluster) Stop() { c.signal(syscall.SIGTERM) }

// Restart stops (cleanly) and starts the NameNode.
func (c *Cluster) Restart() {
	c.Stop()
	c.Start()
}

// Client returns a Hadoop client (colinmarc/hdfs) acting as user.
func (c *Cluster) Client(user string) *hdfs.Client {
	c.t.Helper()
	cl, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.NNAddr}, User: user})
	if err != nil {
		c.t.Fatalf("client: %v", err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// NameDir is the NameNode's first storage directory's current/.
func (c *Cluster) NameDir() string {
	return filepath.Join(strings.Split(c.Conf["dfs.namenode.name.dir"], ",")[0], "current")
}

// AddDataNodes creates (without starting) one DataNode per IP.
func (c *Cluster) AddDataNodes(ips ...string) []*DataNode {
	var out []*DataNode
	for _, ip := range ips {
		d := &DataNode{c: c, IP: ip, XferPort: FreePort(c.t, ip), Dir: filepath.Join(c.Dir, "dn-"+ip)}
		c.DataNodes = append(c.DataNodes, d)
		out = append(out, d)
	}
	return out
}

// StartDataNodes adds and starts DataNodes on the given IPs and waits
// until the NameNode counts them live.
func (c *Cluster) StartDataNodes(ips ...string) []*DataNode {
	ds := c.AddDataNodes(ips...)
	for _, d := range ds {
		d.Start()
	}
	return ds
}

// Start runs the DataNode process and waits until its transfer port answers.
func (d *DataNode) Start() {
	t := d.c.t
	t.Helper()
	if d.p != nil {
		t.Fatalf("DataNode %s already running", d.IP)
	}
	ipc := FreePort(t, d.IP)
	d.p = startProc(t, "DataNode "+d.IP, d.Dir+".log", d.Addr(), "--config", d.c.ConfDir, "datanode",
		"-D", "dfs.datanode.address="+d.Addr(),
		"-D", fmt.Sprintf("dfs.datanode.ipc.address=%s:%d", d.IP, ipc),
		"-D", fmt.Sprintf("dfs.datanode.http.address=%s:0", d.IP),
		"-D", "dfs.datanode.data.dir="+d.Dir)
	t.Cleanup(d.Stop)
}

// Log returns the DataNode's log so far.
func (d *DataNode) Log() string {
	b, _ := os.ReadFile(d.Dir + ".log")
	return string(b)
}

func (d *DataNode) signal(sig syscall.Signal) {
	if d.p != nil {
		d.p.signal(sig)
		d.p = nil
	}
}

// Kill kills the DataNode with SIGKILL.
func (d *DataNode) Kill() { d.signal(syscall.SIGKILL) }

// Stop stops the DataNode cleanly.
func (d *DataNode) Stop() { d.signal(syscall.SIGTERM) }

// DataConf is the configuration the data-path tests use: 1 MiB blocks,
// fast heartbeats and dead-node detection, a short redundancy interval.
func DataConf() map[string]string {
	return map[string]string{
		"dfs.blocksize":                                   "1048576",
		"dfs.heartbeat.interval":                          "1",
		"dfs.namenode.heartbeat.recheck-interval":         "1000",
		"dfs.namenode.redundancy.interval.seconds":        "1",
		"dfs.namenode.safemode.extension":                 "0",
		"dfs.namenode.stale.datanode.interval":            "3000",
		"dfs.namenode.reconstruction.pending.timeout-sec": "10",
		"dfs.blockreport.intervalMsec":                    "60000",
	}
}
