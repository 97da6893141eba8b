package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// errFileVanished marks ErrReplicaNotFound for a replica whose files
// disappeared behind the store's back (as opposed to one never held).
var errFileVanished = errors.New("replica files vanished")

// ReplicaReader reads one replica. What it may read is fixed when it is
// opened: for a replica being written, the bytes written so far and the
// checksum of their last partial chunk (which the writer may rewrite).
type ReplicaReader struct {
	s       *Store
	vol     *volume
	r       Replica
	w       *ReplicaWriter
	blk     vfs.File
	meta    vfs.File
	bpath   string
	mpath   string
	spec    checksumSpec
	length  uint64
	lastSum []byte
}

// OpenReplica opens a replica for reading. genStamp 0 takes any
// generation stamp; another one than the replica's is ErrGenStampMismatch.
// A replica whose block file vanished or has the wrong size is dropped
// (and handed to OnReplicaLost) and reported as ErrReplicaNotFound.
func (s *Store) OpenReplica(blockID, genStamp uint64) (*ReplicaReader, error) {
	for attempt := 0; ; attempt++ {
		s.mu.RLock()
		if err := s.checkOpenLocked(); err != nil {
			s.mu.RUnlock()
			return nil, err
		}
		ri := s.replicas[blockID]
		if ri == nil {
			s.mu.RUnlock()
			return nil, fmt.Errorf("storage: read blk_%d: %w", int64(blockID), ErrReplicaNotFound)
		}
		if genStamp != 0 && ri.gs != genStamp {
			gs := ri.gs
			s.mu.RUnlock()
			return nil, fmt.Errorf("storage: read blk_%d: replica has genstamp %d, reader wants %d: %w", int64(blockID), gs, genStamp, ErrGenStampMismatch)
		}
		rd := &ReplicaReader{s: s, vol: ri.vol, r: s.replicaLocked(ri), w: ri.writer, spec: ri.spec}
		ver := ri.version
		dir := ri.vol.lay.dirOf(blockID, ri.state)
		rd.bpath = filepath.Join(dir, blockName(blockID))
		rd.mpath = filepath.Join(dir, metaName(blockID, ri.gs))
		if rd.w != nil {
			rd.length, rd.lastSum = rd.w.snapshot()
			rd.r.NumBytes = rd.length
		} else {
			rd.length = ri.numBytes
		}
		s.mu.RUnlock()
		if rd.vol.failed.Load() {
			return nil, fmt.Errorf("storage: read blk_%d: %w", int64(blockID), ErrVolumeFailed)
		}
		err := rd.open()
		if err == nil {
			return rd, nil
		}
		rd.Close()
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errWrongSize) {
			if errors.Is(err, ErrChecksum) {
				return nil, err
			}
			return nil, s.ioErr(rd.vol, err, "open blk_%d", int64(blockID))
		}
		s.mu.RLock()
		moved := ri.version != ver
		s.mu.RUnlock()
		if moved && attempt < 3 {
			continue // finalized, appended or recovered meanwhile
		}
		if !s.checkLost(ri, ver) {
			if attempt < 3 {
				continue
			}
		}
		return nil, fmt.Errorf("storage: read blk_%d: %w: %w: %w", int64(blockID), ErrReplicaNotFound, errFileVanished, err)
	}
}

var errWrongSize = errors.New("block file has the wrong size")

// Files returns the reader's open block and meta files, for short-circuit
// reads (their descriptors are passed to a client on the same host). They
// stay the reader's: Close closes them.
func (rd *ReplicaReader) Files() (blk, meta vfs.File) { return rd.blk, rd.meta }

