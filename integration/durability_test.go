package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashDuringConcurrentCreates kills -9 the NameNode while several
// clients create files; after restart every acknowledged create exists
// and nothing exists that was never asked for beyond each client's one
// call in flight.
func TestCrashDuringConcurrentCreates(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	c.Client(currentUserName()).MkdirAll("/crash", 0o755)
	const clients = 8
	acked := make([][]string, clients)
	inflight := make([]string, clients)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for k := 0; k < clients; k++ {
		cl := c.Client(currentUserName())
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := fmt.Sprintf("/crash/c%d-f%d", k, i)
				inflight[k] = p
				if err := cl.CreateEmptyFile(p); err != nil {
					return
				}
				acked[k] = append(acked[k], p)
			}
		}(k)
	}
	time.Sleep(1500 * time.Millisecond)
	c.Kill()
	close(stop)
	wg.Wait()
	total := 0
	for _, a := range acked {
		total += len(a)
	}
	if total == 0 {
		t.Fatal("no create was acknowledged before the crash")
	}
	c.Start()
	cl := c.Client(currentUserName())
	list, err := cl.ReadDir("/crash")
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, fi := range list {
		exists["/crash/"+fi.Name()] = true
	}
	for k := range acked {
		for _, p := range acked[k] {
			if !exists[p] {
				t.Fatalf("acknowledged create %s lost in the crash (%d acknowledged in all)", p, total)
			}
		}
	}
	allowed := map[string]bool{}
	for k := range acked {
		for _, p := range acked[k] {
			allowed[p] = true
		}
		allowed[inflight[k]] = true
	}
	for p := range exists {
		if !allowed[p] {
			t.Fatalf("%s exists but was never created", p)
		}
	}
	t.Logf("%d creates acknowledged before kill -9, all present after restart", total)
}

func inProgressSegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "edits_inprogress_*"))
	if len(m) != 1 {
		t.Fatalf("in-progress segments in %s: %v", dir, m)
	}
	return m[0]
}

