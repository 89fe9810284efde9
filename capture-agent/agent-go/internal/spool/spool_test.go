package spool

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func payloads(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(`{"event":{"eventId":"e` + string(rune('a'+i%26)) + `"}}`)
	}
	return out
}

func readAll(t *testing.T, dir string, from Position, limit int64) Read {
	t.Helper()
	r, err := Reader{Dir: dir}.Read(from, 1000, limit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordsAreFramedAsAGENTmd(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AppendPayloads([][]byte{[]byte(`{"spec":{}}`)}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "segments", "00000000000000000000.seg"))
	if binary.BigEndian.Uint32(b) != 11 || binary.BigEndian.Uint32(b[4:]) != crc32.ChecksumIEEE([]byte(`{"spec":{}}`)) || string(b[8:]) != `{"spec":{}}` {
		t.Fatalf("record %x", b)
	}
	if st, _ := os.Stat(filepath.Join(dir, "segments", "00000000000000000000.seg")); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); !os.IsNotExist(err) {
		t.Fatal("LOCK left behind")
	}
}

func TestATornTailIsTruncatedAtOpen(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(dir, Options{})
	w.AppendPayloads(payloads(3))
	w.Close()
	seg := filepath.Join(dir, "segments", SegmentName(0))
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3, 4, 'x'}) // a record cut short
	f.Close()
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if s := w.Stats(); s.Next != 3 {
		t.Fatalf("next %d", s.Next)
	}
	first, _ := w.AppendPayloads(payloads(1))
	if r := readAll(t, dir, Position{}, 10); first != 3 || len(r.Records) != 4 {
		t.Fatalf("first %d, read %d", first, len(r.Records))
	}
}

func TestACorruptRecordInAnEarlierSegmentMovesItsTail(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(dir, Options{SegmentBytes: 100})
	w.AppendPayloads(payloads(6)) // several segments
	w.Close()
	segs := ListSegments(dir)
	if len(segs) < 2 {
		t.Fatalf("segments %v", segs)
	}
	seg := filepath.Join(dir, "segments", SegmentName(segs[0]))
	b, _ := os.ReadFile(seg)
	b[len(b)-1] ^= 0xff // bad CRC of its last record
	os.WriteFile(seg, b, 0o600)
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	corrupt, _ := os.ReadDir(filepath.Join(dir, "corrupt"))
	var records, skipped int64
	for pos := (Position{}); ; {
		r := readAll(t, dir, pos, 6)
		if len(r.Records) == 0 && r.Skipped == 0 {
			break
		}
		records += int64(len(r.Records))
		skipped += r.Skipped
		pos = r.Next
	}
	if len(corrupt) != 1 || records != 5 || skipped != 1 {
		t.Fatalf("corrupt %v, %d records read, %d passed over", corrupt, records, skipped)
	}
}

func TestPublishedCursorAndRestart(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(dir, Options{SegmentBytes: 100})
	w.AppendPayloads(payloads(6))
	r := readAll(t, dir, w.PublishedPosition(), w.DurableEnd())
	if len(r.Records) == 0 {
		t.Fatal("nothing read")
	}
	if err := w.MarkPublished(r.Next); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if ReadPublished(dir) != r.Next.Sequence {
		t.Fatalf("published %d", ReadPublished(dir))
	}
	w, _ = Open(dir, Options{})
	defer w.Close()
	if p := w.PublishedPosition(); p.Sequence != r.Next.Sequence {
		t.Fatalf("position %+v after restart, want %d", p, r.Next.Sequence)
	}
}

func TestALiveLockRefusesAndAStaleOneIsTakenOver(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "LOCK"), []byte("1\n"), 0o644) // pid 1 lives
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("opened a spool a live process holds")
	}
	os.WriteFile(filepath.Join(dir, "LOCK"), []byte("999999999\n"), 0o644)
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}

func TestTheCapRefusesOrDropsTheOldest(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(dir, Options{MaxBytes: 100})
	if _, err := w.AppendPayloads(payloads(10)); err == nil {
		t.Fatal("accepted a batch over the cap")
	}
	w.Close()
	dir = t.TempDir()
	w, _ = Open(dir, Options{MaxBytes: 200, SegmentBytes: 60, Policy: CapDropOldest})
	defer w.Close()
	for i := 0; i < 10; i++ {
		if _, err := w.AppendPayloads(payloads(1)); err != nil {
			t.Fatal(err)
		}
	}
	if s := w.Stats(); s.DroppedRecords == 0 || s.Published == 0 {
		t.Fatalf("stats %+v", s)
	}
}

// The cursor file follows every advance at once; it is made durable, and the segments below it
// deleted, at most once per PublishedSync (SpoolWriter.ts markPublished).
func TestPublishedCursorIsWrittenAtOnceAndMadeDurableAtMostOncePerPeriod(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(dir, Options{SegmentBytes: 100, PublishedSync: 300 * time.Millisecond})
	defer w.Close()
	w.AppendPayloads(payloads(6)) // several segments
	segments := len(ListSegments(dir))
	if segments < 3 {
		t.Fatalf("%d segments", segments)
	}
	r := readAll(t, dir, w.PublishedPosition(), w.DurableEnd())
	first := Position{Sequence: 1, Segment: r.Next.Segment}
	if err := w.MarkPublished(first); err != nil { // the first advance is durable at once
		t.Fatal(err)
	}
	if err := w.MarkPublished(r.Next); err != nil {
		t.Fatal(err)
	}
	if ReadPublished(dir) != r.Next.Sequence {
		t.Fatalf("published file says %d, want %d at once", ReadPublished(dir), r.Next.Sequence)
	}
	if n := len(ListSegments(dir)); n != segments {
		t.Fatalf("%d segments of %d left before the cursor was durable", n, segments)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(ListSegments(dir)) == segments && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(ListSegments(dir)); n != segments-1 { // the first segment: wholly below r.Next
		t.Fatalf("%d segments left after the cursor was made durable, want %d", n, segments-1)
	}
}
