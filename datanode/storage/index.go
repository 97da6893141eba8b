package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/sirupsen/logrus"
)

// The replica index: one badger DB per DataNode. It is a cache of what the
// volumes hold, never the only copy of anything: losing it costs a rescan.
//
// Keys:
//
//	'r' <bpid> 0x00 <block id, 8 bytes big-endian> <storage id>  -> replica record
//	'd' <bpid> 0x00 <storage id> 0x00 <leaf, 2 bytes big-endian> -> leaf directory record
//	'c' <bpid> 0x00 <block id> <storage id> -> replica record of files MarkCorrupt set aside
//
// A leaf directory record holds the directory's mtime as of the last change
// whose replica records are in the index (see refresh.go).
const (
	keyReplica = 'r'
	keyDir     = 'd'
	keyCorrupt = 'c'

	recordVersion = 1
)

// indexRecord is a replica's index value.
type indexRecord struct {
	State    State
	GenStamp uint64
	NumBytes uint64 // length (RBW: bytes on disk when recorded)
	FileSize uint64 // block file size
	MetaSize uint64
	MTime    int64 // block file mtime, unix nanoseconds
	Checksum checksumSpec
}

func encodeIndexRecord(r indexRecord) []byte {
	b := make([]byte, 0, 48)
	b = append(b, recordVersion, byte(r.State))
	b = binary.AppendUvarint(b, r.GenStamp)
	b = binary.AppendUvarint(b, r.NumBytes)
	b = binary.AppendUvarint(b, r.FileSize)
	b = binary.AppendUvarint(b, r.MetaSize)
	b = binary.AppendVarint(b, r.MTime)
	b = append(b, r.Checksum.typ)
	b = binary.AppendUvarint(b, uint64(r.Checksum.bpc))
	return b
}

var errBadRecord = errors.New("storage: malformed index record")

