package namenode

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// hostLists are dfs.hosts (who may register; empty = everyone) and
// dfs.hosts.exclude (who must be decommissioned), Hadoop's host files:
// names or IPs, optionally with :port, separated by white space, with #
// comments.
type hostLists struct {
	include, exclude map[string]bool
	// maintenance maps a host to the end of its maintenance window, from
	// Hadoop's JSON host file (CombinedHostFileManager's format).
	maintenance map[string]time.Time
}

// hostEntry is one object of Hadoop's JSON dfs.hosts file.
type hostEntry struct {
	HostName                  string `json:"hostName"`
	Port                      int    `json:"port"`
	AdminState                string `json:"adminState"`
	MaintenanceExpireTimeInMS int64  `json:"maintenanceExpireTimeInMS"`
}

// readJSONHosts parses the JSON form of dfs.hosts: every entry may
// register; DECOMMISSIONED entries are decommissioned, IN_MAINTENANCE ones
// enter maintenance until their expiry.
func readJSONHosts(path string, data []byte) (hostLists, error) {
	var entries []hostEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return hostLists{}, fmt.Errorf("parse host file %s: %w", path, err)
	}
	h := hostLists{include: map[string]bool{}, exclude: map[string]bool{}, maintenance: map[string]time.Time{}}
	for _, e := range entries {
		name := e.HostName
		if e.Port > 0 {
			name = fmt.Sprintf("%s:%d", e.HostName, e.Port)
		}
		h.include[name] = true
		switch strings.ToUpper(e.AdminState) {
		case "DECOMMISSIONED":
			h.exclude[name] = true
		case "IN_MAINTENANCE":
			exp := time.UnixMilli(e.MaintenanceExpireTimeInMS)
			if e.MaintenanceExpireTimeInMS <= 0 {
				exp = time.Now().Add(100 * 365 * 24 * time.Hour)
			}
			h.maintenance[name] = exp
		}
	}
	return h, nil
}

// maintenanceUntil tells whether d is named for maintenance, and until when.
func (h hostLists) maintenanceUntil(d *datanode) (time.Time, bool) {
	for _, k := range []string{d.id.GetIp(), d.id.GetHostName(), d.xferAddr(), fmt.Sprintf("%s:%d", d.id.GetHostName(), d.id.GetXferPort())} {
		if t, ok := h.maintenance[k]; ok {
			return t, true
		}
	}
	return time.Time{}, false
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
	if bm.set.HostsInclude != "" {
		if data, err := os.ReadFile(bm.set.HostsInclude); err == nil && strings.HasPrefix(strings.TrimSpace(string(data)), "[") {
			h, err := readJSONHosts(bm.set.HostsInclude, data)
			if err != nil {
				return err
			}
			bm.mu.Lock()
			bm.hosts = h
			bm.mu.Unlock()
			return nil
		}
	}
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
		if until, ok := bm.hosts.maintenanceUntil(d); ok && !d.dead {
			if !d.maintenance {
				d.maintenance, d.inMaintenance = true, false
				bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "until": until}).Info("entering maintenance")
				for id := range d.blocks {
					bm.dirty[id] = struct{}{}
				}
			}
			d.maintenanceUntil = until
		} else if !ok && d.maintenance {
			bm.endMaintenanceLocked(d, "removed from the host file")
		}
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

// endMaintenanceLocked returns a node to normal service; a node that died
// during maintenance is now treated as any dead node.
func (bm *BlockManager) endMaintenanceLocked(d *datanode, why string) {
	d.maintenance, d.inMaintenance = false, false
	bm.log.WithFields(logrus.Fields{"dn": d.xferAddr(), "reason": why}).Info("maintenance ended")
	for id := range d.blocks {
		bm.dirty[id] = struct{}{}
	}
	if d.dead {
		bm.removeNodeLocked(d, "dead when its maintenance ended")
	}
}

// checkMaintenanceLocked moves entering nodes to IN_MAINTENANCE once every
// block they hold has dfs.namenode.maintenance.replication.min live
// replicas elsewhere, and ends expired windows.
func (bm *BlockManager) checkMaintenanceLocked() {
	now := bm.now()
	for _, d := range bm.nodes {
		if !d.maintenance {
			continue
		}
		if now.After(d.maintenanceUntil) {
			bm.endMaintenanceLocked(d, "maintenance window expired")
			continue
		}
		if d.inMaintenance || d.dead {
			continue
		}
		ready := true
		for id := range d.blocks {
			if bm.liveReplicas(id) < bm.set.MaintenanceMinReplicas {
				ready = false
				break
			}
		}
		if ready {
			d.inMaintenance = true
			bm.log.WithField("dn", d.xferAddr()).Info("DataNode in maintenance")
		}
	}
}
