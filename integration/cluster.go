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

// BuildBinary compiles cmd/hdfs into dir and returns its path.
func BuildBinary(dir string) (string, error) {
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

// Cluster is a mini cluster: for now one NameNode process. Its
// configuration directory is written from Conf, so the processes read it
// exactly as an operator's would.
type Cluster struct {
	t       testing.TB
	Dir     string
	ConfDir string
	NNAddr  string
	Conf    map[string]string

	mu     sync.Mutex
	nn     *exec.Cmd
	nnLog  *os.File
	nnDone chan struct{}
}

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
	logf, err := os.OpenFile(filepath.Join(c.Dir, "namenode.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(Binary, "--config", c.ConfDir, "namenode")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.nn, c.nnLog, c.nnDone = cmd, logf, done
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			c.nn = nil
			c.t.Fatalf("NameNode exited at start-up:\n%s", c.NNLog())
		default:
		}
		if conn, err := net.DialTimeout("tcp", c.NNAddr, time.Second); err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("NameNode did not listen on %s within 60s:\n%s", c.NNAddr, c.NNLog())
}

// NNLog returns the NameNode's log so far.
func (c *Cluster) NNLog() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "namenode.log"))
	return string(b)
}

func (c *Cluster) signal(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nn == nil {
		return
	}
	c.nn.Process.Signal(sig)
	select {
	case <-c.nnDone:
	case <-time.After(30 * time.Second):
		c.nn.Process.Kill()
		<-c.nnDone
	}
	c.nnLog.Close()
	c.nn = nil
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
