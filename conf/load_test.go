package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMalformedXML(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"unclosed", "<configuration><property><name>a</name>"},
		{"mismatched", "<configuration><property></configuration>"},
		{"garbage", "this is not xml"},
		{"empty", ""},
		{"bad entity", "<configuration><property><name>a</name><value>&nope;</value></property></configuration>"},
		{"bad charset", `<?xml version="1.0" encoding="EBCDIC"?><configuration/>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "core-site.xml", siteXML())
			p := writeFile(t, dir, "hdfs-site.xml", tc.content)
			_, err := Load(dir, nil, nil)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name %s", err, p)
			}
		})
	}
}

func TestXMLForms(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "hdfs-site.xml", `<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="configuration.xsl"?>
<!DOCTYPE configuration>
<!-- a comment -->
<configuration>
  <property>
    <name>
      spaced.name
    </name>
    <value>  kept  </value>
    <description>ignored <b>markup</b></description>
  </property>
  <property name="attr.key" value="attr.value" final="true"/>
  <property><name>cdata</name><value><![CDATA[a<b>&c]]></value></property>
  <property><name>entities</name><value>x &amp; y &lt; z &#65;</value></property>
  <property><name>empty.value</name><value></value></property>
  <property><name>dfs.replication</name><value/></property>
  <property><name>no.value</name></property>
  <property><value>no name</value></property>
  <property><name>multi.line</name><value>a,
     b,
     c</value></property>
  <unknown><nested/></unknown>
</configuration>`)
	c := mustLoad(t, dir, nil, nil)
	for _, tc := range []struct {
		key, want string
		ok        bool
	}{
		{"spaced.name", "kept", true},
		{"attr.key", "attr.value", true},
		{"cdata", "a<b>&c", true},
		{"entities", "x & y < z A", true},
		{"empty.value", "", false},
		{"dfs.replication", "3", true}, // an empty <value/> leaves the default, as Hadoop
		{"no.value", "", false},
	} {
		got, ok := c.Get(tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Get(%s) = %q, %v; want %q, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
	if raw, _ := c.Raw("spaced.name"); raw != "  kept  " {
		t.Errorf("Raw = %q", raw)
	}
	if !c.IsFinal("attr.key") {
		t.Error("attribute final not read")
	}
	if got := c.Strings("multi.line"); strings.Join(got, "|") != "a|b|c" {
		t.Errorf("multi.line = %q", got)
	}
}

func TestLatin1(t *testing.T) {
	dir := t.TempDir()
	content := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><configuration><property><name>n</name><value>caf\xe9</value></property></configuration>"
	writeFile(t, dir, "core-site.xml", content)
	if got := mustLoad(t, dir, nil, nil).String("n"); got != "café" {
		t.Errorf("latin1 value = %q", got)
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	inc := writeFile(t, dir, "inc.xml", siteXML(prop{name: "from.inc", value: "yes"}, prop{name: "order", value: "inc"}))
	const xi = `xmlns:xi="http://www.w3.org/2001/XInclude"`
	writeFile(t, dir, "hdfs-site.xml", `<configuration `+xi+`>
  <property><name>order</name><value>before</value></property>
  <xi:include href="inc.xml"/>
  <xi:include href="missing.xml"><xi:fallback>
    <property><name>fallback.used</name><value>yes</value></property>
  </xi:fallback></xi:include>
  <xi:include href="inc.xml"><xi:fallback>
    <property><name>fallback.wrong</name><value>yes</value></property>
  </xi:fallback></xi:include>
</configuration>`)
	c := mustLoad(t, dir, nil, nil)
	if c.String("from.inc") != "yes" || c.Source("from.inc") != inc {
		t.Errorf("from.inc = %q from %q", c.String("from.inc"), c.Source("from.inc"))
	}
	if c.String("order") != "inc" {
		t.Errorf("order = %q, want inc (include applies in place)", c.String("order"))
	}
	if c.String("fallback.used") != "yes" {
		t.Error("fallback not used for a missing include")
	}
	if _, ok := c.Get("fallback.wrong"); ok {
		t.Error("fallback used although the include worked")
	}

	for name, content := range map[string]string{
		"missing":  `<configuration ` + xi + `><xi:include href="nope.xml"/></configuration>`,
		"cycle":    `<configuration ` + xi + `><xi:include href="hdfs-site.xml"/></configuration>`,
		"bad file": `<configuration ` + xi + `><xi:include href="bad.xml"/></configuration>`,
		"dir":      `<configuration ` + xi + `><xi:include href="."/></configuration>`,
	} {
		d := t.TempDir()
		writeFile(t, d, "bad.xml", "<configuration>")
		writeFile(t, d, "hdfs-site.xml", content)
		if _, err := Load(d, nil, nil); err == nil || !strings.Contains(err.Error(), d) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestExtraFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, []string{filepath.Join(dir, "nope.xml")}, nil); err == nil || !strings.Contains(err.Error(), "nope.xml") {
		t.Errorf("missing -conf file: %v", err)
	}
	if _, err := Load(dir, []string{dir}, nil); err == nil {
		t.Error("directory as -conf file accepted")
	}
	notDir := writeFile(t, dir, "plain", "x")
	if _, err := Load(notDir, nil, nil); err == nil {
		t.Error("file as conf dir accepted")
	}
}

func TestLoadFileAtomic(t *testing.T) {
	c := New()
	p := writeFile(t, t.TempDir(), "x.xml", "<configuration><property><name>a</name><value>1</value></property><oops>")
	if err := c.LoadFile(p); err == nil {
		t.Fatal("LoadFile accepted malformed XML")
	}
	if _, ok := c.Get("a"); ok {
		t.Error("malformed file partly applied")
	}
	good := writeFile(t, t.TempDir(), "y.xml", siteXML(prop{name: "a", value: "2"}))
	if err := c.LoadFile(good); err != nil || c.String("a") != "2" {
		t.Errorf("LoadFile: %v, a=%q", err, c.String("a"))
	}
	if err := os.Remove(good); err != nil {
		t.Fatal(err)
	}
}
