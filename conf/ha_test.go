package conf

import (
	"slices"
	"strings"
	"testing"
)

func TestHAKeys(t *testing.T) {
	c := mustLoad(t, t.TempDir(), []string{example(t, "hdfs-site-ha.xml")}, nil)
	if got := c.NameServices(); !slices.Equal(got, []string{"mycluster"}) {
		t.Errorf("NameServices = %q", got)
	}
	if got := c.NameNodeIDs("mycluster"); !slices.Equal(got, []string{"nn0", "nn1"}) {
		t.Errorf("NameNodeIDs = %q", got)
	}
	if got := c.NameNodeIDs("other"); got != nil {
		t.Errorf("NameNodeIDs(other) = %q", got)
	}
	for _, tc := range []struct {
		ns, id, want string
		ok           bool
	}{
		{"mycluster", "nn0", "127.0.0.1:8020", true},
		{"mycluster", "nn1", "127.0.0.2:8020", true},
		{"mycluster", "nn2", "", false},
		{"mycluster", "", "", false},
	} {
		got, ok := c.NameNodeRPCAddress(tc.ns, tc.id)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NameNodeRPCAddress(%q, %q) = %q, %v", tc.ns, tc.id, got, ok)
		}
	}
	if got, _ := c.NameNodeHTTPAddress("mycluster", "nn1"); got != "127.0.0.2:9870" {
		t.Errorf("http nn1 = %q", got)
	}
	if got, _ := c.NameNodeHTTPAddress("", ""); got != "0.0.0.0:9870" {
		t.Errorf("http default = %q", got)
	}
	// With fs.defaultFS naming the nameservice, a client tries both.
	c.Set("fs.defaultFS", "hdfs://mycluster")
	got, err := c.NameNodeRPCAddresses()
	if err != nil || !slices.Equal(got, []string{"127.0.0.1:8020", "127.0.0.2:8020"}) {
		t.Errorf("NameNodeRPCAddresses = %q, %v", got, err)
	}
	// The default file:/// falls back to the only nameservice.
	c.Unset("fs.defaultFS")
	if got, err := c.NameNodeRPCAddresses(); err != nil || len(got) != 2 {
		t.Errorf("file:/// with one nameservice: %q, %v", got, err)
	}
}

func TestNameNodeRPCAddresses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  []string
		err   string
	}{
		{"host:port", map[string]string{"fs.defaultFS": "hdfs://nn.example.com:9000"}, []string{"nn.example.com:9000"}, ""},
		{"missing port", map[string]string{"fs.defaultFS": "hdfs://nn.example.com"}, []string{"nn.example.com:8020"}, ""},
		{"trailing slash", map[string]string{"fs.defaultFS": "hdfs://nn:8020/"}, []string{"nn:8020"}, ""},
		{"ipv6", map[string]string{"fs.defaultFS": "hdfs://[::1]:8021"}, []string{"[::1]:8021"}, ""},
		{"ipv6 no port", map[string]string{"fs.defaultFS": "hdfs://[::1]"}, []string{"[::1]:8020"}, ""},
		{"hadoop1 bare host:port", map[string]string{"fs.defaultFS": "nn:9000"}, []string{"nn:9000"}, ""},
		{"deprecated key", map[string]string{"fs.default.name": "hdfs://old:9000"}, []string{"old:9000"}, ""},
		{"nameservice", map[string]string{
			"fs.defaultFS":                    "hdfs://ns1",
			"dfs.nameservices":                "ns1, ns2",
			"dfs.ha.namenodes.ns1":            "b, a, c",
			"dfs.namenode.rpc-address.ns1.a":  "hosta:8020",
			"dfs.namenode.rpc-address.ns1.b":  "hostb",
			"dfs.namenode.rpc-address.ns2.a":  "other:8020",
			"dfs.namenode.rpc-address.ns1.zz": "unused:1",
		}, []string{"hostb:8020", "hosta:8020"}, ""},
		{"nameservice without HA ids", map[string]string{
			"fs.defaultFS": "hdfs://ns1", "dfs.nameservices": "ns1", "dfs.namenode.rpc-address.ns1": "single:8020",
		}, []string{"single:8020"}, ""},
		{"nameservice by ha.namenodes only", map[string]string{
			"fs.defaultFS": "hdfs://ns9", "dfs.ha.namenodes.ns9": "x", "dfs.namenode.rpc-address.ns9.x": "h:1",
		}, []string{"h:1"}, ""},
		{"nameservice without addresses", map[string]string{
			"fs.defaultFS": "hdfs://ns1", "dfs.nameservices": "ns1", "dfs.ha.namenodes.ns1": "a,b",
		}, nil, "no NameNode RPC address"},
		{"port on logical uri", map[string]string{
			"fs.defaultFS": "hdfs://ns1:8020", "dfs.nameservices": "ns1",
		}, nil, "logical"},
		{"file with rpc-address", map[string]string{
			"dfs.namenode.rpc-address": "10.0.0.1",
		}, []string{"10.0.0.1:8020"}, ""},
		{"file with nothing", map[string]string{}, nil, "no NameNode address"},
		{"other scheme", map[string]string{"fs.defaultFS": "s3a://bucket"}, nil, "no NameNode address"},
		{"no host", map[string]string{"fs.defaultFS": "hdfs:///path"}, nil, "no NameNode host"},
		{"bad uri", map[string]string{"fs.defaultFS": "hdfs://a b:c/"}, nil, "fs.defaultFS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			for k, v := range tc.props {
				c.Set(k, v)
			}
			got, err := c.NameNodeRPCAddresses()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWithDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"h":             "h:8020",
		"h:1":           "h:1",
		"h:":            "h:8020",
		"::1":           "[::1]:8020",
		"[::1]":         "[::1]:8020",
		"[::1]:9":       "[::1]:9",
		"hdfs://h:7/x":  "h:7",
		"hdfs://h":      "h:8020",
		" 10.1.2.3:99 ": "10.1.2.3:99",
		"0.0.0.0":       "0.0.0.0:8020",
	} {
		if got := WithDefaultPort(in, "8020"); got != want {
			t.Errorf("WithDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
	if SuffixedKey("k", "", "a", "", "b") != "k.a.b" {
		t.Error("SuffixedKey")
	}
}

func TestDefaultFS(t *testing.T) {
	c := New()
	for in, want := range map[string]string{
		"":            "file:///",
		"local":       "file:///",
		"nn:9000":     "hdfs://nn:9000",
		"hdfs://ns1":  "hdfs://ns1",
		"file:///":    "file:///",
		"viewfs://c/": "viewfs://c/",
	} {
		c.Set("fs.defaultFS", in)
		if got := c.DefaultFS(); got != want {
			t.Errorf("DefaultFS(%q) = %q, want %q", in, got, want)
		}
	}
}
