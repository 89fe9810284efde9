// Package framing splits the agent's socket stream into batches as bytes arrive, enforcing the line
// and batch limits while reading (capture-agent/AGENT.md, "The sidecar's local protocols"). It is
// the Go form of capture-agent/agent/src/ingest/socketFraming.ts and makes the same decisions.
package framing

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
)

// Limits on what one connection may make the agent hold.
type Limits struct {
	MaxLineBytes  int // bytes in one line at most (its \n not counted); default 1 MiB
	MaxBatchLines int // lines in one batch at most; default 100 000
	MaxBatchBytes int // bytes in one batch at most (lines and their \n); default 32 MiB
}

// MaxPayloadBytes is the spool's record limit (AGENT.md "Records").
const MaxPayloadBytes = 1_048_576

// DefaultLimits are the limits of AGENT.md.
var DefaultLimits = Limits{MaxLineBytes: MaxPayloadBytes, MaxBatchLines: 100_000, MaxBatchBytes: 32 * 1024 * 1024}

// Reason why a batch was refused while reading.
type Reason string

const (
	ReasonUTF8  Reason = "utf8"
	ReasonLimit Reason = "limit"
)

// Frame is a complete batch (Lines set) or a refused one (Refused set).
type Frame struct {
	Lines   []string
	Refused *Refusal
}

// Refusal of a batch: invalid UTF-8 in some lines (answered at the batch's end) or a limit passed
// (answered at once; the rest of that batch, up to its empty line, is read and dropped).
type Refusal struct {
	Reason Reason
	Lines  int
	Report issues.Report
}

// Framer is a line and batch splitter over raw bytes; memory per connection is bounded by the limits.
type Framer struct {
	limits        Limits
	line          []byte
	lineBytes     int
	lines         []string
	batchBytes    int
	bad           *issues.List
	blank         bool
	droppingBatch bool
}

// New returns a framer with the given limits.
func New(limits Limits) *Framer {
	return &Framer{limits: limits, blank: true, bad: issues.NewList()}
}

// Push consumes the next bytes of the stream; returns the batches they completed or refused, in order.
func (f *Framer) Push(chunk []byte) []Frame {
	var frames []Frame
	pos := 0
	for pos <= len(chunk) {
		nl := bytes.IndexByte(chunk[pos:], '\n')
		end := len(chunk)
		if nl >= 0 {
			end = pos + nl
		}
		if end > pos {
			if f.blank {
				f.blank = isBlank(chunk[pos:end])
			}
			f.lineBytes += end - pos
			if f.droppingBatch {
				// nothing of a refused batch is kept
			} else if f.lineBytes > f.limits.MaxLineBytes {
				frames = f.refuse(frames, issues.Issue{
					Path:    "",
					Message: fmt.Sprintf("line %d is longer than %d bytes", len(f.lines)+1, f.limits.MaxLineBytes),
					Line:    len(f.lines) + 1,
				})
			} else {
				f.line = append(f.line, chunk[pos:end]...)
			}
		}
		if nl < 0 {
			break
		}
		frames = f.endLine(frames)
		pos = end + 1
	}
	return frames
}

func (f *Framer) endLine(frames []Frame) []Frame {
	line, lineBytes, blank := f.line, f.lineBytes, f.blank
	f.line = nil
	f.lineBytes = 0
	f.blank = true
	if blank {
		return f.endBatch(frames)
	}
	if f.droppingBatch {
		return frames
	}
	n := len(f.lines) + 1
	if n > f.limits.MaxBatchLines {
		return f.refuse(frames, issues.Issue{Path: "", Message: fmt.Sprintf("more than %d lines in one batch", f.limits.MaxBatchLines), Line: n})
	}
	f.batchBytes += lineBytes + 1
	if f.batchBytes > f.limits.MaxBatchBytes {
		return f.refuse(frames, issues.Issue{Path: "", Message: fmt.Sprintf("batch longer than %d bytes", f.limits.MaxBatchBytes), Line: n})
	}
	if !utf8.Valid(line) || hasSurrogateBytes(line) {
		f.bad.Push(issues.Issue{Path: "", Message: "invalid UTF-8 byte sequence", Line: n})
		f.lines = append(f.lines, "")
		return frames
	}
	text := string(line)
	if len(text) > 0 && text[len(text)-1] == '\r' {
		text = text[:len(text)-1]
	}
	f.lines = append(f.lines, text)
	return frames
}

func (f *Framer) endBatch(frames []Frame) []Frame {
	lines, bad, dropped := f.lines, f.bad, f.droppingBatch
	f.resetBatch()
	if dropped || len(lines) == 0 {
		return frames // the end of a refused batch, or blank lines between batches
	}
	if bad.Count() > 0 {
		return append(frames, Frame{Refused: &Refusal{Reason: ReasonUTF8, Lines: len(lines), Report: bad.Report()}})
	}
	return append(frames, Frame{Lines: lines})
}

func (f *Framer) refuse(frames []Frame, issue issues.Issue) []Frame {
	n := len(f.lines)
	f.resetBatch()
	f.droppingBatch = true
	return append(frames, Frame{Refused: &Refusal{Reason: ReasonLimit, Lines: n, Report: issues.Report{Issues: []issues.Issue{issue}, IssueCount: 1, Complete: true}}})
}

func (f *Framer) resetBatch() {
	f.line = nil
	f.lines = nil
	f.batchBytes = 0
	f.bad = issues.NewList()
	f.droppingBatch = false
}

// isBlank: all ASCII white space (space, tab, CR, vertical tab, form feed), as socketFraming.ts.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != 0x20 && c != 0x09 && c != 0x0d && c != 0x0b && c != 0x0c {
			return false
		}
	}
	return true
}

// hasSurrogateBytes: UTF-8 encoded surrogates (ED A0..BF xx), which utf8.Valid already refuses;
// kept explicit because TextDecoder's fatal mode refuses them too.
func hasSurrogateBytes(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == 0xED && b[i+1] >= 0xA0 && b[i+1] <= 0xBF {
			return true
		}
	}
	return false
}
