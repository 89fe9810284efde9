package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FsyncPolicy says when appended records are forced to disk.
type FsyncPolicy string

const (
	FsyncBatch    FsyncPolicy = "batch"
	FsyncInterval FsyncPolicy = "interval"
	FsyncNever    FsyncPolicy = "never"
)

// CapPolicy says what happens when unpublished data reaches MaxBytes.
type CapPolicy string

const (
	CapReject     CapPolicy = "reject"
	CapDropOldest CapPolicy = "drop-oldest"
)

// Options of a spool (defaults from AGENT.md).
type Options struct {
	Fsync         FsyncPolicy
	FsyncInterval time.Duration // default 200 ms
	SegmentBytes  int64         // default 16 MiB
	MaxBytes      int64         // default 1 GiB
	Policy        CapPolicy     // default reject
	// PublishedSync: how often at most the `published` cursor is made durable (SpoolWriter.ts
	// publishedSyncMs): default 1 s; negative: at every advance.
	PublishedSync time.Duration
	Logger        *slog.Logger
}

const segmentMode = 0o600

// Stats are counters of a spool.
type Stats struct {
	AppendedRecords, AppendedBatches, RejectedBatches, DroppedRecords int64
	Published, Next                                                   int64
}

// Writer is the spool's one writer: it appends batches to segments, fsyncs per policy, enforces
// the cap and owns the `published` cursor (SpoolWriter.ts). Safe for concurrent use.
type Writer struct {
	Dir          string
	mu           sync.Mutex
	opts         Options
	segments     []SegmentInfo
	f            *os.File
	activeBytes  int64
	next         int64
	durable      int64
	published    int64
	publishedPos Position
	persisted    int64 // the cursor as last made durable
	persistedAt  time.Time
	persistTimer *time.Timer
	closed       bool
	stats        Stats
	stopTicker   chan struct{}
}

// Open takes the LOCK (a stale one is taken over), recovers torn tails and corrupt records and
// opens the spool for appending.
func Open(dir string, opts Options) (*Writer, error) {
	if opts.Fsync == "" {
		opts.Fsync = FsyncBatch
	}
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = 200 * time.Millisecond
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 16 << 20
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.Policy == "" {
		opts.Policy = CapReject
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PublishedSync == 0 {
		opts.PublishedSync = time.Second
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tookOver, previous, err := acquireLock(dir)
	if err != nil {
		return nil, err
	}
	if tookOver {
		opts.Logger.Warn("took over a stale spool lock", "dir", dir, "pid", previous)
	}
	w, err := open(dir, opts)
	if err != nil {
		releaseLock(dir)
		return nil, err
	}
	return w, nil
}

func open(dir string, opts Options) (*Writer, error) {
	published := ReadPublished(dir)
	r, err := Recover(dir, published)
	if err != nil {
		return nil, err
	}
	if r.TornBytes > 0 {
		opts.Logger.Warn("truncated a torn write", "dir", dir, "bytes", r.TornBytes)
	}
	if r.CorruptTails > 0 {
		opts.Logger.Error("moved corrupt records to corrupt/", "dir", dir, "segments", r.CorruptTails, "bytes", r.CorruptBytes)
	}
	next := published
	var last *SegmentInfo
	if len(r.Segments) > 0 {
		last = &r.Segments[len(r.Segments)-1]
		next = max(published, last.First+last.Count)
	}
	w := &Writer{Dir: dir, opts: opts, segments: r.Segments, next: next, durable: next, published: published, publishedPos: r.PublishedPosition, persisted: published}
	if last != nil && last.First+last.Count == next && last.Bytes < opts.SegmentBytes {
		f, err := os.OpenFile(filepath.Join(dir, "segments", SegmentName(last.First)), os.O_WRONLY|os.O_APPEND|os.O_CREATE, segmentMode)
		if err != nil {
			return nil, err
		}
		_ = f.Chmod(segmentMode)
		w.f = f
		w.activeBytes = last.Bytes
	}
	if opts.Fsync == FsyncInterval {
		w.stopTicker = make(chan struct{})
		go w.syncEvery(opts.FsyncInterval)
	}
	return w, nil
}

func (w *Writer) syncEvery(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-w.stopTicker:
			return
		case <-t.C:
			w.mu.Lock()
			_ = w.syncLocked()
			w.mu.Unlock()
		}
	}
}