// open opens the files and checks them against what the store knows.
func (rd *ReplicaReader) open() error {
	fsys := rd.s.fs
	var err error
	if rd.blk, err = fsys.Open(rd.bpath); err != nil {
		return err
	}
	if rd.meta, err = fsys.Open(rd.mpath); err != nil {
		return err
	}
	st, err := rd.blk.Stat()
	if err != nil {
		return err
	}
	size := uint64(st.Size())
	if (rd.w == nil && size != rd.length) || size < rd.length {
		return fmt.Errorf("%s is %d bytes, expected %d: %w", rd.bpath, size, rd.length, errWrongSize)
	}
	var hdr [metaHeaderSize]byte
	if _, err := rd.meta.ReadAt(hdr[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return &ChecksumError{BlockID: rd.r.BlockID, Detail: "meta file header truncated"}
		}
		return err
	}
	spec, err := decodeMetaHeader(hdr[:])
	if err != nil {
		return &ChecksumError{BlockID: rd.r.BlockID, Detail: err.Error()}
	}
	rd.spec = spec
	return nil
}

// Replica describes the replica as it was when opened.
func (rd *ReplicaReader) Replica() Replica { return rd.r }

// Length is how many bytes this reader may read.
func (rd *ReplicaReader) Length() uint64 { return rd.length }

// ReadAt reads block data; at the end of what the reader may read it
// returns io.EOF.
func (rd *ReplicaReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("storage: read blk_%d at negative offset %d", int64(rd.r.BlockID), off)
	}
	if uint64(off) >= rd.length {
		return 0, io.EOF
	}
	want := p
	if rest := rd.length - uint64(off); uint64(len(want)) > rest {
		want = want[:rest]
	}
	n, err := rd.blk.ReadAt(want, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, rd.s.ioErr(rd.vol, err, "read blk_%d", int64(rd.r.BlockID))
	}
	if n < len(want) {
		return n, &ChecksumError{BlockID: rd.r.BlockID, Offset: uint64(off) + uint64(n), Detail: "block file shorter than its length"}
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Checksums returns the checksums of chunks [firstChunk, firstChunk+n)
// (4 bytes each; none for the NULL checksum), within the reader's length.
func (rd *ReplicaReader) Checksums(firstChunk, n int) ([]byte, error) {
	total := rd.spec.chunks(rd.length)
	if firstChunk < 0 || n < 0 || uint64(firstChunk)+uint64(n) > total {
		return nil, fmt.Errorf("storage: blk_%d has %d chunks, asked for [%d,+%d)", int64(rd.r.BlockID), total, firstChunk, n)
	}
	cs := rd.spec.size()
	if cs == 0 || n == 0 {
		return []byte{}, nil
	}
	buf := make([]byte, n*cs)
	k, err := rd.meta.ReadAt(buf, metaHeaderSize+int64(firstChunk)*int64(cs))
	if k < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, &ChecksumError{BlockID: rd.r.BlockID, Offset: uint64(firstChunk)*uint64(rd.spec.bpc) + uint64(k/cs)*uint64(rd.spec.bpc), Detail: "meta file too short"}
		}
		return nil, rd.s.ioErr(rd.vol, err, "read meta of blk_%d", int64(rd.r.BlockID))
	}
	if rd.lastSum != nil && uint64(firstChunk+n) == total {
		copy(buf[len(buf)-cs:], rd.lastSum)
	}
	return buf, nil
}

// ChecksumType is the replica's checksum type (ChecksumCRC32C, ...) and
// chunk size, for READ_BLOCK's readOpChecksumInfo.
func (rd *ReplicaReader) ChecksumType() (typ byte, bytesPerChecksum int) {
	return rd.spec.typ, rd.spec.bpc
}

// VisibleLength is the length a reader may serve: the replica's length,
// or for one being written the bytes acknowledged so far (as the writer
// reports them) within what this reader can read.
func (rd *ReplicaReader) VisibleLength() uint64 {
	if rd.w != nil {
		_, vis := rd.w.lengths()
		return min(vis, rd.length)
	}
	return rd.length
}

// Close closes the files.
func (rd *ReplicaReader) Close() error {
	var err error
	if rd.blk != nil {
		err = rd.blk.Close()
		rd.blk = nil
	}
	if rd.meta != nil {
		if e := rd.meta.Close(); err == nil {
			err = e
		}
		rd.meta = nil
	}
	return err
}

// BlockFile is the block file's path (for short-circuit reads).
func (rd *ReplicaReader) BlockFile() string { return rd.bpath }

// MetaFile is the meta file's path (for short-circuit reads).
func (rd *ReplicaReader) MetaFile() string { return rd.mpath }
