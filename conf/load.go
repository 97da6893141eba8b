package conf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// siteFiles are the files Load reads from the configuration directory, in
// order.
var siteFiles = []string{"core-site.xml", "hdfs-site.xml"}

// maxFileSize bounds one configuration file.
const maxFileSize = 16 << 20

// maxIncludeDepth bounds nested xi:include.
const maxIncludeDepth = 10

// Load builds a Config from the built-in defaults, then core-site.xml and
// hdfs-site.xml in dir, then each of extraFiles in order, then overrides
// (source "-D"). dir "" means $HADOOP_CONF_DIR; if that is empty too, no
// site files are read. A site file missing from dir is fine; a dir given
// explicitly that does not exist, a missing extra file, malformed XML (the
// error names the file) or a typed key whose value does not parse (see
// Validate) is an error. A key marked final in a file keeps its value
// against later files and -D overrides (the attempt is recorded in
// Warnings).
func Load(dir string, extraFiles []string, overrides map[string]string) (*Config, error) {
	c := New()
	fromEnv := false
	if dir == "" {
		dir, fromEnv = os.Getenv("HADOOP_CONF_DIR"), true
	}
	if dir != "" {
		st, err := os.Stat(dir)
		switch {
		case err == nil && !st.IsDir():
			return nil, fmt.Errorf("conf: configuration directory %s is not a directory", dir)
		case err != nil && !fromEnv:
			return nil, fmt.Errorf("conf: configuration directory: %w", err)
		case err != nil:
			c.warnings = append(c.warnings, fmt.Sprintf("conf: HADOOP_CONF_DIR: %v", err))
		default:
			for _, name := range siteFiles {
				if err := c.loadFile(filepath.Join(dir, name), true); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, f := range extraFiles {
		if err := c.loadFile(f, false); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.TrimSpace(k)
		if name == "" {
			return nil, fmt.Errorf("conf: -D: empty key (value %q)", overrides[k])
		}
		c.mu.Lock()
		c.setLayerLocked(name, overrides[k], true, false, SourceOverride)
		c.mu.Unlock()
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadFile adds the properties of one configuration file on top of c, with
// the file's path as their source, honouring final properties. Nothing is
// applied when the file cannot be read or parsed. It does not validate; call
// Validate after the last layer.
func (c *Config) LoadFile(path string) error {
	return c.loadFile(path, false)
}

// loadFile reads, parses and applies one file; optional files may be
// missing.
func (c *Config) loadFile(path string, optional bool) error {
	data, err := readLimited(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("conf: %w", err)
	}
	items, err := parseConfig(path, data, nil)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range items {
		c.setLayerLocked(p.name, p.value, p.hasValue, p.final, p.source)
	}
	return nil
}

// readLimited reads a file of at most maxFileSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// property is one parsed <property>.
type property struct {
	name, value string
	hasValue    bool
	final       bool
	source      string
}

// parseConfig parses a Hadoop configuration document into its properties
// in document order. Like Hadoop it reads <property> elements with <name>,
// <value> and <final> children (or name/value/final attributes), ignores
// other elements, skips properties without a name, treats an empty <value>
// as no value, and follows xi:include (relative to the including file)
// with xi:fallback. stack holds the including files.
func parseConfig(path string, data []byte, stack []string) ([]property, error) {
	for _, p := range stack {
		if p == path {
			return nil, fmt.Errorf("conf: %s: include cycle", path)
		}
	}
	if len(stack) > maxIncludeDepth {
		return nil, fmt.Errorf("conf: %s: includes nested too deeply", path)
	}
	stack = append(stack, path)
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	d.CharsetReader = charsetReader
	var (
		out                      []property
		prop                     *property
		text                     strings.Builder
		collecting, sawRoot      bool
		inInclude, includeFailed bool
		inFallback, sawFallback  bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("conf: %s: %w", path, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			sawRoot = true
			switch t.Name.Local {
			case "property":
				prop = &property{source: path}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "name":
						prop.name = strings.TrimSpace(a.Value)
					case "value":
						prop.value, prop.hasValue = a.Value, true
					case "final":
						prop.final = strings.TrimSpace(a.Value) == "true"
					}
				}
			case "name", "value", "final":
				text.Reset()
				collecting = true
			case "include":
				inInclude, includeFailed, sawFallback = true, false, false
				href := ""
				for _, a := range t.Attr {
					if a.Name.Local == "href" {
						href = a.Value
					}
				}
				if href == "" {
					break
				}
				inc := includePath(path, href)
				if st, err := os.Stat(inc); errors.Is(err, fs.ErrNotExist) {
					includeFailed = true
					break
				} else if err == nil && !st.Mode().IsRegular() {
					return nil, fmt.Errorf("conf: %s: include %s: not a regular file", path, inc)
				}
				data, err := readLimited(inc)
				if err != nil {
					return nil, fmt.Errorf("conf: %s: include: %w", path, err)
				}
				items, err := parseConfig(inc, data, stack)
				if err != nil {
					return nil, err
				}
				out = append(out, items...)
			case "fallback":
				inFallback, sawFallback = true, true
			}
		case xml.CharData:
			if collecting && text.Len() < maxFileSize {
				text.Write(t)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "name", "value", "final":
				collecting = false
				if prop == nil {
					break
				}
				s := text.String()
				switch t.Name.Local {
				case "name":
					if s != "" {
						prop.name = strings.TrimSpace(s)
					}
				case "value":
					if s != "" {
						prop.value, prop.hasValue = s, true
					}
				case "final":
					prop.final = strings.TrimSpace(s) == "true"
				}
			case "property":
				if prop != nil && prop.name != "" && !(inFallback && !includeFailed) {
					out = append(out, *prop)
				}
				prop = nil
			case "fallback":
				inFallback = false
			case "include":
				if inInclude && includeFailed && !sawFallback {
					return nil, fmt.Errorf("conf: %s: included file not found and no xi:fallback", path)
				}
				inInclude, includeFailed, sawFallback = false, false, false
			}
		}
	}
	if !sawRoot {
		return nil, fmt.Errorf("conf: %s: no XML root element", path)
	}
	return out, nil
}

// includePath resolves an xi:include href against the including file.
func includePath(from, href string) string {
	href = strings.TrimPrefix(href, "file://")
	if filepath.IsAbs(href) {
		return href
	}
	return filepath.Join(filepath.Dir(from), href)
}

// charsetReader decodes the non-UTF-8 encodings configuration files use.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii":
		data, err := io.ReadAll(io.LimitReader(in, maxFileSize))
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(data))
		for _, b := range data {
			out = utf8.AppendRune(out, rune(b))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", charset)
}
