// Package issues holds bounded lists of validation issues: the first 100 are reported, parsing
// stops at 10 000 (capture-agent/agent/src/ingest/issueList.ts).
package issues

// MaxReported issues in one answer at most; the rest are only counted.
const MaxReported = 100

// MaxCounted issues at most: parsing stops at this many and the answer says so (complete: false).
const MaxCounted = 10_000

// Issue is one problem: its JSON path (dot-separated), message and 1-based line in the batch.
type Issue struct {
	Line    int    `json:"line,omitempty"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Report is what an answer carries about the problems of a batch.
type Report struct {
	Issues     []Issue `json:"issues"`
	IssueCount int     `json:"issueCount"`
	Complete   bool    `json:"complete"`
}

// List collects issues while parsing.
type List struct {
	kept    []Issue
	counted int
	stopped bool
}

// NewList returns an empty list.
func NewList() *List { return &List{} }

// Push adds issues (kept while fewer than MaxReported are, counted always).
func (l *List) Push(is ...Issue) {
	for _, i := range is {
		if len(l.kept) < MaxReported {
			l.kept = append(l.kept, i)
		}
		l.counted++
	}
}

// Count is how many issues were found.
func (l *List) Count() int { return l.counted }

// Full says the parser should stop (it then calls Stop).
func (l *List) Full() bool { return l.counted >= MaxCounted }

// Stop records that parsing stopped before the end of the input.
func (l *List) Stop() { l.stopped = true }

// Report of what was found.
func (l *List) Report() Report {
	kept := l.kept
	if kept == nil {
		kept = []Issue{}
	}
	return Report{Issues: kept, IssueCount: l.counted, Complete: !l.stopped}
}
