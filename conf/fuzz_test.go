package conf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadXML writes arbitrary bytes as hdfs-site.xml and loads them: Load
// must return a Config or an error, never panic or hang, and every key of a
// loaded Config must be readable through every getter.
func FuzzLoadXML(f *testing.F) {
	for _, s := range []string{
		siteXML(prop{name: "dfs.replication", value: "2"}, prop{name: "a", value: "${a}${b}", final: true}),
		siteXML(prop{name: "b", value: "${env.HOME:-x}/${user.name}/${b}"}, prop{name: "dfs.blocksize", value: "128m"}),
		`<configuration><property name="x" value="y" final="true"/></configuration>`,
		`<configuration xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="core-site.xml"><xi:fallback/></xi:include></configuration>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><configuration><property><name>n</name><value>v</value></property></configuration>`,
		"<configuration><property><name>dfs.heartbeat.interval</name><value>3d</value></property>",
		"",
	} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(filepath.Join(examplesDir, "hdfs-site-ha.xml")); err == nil {
		f.Add(data)
	}
	dir := f.TempDir() // reused: one file rewritten per input keeps the rate up
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "hdfs-site.xml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(dir, nil, nil)
		if err != nil {
			if c != nil {
				t.Fatal("Config and error both returned")
			}
			return
		}
		for _, k := range c.Keys() {
			c.Get(k)
			c.Strings(k)
			c.Source(k)
			c.Int(k)
			c.Bool(k)
			c.Float(k)
			c.Size(k)
			c.Duration(k)
		}
		c.NameNodeRPCAddresses()
		for _, ns := range c.NameServices() {
			c.NameNodeIDs(ns)
		}
	})
}