// DurableEnd: sequence numbers below it are on disk per the fsync policy (what a publisher may send).
func (w *Writer) DurableEnd() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.opts.Fsync == FsyncNever {
		return w.next
	}
	return w.durable
}

// PublishedPosition is the `published` cursor and where its record lies.
func (w *Writer) PublishedPosition() Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.publishedPos
}

// Stats of the spool.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Published, s.Next = w.published, w.next
	return s
}

func (w *Writer) depthBytes() int64 {
	var n int64
	for _, s := range w.segments {
		if s.First+s.Count > w.published {
			n += s.Bytes
			if s.First == w.publishedPos.Segment {
				n -= w.publishedPos.Offset
			}
		}
	}
	return n
}

// AppendPayloads appends UTF-8 JSON payloads (already-validated envelopes) as one batch, returning
// once they are durable per the fsync policy. A *FullError means nothing was kept.
func (w *Writer) AppendPayloads(payloads [][]byte) (first int64, err error) {
	var buf []byte
	sizes := make([]int64, len(payloads))
	for i, p := range payloads {
		before := len(buf)
		if buf, err = EncodeRecord(buf, p); err != nil {
			return 0, err
		}
		sizes[i] = int64(len(buf) - before)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("spool %s is closed", w.Dir)
	}
	total := int64(len(buf))
	if w.depthBytes()+total > w.opts.MaxBytes {
		if w.opts.Policy == CapDropOldest {
			for w.dropOldest(total) {
			}
		}
		if w.depthBytes()+total > w.opts.MaxBytes {
			w.stats.RejectedBatches++
			return 0, &FullError{Msg: fmt.Sprintf("spool %s holds its cap of %d unpublished bytes", w.Dir, w.opts.MaxBytes)}
		}
	}
	first = w.next
	var from, to int64
	writePending := func() error {
		if from < to {
			if _, err := w.f.Write(buf[from:to]); err != nil {
				return err
			}
			from = to
		}
		return nil
	}
	for _, size := range sizes {
		if w.f == nil || (w.activeBytes > 0 && w.activeBytes+size > w.opts.SegmentBytes) {
			if err := writePending(); err != nil {
				return 0, w.failed(err)
			}
			if err := w.rotate(); err != nil {
				return 0, w.failed(err)
			}
		}
		to += size
		w.activeBytes += size
		seg := &w.segments[len(w.segments)-1]
		seg.Count++
		seg.Bytes += size
		w.next++
	}
	if err := writePending(); err != nil {
		return 0, w.failed(err)
	}
	w.stats.AppendedRecords += int64(len(sizes))
	w.stats.AppendedBatches++
	if w.opts.Fsync == FsyncBatch {
		if err := w.syncLocked(); err != nil {
			return 0, w.failed(err)
		}
	}
	return first, nil
}

// failed: after a write or fsync error the tail of the active segment is unknown, so the writer
// reads the spool again as at open (a torn record is truncated; whole records of the failed batch
// stay, and its client, answered `unavailable`, sends it again: a duplicate the pipeline absorbs by
// eventId). Appends go on when the disk recovers; until then each batch fails the same way.
func (w *Writer) failed(err error) error {
	w.opts.Logger.Error("spool write failed; reading the spool again", "dir", w.Dir, "error", err.Error())
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	fresh, rerr := open(w.Dir, w.opts)
	if rerr != nil {
		w.opts.Logger.Error("reading the spool again failed", "dir", w.Dir, "error", rerr.Error())
		return err
	}
	if fresh.stopTicker != nil {
		close(fresh.stopTicker) // this writer's own ticker goes on
	}
	w.segments, w.f, w.activeBytes, w.next, w.durable = fresh.segments, fresh.f, fresh.activeBytes, fresh.next, fresh.next
	return err
}

