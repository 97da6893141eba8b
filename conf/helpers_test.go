package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// examplesDir holds the configuration examples shared by the project.
const examplesDir = "/work/shared/examples"

// prop is one property for siteXML.
type prop struct {
	name, value string
	final       bool
}

// siteXML renders properties as a Hadoop configuration document.
func siteXML(props ...prop) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<configuration>\n")
	for _, p := range props {
		b.WriteString("  <property><name>" + p.name + "</name><value>" + p.value + "</value>")
		if p.final {
			b.WriteString("<final>true</final>")
		}
		b.WriteString("</property>\n")
	}
	b.WriteString("</configuration>\n")
	return b.String()
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustLoad loads or fails the test.
func mustLoad(t testing.TB, dir string, files []string, overrides map[string]string) *Config {
	t.Helper()
	c, err := Load(dir, files, overrides)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// example returns the path of a shared example file, skipping the test
// when the examples are not on this machine.
func example(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(examplesDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("example %s not available: %v", p, err)
	}
	return p
}
