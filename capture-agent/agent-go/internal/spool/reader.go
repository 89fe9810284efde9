package spool

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Record is one record read from the spool.
type Record struct {
	Sequence int64
	Payload  []byte
}

// Read is what one read returned: records, where the next read starts, and how many sequence
// numbers were passed over (moved to corrupt/ or dropped).
type Read struct {
	Records []Record
	Next    Position
	Skipped int64
}

// Reader reads records in order (SpoolReader.ts).
type Reader struct{ Dir string }

func readAt(path string, offset int64, want int) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	n := max(0, min(int64(want), st.Size()-offset))
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	return buf[:got], true, nil
}

// Read reads up to maxRecords records from `from`, never at or past `limit` (a sequence number).
func (r Reader) Read(from Position, maxRecords int, limit int64) (Read, error) {
	maxRecords = int(min(int64(maxRecords), limit-from.Sequence))
	const maxBytes = 4 << 20
	pos := from
	var skipped int64
	for {
		if maxRecords <= 0 {
			return Read{Next: pos, Skipped: skipped}, nil
		}
		segs := ListSegments(r.Dir)
		later := int64(-1)
		for _, s := range segs {
			if s > pos.Segment {
				later = s
				break
			}
		}
		var buf []byte
		found := false
		if slices.Contains(segs, pos.Segment) {
			var err error
			buf, found, err = readAt(filepath.Join(r.Dir, "segments", SegmentName(pos.Segment)), pos.Offset, max(maxBytes, MaxPayloadBytes+HeaderBytes))
			if err != nil {
				return Read{Next: pos, Skipped: skipped}, err
			}
		}
		if !found {
			if later < 0 {
				return Read{Next: pos, Skipped: skipped}, nil
			}
			skipped += max(0, later-pos.Sequence)
			pos = Position{Sequence: max(later, pos.Sequence), Segment: later}
			continue
		}
		scanned, end, stop := Scan(buf, 0, maxRecords)
		records := make([]Record, len(scanned))
		for i, s := range scanned {
			records[i] = Record{Sequence: pos.Sequence + int64(i), Payload: s.Payload}
		}
		next := Position{Sequence: pos.Sequence + int64(len(records)), Segment: pos.Segment, Offset: pos.Offset + int64(end)}
		exhausted := end == len(buf) || stop == BadLength || stop == BadCRC
		if len(records) > 0 || later < 0 || !exhausted {
			return Read{Records: records, Next: next, Skipped: skipped}, nil
		}
		skipped += max(0, later-next.Sequence)
		pos = Position{Sequence: max(later, next.Sequence), Segment: later}
	}
}
