package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	core := writeFile(t, dir, "core-site.xml", siteXML(
		prop{name: "k.core", value: "core"},
		prop{name: "k.hdfs", value: "core"},
		prop{name: "k.extra", value: "core"},
		prop{name: "k.d", value: "core"},
	))
	hdfs := writeFile(t, dir, "hdfs-site.xml", siteXML(
		prop{name: "k.hdfs", value: "hdfs"},
		prop{name: "k.extra", value: "hdfs"},
		prop{name: "k.d", value: "hdfs"},
	))
	other := t.TempDir()
	x1 := writeFile(t, other, "x1.xml", siteXML(prop{name: "k.extra", value: "x1"}, prop{name: "k.d", value: "x1"}))
	x2 := writeFile(t, other, "x2.xml", siteXML(prop{name: "k.extra", value: "x2"}))
	c := mustLoad(t, dir, []string{x1, x2}, map[string]string{"k.d": "flag"})

	for _, tc := range []struct{ key, want, source string }{
		{"k.core", "core", core},
		{"k.hdfs", "hdfs", hdfs},
		{"k.extra", "x2", x2},
		{"k.d", "flag", SourceOverride},
		{"dfs.replication", "3", SourceDefault},
		{"no.such.key", "", ""},
	} {
		if got := c.String(tc.key); got != tc.want {
			t.Errorf("String(%s) = %q, want %q", tc.key, got, tc.want)
		}
		if got := c.Source(tc.key); got != tc.source {
			t.Errorf("Source(%s) = %q, want %q", tc.key, got, tc.source)
		}
	}
	if _, ok := c.Get("no.such.key"); ok {
		t.Error("Get(no.such.key) ok")
	}
	if _, ok := c.Get("dfs.namenode.rpc-address"); ok {
		t.Error("unset default reported as set")
	}
}

func TestHadoopConfDirEnv(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "hdfs-site.xml", siteXML(prop{name: "dfs.replication", value: "2"}))
	t.Setenv("HADOOP_CONF_DIR", dir)
	if got := mustLoad(t, "", nil, nil).Int("dfs.replication"); got != 2 {
		t.Errorf("replication from $HADOOP_CONF_DIR = %d, want 2", got)
	}
	t.Setenv("HADOOP_CONF_DIR", "")
	if got := mustLoad(t, "", nil, nil).Int("dfs.replication"); got != 3 {
		t.Errorf("replication with no conf dir = %d, want 3", got)
	}
	t.Setenv("HADOOP_CONF_DIR", filepath.Join(dir, "missing"))
	if c := mustLoad(t, "", nil, nil); len(c.Warnings()) == 0 {
		t.Error("no warning for a missing $HADOOP_CONF_DIR")
	}
	if _, err := Load(filepath.Join(dir, "missing"), nil, nil); err == nil {
		t.Error("missing explicit dir: no error")
	}
	// An empty directory is fine: the site files are optional.
	if got := mustLoad(t, t.TempDir(), nil, nil).String("fs.defaultFS"); got != "file:///" {
		t.Errorf("fs.defaultFS = %q", got)
	}
}

func TestFinal(t *testing.T) {
	dir := t.TempDir()
	core := writeFile(t, dir, "core-site.xml", siteXML(
		prop{name: "dfs.replication", value: "2", final: true},
		prop{name: "plain", value: "core"},
	))
	writeFile(t, dir, "hdfs-site.xml", siteXML(
		prop{name: "dfs.replication", value: "5"},
		prop{name: "plain", value: "hdfs", final: true},
	))
	extra := writeFile(t, t.TempDir(), "extra.xml", siteXML(prop{name: "plain", value: "extra"}))
	c := mustLoad(t, dir, []string{extra}, map[string]string{"dfs.replication": "7", "plain": "flag"})
	if got := c.Int("dfs.replication"); got != 2 {
		t.Errorf("final dfs.replication = %d, want 2", got)
	}
	if got := c.Source("dfs.replication"); got != core {
		t.Errorf("source = %q, want %q", got, core)
	}
	if got := c.String("plain"); got != "hdfs" {
		t.Errorf("plain = %q, want hdfs", got)
	}
	if !c.IsFinal("plain") || c.IsFinal("dfs.blocksize") {
		t.Error("IsFinal wrong")
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "final") || !strings.Contains(w, "dfs.replication") {
		t.Errorf("warnings %q do not mention the final override", w)
	}
	// Set is the program's own decision and wins, as Hadoop's set().
	c.Set("dfs.replication", "4")
	if got := c.Int("dfs.replication"); got != 4 || c.Source("dfs.replication") != SourceProgrammatic {
		t.Errorf("after Set: %d from %q", got, c.Source("dfs.replication"))
	}
	c.Unset("dfs.replication")
	if got := c.Int("dfs.replication"); got != 3 {
		t.Errorf("after Unset: %d, want default 3", got)
	}
}

