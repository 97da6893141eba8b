package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRunComesUp runs the script behind `make run` on an empty data
// directory: within a minute `hdfs dfs -ls /` answers and the four
// DataNodes sit on two racks; Ctrl-C (SIGINT) stops every process; a
// second run reuses the data.
func TestMakeRunComesUp(t *testing.T) {
	data := t.TempDir()
	port := FreePort(t, "127.0.0.1")
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command("../scripts/run-cluster.sh")
		cmd.Env = append(os.Environ(), "AVATARFS_DATA="+data, fmt.Sprintf("NN_PORT=%d", port), "HDFS_BIN="+Binary)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	hdfs := func(args ...string) (string, error) {
		c := exec.Command(Binary, args...)
		c.Env = append(os.Environ(), "HADOOP_CONF_DIR="+filepath.Join(data, "conf"))
		b, err := c.CombinedOutput()
		return string(b), err
	}
	var out *bytes.Buffer
	stop := func(cmd *exec.Cmd) {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		began := time.Now()
		select {
		case <-done:
			if strings.Contains(out.String(), "did not stop") {
				t.Logf("a process needed SIGKILL:\n%s", out.String())
			}
			t.Logf("stopped %s after Ctrl-C", time.Since(began).Round(time.Millisecond))
		case <-time.After(60 * time.Second):
			ps, _ := exec.Command("sh", "-c", "ps -o pid,stat,args -g "+fmt.Sprint(cmd.Process.Pid)).CombinedOutput()
			logs, _ := exec.Command("sh", "-c", "tail -n 20 "+filepath.Join(data, "logs")+"/*").CombinedOutput()
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("make run did not stop on Ctrl-C within 60s\nprocesses:\n%s\nscript:\n%s\nlogs:\n%s", ps, out.String(), logs)
		}
	}
	cmd, out0 := start()
	out = out0
	began := time.Now()
	for {
		if o, err := hdfs("dfs", "-ls", "/"); err == nil {
			t.Logf("hdfs dfs -ls / answered after %s: %q", time.Since(began).Round(time.Millisecond), o)
			break
		}
		if time.Since(began) > time.Minute {
			stop(cmd)
			t.Fatalf("no answer to hdfs dfs -ls / within a minute\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		topo, _ := hdfs("dfsadmin", "-printTopology")
		if strings.Count(topo, "\n   127.0.0.") == 4 && strings.Contains(topo, "Rack: /dc1/rack1") && strings.Contains(topo, "Rack: /dc1/rack2") {
			break
		}
		if time.Now().After(deadline) {
			stop(cmd)
			logs, _ := exec.Command("sh", "-c", "tail -n 5 "+filepath.Join(data, "logs")+"/*").CombinedOutput()
			t.Fatalf("four DataNodes on two racks not seen (%d):\n%q\n%s", strings.Count(topo, "\n   127.0.0."), topo, logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if o, err := hdfs("dfs", "-mkdir", "-p", "/kept"); err != nil {
		t.Fatalf("mkdir: %v %s", err, o)
	}
	stop(cmd)
	if o, _ := exec.Command("pgrep", "-f", data).CombinedOutput(); len(bytes.TrimSpace(o)) > 0 {
		t.Fatalf("processes left after Ctrl-C: %s", o)
	}
	// A second run reuses the data.
	cmd, out = start()
	defer stop(cmd)
	began = time.Now()
	for {
		if o, err := hdfs("dfs", "-test", "-d", "/kept"); err == nil {
			return
		} else if time.Since(began) > time.Minute {
			t.Fatalf("second run lost /kept: %v %s\n%s", err, o, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
