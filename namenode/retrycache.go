package namenode

import (
	"sync"
	"time"
)

// retryCache remembers the outcome of non-idempotent calls by (clientId,
// callId), as Hadoop's RetryCache does, so a client that resends create,
// rename or delete after a lost reply gets the original answer instead of
// a spurious error. A retry that arrives while the first attempt is still
// running waits for it. Entries expire after dfs.namenode.retrycache.
// expirytime.millis; edit-log replay refills the cache after a restart.
type retryCache struct {
	mu      sync.Mutex
	expiry  time.Duration
	entries map[retryKey]*retryEntry
	order   []retryKey
}

type retryKey struct {
	client string
	call   int32
}

type retryEntry struct {
	done    chan struct{}
	ok      bool
	result  any
	expires time.Time
}

func newRetryCache(expiry time.Duration) *retryCache {
	return &retryCache{expiry: expiry, entries: map[retryKey]*retryEntry{}}
}

func (rc *retryCache) enabled(clientID []byte) bool {
	return rc.expiry > 0 && len(clientID) == 16
}

// begin looks a call up. It returns (entry, true) when the call succeeded
// before: entry.result is the answer to give. Otherwise it returns a new
// pending entry (or nil when the call cannot be cached) to finish.
func (rc *retryCache) begin(clientID []byte, callID int32) (*retryEntry, bool) {
	if !rc.enabled(clientID) || callID < 0 {
		return nil, false
	}
	k := retryKey{string(clientID), callID}
	for {
		rc.mu.Lock()
		e := rc.entries[k]
		if e == nil || (e.isDone() && !e.ok) || (e.isDone() && time.Now().After(e.expires)) {
			e = &retryEntry{done: make(chan struct{})}
			rc.entries[k] = e
			rc.order = append(rc.order, k)
			rc.purgeLocked()
			rc.mu.Unlock()
			return e, false
		}
		rc.mu.Unlock()
		<-e.done
		if e.ok {
			return e, true
		}
	}
}

func (e *retryEntry) isDone() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// finish records the outcome of a call begun with begin.
func (rc *retryCache) finish(e *retryEntry, result any, err error) {
	if e == nil {
		return
	}
	rc.mu.Lock()
	e.ok = err == nil
	e.result = result
	e.expires = time.Now().Add(rc.expiry)
	rc.mu.Unlock()
	close(e.done)
}

// record adds a completed entry during edit-log replay.
func (rc *retryCache) record(clientID []byte, callID int32, result any) {
	if !rc.enabled(clientID) || callID < 0 {
		return
	}
	e := &retryEntry{done: make(chan struct{}), ok: true, result: result,
		expires: time.Now().Add(rc.expiry)}
	close(e.done)
	k := retryKey{string(clientID), callID}
	rc.mu.Lock()
	rc.entries[k] = e
	rc.order = append(rc.order, k)
	rc.purgeLocked()
	rc.mu.Unlock()
}

// purgeLocked drops expired entries from the front of the insertion order.
func (rc *retryCache) purgeLocked() {
	now := time.Now()
	i := 0
	for ; i < len(rc.order); i++ {
		e := rc.entries[rc.order[i]]
		if e != nil && (!e.isDone() || now.Before(e.expires)) {
			break
		}
		if e != nil {
			delete(rc.entries, rc.order[i])
		}
	}
	if i > 0 {
		rc.order = append(rc.order[:0], rc.order[i:]...)
	}
}
