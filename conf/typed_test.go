package conf

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"134217728", 134217728, true},
		{"128m", 128 << 20, true},
		{"128M", 128 << 20, true},
		{"1g", 1 << 30, true},
		{"1G", 1 << 30, true},
		{"4k", 4096, true},
		{"2t", 2 << 40, true},
		{"3p", 3 << 50, true},
		{"1e", 1 << 60, true},
		{"7e", 7 << 60, true},
		{"8e", 0, false}, // overflows int64
		{"-1k", -1024, true},
		{" 64m ", 64 << 20, true},
		{"1.5g", 0, false},
		{"128 m", 0, false},
		{"128mb", 0, false},
		{"m", 0, false},
		{"", 0, false},
		{"abc", 0, false},
		{"1x", 0, false},
		{"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit time.Duration
		want time.Duration
		ok   bool
	}{
		{"10ns", time.Second, 10 * time.Nanosecond, true},
		{"10us", time.Second, 10 * time.Microsecond, true},
		{"10ms", time.Second, 10 * time.Millisecond, true},
		{"10s", time.Millisecond, 10 * time.Second, true},
		{"10m", time.Millisecond, 10 * time.Minute, true},
		{"10h", time.Millisecond, 10 * time.Hour, true},
		{"10d", time.Millisecond, 240 * time.Hour, true},
		{"10S", time.Millisecond, 10 * time.Second, true},
		{"10MS", time.Second, 10 * time.Millisecond, true},
		{" 3 ", time.Second, 3 * time.Second, true},
		{"3", time.Millisecond, 3 * time.Millisecond, true},
		{"-5s", time.Millisecond, -5 * time.Second, true},
		{"0", time.Second, 0, true},
		{"1.5s", time.Second, 0, false},
		{"5 s", time.Second, 0, false},
		{"s", time.Second, 0, false},
		{"", time.Second, 0, false},
		{"10y", time.Second, 0, false},
		{"abc", time.Second, 0, false},
		{"9223372036854775807d", time.Second, math.MaxInt64, true},
		{"-9223372036854775808d", time.Second, math.MinInt64, true},
	} {
		got, err := ParseDuration(tc.in, tc.unit)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseDuration(%q, %v) = %v, %v; want %v, ok=%v", tc.in, tc.unit, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseScalars(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"42", 42, true}, {"-7", -7, true}, {"+7", 7, true}, {"0x1F", 31, true}, {"-0x10", -16, true},
		{"010", 10, true}, {"1_000", 0, false}, {"0x", 0, false}, {"1e3", 0, false}, {"", 0, false}, {"3.0", 0, false},
	} {
		got, err := ParseInt(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseInt(%q) = %d, %v", tc.in, got, err)
		}
	}
	for in, want := range map[string]bool{"true": true, "TRUE": true, " False ": false} {
		if got, err := ParseBool(in); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"yes", "1", "", "t"} {
		if _, err := ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q) accepted", in)
		}
	}
	for in, want := range map[string]float64{"0.999": 0.999, "1": 1, "0.5f": 0.5, "-2.5e1": -25, "1d": 1} {
		if got, err := ParseFloat(in); err != nil || got != want {
			t.Errorf("ParseFloat(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"abc", "", "1,5", "f"} {
		if _, err := ParseFloat(in); err == nil {
			t.Errorf("ParseFloat(%q) accepted", in)
		}
	}
}

func TestDefaultsParse(t *testing.T) {
	c := New()
	seen := map[string]bool{}
	for _, d := range Defaults() {
		if seen[d.Key] {
			t.Errorf("%s listed twice", d.Key)
		}
		seen[d.Key] = true
		if d.Default == "" {
			continue
		}
		if _, err := parseAs(d.Type, d.Key, d.Default); err != nil {
			t.Errorf("default of %s (%s) %q: %v", d.Key, d.Type, d.Default, err)
		}
		if d.Type == TypeDuration && d.DurationUnit <= 0 {
			t.Errorf("%s: duration without unit", d.Key)
		}
	}
	for old, cur := range deprecated {
		if _, ok := byKey[cur]; !ok {
			t.Errorf("deprecated %s maps to unknown %s", old, cur)
		}
	}
	for _, tc := range []struct {
		key  string
		want any
	}{
		{"dfs.replication", int64(3)},
		{"dfs.blocksize", int64(134217728)},
		{"dfs.heartbeat.interval", 3 * time.Second},
		{"dfs.namenode.heartbeat.recheck-interval", 300 * time.Second},
		{"dfs.namenode.checkpoint.period", time.Hour},
		{"dfs.namenode.checkpoint.check.period", time.Minute},
		{"dfs.blockreport.intervalMsec", 6 * time.Hour},
		{"dfs.namenode.safemode.extension", 30 * time.Second},
		{"ipc.client.connection.maxidletime", 10 * time.Second},
		{"ha.zookeeper.session-timeout.ms", 10 * time.Second},
		{"dfs.namenode.accesstime.precision", time.Hour},
		{"dfs.namenode.safemode.threshold-pct", 0.999},
		{"dfs.permissions.enabled", true},
		{"dfs.ha.automatic-failover.enabled", false},
		{"ipc.maximum.data.length", int64(64 << 20)},
	} {
		var got any
		switch tc.want.(type) {
		case int64:
			if d, _ := Lookup(tc.key); d.Type == TypeSize {
				got = c.Size(tc.key)
			} else {
				got = c.Int(tc.key)
			}
		case time.Duration:
			got = c.Duration(tc.key)
		case float64:
			got = c.Float(tc.key)
		case bool:
			got = c.Bool(tc.key)
		}
		if got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, got, tc.want)
		}
	}
	if got := c.String("dfs.checksum.type"); got != "CRC32C" {
		t.Errorf("checksum type %q", got)
	}
}

