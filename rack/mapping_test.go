package rack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// writeScript puts an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func testLogger() (*logrus.Logger, *logtest.Hook) {
	l, h := logtest.NewNullLogger()
	return l, h
}

func warnings(h *logtest.Hook) []*logrus.Entry {
	var out []*logrus.Entry
	for _, e := range h.AllEntries() {
		if e.Level == logrus.WarnLevel {
			out = append(out, e)
		}
	}
	return out
}

func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func TestExampleScript(t *testing.T) {
	dir := t.TempDir()
	body, err := os.ReadFile("testdata/topology.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := writeScript(t, dir, "topology.sh", string(body))
	log, hook := testLogger()
	m, err := NewMapper(MapperConfig{Script: script, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"127.0.0.11", "127.0.0.25", "127.0.0.39", "127.0.0.1", "10.1.2.3", "127.0.0.11"}
	want := []string{"/dc1/rack1", "/dc1/rack2", "/dc1/rack3", DefaultRack, DefaultRack, "/dc1/rack1"}
	got := m.Resolve(hosts)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Resolve = %v, want %v", got, want)
	}
	if w := warnings(hook); len(w) != 0 {
		t.Fatalf("unexpected warnings: %v", w[0].Data)
	}
	if got := m.Resolve(nil); len(got) != 0 {
		t.Fatalf("Resolve(nil) = %v", got)
	}
}

func TestScriptFailures(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		reason     string // substring of the logged reason
	}{
		{"exit1", "#!/bin/sh\necho broken >&2\nexit 1\n", "broken"},
		{"hang", "#!/bin/sh\nsleep 30\nfor h in \"$@\"; do echo /r1; done\n", "timed out"},
		{"hang-child", "#!/bin/sh\n(sleep 30; echo /late) &\nfor h in \"$@\"; do echo /r1; done\nwait\n", "timed out"},
		{"too-few", "#!/bin/sh\necho /r1\n", "printed 1 rack paths for 3 hosts"},
		{"too-many", "#!/bin/sh\nfor h in \"$@\" x; do echo /r1; done\n", "printed 4 rack paths"},
		{"no-slash", "#!/bin/sh\nfor h in \"$@\"; do echo rack1; done\n", "does not start with /"},
		{"double-slash", "#!/bin/sh\nfor h in \"$@\"; do echo /dc1//r1; done\n", "empty component"},
		{"trailing-slash", "#!/bin/sh\nfor h in \"$@\"; do echo /dc1/; done\n", "empty component"},
		{"missing", "", "cannot run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(dir, tc.name)
			if tc.body != "" {
				script = writeScript(t, dir, tc.name, tc.body)
			}
			log, hook := testLogger()
			m, err := NewMapper(MapperConfig{Script: script, ScriptTimeout: 300 * time.Millisecond, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			hook.Reset() // a start-up warning for the missing script is fine
			start := time.Now()
			got := m.Resolve([]string{"a", "b", "c"})
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("Resolve took %v, timeout was 300ms", el)
			}
			for i, r := range got {
				if r != DefaultRack {
					t.Fatalf("host %d mapped to %q, want %s", i, r, DefaultRack)
				}
			}
			w := warnings(hook)
			if len(w) != 1 {
				t.Fatalf("%d warnings, want exactly one", len(w))
			}
			if w[0].Data["script"] != script || fmt.Sprint(w[0].Data["hosts"]) != "[a b c]" {
				t.Fatalf("warning fields = %v", w[0].Data)
			}
			if r := fmt.Sprint(w[0].Data["reason"]); !strings.Contains(r, tc.reason) {
				t.Fatalf("reason %q does not mention %q", r, tc.reason)
			}
		})
	}
}

