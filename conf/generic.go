package conf

import (
	"fmt"
	"os"
	"strings"
)

// GenericOptions are the options every Hadoop command accepts before its
// own arguments (Hadoop's GenericOptionsParser), as ParseGenericOptions
// found them.
type GenericOptions struct {
	// ConfDir is the configuration directory from --config DIR or
	// --conf DIR ("" means $HADOOP_CONF_DIR).
	ConfDir string
	// ConfFiles are the -conf files, in order.
	ConfFiles []string
	// Overrides are the -D key=value pairs (and fs.defaultFS from -fs);
	// never nil.
	Overrides map[string]string
	// Rest are the arguments after the generic options, unchanged; never
	// nil.
	Rest []string
}

// Load loads the configuration the options describe:
// Load(g.ConfDir, g.ConfFiles, g.Overrides).
func (g GenericOptions) Load() (*Config, error) {
	return Load(g.ConfDir, g.ConfFiles, g.Overrides)
}

// ignoredWithArg are generic options AvatarFS accepts and ignores, with
// their argument (they concern MapReduce jobs).
var ignoredWithArg = map[string]bool{
	"-files": true, "-libjars": true, "-archives": true, "-jt": true, "-tokenCacheFile": true,
}

// ParseGenericOptions parses Hadoop's generic options from the front of
// args: -D key=value (also -Dkey=value), -conf FILE, -fs URI (sets
// fs.defaultFS; an explicit -D fs.defaultFS wins, as in Hadoop), and
// -files, -libjars, -archives, -jt and -tokenCacheFile, which are accepted
// and ignored with their argument. --config DIR sets the configuration
// directory, and so does --conf DIR (unless its argument is an existing
// file or ends in .xml, when it is a -conf file); -conf DIR naming an
// existing directory sets it too. Parsing stops at "--" (which is dropped)
// or at the first argument that is not a generic option; the rest are
// returned unchanged, so "-D x=y -ls /" leaves ["-ls", "/"]. A -D without
// key=value, or an option missing its argument, is an error naming it.
func ParseGenericOptions(args []string) (GenericOptions, error) {
	g := GenericOptions{Overrides: map[string]string{}}
	fsURI, haveFS := "", false
	i := 0
	// arg returns the argument of option args[i], or of "--opt=value".
	arg := func(opt string, inline string, hasInline bool) (string, error) {
		if hasInline {
			return inline, nil
		}
		if i+1 >= len(args) {
			return "", fmt.Errorf("conf: %s requires an argument", opt)
		}
		i++
		return args[i], nil
	}
loop:
	for ; i < len(args); i++ {
		a := args[i]
		opt, inline, hasInline := a, "", false
		if strings.HasPrefix(a, "--") {
			opt, inline, hasInline = strings.Cut(a, "=")
		}
		switch {
		case a == "--":
			i++
			break loop
		case a == "-D":
			kv, err := arg("-D", "", false)
			if err != nil {
				return g, fmt.Errorf("conf: -D requires key=value")
			}
			if err := g.define(kv); err != nil {
				return g, err
			}
		case strings.HasPrefix(a, "-D") && !strings.HasPrefix(a, "--"):
			if err := g.define(a[2:]); err != nil {
				return g, err
			}
		case opt == "--config":
			dir, err := arg(opt, inline, hasInline)
			if err != nil {
				return g, err
			}
			g.ConfDir = dir
		case opt == "-conf" || opt == "--conf":
			p, err := arg(opt, inline, hasInline)
			if err != nil {
				return g, err
			}
			st, statErr := os.Stat(p)
			isDir := statErr == nil && st.IsDir()
			isFile := (statErr == nil && !isDir) || strings.HasSuffix(p, ".xml")
			if isDir || (opt == "--conf" && !isFile) {
				g.ConfDir = p
			} else {
				g.ConfFiles = append(g.ConfFiles, p)
			}
		case opt == "-fs" || opt == "--fs":
			u, err := arg(opt, inline, hasInline)
			if err != nil {
				return g, err
			}
			fsURI, haveFS = u, true
		case ignoredWithArg[opt] || ignoredWithArg[strings.TrimPrefix(opt, "-")]:
			if _, err := arg(opt, inline, hasInline); err != nil {
				return g, err
			}
		default:
			break loop
		}
	}
	if haveFS {
		explicit := false
		for k := range g.Overrides {
			explicit = explicit || canonicalKey(k) == "fs.defaultFS"
		}
		if !explicit {
			g.Overrides["fs.defaultFS"] = fsURI
		}
	}
	g.Rest = append([]string{}, args[min(i, len(args)):]...)
	return g, nil
}

// define records one -D key=value.
func (g *GenericOptions) define(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("conf: -D %q: want key=value", kv)
	}
	g.Overrides[k] = v
	return nil
}
