package rack

import (
	"bufio"
	"os"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// tableMapper maps hosts through a two-column file (Hadoop's TableMapping):
// "host rack" per line, white-space separated; "#" starts a comment; blank
// lines are skipped. Hosts not listed map to DefaultRack. The file is read
// at start-up and again on Refresh; if it cannot be read, every host maps
// to DefaultRack until a Refresh reads it.
type tableMapper struct {
	path string
	log  logrus.FieldLogger

	mu    sync.RWMutex
	table map[string]string
}

func newTableMapper(path string, log logrus.FieldLogger) *tableMapper {
	m := &tableMapper{path: path, log: log}
	m.Refresh()
	return m
}

func (m *tableMapper) Resolve(hosts []string) []string {
	out := make([]string, len(hosts))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, h := range hosts {
		if r, ok := m.table[h]; ok {
			out[i] = r
		} else {
			out[i] = DefaultRack
		}
	}
	return out
}

func (m *tableMapper) Refresh() {
	t := m.load()
	m.mu.Lock()
	m.table = t
	m.mu.Unlock()
}

// load reads the table file; problems are logged, never fatal.
func (m *tableMapper) load() map[string]string {
	t := map[string]string{}
	f, err := os.Open(m.path)
	if err != nil {
		m.log.WithFields(logrus.Fields{"table": m.path, "reason": err.Error()}).
			Warn("cannot read topology table; all hosts map to " + DefaultRack)
		return t
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		cols := strings.Fields(line)
		if len(cols) == 0 {
			continue
		}
		if len(cols) != 2 {
			m.log.WithFields(logrus.Fields{"table": m.path, "line": lineNo}).
				Warn("topology table line does not have two columns; ignoring it")
			continue
		}
		if err := CheckRackPath(cols[1]); err != nil {
			m.log.WithFields(logrus.Fields{"table": m.path, "line": lineNo, "reason": err.Error()}).
				Warn("topology table line has a malformed rack; ignoring it")
			continue
		}
		t[cols[0]] = cols[1]
	}
	if err := sc.Err(); err != nil {
		m.log.WithFields(logrus.Fields{"table": m.path, "reason": err.Error()}).
			Warn("error reading topology table; using the lines read so far")
	}
	return t
}
