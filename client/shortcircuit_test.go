package client

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// FuzzReadDelimitedExact feeds arbitrary bytes to the reply decoder of
// the domain socket: errors, never a panic or an over-read.
func FuzzReadDelimitedExact(f *testing.F) {
	ok, _ := proto.Marshal(&pb.BlockOpResponseProto{Status: pb.Status_SUCCESS.Enum(), ShortCircuitAccessVersion: proto.Uint32(1)})
	f.Add(append(protowire.AppendVarint(nil, uint64(len(ok))), ok...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		var resp pb.BlockOpResponseProto
		if err := readDelimitedExact(r, &resp); err == nil {
			n, k := protowire.ConsumeVarint(b)
			if k < 0 || int(n)+k != len(b)-r.Len() {
				t.Fatalf("decoded %d bytes of %d, length prefix %d", len(b)-r.Len(), len(b), n)
			}
		}
	})
}

// TestLocalBlockRead reads a replica laid out as a DataNode stores it
// (block file, meta file of CRC32C per 512 bytes) at every alignment, and
// finds a flipped byte.
func TestLocalBlockRead(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	cs, _ := newChecksummer("CRC32C", 512)
	sums := make([]byte, 4*cs.chunks(len(data), 512))
	cs.sum(sums, data, 512)
	meta := append([]byte{0, 1, byte(pb.ChecksumTypeProto_CHECKSUM_CRC32C), 0, 0, 2, 0}, sums...)
	bp, mp := filepath.Join(dir, "blk"), filepath.Join(dir, "meta")
	os.WriteFile(bp, data, 0o644)
	os.WriteFile(mp, meta, 0o644)
	open := func() *localBlock {
		b, _ := os.Open(bp)
		m, _ := os.Open(mp)
		lb := &localBlock{blk: b, meta: m, length: int64(len(data))}
		if err := lb.readHeader(false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(lb.close)
		return lb
	}
	lb := open()
	for _, tc := range []struct{ off, n int }{{0, 5000}, {0, 512}, {1, 1}, {511, 2}, {512, 4488}, {4999, 10}, {100, 3000}, {0, 10000}} {
		p := make([]byte, tc.n)
		got := 0
		for got < tc.n && tc.off+got < len(data) {
			k, err := lb.readAt(p[got:], int64(tc.off+got))
			if err != nil || k == 0 {
				t.Fatalf("read %d at %d: %d, %v", tc.n-got, tc.off+got, k, err)
			}
			got += k
		}
		want := data[tc.off:min(tc.off+tc.n, len(data))]
		if !bytes.Equal(p[:got], want) {
			t.Fatalf("read %d at %d: wrong bytes", tc.n, tc.off)
		}
	}
	if _, err := lb.readAt(make([]byte, 1), 5000); err == nil {
		t.Fatal("read at the end: no EOF")
	}
	data[3000] ^= 1
	os.WriteFile(bp, data, 0o644)
	lb = open()
	if _, err := lb.readAt(make([]byte, 100), 2900); err == nil {
		t.Fatal("a flipped byte went unnoticed")
	}
	if _, err := lb.readAt(make([]byte, 100), 0); err != nil {
		t.Fatalf("a clean chunk before it: %v", err)
	}
}