func TestExpansion(t *testing.T) {
	u, _ := currentUser()
	t.Setenv("CONF_TEST_ENV", "envval")
	t.Setenv("CONF_TEST_EMPTY", "")
	c := New()
	for k, v := range map[string]string{
		"a":              "${a}",
		"cyc1":           "${cyc2}",
		"cyc2":           "${cyc1}",
		"self2":          "x${self2}y",
		"base":           "  /data  ",
		"nest.x":         "deep",
		"nest.k":         "x",
		"list":           "${base}/1, ${base}/2",
		"mixed":          "${missing.key}/${base}",
		"envs":           "${env.CONF_TEST_ENV}|${env.CONF_TEST_UNSET_XYZ}|${env.CONF_TEST_UNSET_XYZ:-d1}|${env.CONF_TEST_EMPTY:-d2}|${env.CONF_TEST_EMPTY-d3}|${env.CONF_TEST_UNSET_XYZ-d4}",
		"nested":         "${nest.${nest.k}}",
		"user":           "${user.name}",
		"notvar":         "${} ${a b} $x {y}",
		"chain1":         "${chain2}+",
		"chain2":         "${chain3}+",
		"chain3":         "end",
		"hadoop.tmp.dir": "/tmp/hadoop-${user.name}",
	} {
		c.Set(k, v)
	}
	for _, tc := range []struct{ key, want string }{
		{"a", "${a}"},
		{"self2", "x${self2}y"},
		{"list", "/data/1, /data/2"},
		{"mixed", "${missing.key}//data"},
		{"envs", "envval|${env.CONF_TEST_UNSET_XYZ}|d1|d2||d4"},
		{"nested", "deep"},
		{"user", u},
		{"notvar", "${} ${a b} $x {y}"},
		{"chain1", "end++"},
		{"dfs.namenode.name.dir", "file:///tmp/hadoop-" + u + "/dfs/name"},
		{"dfs.namenode.edits.dir", "file:///tmp/hadoop-" + u + "/dfs/name"},
	} {
		if got := c.String(tc.key); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
		}
	}
	// A cycle ends, leaving some reference unexpanded.
	if got := c.String("cyc1"); got != "${cyc1}" && got != "${cyc2}" {
		t.Errorf("cyc1 = %q", got)
	}
	if got := c.Strings("list"); !slices.Equal(got, []string{"/data/1", "/data/2"}) {
		t.Errorf("Strings(list) = %q", got)
	}
	if u == "" {
		t.Error("no current user")
	}
}

func TestExpansionBounded(t *testing.T) {
	c := New()
	// Each level doubles the length: without bounds this would explode.
	for i := range 40 {
		c.Set(fmt.Sprintf("v%d", i), fmt.Sprintf("${v%d}${v%d}", i+1, i+1))
	}
	c.Set("v40", strings.Repeat("x", 1000))
	if got := c.String("v0"); len(got) > maxExpanded {
		t.Errorf("expanded to %d bytes", len(got))
	}
}

func TestStringsAndKeys(t *testing.T) {
	c := New()
	c.Set("l", " a, ,b ,,\n c ,")
	if got := c.Strings("l"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Strings = %q", got)
	}
	if got := c.Strings("unset.key"); got != nil {
		t.Errorf("Strings(unset) = %q", got)
	}
	keys := c.Keys()
	if !slices.IsSorted(keys) || !slices.Contains(keys, "l") || !slices.Contains(keys, "dfs.blocksize") {
		t.Errorf("Keys() = %q", keys)
	}
	if slices.Contains(keys, "dfs.namenode.rpc-address") {
		t.Error("Keys() lists an unset key")
	}
}

func TestDeprecatedKeys(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "core-site.xml", siteXML(prop{name: "fs.default.name", value: "hdfs://old:9000"}))
	writeFile(t, dir, "hdfs-site.xml", siteXML(prop{name: "dfs.block.size", value: "64m"}))
	c := mustLoad(t, dir, nil, map[string]string{"dfs.name.dir": "/nn"})
	if got := c.String("fs.defaultFS"); got != "hdfs://old:9000" {
		t.Errorf("fs.defaultFS = %q", got)
	}
	if got := c.Size("dfs.blocksize"); got != 64<<20 {
		t.Errorf("dfs.blocksize = %d", got)
	}
	if got := c.String("dfs.block.size"); got != "64m" {
		t.Errorf("old name reads %q", got)
	}
	if got := c.String("dfs.namenode.edits.dir"); got != "/nn" {
		t.Errorf("edits dir = %q", got)
	}
	if len(c.Warnings()) == 0 {
		t.Error("no deprecation warnings")
	}
	if CanonicalKey("dfs.data.dir") != "dfs.datanode.data.dir" || CanonicalKey("x") != "x" {
		t.Error("CanonicalKey")
	}
}

func TestClone(t *testing.T) {
	c := New()
	c.Set("a", "1")
	d := c.Clone()
	d.Set("a", "2")
	if c.String("a") != "1" || d.String("a") != "2" {
		t.Error("Clone shares state")
	}
}

func TestConcurrent(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				c.Set(fmt.Sprintf("k%d", i), fmt.Sprint(j))
				_ = c.Int(fmt.Sprintf("k%d", (i+1)%4))
				_ = c.String("dfs.namenode.name.dir")
				_ = c.Keys()
			}
		}()
	}
	wg.Wait()
}

func TestExamplesLoad(t *testing.T) {
	example(t, "core-site.xml")
	c := mustLoad(t, examplesDir, []string{example(t, "hdfs-site-ha.xml")}, nil)
	for _, tc := range []struct{ key, want string }{
		{"fs.defaultFS", "hdfs://127.0.0.1:8020"},
		{"net.topology.script.file.name", "/etc/hadoop/topology.sh"},
		{"dfs.namenode.name.dir", "/var/lib/hdfs/name"},
		{"dfs.namenode.edits.dir", "/var/lib/hdfs/name"},
	} {
		if got := c.String(tc.key); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := c.Strings("dfs.datanode.data.dir"); len(got) != 3 || got[0] != "[SSD]/mnt/ssd0/hdfs" {
		t.Errorf("data dirs = %q", got)
	}
	if c.Duration("ha.zookeeper.session-timeout.ms").Seconds() != 5 || !c.Bool("dfs.ha.automatic-failover.enabled") {
		t.Error("HA example values not read")
	}
	if c.Source("dfs.replication") != filepath.Join(examplesDir, "hdfs-site.xml") {
		t.Errorf("source = %q", c.Source("dfs.replication"))
	}
	if _, err := os.Stat(examplesDir); err != nil {
		t.Fatal(err)
	}
}