func TestScriptBatchingCacheRefresh(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := writeScript(t, dir, "count.sh", fmt.Sprintf(`#!/bin/sh
echo "$#" >> %q
for h in "$@"; do printf '/dc/%%s ' "$h"; done
echo
`, calls))
	log, hook := testLogger()
	m, err := NewMapper(MapperConfig{Script: script, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hosts := make([]string, 250)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%03d", i)
	}
	check := func(got []string) {
		t.Helper()
		for i, h := range hosts {
			if got[i] != "/dc/"+h {
				t.Fatalf("host %s mapped to %q", h, got[i])
			}
		}
	}
	check(m.Resolve(hosts))
	if n := lines(t, calls); n != 3 {
		t.Fatalf("250 hosts took %d script runs, want 3", n)
	}
	b, _ := os.ReadFile(calls)
	if fmt.Sprint(strings.Fields(string(b))) != "[100 100 50]" {
		t.Fatalf("batch sizes %q", b)
	}
	check(m.Resolve(hosts))
	if n := lines(t, calls); n != 3 {
		t.Fatalf("cached resolve ran the script (%d runs)", n)
	}
	m.Refresh()
	if n := lines(t, calls); n != 6 {
		t.Fatalf("Refresh ran the script %d times in all, want 6", n)
	}
	check(m.Resolve(hosts))
	if n := lines(t, calls); n != 6 {
		t.Fatalf("resolve after Refresh ran the script again (%d runs)", n)
	}
	if len(warnings(hook)) != 0 {
		t.Fatal("unexpected warnings")
	}
}

func TestScriptFailuresNotCached(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ok")
	script := writeScript(t, dir, "flaky.sh", fmt.Sprintf(`#!/bin/sh
for h in "$@"; do
  if [ "$h" = bad ] && [ ! -f %q ]; then exit 3; fi
done
for h in "$@"; do printf '/r/%%s\n' "$h"; done
`, flag))
	log, hook := testLogger()
	m, err := NewMapper(MapperConfig{Script: script, ScriptArgs: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Resolve([]string{"a", "b", "bad", "c"})
	want := []string{"/r/a", "/r/b", DefaultRack, DefaultRack}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Resolve = %v, want %v", got, want)
	}
	if n := len(warnings(hook)); n != 1 {
		t.Fatalf("%d warnings for one failed batch", n)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got = m.Resolve([]string{"bad", "c"})
	if fmt.Sprint(got) != "[/r/bad /r/c]" {
		t.Fatalf("failed answers were cached: %v", got)
	}
}

func TestTableMapping(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "topology.table")
	write := func(s string) {
		if err := os.WriteFile(table, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`# host rack
10.0.0.1   /dc1/rack1

10.0.0.2	/dc1/rack2   # trailing comment
host3 /rack3
broken line here
host4 rack4
  # indented comment
`)
	log, hook := testLogger()
	m, err := NewMapper(MapperConfig{Table: table, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ host, rack string }{
		{"10.0.0.1", "/dc1/rack1"},
		{"10.0.0.2", "/dc1/rack2"},
		{"host3", "/rack3"},
		{"host4", DefaultRack},
		{"broken", DefaultRack},
		{"unknown", DefaultRack},
	}
	for _, c := range cases {
		if got := m.Resolve([]string{c.host})[0]; got != c.rack {
			t.Errorf("%s → %q, want %q", c.host, got, c.rack)
		}
	}
	if n := len(warnings(hook)); n != 2 {
		t.Errorf("%d warnings, want 2 (three columns, bad rack)", n)
	}
	write("host4 /rack4\n")
	m.Refresh()
	if got := m.Resolve([]string{"host4", "host3"}); fmt.Sprint(got) != "[/rack4 /default-rack]" {
		t.Fatalf("after Refresh: %v", got)
	}

	// An unreadable table is not fatal.
	hook.Reset()
	m, err = NewMapper(MapperConfig{Table: filepath.Join(dir, "nope"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Resolve([]string{"x"}); got[0] != DefaultRack {
		t.Fatalf("missing table: %v", got)
	}
	if len(warnings(hook)) != 1 {
		t.Fatal("missing table not logged")
	}
}

func TestMapperConfig(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "s.sh", "#!/bin/sh\nfor h in \"$@\"; do echo /from-script; done\n")
	table := filepath.Join(dir, "t")
	if err := os.WriteFile(table, []byte("h /from-table\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, _ := testLogger()
	cases := []struct {
		name    string
		cfg     MapperConfig
		want    string
		wantErr bool
	}{
		{"neither", MapperConfig{}, DefaultRack, false},
		{"script", MapperConfig{Script: script}, "/from-script", false},
		{"table", MapperConfig{Table: table}, "/from-table", false},
		{"both prefers script", MapperConfig{Script: script, Table: table}, "/from-script", false},
		{"negative args", MapperConfig{Script: script, ScriptArgs: -1}, "", true},
		{"negative timeout", MapperConfig{Script: script, ScriptTimeout: -time.Second}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Logger = log
			m, err := NewMapper(c.cfg)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if got := m.Resolve([]string{"h"})[0]; got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			m.Refresh()
		})
	}
}

func TestCheckRackPath(t *testing.T) {
	for _, c := range []struct {
		p  string
		ok bool
	}{
		{"/r", true}, {"/dc1/rack7", true}, {"/default-rack", true},
		{"", false}, {"/", false}, {"r", false}, {"//r", false}, {"/a//b", false}, {"/a/", false},
	} {
		if err := CheckRackPath(c.p); (err == nil) != c.ok {
			t.Errorf("CheckRackPath(%q) = %v", c.p, err)
		}
	}
}

// BenchmarkResolve10kHosts resolves 10,000 new hosts through a real
// topology script, batched net.topology.script.number.args (100) at a time.
func BenchmarkResolve10kHosts(b *testing.B) {
	dir := b.TempDir()
	script := filepath.Join(dir, "topo.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nfor h in \"$@\"; do printf '/dc1/rack%s ' \"${h##*.}\"; done\necho\n"), 0o755)
	hosts := make([]string, 10000)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256)
	}
	for b.Loop() {
		m, err := NewMapper(MapperConfig{Script: script})
		if err != nil {
			b.Fatal(err)
		}
		if got := m.Resolve(hosts); len(got) != len(hosts) || got[5] != "/dc1/rack5" {
			b.Fatalf("resolved %d hosts, [5]=%q", len(got), got[5])
		}
	}
}