func (w *Writer) syncLocked() error {
	if w.f == nil || w.durable >= w.next {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.durable = w.next
	return nil
}

// rotate closes the active segment (fsynced) and starts one named after the next sequence number.
func (w *Writer) rotate() error {
	if w.f != nil {
		if w.opts.Fsync != FsyncNever {
			if err := w.f.Sync(); err != nil {
				return err
			}
		}
		if err := w.f.Close(); err != nil {
			return err
		}
		w.durable = w.next
	}
	f, err := os.OpenFile(filepath.Join(w.Dir, "segments", SegmentName(w.next)), os.O_WRONLY|os.O_APPEND|os.O_CREATE, segmentMode)
	if err != nil {
		w.f = nil
		return err
	}
	w.f = f
	w.activeBytes = 0
	w.segments = append(w.segments, SegmentInfo{First: w.next})
	fsyncDir(filepath.Join(w.Dir, "segments"))
	return nil
}

// dropOldest deletes the oldest segment holding unpublished records (policy drop-oldest).
func (w *Writer) dropOldest(incoming int64) bool {
	if w.depthBytes()+incoming <= w.opts.MaxBytes {
		return false
	}
	i := -1
	for j, s := range w.segments {
		if s.First+s.Count > w.published {
			i = j
			break
		}
	}
	if i < 0 {
		return false
	}
	s := w.segments[i]
	if i == len(w.segments)-1 && w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	w.stats.DroppedRecords += s.First + s.Count - max(s.First, w.published)
	w.segments = append(w.segments[:i], w.segments[i+1:]...)
	_ = os.Remove(filepath.Join(w.Dir, "segments", SegmentName(s.First)))
	pos := Position{Sequence: w.next, Segment: w.next}
	if i < len(w.segments) {
		a := w.segments[i]
		pos = Position{Sequence: a.First, Segment: a.First}
	}
	_ = w.setPublished(pos)
	return true
}

// MarkPublished advances the cursor after the broker acknowledged every record before
// position.Sequence (SpoolWriter.ts markPublished). Going backwards is ignored. Every advance writes
// the cursor file (atomically); it is made durable (fsync of the file and the directory) at most once
// per PublishedSync (and at Close), and segments wholly below the cursor are deleted only then: a
// crash of the process resends nothing (the kernel holds the file), one of the machine at most
// PublishedSync of records acknowledged after the durable cursor (at least once, never lost).
func (w *Writer) MarkPublished(position Position) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if position.Sequence <= w.published || w.closed {
		return nil
	}
	w.published = position.Sequence
	w.publishedPos = position
	wait := time.Until(w.persistedAt.Add(w.opts.PublishedSync))
	if wait <= 0 {
		return w.persistPublished()
	}
	if err := writePublished(w.Dir, w.published, false); err != nil {
		return err
	}
	if w.persistTimer == nil {
		w.persistTimer = time.AfterFunc(wait, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.persistTimer = nil
			if !w.closed {
				if err := w.persistPublished(); err != nil {
					w.opts.Logger.Error("writing the published cursor failed", "dir", w.Dir, "error", err.Error())
				}
			}
		})
	}
	return nil
}

// persistPublished writes the cursor durably and deletes the segments wholly below it.
func (w *Writer) persistPublished() error {
	if w.persistTimer != nil {
		w.persistTimer.Stop()
		w.persistTimer = nil
	}
	w.persistedAt = time.Now()
	if w.persisted == w.published {
		return nil
	}
	if err := writePublished(w.Dir, w.published, true); err != nil {
		return err
	}
	w.persisted = w.published
	deleted := false
	for len(w.segments) > 1 && w.segments[0].First+w.segments[0].Count <= w.persisted {
		_ = os.Remove(filepath.Join(w.Dir, "segments", SegmentName(w.segments[0].First)))
		w.segments = w.segments[1:]
		deleted = true
	}
	if deleted {
		fsyncDir(filepath.Join(w.Dir, "segments"))
	}
	return nil
}

// setPublished moves the cursor and makes it durable at once (records dropped under the cap).
func (w *Writer) setPublished(p Position) error {
	w.published = p.Sequence
	w.publishedPos = p
	return w.persistPublished()
}

// Close flushes, closes the active segment and releases the LOCK. Idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed && w.f == nil && w.stopTicker == nil {
		releaseLock(w.Dir)
		return nil
	}
	var err error
	if w.opts.Fsync != FsyncNever {
		err = w.syncLocked()
	}
	if w.persisted != w.published {
		err = errors.Join(err, w.persistPublished())
	}
	if w.persistTimer != nil {
		w.persistTimer.Stop()
		w.persistTimer = nil
	}
	w.closed = true
	if w.stopTicker != nil {
		close(w.stopTicker)
		w.stopTicker = nil
	}
	if w.f != nil {
		err = errors.Join(err, w.f.Close())
		w.f = nil
	}
	releaseLock(w.Dir)
	return err
}
