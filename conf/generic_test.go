package conf

import (
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseGenericOptions(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "extra.xml", siteXML())
	for _, tc := range []struct {
		name string
		args []string
		want GenericOptions
		err  string
	}{
		{"dfs ls", []string{"-D", "x=y", "-ls", "/"},
			GenericOptions{Overrides: map[string]string{"x": "y"}, Rest: []string{"-ls", "/"}}, ""},
		{"joined -D", []string{"-Dx=y", "-Da.b=c=d", "-D", "e=", "cmd"},
			GenericOptions{Overrides: map[string]string{"x": "y", "a.b": "c=d", "e": ""}, Rest: []string{"cmd"}}, ""},
		{"last -D wins", []string{"-D", "x=1", "-D", "x=2"},
			GenericOptions{Overrides: map[string]string{"x": "2"}, Rest: []string{}}, ""},
		{"nothing", nil, GenericOptions{Overrides: map[string]string{}, Rest: []string{}}, ""},
		{"no generic options", []string{"-ls", "-D", "x=y"},
			GenericOptions{Overrides: map[string]string{}, Rest: []string{"-ls", "-D", "x=y"}}, ""},
		{"conf files", []string{"-conf", "a.xml", "-conf", file, "-mkdir", "/d"},
			GenericOptions{ConfFiles: []string{"a.xml", file}, Overrides: map[string]string{}, Rest: []string{"-mkdir", "/d"}}, ""},
		{"-conf dir", []string{"-conf", dir, "x"},
			GenericOptions{ConfDir: dir, Overrides: map[string]string{}, Rest: []string{"x"}}, ""},
		{"--conf dir", []string{"--conf", "/etc/hadoop/conf", "dfsadmin", "-report"},
			GenericOptions{ConfDir: "/etc/hadoop/conf", Overrides: map[string]string{}, Rest: []string{"dfsadmin", "-report"}}, ""},
		{"--conf file", []string{"--conf", file, "x"},
			GenericOptions{ConfFiles: []string{file}, Overrides: map[string]string{}, Rest: []string{"x"}}, ""},
		{"--config=dir", []string{"--config=/c", "x"},
			GenericOptions{ConfDir: "/c", Overrides: map[string]string{}, Rest: []string{"x"}}, ""},
		{"-fs", []string{"-fs", "hdfs://nn:8020", "-ls"},
			GenericOptions{Overrides: map[string]string{"fs.defaultFS": "hdfs://nn:8020"}, Rest: []string{"-ls"}}, ""},
		{"-D beats -fs", []string{"-D", "fs.defaultFS=hdfs://d", "-fs", "hdfs://f"},
			GenericOptions{Overrides: map[string]string{"fs.defaultFS": "hdfs://d"}, Rest: []string{}}, ""},
		{"ignored options", []string{"-files", "a,b", "-libjars", "x.jar", "-archives", "z.tgz", "-jt", "local", "job"},
			GenericOptions{Overrides: map[string]string{}, Rest: []string{"job"}}, ""},
		{"double dash", []string{"-D", "a=b", "--", "-D", "c=d"},
			GenericOptions{Overrides: map[string]string{"a": "b"}, Rest: []string{"-D", "c=d"}}, ""},
		{"dash is an argument", []string{"-", "x"},
			GenericOptions{Overrides: map[string]string{}, Rest: []string{"-", "x"}}, ""},
		{"-D without value", []string{"-D"}, GenericOptions{}, "-D requires key=value"},
		{"-D without =", []string{"-D", "novalue", "-ls"}, GenericOptions{}, `"novalue"`},
		{"-D joined without =", []string{"-Dnovalue"}, GenericOptions{}, `"novalue"`},
		{"-D empty key", []string{"-D", "=v"}, GenericOptions{}, `"=v"`},
		{"-conf without file", []string{"-conf"}, GenericOptions{}, "-conf requires an argument"},
		{"-fs without uri", []string{"-fs"}, GenericOptions{}, "-fs requires an argument"},
		{"-files without list", []string{"-files"}, GenericOptions{}, "-files requires an argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGenericOptions(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestGenericOptionsLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "hdfs-site.xml", siteXML(prop{name: "dfs.replication", value: "2"}))
	extra := writeFile(t, t.TempDir(), "extra.xml", siteXML(prop{name: "dfs.blocksize", value: "32m"}))
	g, err := ParseGenericOptions([]string{"--config", dir, "-conf", extra, "-D", "dfs.heartbeat.interval=10", "-fs", "hdfs://nn", "-ls", "/"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Int("dfs.replication") != 2 || c.Size("dfs.blocksize") != 32<<20 || c.Duration("dfs.heartbeat.interval").Seconds() != 10 {
		t.Errorf("values: %d %d %v", c.Int("dfs.replication"), c.Size("dfs.blocksize"), c.Duration("dfs.heartbeat.interval"))
	}
	if c.Source("dfs.heartbeat.interval") != "-D" || c.Source("dfs.replication") != filepath.Join(dir, "hdfs-site.xml") {
		t.Errorf("sources: %q %q", c.Source("dfs.heartbeat.interval"), c.Source("dfs.replication"))
	}
	if addrs, err := c.NameNodeRPCAddresses(); err != nil || addrs[0] != "nn:8020" {
		t.Errorf("addresses %q, %v", addrs, err)
	}
	want := map[string]string{"dfs.heartbeat.interval": "10", "fs.defaultFS": "hdfs://nn"}
	if !maps.Equal(g.Overrides, want) {
		t.Errorf("overrides %v", g.Overrides)
	}
}
