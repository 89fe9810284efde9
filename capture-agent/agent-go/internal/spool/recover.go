package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// SegmentInfo is what the spool knows about one segment file.
type SegmentInfo struct {
	First int64 // sequence number of its first record (its name)
	Count int64 // records in it
	Bytes int64 // bytes in it (all good records)
}

// Recovery is what opening a spool found and did.
type Recovery struct {
	Segments          []SegmentInfo
	TornBytes         int64 // truncated from the last segment (a torn write)
	CorruptTails      int   // earlier segments whose tail was moved to corrupt/
	CorruptBytes      int64
	PublishedPosition Position
	DeletedSegments   int
}

// ListSegments lists the first sequence numbers of <dir>/segments/*.seg, oldest first.
func ListSegments(dir string) []int64 {
	entries, err := os.ReadDir(filepath.Join(dir, "segments"))
	if err != nil {
		return nil
	}
	var out []int64
	for _, e := range entries {
		if n, ok := ParseSegmentName(e.Name()); ok {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// cut truncates a segment at end, keeping the bytes from end on in corrupt/ when keep is set.
func cut(dir string, first int64, buf []byte, end int, keep bool) error {
	path := filepath.Join(dir, "segments", SegmentName(first))
	if keep {
		cdir := filepath.Join(dir, "corrupt")
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return err
		}
		target := filepath.Join(cdir, fmt.Sprintf("%s.%d.corrupt", SegmentName(first), end))
		if err := writeSynced(target, buf[end:]); err != nil {
			return err
		}
		fsyncDir(cdir)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(end)); err != nil {
		return err
	}
	return f.Sync()
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Recover scans every segment (recoverSpool.ts): a record whose length runs past the end of the
// last segment, or whose CRC does not match, ends that segment; in the last segment the rest is
// truncated (a torn write), in an earlier one it is moved to <dir>/corrupt/. Segments wholly below
// `published` are deleted.
func Recover(dir string, published int64) (Recovery, error) {
	r := Recovery{PublishedPosition: Position{Sequence: published, Segment: published}}
	if err := os.MkdirAll(filepath.Join(dir, "segments"), 0o755); err != nil {
		return r, err
	}
	firsts := ListSegments(dir)
	positioned := false
	for i, first := range firsts {
		last := i == len(firsts)-1
		path := filepath.Join(dir, "segments", SegmentName(first))
		buf, err := os.ReadFile(path)
		if err != nil {
			return r, err
		}
		records, end, stop := Scan(buf, 0, int(^uint(0)>>1))
		if stop != Complete {
			if last {
				r.TornBytes += int64(len(buf) - end)
			} else {
				r.CorruptTails++
				r.CorruptBytes += int64(len(buf) - end)
			}
			if err := cut(dir, first, buf, end, !last); err != nil {
				return r, err
			}
		}
		info := SegmentInfo{First: first, Count: int64(len(records)), Bytes: int64(end)}
		if info.First+info.Count <= published && !last {
			_ = os.Remove(path)
			r.DeletedSegments++
			continue
		}
		if !positioned && info.First+info.Count > published {
			positioned = true
			index := max(0, published-first)
			var offset int64
			if index < int64(len(records)) {
				offset = int64(records[index].Offset)
			}
			r.PublishedPosition = Position{Sequence: max(published, first), Segment: first, Offset: offset}
		}
		r.Segments = append(r.Segments, info)
	}
	if r.DeletedSegments > 0 {
		fsyncDir(filepath.Join(dir, "segments"))
	}
	if !positioned && len(r.Segments) > 0 {
		l := r.Segments[len(r.Segments)-1]
		if l.First+l.Count == published {
			r.PublishedPosition = Position{Sequence: published, Segment: l.First, Offset: l.Bytes}
		}
	}
	return r, nil
}
