package editlog

import (
	"errors"
	"fmt"
	"io"
)

// readChunk is how much a segSource reads at once.
const readChunk = 256 << 10

// segSource gives random access to a segment file of a fixed size through a
// window buffer, so sequential record reads cost few system calls and a
// resynchronising scan can step byte by byte.
type segSource struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64 // file offset of buf[0]
	n    int   // valid bytes in buf
}

// at returns the n bytes at off. The slice is only valid until the next
// call. It fails with io.ErrUnexpectedEOF when the range passes size.
func (s *segSource) at(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || int64(n) > s.size-off {
		return nil, io.ErrUnexpectedEOF
	}
	if off >= s.off && off+int64(n) <= s.off+int64(s.n) {
		i := off - s.off
		return s.buf[i : i+int64(n)], nil
	}
	want := max(n, readChunk)
	if int64(want) > s.size-off {
		want = int(s.size - off)
	}
	if cap(s.buf) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	m, err := s.r.ReadAt(s.buf, off)
	if m < n {
		s.n = 0
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read at offset %d: %w", off, err)
	}
	s.off, s.n = off, m
	return s.buf[:n], nil
}

// allZero reports whether every byte in [from, size) is zero.
func (s *segSource) allZero(from int64) (bool, error) {
	for off := max(from, 0); off < s.size; {
		n := int(min(int64(readChunk), s.size-off))
		b, err := s.at(off, n)
		if err != nil {
			return false, err
		}
		for _, c := range b {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(n)
	}
	return true, nil
}

// validRecordAt reports whether a CRC-correct record lies at off with a txid
// in (lastGood, maxTxID], returning its header and end offset.
func (s *segSource) validRecordAt(off int64, lastGood, maxTxID uint64) (recordHeader, int64, bool, error) {
	if s.size-off < RecordOverhead {
		return recordHeader{}, 0, false, nil
	}
	hb, err := s.at(off, RecordHeaderSize)
	if err != nil {
		return recordHeader{}, 0, false, err
	}
	h := decodeRecordHeader(hb)
	if h.TxID <= lastGood || h.TxID > maxTxID || h.Length > MaxRecordSize {
		return h, 0, false, nil
	}
	if h.Op == OpFiller && h.Length != 0 {
		return h, 0, false, nil
	}
	total := int64(RecordOverhead) + int64(h.Length)
	if total > s.size-off {
		return h, 0, false, nil
	}
	rb, err := s.at(off, int(total))
	if err != nil {
		return h, 0, false, err
	}
	if !recordCRCOK(rb) {
		return h, 0, false, nil
	}
	return h, off + total, true, nil
}

// resync looks for the first valid record at or after start whose txid is
// above lastGood and plausible: the txids between lastGood+1 and it must
// have fit, at RecordOverhead bytes at least each, between badOff and it.
// hint, when positive, is tried first (the end of the bad record's declared
// extent). It returns the record's offset.
func (s *segSource) resync(badOff, start, hint int64, lastGood uint64) (int64, recordHeader, bool, error) {
	bound := func(p int64) uint64 { return lastGood + 1 + uint64(max(p-badOff, 0))/RecordOverhead }
	if hint > badOff {
		if h, _, ok, err := s.validRecordAt(hint, lastGood, bound(hint)); err != nil || ok {
			return hint, h, ok, err
		}
	}
	for p := start; s.size-p >= RecordOverhead; p++ {
		h, _, ok, err := s.validRecordAt(p, lastGood, bound(p))
		if err != nil || ok {
			return p, h, ok, err
		}
	}
	return 0, recordHeader{}, false, nil
}

// scanConfig says how to scan one segment file.
type scanConfig struct {
	path       string
	first      uint64 // first txid, from the file name
	last       uint64 // last txid from a finalized name; 0 when in progress
	inProgress bool   // a torn tail is allowed (stops the scan quietly)
	from       uint64 // records below from are checked but not passed to fn
	// onCorrupt decides what to do about a corruption; nil stops.
	onCorrupt func(*CorruptionError) Action
	// fn receives the accepted records with txid >= from, filler records
	// (Op == OpFiller) included. The payload is a fresh copy.
	fn func(Record) error
}

// scanResult describes a scanned segment.
type scanResult struct {
	header   segmentHeader
	headerOK bool
	size     int64
	last     uint64 // last accepted txid (records and fillers); first-1 if none
	end      int64  // offset just after the last good record (0 if the header itself is torn or dropped)
	torn     bool   // a torn tail starts at end
	reason   string // why the tail is torn, or why the scan was cut
	cut      bool   // a corruption made the scan stop early (ActionTruncate, or ActionSkip finding nothing)
	skipped  bool   // ActionSkip dropped records: the kept records are no longer a byte prefix of the file
	records  int    // records accepted, fillers included
}

// fnError marks an error returned by the caller's callback, so readers can
// tell it from corruption or I/O errors.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// errStopScan stops a scan from inside fn without being an error.
var errStopScan = errors.New("editlog: stop scan")

type scanner struct {
	cfg  scanConfig
	src  *segSource
	res  scanResult
	next uint64
}

// scanSegment reads a segment file of the given size through r, checking
// every record, and classifies a bad spot as a torn tail or corruption. A
// corruption the onCorrupt hook does not resolve is returned as a
// *CorruptionError; errors from fn are returned wrapped in *fnError.
func scanSegment(r io.ReaderAt, size int64, cfg scanConfig) (scanResult, error) {
	s := &scanner{cfg: cfg, src: &segSource{r: r, size: size}, next: cfg.first}
	s.res.size = size
	s.res.last = cfg.first - 1
	err := s.run()
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return s.res, err
}

func (s *scanner) corruption(off int64, format string, args ...any) *CorruptionError {
	return &CorruptionError{Path: s.cfg.path, Offset: off, TxID: s.next, Reason: fmt.Sprintf(format, args...)}
}

func (s *scanner) decide(ce *CorruptionError) Action {
	if s.cfg.onCorrupt == nil {
		return ActionStop
	}
	return s.cfg.onCorrupt(ce)
}

func (s *scanner) accept(op uint8, txid uint64, payload []byte) error {
	s.res.last = txid
	s.res.records++
	s.next = txid + 1
	if s.cfg.fn == nil || txid < s.cfg.from {
		return nil
	}
	rec := Record{TxID: txid, Op: op}
	if len(payload) > 0 {
		rec.Payload = append([]byte(nil), payload...)
	}
	if err := s.cfg.fn(rec); err != nil {
		if errors.Is(err, errStopScan) {
			return err
		}
		return &fnError{err}
	}
	return nil
}

// fill accepts filler records for every txid below upTo.
func (s *scanner) fill(upTo uint64) error {
	for s.next < upTo {
		if err := s.accept(OpFiller, s.next, nil); err != nil {
			return err
		}
	}
	return nil
}

func (s *scanner) run() error {
	src := s.src
	off, err := s.header()
	if err != nil || off < 0 {
		return err
	}
	for {
		if off == src.size {
			return s.atEnd(off)
		}
		if s.cfg.last != 0 && s.next > s.cfg.last {
			ce := s.corruption(off, "%d bytes after txid %d, the last one the file name promises", src.size-off, s.cfg.last)
			return s.cutOrStop(ce, off)
		}
		var (
			reason string
			torn   bool  // candidate torn tail: depends on what follows
			hint   int64 // where the next record would start, if the length is sane
		)
		if left := src.size - off; left < RecordHeaderSize {
			reason = fmt.Sprintf("incomplete record header (%d of %d bytes)", left, RecordHeaderSize)
			torn = true
		} else {
			hb, err := src.at(off, RecordHeaderSize)
			if err != nil {
				return err
			}
			h := decodeRecordHeader(hb)
			total := int64(RecordOverhead) + int64(h.Length)
			switch {
			case total > left:
				reason = fmt.Sprintf("record declares %d payload bytes, past end of file (%d bytes left)", h.Length, left)
				torn = true
			case h.Length > MaxRecordSize:
				reason = fmt.Sprintf("record declares %d payload bytes, over the %d maximum", h.Length, MaxRecordSize)
			default:
				hint = off + total
				rb, err := src.at(off, int(total))
				if err != nil {
					return err
				}
				switch {
				case !recordCRCOK(rb):
					zero, err := src.allZero(off + total)
					if err != nil {
						return err
					}
					if zero {
						if done, err := s.tornAt(off, "record checksum mismatch with nothing but zeros after it"); done || err != nil {
							return err
						}
					}
					reason = "record checksum mismatch"
				case h.TxID != s.next:
					reason = fmt.Sprintf("record has txid %d, expected %d", h.TxID, s.next)
				case h.Op == OpFiller && h.Length != 0:
					reason = fmt.Sprintf("filler record with %d payload bytes", h.Length)
				default:
					if err := s.accept(h.Op, h.TxID, rb[RecordHeaderSize:total-4]); err != nil {
						return err
					}
					off += total
					s.res.end = off
					continue
				}
			}
		}
		if torn {
			if done, err := s.incomplete(off, reason); done || err != nil {
				return err
			}
		}
		// Corruption in the middle of the segment.
		ce := s.corruption(off, "%s", reason)
		switch s.decide(ce) {
		case ActionTruncate:
			s.res.cut, s.res.reason = true, ce.Reason
			return nil
		case ActionSkip:
			p, rh, ok, err := src.resync(off, off+1, hint, s.next-1)
			if err != nil {
				return err
			}
			if !ok {
				s.res.cut, s.res.reason = true, ce.Reason+"; no valid record after it"
				return nil
			}
			s.res.skipped = true
			if err := s.fill(rh.TxID); err != nil {
				return err
			}
			off = p
		default:
			return ce
		}
	}
}

// header checks the segment header. It returns the offset of the first
// record, or -1 when the scan is over (torn or dropped header).
func (s *scanner) header() (int64, error) {
	src := s.src
	var reason string
	n := min(src.size, HeaderSize)
	hb, err := src.at(0, int(n))
	if err != nil {
		return -1, err
	}
	h, herr := decodeHeader(hb)
	switch {
	case herr != nil:
		reason = "bad segment header: " + herr.Error()
	case h.First != s.cfg.first:
		reason = fmt.Sprintf("segment header says first txid %d, file name says %d", h.First, s.cfg.first)
	default:
		s.res.header, s.res.headerOK = h, true
		s.res.end = HeaderSize
		return HeaderSize, nil
	}
	if s.cfg.inProgress && herr != nil {
		// A header that never fully reached the disk: nothing after it.
		zero, err := src.allZero(HeaderSize)
		if err != nil {
			return -1, err
		}
		if zero {
			s.res.torn, s.res.reason, s.res.end = true, reason, 0
			return -1, nil
		}
	}
	ce := s.corruption(0, "%s", reason)
	switch s.decide(ce) {
	case ActionTruncate:
		s.res.cut, s.res.reason, s.res.end = true, ce.Reason, 0
		return -1, nil
	case ActionSkip:
		s.res.skipped = true
		if herr == nil {
			// The header is readable; keep its epoch in a rewrite.
			s.res.header = h
		}
		s.res.header.First = s.cfg.first
		s.res.header.Version = LayoutVersion
		p, rh, ok, err := src.resync(HeaderSize, HeaderSize, 0, s.next-1)
		if err != nil {
			return -1, err
		}
		if !ok {
			s.res.cut, s.res.reason, s.res.end = true, ce.Reason+"; no valid record after it", 0
			return -1, nil
		}
		if err := s.fill(rh.TxID); err != nil {
			return -1, err
		}
		return p, nil
	default:
		return -1, ce
	}
}

// incomplete handles a record that runs past the end of the file: a torn
// tail unless a valid record follows it. done is true when the scan is over.
func (s *scanner) incomplete(off int64, reason string) (done bool, err error) {
	if !s.cfg.inProgress {
		return false, nil // never torn: corruption
	}
	_, _, found, err := s.src.resync(off, off+1, 0, s.next-1)
	if err != nil {
		return true, err
	}
	if found {
		return false, nil // corruption: the caller reports it
	}
	return s.tornAt(off, reason)
}

// tornAt ends the scan at a torn tail starting at off. In a finalized
// segment a torn tail is corruption, which the caller then reports
// (done=false).
func (s *scanner) tornAt(off int64, reason string) (done bool, err error) {
	if !s.cfg.inProgress {
		return false, nil
	}
	s.res.torn, s.res.reason, s.res.end = true, reason, off
	return true, nil
}

// atEnd checks, at a clean end of file, that a finalized segment held all
// the txids its name promises.
func (s *scanner) atEnd(off int64) error {
	if s.cfg.last == 0 || s.res.last >= s.cfg.last {
		return nil
	}
	ce := s.corruption(off, "segment ends at txid %d, its name promises txids through %d", s.res.last, s.cfg.last)
	switch s.decide(ce) {
	case ActionTruncate:
		s.res.cut, s.res.reason = true, ce.Reason
		return nil
	case ActionSkip:
		s.res.skipped = true
		return s.fill(s.cfg.last + 1)
	default:
		return ce
	}
}

// cutOrStop ends the scan at off for a corruption nothing can be skipped
// past (bytes after the promised last txid).
func (s *scanner) cutOrStop(ce *CorruptionError, off int64) error {
	switch s.decide(ce) {
	case ActionTruncate, ActionSkip:
		s.res.cut, s.res.reason = true, ce.Reason
		s.res.end = off
		return nil
	default:
		return ce
	}
}