func TestDurationDefaultUnits(t *testing.T) {
	c := New()
	for _, tc := range []struct {
		key, val string
		want     time.Duration
	}{
		{"dfs.heartbeat.interval", "5", 5 * time.Second},
		{"dfs.heartbeat.interval", "500ms", 500 * time.Millisecond},
		{"dfs.namenode.heartbeat.recheck-interval", "1000", time.Second},
		{"dfs.namenode.checkpoint.period", "1h", time.Hour},
		{"dfs.namenode.checkpoint.period", "120", 2 * time.Minute},
		{"dfs.blockreport.intervalMsec", "1d", 24 * time.Hour},
		{"dfs.namenode.redundancy.interval.seconds", "2", 2 * time.Second},
		{"unknown.duration", "250", 250 * time.Millisecond},
	} {
		c.Set(tc.key, tc.val)
		if got := c.Duration(tc.key); got != tc.want {
			t.Errorf("%s=%s: %v, want %v", tc.key, tc.val, got, tc.want)
		}
	}
	// Int of a size or duration key understands the suffixes.
	c.Set("dfs.blocksize", "256m")
	c.Set("dfs.heartbeat.interval", "2m")
	c.Set("dfs.namenode.heartbeat.recheck-interval", "1s")
	if c.Int("dfs.blocksize") != 256<<20 || c.Int("dfs.heartbeat.interval") != 120 || c.Int("dfs.namenode.heartbeat.recheck-interval") != 1000 {
		t.Errorf("Int of size/duration keys: %d %d %d", c.Int("dfs.blocksize"), c.Int("dfs.heartbeat.interval"), c.Int("dfs.namenode.heartbeat.recheck-interval"))
	}
	c.Set("my.period.seconds", "7")
	if got := c.DurationIn("my.period.seconds", time.Second); got != 7*time.Second {
		t.Errorf("DurationIn = %v", got)
	}
}

