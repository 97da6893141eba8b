package namenode

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
)

// hostLists are dfs.hosts (who may register; empty = everyone) and
// dfs.hosts.exclude (who must be decommissioned), Hadoop's host files:
// names or IPs, optionally with :port, separated by white space, with #
// comments.
type hostLists struct {
	include, exclude map[string]bool
}

func readHostFile(path string) (map[string]bool, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read host file %s: %w", path, err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, h := range strings.Fields(line) {
			out[h] = true
		}
	}
	return out, sc.Err()
}

func (h hostLists) match(set map[string]bool, d *datanode) bool {
	ip, host := d.id.GetIp(), d.id.GetHostName()
	return set[ip] || set[host] || set[d.xferAddr()] || set[fmt.Sprintf("%s:%d", host, d.id.GetXferPort())]
}

func (h hostLists) allowed(d *datanode) bool {
	return len(h.include) == 0 || h.match(h.include, d)
}

func (h hostLists) excluded(d *datanode) bool { return h.match(h.exclude, d) }

// loadHostLists reads the configured host files.
func (bm *BlockManager) loadHostLists() error {
	inc, err := readHostFile(bm.set.HostsInclude)
	if err != nil {
		return err
	}
	exc, err := readHostFile(bm.set.HostsExclude)
	if err != nil {
		return err
	}
	bm.mu.Lock()
	bm.hosts = hostLists{include: inc, exclude: exc}
	bm.mu.Unlock()
	return nil
}

// applyHostListsLocked starts decommissioning excluded nodes and stops it
// for nodes no longer excluded.
func (bm *BlockManager) applyHostListsLocked() {
	for _, d := range bm.nodes {
		if d.dead {
			continue
		}
		ex := bm.hosts.excluded(d)
		switch {
		case ex && !d.decommission:
			d.decommission = true
			d.decommissioned = false
			bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "blocks": len(d.blocks)}).Info("decommission started")
			for id := range d.blocks {
				bm.dirty[id] = struct{}{}
			}
		case !ex && d.decommission:
			d.decommission, d.decommissioned = false, false
			bm.log.WithField("dn", d.xferAddr()).Info("decommission stopped")
			for id := range d.blocks {
				bm.dirty[id] = struct{}{}
			}
		}
	}
}

// checkDecommissionLocked marks decommissioning nodes Decommissioned once
// every block they hold has its full replication on other nodes.
func (bm *BlockManager) checkDecommissionLocked() {
	for _, d := range bm.nodes {
		if d.dead || !d.decommission || d.decommissioned {
			continue
		}
		done := true
		for id := range d.blocks {
			b := bm.ns.blocks[id]
			if b == nil || b.inode == nil {
				continue
			}
			if bm.liveReplicas(id) < int(b.inode.replication) {
				done = false
				break
			}
		}
		if done {
			d.decommissioned = true
			bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "blocks": len(d.blocks)}).Info("DataNode decommissioned")
		}
	}
}
