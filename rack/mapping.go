// Package rack owns where DataNodes sit in the network and where block
// replicas should go: the host → rack mapping (Hadoop's topology script and
// table file contracts), the network topology tree with Hadoop's distance
// metric, and the block placement policies ("seeds", the original HDFS
// design, and "hadoop", BlockPlacementPolicyDefault as Hadoop ships it).
//
// The package holds no namespace state: it knows nodes, racks and the
// replicas a caller shows it, never files, blocks or their locations. The
// NameNode's block manager feeds it DataNodes as they register and die and
// asks it for pipeline targets, excess replicas and read order.
package rack

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// DefaultRack is the network location of every host that cannot be mapped.
const DefaultRack = "/default-rack"

// DefaultScriptArgs is net.topology.script.number.args' default: the most
// hosts passed to one run of the topology script.
const DefaultScriptArgs = 100

// DefaultScriptTimeout bounds one run of the topology script.
const DefaultScriptTimeout = 10 * time.Second

// Mapper maps host names or IP addresses to rack paths (Hadoop's
// DNSToSwitchMapping). Implementations are safe for concurrent use.
type Mapper interface {
	// Resolve returns one rack path per host, in order. It never fails:
	// a host that cannot be mapped is placed on DefaultRack.
	Resolve(hosts []string) []string
	// Refresh forgets cached answers (dfsadmin -refreshNodes), re-reads a
	// table file and re-resolves the hosts it had cached, so the next
	// Resolve sees the current mapping.
	Refresh()
}

// MapperConfig selects and tunes the mapping.
//
// Script is net.topology.script.file.name, ScriptArgs
// net.topology.script.number.args (0 means 100), ScriptTimeout the bound on
// one run of the script (0 means 10 s). Table is
// net.topology.table.file.name. When both Script and Table are set the
// script wins, as with Hadoop's default mapping class (ScriptBasedMapping);
// the table is ignored with a warning. When neither is set every host is
// on DefaultRack. Logger defaults to logrus' standard logger.
type MapperConfig struct {
	Script        string
	ScriptArgs    int
	ScriptTimeout time.Duration
	Table         string
	Logger        logrus.FieldLogger
}

// NewMapper builds the Mapper cfg describes. It fails only for settings
// that cannot mean anything (negative counts or timeouts); a missing script
// or an unreadable table is logged and every affected host maps to
// DefaultRack, as Hadoop does.
func NewMapper(cfg MapperConfig) (Mapper, error) {
	if cfg.ScriptArgs < 0 {
		return nil, fmt.Errorf("rack: net.topology.script.number.args must be positive, got %d", cfg.ScriptArgs)
	}
	if cfg.ScriptTimeout < 0 {
		return nil, fmt.Errorf("rack: topology script timeout must not be negative, got %v", cfg.ScriptTimeout)
	}
	log := cfg.Logger
	if log == nil {
		log = logrus.StandardLogger()
	}
	if cfg.ScriptArgs == 0 {
		cfg.ScriptArgs = DefaultScriptArgs
	}
	if cfg.ScriptTimeout == 0 {
		cfg.ScriptTimeout = DefaultScriptTimeout
	}
	switch {
	case cfg.Script != "":
		if cfg.Table != "" {
			log.WithFields(logrus.Fields{"script": cfg.Script, "table": cfg.Table}).
				Warn("both net.topology.script.file.name and net.topology.table.file.name are set; using the script")
		}
		return newScriptMapper(cfg.Script, cfg.ScriptArgs, cfg.ScriptTimeout, log), nil
	case cfg.Table != "":
		return newTableMapper(cfg.Table, log), nil
	default:
		return defaultMapper{}, nil
	}
}

// defaultMapper puts every host on DefaultRack.
type defaultMapper struct{}

func (defaultMapper) Resolve(hosts []string) []string {
	out := make([]string, len(hosts))
	for i := range out {
		out[i] = DefaultRack
	}
	return out
}

func (defaultMapper) Refresh() {}

// CheckRackPath reports whether p is a well-formed network location: it
// starts with "/", and has no empty component (no "//", no trailing "/",
// not "/" alone).
func CheckRackPath(p string) error {
	if p == "" {
		return errors.New("empty rack path")
	}
	if p[0] != '/' {
		return fmt.Errorf("rack path %q does not start with /", p)
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == "" {
			return fmt.Errorf("rack path %q has an empty component", p)
		}
	}
	return nil
}

// batchResolver maps one batch of distinct hosts, all or nothing.
type batchResolver interface {
	resolveBatch(hosts []string) ([]string, error)
	batchSize() int
}

// cachedMapper caches a batchResolver's answers per host (Hadoop's
// CachedDNSToSwitchMapping). Failed batches are not cached.
type cachedMapper struct {
	r   batchResolver
	mu  sync.Mutex
	hit map[string]string
}

func newCachedMapper(r batchResolver) *cachedMapper {
	return &cachedMapper{r: r, hit: map[string]string{}}
}

func (m *cachedMapper) Resolve(hosts []string) []string {
	out := make([]string, len(hosts))
	var missing []string
	seen := map[string]bool{}
	m.mu.Lock()
	for i, h := range hosts {
		if r, ok := m.hit[h]; ok {
			out[i] = r
		} else if !seen[h] {
			seen[h] = true
			missing = append(missing, h)
		}
	}
	m.mu.Unlock()
	if len(missing) == 0 {
		return out
	}
	got := m.resolve(missing)
	for i, h := range hosts {
		if out[i] == "" {
			out[i] = got[h]
		}
	}
	return out
}

// resolve runs the resolver over hosts in batches, outside the lock, and
// caches what succeeded. Every host gets an answer (DefaultRack on failure).
func (m *cachedMapper) resolve(hosts []string) map[string]string {
	got := make(map[string]string, len(hosts))
	n := m.r.batchSize()
	for start := 0; start < len(hosts); start += n {
		batch := hosts[start:min(start+n, len(hosts))]
		racks, err := m.r.resolveBatch(batch)
		m.mu.Lock()
		for i, h := range batch {
			if err != nil {
				got[h] = DefaultRack
				continue
			}
			got[h] = racks[i]
			m.hit[h] = racks[i]
		}
		m.mu.Unlock()
	}
	return got
}

func (m *cachedMapper) Refresh() {
	m.mu.Lock()
	known := make([]string, 0, len(m.hit))
	for h := range m.hit {
		known = append(known, h)
	}
	m.hit = map[string]string{}
	m.mu.Unlock()
	if len(known) > 0 {
		m.resolve(known)
	}
}
