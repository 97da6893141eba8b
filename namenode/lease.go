package namenode

import (
	"sort"
	"time"
)

// lease is one client's right to write its open files, renewed by
// renewLease and by every write call of that client.
type lease struct {
	holder  string
	renewed time.Time
	files   map[uint64]struct{}
}

// leaseManager tracks leases by holder. It lives inside the Namespace and
// is guarded by the namespace lock.
type leaseManager struct {
	byHolder map[string]*lease
}

func newLeaseManager() *leaseManager {
	return &leaseManager{byHolder: map[string]*lease{}}
}

func (m *leaseManager) add(holder string, inode uint64, now time.Time) {
	l := m.byHolder[holder]
	if l == nil {
		l = &lease{holder: holder, files: map[uint64]struct{}{}}
		m.byHolder[holder] = l
	}
	l.renewed = now
	l.files[inode] = struct{}{}
}

func (m *leaseManager) remove(holder string, inode uint64) {
	if l := m.byHolder[holder]; l != nil {
		delete(l.files, inode)
		if len(l.files) == 0 {
			delete(m.byHolder, holder)
		}
	}
}

// renew refreshes a holder's lease; false when it holds none.
func (m *leaseManager) renew(holder string, now time.Time) bool {
	if l := m.byHolder[holder]; l != nil {
		l.renewed = now
		return true
	}
	return false
}

func (m *leaseManager) get(holder string) *lease { return m.byHolder[holder] }

// expired lists holders whose lease is older than limit, oldest first.
func (m *leaseManager) expired(now time.Time, limit time.Duration) []*lease {
	var out []*lease
	for _, l := range m.byHolder {
		if now.Sub(l.renewed) > limit {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].renewed.Before(out[j].renewed) })
	return out
}

// count is the number of files open for write.
func (m *leaseManager) count() int {
	n := 0
	for _, l := range m.byHolder {
		n += len(l.files)
	}
	return n
}

// RenewLease refreshes the lease of clientName (renewLease RPC). Hadoop
// refuses it in safe mode.
func (ns *Namespace) RenewLease(clientName string) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if err := ns.checkSafeMode("Cannot renew lease for " + clientName); err != nil {
		return err
	}
	ns.leases.renew(clientName, ns.now())
	return nil
}

// CheckLeases recovers files whose writer's lease passed the hard limit:
// the NameNode's lease monitor calls it every few seconds.
func (ns *Namespace) CheckLeases() {
	ns.mu.RLock()
	expired := ns.leases.expired(ns.now(), ns.set.LeaseHardLimit)
	var paths []string
	for _, l := range expired {
		for id := range l.files {
			if n := ns.inodes[id]; n != nil {
				paths = append(paths, n.fullPath())
			}
		}
	}
	inSafe := ns.safe.on()
	ns.mu.RUnlock()
	if inSafe {
		return
	}
	for _, p := range paths {
		c := &Caller{User: ns.set.Superuser}
		if _, err := ns.RecoverLease(c, p, "NN-lease-recovery", true); err != nil {
			ns.log.WithError(err).WithField("path", p).Warn("lease recovery failed")
		} else {
			ns.log.WithField("path", p).Info("lease past its hard limit recovered")
		}
	}
}
