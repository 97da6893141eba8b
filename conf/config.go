// Package conf owns AvatarFS configuration: Hadoop-style XML files
// (core-site.xml, hdfs-site.xml and extra -conf files), -D overrides and the
// generic command-line options that carry them, read once into a Config
// with Hadoop's key names, defaults, deprecated aliases, final properties
// and ${var} expansion. It also knows the HA nameservice keys and how a
// client finds its NameNodes.
//
// It does not watch files or reload: a Config is built at start-up, then
// read (and occasionally Set) by many goroutines; all methods are safe for
// concurrent use.
package conf

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
)

// Source names used by Config.Source besides file paths.
const (
	SourceDefault      = "default"      // the built-in defaults table
	SourceOverride     = "-D"           // a -D command-line override
	SourceProgrammatic = "programmatic" // Config.Set
)

// entry is one explicitly set property.
type entry struct {
	value  string // raw, unexpanded, untrimmed
	source string
}

// Config holds properties (key -> value, plus the file each came from)
// layered as: built-in defaults < core-site.xml < hdfs-site.xml < extra
// -conf files < -D overrides. Keys are canonical: a deprecated Hadoop key
// (e.g. fs.default.name) is stored and read as its current name. The zero
// value is not usable; call New or Load.
type Config struct {
	mu       sync.RWMutex
	props    map[string]entry
	final    map[string]bool
	warnings []string
	warned   map[string]bool
}

// New returns a Config holding the built-in defaults only.
func New() *Config {
	return &Config{
		props:  make(map[string]entry),
		final:  make(map[string]bool),
		warned: make(map[string]bool),
	}
}

// Clone returns an independent copy of c.
func (c *Config) Clone() *Config {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return &Config{
		props:    maps.Clone(c.props),
		final:    maps.Clone(c.final),
		warnings: append([]string(nil), c.warnings...),
		warned:   maps.Clone(c.warned),
	}
}

// Set sets key to value with source "programmatic". Like Hadoop's
// Configuration.set it overrides even a final property: it is the program's
// own decision, not a later configuration layer. A deprecated key is stored
// under its current name.
func (c *Config) Set(key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key = canonicalKey(strings.TrimSpace(key))
	c.props[key] = entry{value: value, source: SourceProgrammatic}
}

// Unset removes an explicitly set value, so that key reads its default
// again (if it has one).
func (c *Config) Unset(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.props, canonicalKey(strings.TrimSpace(key)))
}

// Get returns key's value after ${var} expansion, trimmed of surrounding
// white space, falling back to the built-in default. ok is false when the
// key has neither a value nor a default.
//
// Expansion follows Hadoop: ${name} is replaced by the Java-style system
// property of that name (user.name, user.home, user.dir, java.io.tmpdir,
// ...) or else by the value of configuration key name; ${env.NAME} by the
// environment variable NAME, with ${env.NAME:-dflt} (dflt when NAME is
// unset or empty) and ${env.NAME-dflt} (dflt when NAME is unset). A
// reference that cannot be resolved, or that refers to itself, is left as
// written; at most 20 substitutions are made in one value, so cycles end.
func (c *Config) Get(key string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	raw, ok := c.rawLocked(key)
	if !ok {
		return "", false
	}
	return strings.TrimSpace(c.expandLocked(raw)), true
}

// Raw returns key's value before expansion and trimming, and whether it has
// one (explicitly or by default).
func (c *Config) Raw(key string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rawLocked(key)
}

// String returns Get(key)'s value, or "" when the key has none.
func (c *Config) String(key string) string {
	v, _ := c.Get(key)
	return v
}

// Strings returns key's value split at commas, each element trimmed, empty
// elements dropped (Hadoop's getTrimmedStrings). It returns nil when the
// key has no value.
func (c *Config) Strings(key string) []string {
	return splitList(c.String(key))
}

// splitList splits s at commas, trims the elements and drops empty ones.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Source returns where key's effective value came from: "default", the
// path of a configuration file, "-D" or "programmatic". It returns "" when
// the key has no value.
func (c *Config) Source(key string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.sourceLocked(canonicalKey(strings.TrimSpace(key)))
}

// IsFinal reports whether key was marked <final>true</final> in a
// configuration file.
func (c *Config) IsFinal(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.final[canonicalKey(strings.TrimSpace(key))]
}

// Keys returns every key that has a value, defaults included, sorted. It is
// what `hdfs getconf` lists.
func (c *Config) Keys() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	seen := make(map[string]bool, len(c.props)+len(defaults))
	keys := make([]string, 0, len(c.props)+len(defaults))
	for k := range c.props {
		seen[k] = true
		keys = append(keys, k)
	}
	for _, d := range defaults {
		if d.Default != "" && !seen[d.Key] {
			seen[d.Key] = true
			keys = append(keys, d.Key)
		}
	}
	sort.Strings(keys)
	return keys
}

// Warnings returns the problems noticed while loading that Hadoop only logs:
// deprecated key names, attempts to override final properties, a missing
// $HADOOP_CONF_DIR. The caller decides whether to print them.
func (c *Config) Warnings() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]string(nil), c.warnings...)
}

// rawLocked returns key's raw value, explicit or default.
func (c *Config) rawLocked(key string) (string, bool) {
	key = canonicalKey(strings.TrimSpace(key))
	if e, ok := c.props[key]; ok {
		return e.value, true
	}
	if d, ok := byKey[key]; ok && d.Default != "" {
		return d.Default, true
	}
	return "", false
}

// sourceLocked returns the source of canonical key's effective value.
func (c *Config) sourceLocked(key string) string {
	if e, ok := c.props[key]; ok {
		return e.source
	}
	if d, ok := byKey[key]; ok && d.Default != "" {
		return SourceDefault
	}
	return ""
}

// warnLocked records a warning once (c.mu held for writing).
func (c *Config) warnLocked(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if c.warned[msg] {
		return
	}
	c.warned[msg] = true
	c.warnings = append(c.warnings, msg)
}

// setLayerLocked applies one property from a configuration layer (a file or
// -D): a final key keeps its value, with a warning when the new value
// differs. A property with no value only contributes its final flag, as in
// Hadoop.
func (c *Config) setLayerLocked(name, value string, hasValue, final bool, source string) {
	key := canonicalKey(name)
	if key != name {
		c.warnLocked("conf: %s: %s is deprecated; use %s", source, name, key)
	}
	if hasValue {
		if c.final[key] {
			if old, _ := c.rawLocked(key); old != value {
				c.warnLocked("conf: %s: %s: attempt to override final parameter; ignoring %q", source, key, value)
			}
		} else {
			c.props[key] = entry{value: value, source: source}
		}
	}
	if final {
		c.final[key] = true
	}
}