func TestTypedGettersOnBadValues(t *testing.T) {
	c := New()
	c.Set("dfs.replication", "abc")
	if _, err := c.IntE("dfs.replication"); err == nil || !strings.Contains(err.Error(), `conf: programmatic: dfs.replication: "abc" is not an integer`) {
		t.Errorf("IntE error = %v", err)
	}
	if got := c.Int("dfs.replication"); got != 3 {
		t.Errorf("Int on bad value = %d, want default 3", got)
	}
	c.Set("dfs.replication", "  ")
	if got, err := c.IntE("dfs.replication"); err != nil || got != 3 {
		t.Errorf("blank value: %d, %v; want default", got, err)
	}
	c.Set("x.size", "2g")
	if got, err := c.SizeE("x.size"); err != nil || got != 2<<30 {
		t.Errorf("SizeE = %d, %v", got, err)
	}
	if got, err := c.IntE("not.set"); err != nil || got != 0 {
		t.Errorf("unset IntE = %d, %v", got, err)
	}
	c.Set("dfs.replication", "${repl}")
	c.Set("repl", "0x2")
	if got := c.Int("dfs.replication"); got != 2 {
		t.Errorf("expanded int = %d", got)
	}
	c.Set("b", "maybe")
	if _, err := c.BoolE("b"); err == nil {
		t.Error("BoolE accepted maybe")
	}
	c.Set("f", "x")
	if _, err := c.FloatE("f"); err == nil {
		t.Error("FloatE accepted x")
	}
	c.Set("d", "3 weeks")
	if _, err := c.DurationE("d"); err == nil {
		t.Error("DurationE accepted 3 weeks")
	}
}

func TestLoadValidates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file      string // hdfs-site.xml content, or ""
		overrides map[string]string
		want      []string // substrings of the error; nil means success
	}{
		{"bad int in file", siteXML(prop{name: "dfs.replication", value: "abc"}), nil,
			[]string{"conf: ", "hdfs-site.xml: dfs.replication: \"abc\" is not an integer"}},
		{"bad size", siteXML(prop{name: "dfs.blocksize", value: "1.5g"}), nil,
			[]string{"hdfs-site.xml", "dfs.blocksize", `"1.5g"`, "size"}},
		{"bad duration", siteXML(prop{name: "dfs.heartbeat.interval", value: "3 sec"}), nil,
			[]string{"dfs.heartbeat.interval", `"3 sec"`, "duration"}},
		{"bad bool", siteXML(prop{name: "dfs.permissions.enabled", value: "yes"}), nil,
			[]string{"dfs.permissions.enabled", `"yes"`, "boolean"}},
		{"bad float", siteXML(prop{name: "dfs.namenode.safemode.threshold-pct", value: "high"}), nil,
			[]string{"threshold-pct", `"high"`, "number"}},
		{"bad override", "", map[string]string{"dfs.replication": "many"},
			[]string{`conf: -D: dfs.replication: "many" is not an integer`}},
		{"override fixes file", siteXML(prop{name: "dfs.replication", value: "abc"}), map[string]string{"dfs.replication": "2"}, nil},
		{"good values", siteXML(prop{name: "dfs.blocksize", value: "256m"}, prop{name: "dfs.heartbeat.interval", value: "1s"}), nil, nil},
		{"untyped keys unchecked", siteXML(prop{name: "my.own.key", value: "anything"}), nil, nil},
		{"empty override key", "", map[string]string{" ": "x"}, []string{"empty key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				writeFile(t, dir, "hdfs-site.xml", tc.file)
			}
			_, err := Load(dir, nil, tc.overrides)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDomainSocketPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/var/lib/hadoop-hdfs/dn_socket", "/var/lib/hadoop-hdfs/dn_socket"},
		{"/run/dn._PORT", "/run/dn.9866"},
		{"/run/_PORT/dn._PORT", "/run/9866/dn.9866"},
	} {
		if got := DomainSocketPath(tc.in, 9866); got != tc.want {
			t.Errorf("DomainSocketPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
