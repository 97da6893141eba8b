package conf

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// maxSubst is Hadoop's limit on substitutions in one value.
const maxSubst = 20

// maxExpanded bounds the length a value may grow to by expansion.
const maxExpanded = 1 << 20

// expandLocked replaces ${var} references in s (c.mu held). Unresolvable
// and self-referring references stay as written; nested references such as
// ${a${b}} resolve the inner one first.
func (c *Config) expandLocked(s string) string {
	from := 0
	for n := 0; n < maxSubst; {
		start, end := findVar(s, from)
		if start < 0 {
			break
		}
		ref := s[start:end]
		val, ok := c.resolveLocked(s[start+2 : end-1])
		if !ok || strings.Contains(val, ref) {
			from = end // leave it; look further on
			continue
		}
		if len(s)-len(ref)+len(val) > maxExpanded {
			break
		}
		s = s[:start] + val + s[end:]
		n++
		// from stays: the substituted text may complete an outer ${...}.
	}
	return s
}

// findVar returns the bounds of the first ${name} at or after from, where
// name is non-empty and holds no '}', '$' or space; -1, -1 if none.
func findVar(s string, from int) (start, end int) {
	for i := from; i+1 < len(s); i++ {
		if s[i] != '$' || s[i+1] != '{' {
			continue
		}
		j := i + 2
		for j < len(s) && s[j] != '}' && s[j] != '$' && s[j] != ' ' {
			j++
		}
		if j < len(s) && s[j] == '}' && j > i+2 {
			return i, j + 1
		}
	}
	return -1, -1
}

// resolveLocked finds the value of one ${name} reference: environment
// (env.NAME forms), then system properties, then configuration keys.
func (c *Config) resolveLocked(name string) (string, bool) {
	if v, ok := strings.CutPrefix(name, "env."); ok && v != "" {
		if val, ok := resolveEnv(v); ok {
			return val, true
		}
	} else if val, ok := systemProperty(name); ok {
		return val, true
	}
	raw, ok := c.rawLocked(name)
	return strings.TrimSpace(raw), ok
}

// resolveEnv resolves NAME, NAME:-default and NAME-default.
func resolveEnv(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == ':' && i+1 < len(v) && v[i+1] == '-':
			if val := os.Getenv(v[:i]); val != "" {
				return val, true
			}
			return v[i+2:], true
		case v[i] == '-':
			if val, ok := os.LookupEnv(v[:i]); ok {
				return val, true
			}
			return v[i+1:], true
		}
	}
	return os.LookupEnv(v)
}

var (
	userOnce sync.Once
	userName string
	userHome string
)

// currentUser returns the current user's name and home directory.
func currentUser() (name, home string) {
	userOnce.Do(func() {
		if u, err := user.Current(); err == nil {
			userName, userHome = u.Username, u.HomeDir
		}
		if userName == "" {
			userName = os.Getenv("USER")
		}
		if userName == "" {
			userName = strconv.Itoa(os.Getuid())
		}
		if userHome == "" {
			userHome, _ = os.UserHomeDir()
		}
	})
	return userName, userHome
}

// systemProperty returns the value a Hadoop daemon's JVM would give the
// system property name, for the few properties configuration files use.
func systemProperty(name string) (string, bool) {
	switch name {
	case "user.name":
		u, _ := currentUser()
		return u, true
	case "user.home":
		_, h := currentUser()
		return h, h != ""
	case "user.dir":
		d, err := os.Getwd()
		return d, err == nil
	case "java.io.tmpdir":
		return os.TempDir(), true
	case "file.separator":
		return string(filepath.Separator), true
	case "path.separator":
		return string(os.PathListSeparator), true
	case "line.separator":
		return "\n", true
	case "hadoop.home.dir":
		return lookupNonEmpty("HADOOP_HOME")
	case "hadoop.log.dir":
		return lookupNonEmpty("HADOOP_LOG_DIR")
	}
	return "", false
}

// lookupNonEmpty returns a non-empty environment variable.
func lookupNonEmpty(name string) (string, bool) {
	v := os.Getenv(name)
	return v, v != ""
}
