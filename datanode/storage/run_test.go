package storage

import (
	"errors"
	"io"
	"testing"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// TestWriteVerifiedRun writes runs of packets in one call each: runs from
// the replica's end on a chunk boundary (the vectored write), and runs it
// must store packet by packet (after a partial chunk, a resend, a packet
// ending mid-chunk before the last). Every step leaves readers the data
// and checksums written so far, and the final replica verifies.
func TestWriteVerifiedRun(t *testing.T) {
	data := randBytes(11, 400<<10)
	cases := []struct {
		name string
		runs [][]int // each run: packet boundaries [start, b1, ..., end]
	}{
		{"whole packets", [][]int{{0, 64512, 129024, 193536}, {193536, 258048, 300000}}},
		{"one packet runs", [][]int{{0, 700}, {700, 1024}, {1024, 5000}}},
		{"after a partial chunk", [][]int{{0, 700}, {700, 1024, 2048, 2100}}},
		{"resend from the partial chunk", [][]int{{0, 700}, {512, 1024, 2048}}},
		{"mid-chunk packet before the last", [][]int{{0, 1000, 3000, 4096}}},
		{"empty last packet", [][]int{{0, 1024, 2048, 2048}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, testOptions(t, 1))
			w, err := s.CreateRBW(5, 1, StorageDisk)
			if err != nil {
				t.Fatal(err)
			}
			end := 0
			for _, run := range tc.runs {
				var pieces, sums [][]byte
				for i := 0; i+1 < len(run); i++ {
					p := data[run[i]:run[i+1]]
					pieces = append(pieces, p)
					sums = append(sums, pieceSums(uint64(run[i]), p, 512))
				}
				if err := w.WriteVerifiedRun(uint64(run[0]), pieces, sums); err != nil {
					t.Fatalf("run %v: %v", run, err)
				}
				end = max(end, run[len(run)-1])
				if got := w.BytesOnDisk(); got != uint64(end) {
					t.Fatalf("after run %v: %d bytes on disk, want %d", run, got, end)
				}
				rd, err := s.OpenReplica(5, 1)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, rd.Length())
				if _, err := rd.ReadAt(got, 0); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				mustEqual(t, "rbw data", got, data[:end])
				cs, err := rd.Checksums(0, (end+511)/512)
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, "rbw checksums", cs, pieceSums(0, data[:end], 512))
				rd.Close()
			}
			if _, err := w.Finalize(); err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "final", readReplica(t, s, 5, 1), data[:end])
			if err := s.VerifyReplica(5); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriteVerifiedRunFails: mismatched pieces are refused; a failing
// disk fails the run and the writer, and nothing is published.
func TestWriteVerifiedRunFails(t *testing.T) {
	opts := testOptions(t, 1)
	inj := vfs.NewInjectFS(vfs.Default)
	opts.FS = inj
	s := openStore(t, opts)
	w, err := s.CreateRBW(6, 1, StorageDisk)
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(12, 4096)
	pieces := [][]byte{data[:2048], data[2048:]}
	sums := [][]byte{pieceSums(0, pieces[0], 512), pieceSums(2048, pieces[1], 512)}
	if err := w.WriteVerifiedRun(0, pieces, sums[:1]); err == nil {
		t.Fatal("a run with fewer checksum pieces than data pieces was written")
	}
	inj.SetRule(vfs.DiskFull)
	if err := w.WriteVerifiedRun(0, pieces, sums); err == nil {
		t.Fatal("a run on a full disk succeeded")
	}
	inj.SetRule(nil)
	if got := w.BytesOnDisk(); got != 0 {
		t.Fatalf("a failed run left %d bytes on disk", got)
	}
	if err := w.WriteVerifiedRun(0, pieces, sums); err == nil {
		t.Fatal("a writer broken by an I/O error wrote again")
	} else if errors.Is(err, ErrBadOffset) {
		t.Fatalf("unexpected error class: %v", err)
	}
}