// decodeIndexRecord reads a replica record; anything malformed is an
// error, never a panic.
func decodeIndexRecord(b []byte) (indexRecord, error) {
	var r indexRecord
	if len(b) < 2 || b[0] != recordVersion {
		return r, errBadRecord
	}
	r.State = State(b[1])
	switch r.State {
	case StateFinalized, StateRBW, StateRWR, StateRUR, StateTemporary:
	default:
		return r, fmt.Errorf("%w: state %d", errBadRecord, b[1])
	}
	d := decoder{b: b[2:]}
	r.GenStamp = d.uvarint()
	r.NumBytes = d.uvarint()
	r.FileSize = d.uvarint()
	r.MetaSize = d.uvarint()
	r.MTime = d.varint()
	typ := d.byte()
	bpc := d.uvarint()
	if d.err != nil || len(d.b) != 0 {
		return r, errBadRecord
	}
	if bpc > maxBytesPerChecksum {
		return r, fmt.Errorf("%w: bytes per checksum %d", errBadRecord, bpc)
	}
	cs, err := newChecksumSpec(typ, int(bpc))
	if err != nil {
		return r, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	r.Checksum = cs
	return r, nil
}

// dirRecord is a leaf directory's index value: its mtime, and when that
// was observed. It certifies the leaf only when RecordedAt is at least
// racyWindow after MTime (see refresh.go).
type dirRecord struct {
	MTime      int64 // unix nanoseconds
	RecordedAt int64 // wall clock when recorded, unix nanoseconds
}

func encodeDirRecord(r dirRecord) []byte {
	b := []byte{recordVersion, 0}
	b = binary.AppendVarint(b, r.MTime)
	return binary.AppendVarint(b, r.RecordedAt)
}

func decodeDirRecord(b []byte) (dirRecord, error) {
	var r dirRecord
	if len(b) < 2 || b[0] != recordVersion || b[1] != 0 {
		return r, errBadRecord
	}
	d := decoder{b: b[2:]}
	r.MTime = d.varint()
	r.RecordedAt = d.varint()
	if d.err != nil || len(d.b) != 0 {
		return r, errBadRecord
	}
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errBadRecord
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func replicaPrefix(bpid string) []byte {
	return append(append([]byte{keyReplica}, bpid...), 0)
}

func replicaKey(bpid string, id uint64, storageID string) []byte {
	k := replicaPrefix(bpid)
	k = binary.BigEndian.AppendUint64(k, id)
	return append(k, storageID...)
}

// parseReplicaKey splits a replica key below its prefix.
func parseReplicaKey(prefix, key []byte) (id uint64, storageID string, ok bool) {
	rest, ok := bytes.CutPrefix(key, prefix)
	if !ok || len(rest) < 9 {
		return 0, "", false
	}
	return binary.BigEndian.Uint64(rest), string(rest[8:]), true
}

func corruptPrefix(bpid string) []byte {
	return append(append([]byte{keyCorrupt}, bpid...), 0)
}

func corruptKey(bpid string, id uint64, storageID string) []byte {
	return append(binary.BigEndian.AppendUint64(corruptPrefix(bpid), id), storageID...)
}

func dirPrefix(bpid, storageID string) []byte {
	k := append([]byte{keyDir}, bpid...)
	k = append(k, 0)
	k = append(k, storageID...)
	return append(k, 0)
}

func dirKey(bpid, storageID string, leaf uint16) []byte {
	return binary.BigEndian.AppendUint16(dirPrefix(bpid, storageID), leaf)
}

// ixOp is one put (val != nil) or delete (val == nil).
type ixOp struct{ key, val []byte }

// index wraps the badger DB. After a write error it stops writing (the
// records it holds then certify less and the next start-up lists more).
type index struct {
	db     *badger.DB
	log    logrus.FieldLogger
	failed atomic.Bool

	mu     sync.RWMutex // close waits for writes and scans in flight
	closed bool
}

// badgerLogger sends badger's messages to logrus, quietly.
type badgerLogger struct{ log logrus.FieldLogger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.log.Errorf("badger: "+f, a...) }
func (l badgerLogger) Warningf(f string, a ...any) { l.log.Warnf("badger: "+f, a...) }
func (l badgerLogger) Infof(f string, a ...any)    { l.log.Debugf("badger: "+f, a...) }
func (l badgerLogger) Debugf(f string, a ...any)   {}

// openIndex opens (or creates) the index DB in dir.
func openIndex(dir string, memTable int64, log logrus.FieldLogger) (*index, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(memTable).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12).
		WithBaseTableSize(2 << 20).
		WithBlockCacheSize(8 << 20).
		WithValueLogFileSize(16 << 20).
		WithValueThreshold(1 << 10).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithSyncWrites(false)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("storage: open replica index %s: %w", dir, err)
	}
	return &index{db: db, log: log}, nil
}

// write applies ops atomically (large batches: in order, in pieces).
func (ix *index) write(ops []ixOp) {
	if len(ops) == 0 || ix.failed.Load() {
		return
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return
	}
	var err error
	if len(ops) <= 512 {
		err = ix.db.Update(func(txn *badger.Txn) error {
			for _, op := range ops {
				var e error
				if op.val == nil {
					e = txn.Delete(op.key)
				} else {
					e = txn.Set(op.key, op.val)
				}
				if e != nil {
					return e
				}
			}
			return nil
		})
	} else {
		wb := ix.db.NewWriteBatch()
		for _, op := range ops {
			if op.val == nil {
				err = wb.Delete(op.key)
			} else {
				err = wb.Set(op.key, op.val)
			}
			if err != nil {
				break
			}
		}
		if err == nil {
			err = wb.Flush()
		} else {
			wb.Cancel()
		}
	}
	if err != nil && !ix.failed.Swap(true) {
		ix.log.WithError(err).Error("replica index write failed; index disabled until restart (the next start-up lists the volumes)")
	}
}

// scan calls fn for every key with the prefix, in key order.
func (ix *index) scan(prefix []byte, fn func(key, val []byte) error) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return fmt.Errorf("storage: replica index: %w", ErrClosed)
	}
	return ix.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Prefix = prefix
		o.PrefetchSize = 256
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { return fn(item.Key(), v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// sync makes the writes so far durable.
func (ix *index) sync() error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.failed.Load() || ix.closed {
		return nil
	}
	return ix.db.Sync()
}

// close closes the DB once; later writes are dropped.
func (ix *index) close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	return ix.db.Close()
}