// TestTornEditTailRecovers cuts the last edit record short, as a crash in
// the middle of an append would: the NameNode starts and has every
// earlier change.
func TestTornEditTailRecovers(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	cl := c.Client(currentUserName())
	for i := 0; i < 20; i++ {
		if err := cl.Mkdir(fmt.Sprintf("/t%02d", i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill()
	seg := inProgressSegment(t, c.NameDir())
	fi, _ := os.Stat(seg)
	if err := os.Truncate(seg, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	c.Start()
	cl = c.Client(currentUserName())
	for i := 0; i < 19; i++ {
		if _, err := cl.Stat(fmt.Sprintf("/t%02d", i)); err != nil {
			t.Fatalf("/t%02d after torn-tail recovery: %v", i, err)
		}
	}
	if _, err := cl.Stat("/t19"); !os.IsNotExist(err) {
		t.Fatalf("the torn last record came back: %v", err)
	}
	if err := cl.Mkdir("/after", 0o755); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
}

// TestCorruptMiddleRecordStopsStartup flips a byte inside an edit record
// that has records after it: start-up refuses, naming the file and txid;
// `hdfs namenode -recover -force` skips it and the NameNode starts.
func TestCorruptMiddleRecordStopsStartup(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	cl := c.Client(currentUserName())
	for i := 0; i < 10; i++ {
		cl.Mkdir(fmt.Sprintf("/m%d", i), 0o755)
	}
	c.Stop()
	seg := inProgressSegment(t, c.NameDir())
	data, _ := os.ReadFile(seg)
	data[len(data)/2] ^= 0xff
	os.WriteFile(seg, data, 0o644)
	out, code := c.RunCode("namenode")
	if code == 0 || !strings.Contains(out, "txid") || !strings.Contains(out, filepath.Base(seg)) {
		t.Fatalf("start on a corrupt log: exit %d\n%s", code, out)
	}
	out, code = c.RunCode("namenode", "-recover", "-force")
	if code != 0 {
		t.Fatalf("namenode -recover -force: exit %d\n%s", code, out)
	}
	c.Start()
	cl = c.Client(currentUserName())
	if _, err := cl.Stat("/m0"); err != nil {
		t.Fatalf("/m0 after recovery: %v", err)
	}
}

// TestCheckpointsAndRestartFromImagePlusTail sets a small
// dfs.namenode.checkpoint.txns: images appear, at most the retained number
// stay, and a restart from the newest image plus the edits after it gives
// the same namespace.
func TestCheckpointsAndRestartFromImagePlusTail(t *testing.T) {
	c := NewCluster(t, map[string]string{
		"dfs.namenode.checkpoint.txns":          "100",
		"dfs.namenode.checkpoint.check.period":  "1",
		"dfs.namenode.num.extra.edits.retained": "0",
		"dfs.namenode.num.checkpoints.retained": "2",
	})
	c.Start()
	cl := c.Client(currentUserName())
	for round := 0; round < 4; round++ {
		for i := 0; i < 120; i++ {
			if err := cl.MkdirAll(fmt.Sprintf("/ck/r%d/d%03d", round, i), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(1500 * time.Millisecond)
	}
	cl.CreateEmptyFile("/ck/tail-file")
	deadline := time.Now().Add(20 * time.Second)
	var imgs []string
	for time.Now().Before(deadline) {
		imgs = imagesIn(c.NameDir())
		if len(imgs) >= 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(imgs) < 2 || len(imgs) > 2 {
		t.Fatalf("images after checkpoints: %v (want exactly the 2 retained)\n%s", imgs, c.NNLog())
	}
	if old, _ := filepath.Glob(filepath.Join(c.NameDir(), "edits_0000000000000000001-*")); len(old) != 0 {
		t.Fatalf("edits covered by the retained images were not purged: %v", old)
	}
	before := fullListing(t, cl)
	c.Kill()
	c.Start()
	after := fullListing(t, c.Client(currentUserName()))
	if before != after {
		t.Fatalf("namespace differs after restart from image + edits")
	}
	if !strings.Contains(c.NNLog(), "fsimage loaded") {
		t.Fatal("restart did not load an image")
	}
}

func TestSafeModeAndSaveNamespace(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	cl := c.Client(currentUserName())
	cl.MkdirAll("/s/a", 0o755)
	if out := c.Run("dfsadmin", "-safemode", "get"); strings.TrimSpace(out) != "Safe mode is OFF" {
		t.Fatalf("safemode get: %q", out)
	}
	out, code := c.RunCode("dfsadmin", "-saveNamespace")
	if code != 255 || !strings.Contains(out, "Safe mode should be turned ON") {
		t.Fatalf("saveNamespace outside safe mode: %d %q", code, out)
	}
	if out := c.Run("dfsadmin", "-safemode", "enter"); strings.TrimSpace(out) != "Safe mode is ON" {
		t.Fatalf("safemode enter: %q", out)
	}
	if err := cl.Mkdir("/s/b", 0o755); exceptionOf(err) != "org.apache.hadoop.hdfs.server.namenode.SafeModeException" {
		t.Fatalf("mkdir in safe mode: %v", err)
	}
	if out := c.Run("dfsadmin", "-saveNamespace"); strings.TrimSpace(out) != "Save namespace successful" {
		t.Fatalf("saveNamespace: %q", out)
	}
	c.Run("dfsadmin", "-safemode", "leave")
	if err := cl.Mkdir("/s/b", 0o755); err != nil {
		t.Fatal(err)
	}
	out, code = c.RunCode("dfsadmin", "-safemode", "sideways")
	if code != 255 {
		t.Fatalf("bad safemode action: exit %d %q", code, out)
	}
}

func TestStorageDirectoryGuards(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	// A second NameNode on the same directory is refused by the lock.
	out, code := c.RunCode("namenode", "-D", "fs.defaultFS=hdfs://127.0.0.1:1")
	if code == 0 || !strings.Contains(out, "already locked") {
		t.Fatalf("second NameNode on a locked dir: exit %d\n%s", code, out)
	}
	c.Stop()
	// An unformatted directory is refused with a clear message.
	empty := t.TempDir()
	out, code = c.RunCode("namenode", "-D", "dfs.namenode.name.dir="+empty)
	if code == 0 || !strings.Contains(out, "not formatted") {
		t.Fatalf("start on an unformatted dir: exit %d\n%s", code, out)
	}
	// -format -nonInteractive refuses to wipe an existing file system.
	out, code = c.RunCode("namenode", "-format", "-nonInteractive")
	if code == 0 || !strings.Contains(out, "Not formatting") {
		t.Fatalf("format over data: exit %d\n%s", code, out)
	}
}

// imagesIn lists fsimage files (not their .md5 side files) in dir.
func imagesIn(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "fsimage_*"))
	var out []string
	for _, p := range m {
		if !strings.HasSuffix(p, ".md5") {
			out = append(out, p)
		}
	}
	return out
}
