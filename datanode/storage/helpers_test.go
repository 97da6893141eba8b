package storage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

const testBP = "BP-1234-127.0.0.1-1700000000000"

var crcC = crc32.MakeTable(crc32.Castagnoli)

// testLogger is quiet unless STORAGE_TEST_LOG names a level.
func testLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if lv, err := logrus.ParseLevel(os.Getenv("STORAGE_TEST_LOG")); err == nil {
		l.SetOutput(os.Stderr)
		l.SetLevel(lv)
	}
	return l
}

// testOptions makes options for n fresh volumes.
func testOptions(t testing.TB, n int) Options {
	t.Helper()
	var vols []VolumeConfig
	for i := 0; i < n; i++ {
		vols = append(vols, VolumeConfig{Path: t.TempDir(), Type: StorageDisk})
	}
	return Options{
		FS:                vfs.Default,
		Volumes:           vols,
		BlockPoolID:       testBP,
		ClusterID:         "CID-test",
		Logger:            testLogger(),
		BlockSize:         1 << 20,
		RefreshInterval:   -1,
		IndexMemTableSize: 4 << 20,
		// Tests that want the directory scanner run it or turn it on.
		DirScanInterval: -1,
	}
}

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pieceSums computes the checksums WriteChunks wants for data at off.
func pieceSums(off uint64, data []byte, bpc int) []byte {
	var out []byte
	for i := 0; i < len(data); {
		end := i + bpc - int((off+uint64(i))%uint64(bpc))
		end = min(end, len(data))
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(data[i:end], crcC))
		i = end
	}
	return out
}

// writeAll writes data from the writer's end in 64 KiB packets.
func writeAll(t testing.TB, w *ReplicaWriter, data []byte) {
	t.Helper()
	off := w.BytesOnDisk()
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		if err := w.WriteChunks(off, data[:n], pieceSums(off, data[:n], 512)); err != nil {
			t.Fatalf("WriteChunks at %d: %v", off, err)
		}
		off += uint64(n)
		data = data[n:]
	}
}

// putReplica writes and finalizes a replica.
func putReplica(t testing.TB, s *Store, id, gs uint64, data []byte) Replica {
	t.Helper()
	w, err := s.CreateRBW(id, gs, StorageDisk)
	if err != nil {
		t.Fatalf("CreateRBW %d: %v", id, err)
	}
	writeAll(t, w, data)
	r, err := w.Finalize()
	if err != nil {
		t.Fatalf("Finalize %d: %v", id, err)
	}
	return r
}

// readReplica reads a whole replica.
func readReplica(t testing.TB, s *Store, id, gs uint64) []byte {
	t.Helper()
	r, err := s.OpenReplica(id, gs)
	if err != nil {
		t.Fatalf("OpenReplica %d: %v", id, err)
	}
	defer r.Close()
	buf := make([]byte, r.Length())
	if _, err := r.ReadAt(buf, 0); err != nil && err != io.EOF {
		t.Fatalf("ReadAt: %v", err)
	}
	return buf
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d (differ)", what, len(got), len(want))
	}
}

// volumeOf finds the volume config holding a storage id.
func volumeOf(t testing.TB, s *Store, storageID string) string {
	t.Helper()
	for _, v := range s.Volumes() {
		if v.StorageID == storageID {
			return v.Path
		}
	}
	t.Fatalf("no volume %s", storageID)
	return ""
}

// finalizedPath is where a finalized replica's block file lives.
func finalizedPath(vol string, id uint64) string {
	return filepath.Join(newBPLayout(vol, testBP).leafDir(leafOf(id)), blockName(id))
}

// noSyncFS skips fsyncs, for tests that build many replicas fast.
type noSyncFS struct{ vfs.FS }

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error { return nil }

func (n noSyncFS) Create(name string) (vfs.File, error) {
	f, err := n.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (n noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := n.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }
