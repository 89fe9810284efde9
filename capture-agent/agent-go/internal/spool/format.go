// Package spool is the Go form of the spool directory of capture-agent/AGENT.md ("Records", "The
// spool directory"): the same record framing, segment names, LOCK, `published` cursor and recovery
// as capture-agent/src/spool (spoolFormat.ts, spoolFiles.ts, recoverSpool.ts, SpoolWriter.ts,
// SpoolReader.ts), so either agent (and `provml replay`) reads the other's spool.
package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"regexp"
	"strconv"
	"strings"
)

// HeaderBytes of a record: u32 BE payload length, u32 BE CRC-32 (IEEE) of the payload.
const HeaderBytes = 8

// MaxPayloadBytes of one record (1 MiB).
const MaxPayloadBytes = 1_048_576

var segmentNameRe = regexp.MustCompile(`^(\d{20})\.seg$`)

// SegmentName is a segment file's name for its first sequence number (20 digits, so names sort).
func SegmentName(first int64) string { return fmt.Sprintf("%020d.seg", first) }

// ParseSegmentName gives the first sequence number of a segment file's name; ok false for other files.
func ParseSegmentName(name string) (int64, bool) {
	m := segmentNameRe.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n, err == nil
}

// EncodeRecord frames one payload: length, CRC-32, payload.
func EncodeRecord(dst, payload []byte) ([]byte, error) {
	if len(payload) < 1 || len(payload) > MaxPayloadBytes {
		return dst, fmt.Errorf("record payload must be 1 … %d bytes, got %d", MaxPayloadBytes, len(payload))
	}
	var h [HeaderBytes]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(h[4:8], crc32.ChecksumIEEE(payload))
	dst = append(dst, h[:]...)
	return append(dst, payload...), nil
}

// Stop says why a scan stopped.
type Stop int

const (
	Complete   Stop = iota // every byte was a good record
	Incomplete             // a record runs past the end (torn write, or still being written)
	BadLength              // a length outside 1 … 1 MiB
	BadCRC                 // the checksum does not match
)

// Scanned is one record found in a buffer.
type Scanned struct {
	Offset  int // byte offset of its header
	Size    int // bytes of the whole record
	Payload []byte
}

// Scan reads records from start until the end of buf, the first bad record, or maxRecords;
// end is the offset just past the last good record. Nothing after a stop can be trusted.
func Scan(buf []byte, start, maxRecords int) (records []Scanned, end int, stop Stop) {
	offset := start
	for offset < len(buf) && len(records) < maxRecords {
		if len(buf)-offset < HeaderBytes {
			return records, offset, Incomplete
		}
		length := int(binary.BigEndian.Uint32(buf[offset:]))
		if length < 1 || length > MaxPayloadBytes {
			return records, offset, BadLength
		}
		size := HeaderBytes + length
		if len(buf)-offset < size {
			return records, offset, Incomplete
		}
		payload := buf[offset+HeaderBytes : offset+size]
		if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(buf[offset+4:]) {
			return records, offset, BadCRC
		}
		records = append(records, Scanned{Offset: offset, Size: size, Payload: payload})
		offset += size
	}
	return records, offset, Complete
}

var publishedRe = regexp.MustCompile(`^\d{1,16}$`)

// ParsePublished parses the `published` file's text; ok false when malformed.
func ParsePublished(text string) (int64, bool) {
	t := strings.TrimSpace(text)
	if !publishedRe.MatchString(t) {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	return n, err == nil
}

// Position is where a reader stands: the next record's sequence number, its segment and byte offset there.
type Position struct {
	Sequence int64
	Segment  int64
	Offset   int64
}
