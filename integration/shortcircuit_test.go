package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shortCircuitCluster starts three DataNodes serving short-circuit reads
// on domain sockets named by their transfer ports (a short directory:
// socket paths are limited to 108 bytes).
func shortCircuitCluster(t testing.TB) (*Cluster, map[string]string) {
	dir, err := os.MkdirTemp("", "sc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sc := map[string]string{
		"dfs.client.read.shortcircuit": "true",
		"dfs.domain.socket.path":       filepath.Join(dir, "dn._PORT"),
	}
	cf := DataConf()
	for k, v := range sc {
		cf[k] = v
	}
	c := NewCluster(t, cf)
	c.Start()
	c.StartDataNodes("127.0.0.11", "127.0.0.12", "127.0.0.13")
	waitLive(t, c, 3)
	return c, sc
}

// TestShortCircuitReads reads multi-block files through local replicas'
// descriptors (the project's client), whole, at random offsets and with
// ReadAt, and compares with what was written; a client without
// short-circuit reads the same bytes over TCP.
func TestShortCircuitReads(t *testing.T) {
	c, _ := shortCircuitCluster(t)
	hc := c.Client(currentUserName())
	sizes := []int{0, 1, 511, 513, 1<<20 - 1, 1 << 20, 3<<20 + 777}
	files := map[string][]byte{}
	for i, n := range sizes {
		name := fmt.Sprintf("/sc-%d", n)
		files[name] = randomBytes(uint64(100+i), n)
		writeFile(t, hc, name, files[name])
	}
	cl := projectClient(t, c, nil)
	tcp := projectClient(t, c, map[string]string{"dfs.client.read.shortcircuit": "false"})
	rng := rand.New(rand.NewPCG(1, 2))
	for name, want := range files {
		f, err := cl.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes (%v), want %d equal bytes", name, len(got), err, len(want))
		}
		if f.ShortCircuitBytes() != int64(len(want)) {
			t.Errorf("%s: %d of %d bytes read short-circuit", name, f.ShortCircuitBytes(), len(want))
		}
		for k := 0; k < 20 && len(want) > 0; k++ {
			off := rng.IntN(len(want))
			n := min(rng.IntN(200000)+1, len(want)-off)
			buf := make([]byte, n)
			if _, err := f.Seek(int64(off), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, want[off:off+n]) {
				t.Fatalf("%s: read %d at %d: %v", name, n, off, err)
			}
			if _, err := f.ReadAt(buf, int64(off)); err != nil || !bytes.Equal(buf, want[off:off+n]) {
				t.Fatalf("%s: ReadAt %d at %d: %v", name, n, off, err)
			}
		}
		f.Close()
		g, err := tcp.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(g)
		if err != nil || !bytes.Equal(got, want) || g.ShortCircuitBytes() != 0 {
			t.Fatalf("%s over TCP: %d bytes, %v, %d short-circuit", name, len(got), err, g.ShortCircuitBytes())
		}
		g.Close()
	}
}

// TestShortCircuitCorruptReplica flips a byte in the local replica a
// short-circuit reader uses first: the read still returns the right bytes
// (from another replica), and the corrupt one is reported and replaced.
func TestShortCircuitCorruptReplica(t *testing.T) {
	c, _ := shortCircuitCluster(t)
	hc := c.Client(currentUserName())
	data := randomBytes(5, 300000)
	writeFile(t, hc, "/scbad", data)
	b := blockLocations(t, c, "/scbad").GetBlocks()[0]
	first := b.GetLocs()[0].GetId()
	victim := c.dataNodeAt(fmt.Sprintf("%s:%d", first.GetIpAddr(), first.GetXferPort()))
	files := findBlockFiles(victim.Dir, b.GetB().GetBlockId())
	if len(files) != 1 {
		t.Fatalf("replica files on %s: %v", victim.IP, files)
	}
	raw, _ := os.ReadFile(files[0])
	raw[70000] ^= 0x5a
	os.WriteFile(files[0], raw, 0o644)

	// Readers are offered the replicas in a random order (all are at the
	// same distance): read until one meets the corrupt replica first.
	cl := projectClient(t, c, nil)
	for try := 0; ; try++ {
		f, err := cl.Open("/scbad")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read with a corrupt local replica: %d bytes, %v", len(got), err)
		}
		if f.ShortCircuitBytes() != int64(len(data)) {
			t.Fatalf("%d of %d bytes read short-circuit: the reader should move to another local replica", f.ShortCircuitBytes(), len(data))
		}
		if strings.Contains(c.NNLog(), "replica reported corrupt") || try == 60 {
			break
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		locs := blockLocations(t, c, "/scbad").GetBlocks()[0].GetLocs()
		onVictim := false
		for _, l := range locs {
			onVictim = onVictim || l.GetId().GetIpAddr() == victim.IP
		}
		if !onVictim {
			return // reported, and no longer offered to readers
		}
		if time.Now().After(deadline) {
			t.Fatalf("corrupt replica on %s still offered after 60s\n%s", victim.IP, c.NNLog())
		}
		time.Sleep(300 * time.Millisecond)
	}
}
