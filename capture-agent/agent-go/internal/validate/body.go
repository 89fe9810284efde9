package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
)

// MaxEventsPerRequest: parseEventBody.ts MAX_EVENTS_PER_REQUEST.
const MaxEventsPerRequest = 100_000

// BodyResult is a valid events body (Events), or its problems (Report; TooLarge when every
// problem is an event over the record limit: answered 413).
type BodyResult struct {
	Events   []Event
	Report   *issues.Report
	TooLarge bool
}

type numbered struct {
	line  int
	value any
	err   error
}

// decodeJSON parses one JSON text as JSON.parse would (numbers kept as json.Number).
func decodeJSON(text string) (any, error) {
	return decodeJSONWith(text, true)
}

func decodeJSONWith(text string, fast bool) (any, error) {
	if fast {
		if v, ok := fastDecode(text); ok {
			return v, nil
		}
	}
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("unexpected non-whitespace character after JSON")
	}
	return v, nil
}

// ParseEventBody: capture-agent/agent/src/ingest/parseEventBody.ts: the body of POST /v1/events,
// a JSON array or NDJSON, all or nothing; issues name the line (NDJSON) or the 1-based index (array).
func ParseEventBody(body string, specs SpecLookup) BodyResult {
	text, unpaired := markUnpairedSurrogates(body)
	list := issues.NewList()
	var records []numbered
	if strings.HasPrefix(strings.TrimLeft(text, " \t\r\n\v\f\u00a0\ufeff"), "[") {
		v, err := decodeJSON(text)
		arr, isArray := v.([]any)
		switch {
		case err != nil:
			line := 1
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line = strings.Count(text[:min(int(se.Offset), len(text))], "\n") + 1
			}
			list.Push(issues.Issue{Path: "", Message: "not JSON: " + err.Error(), Line: line})
		case !isArray:
			list.Push(issues.Issue{Path: "", Message: "expected a JSON array"})
		case len(arr) > MaxEventsPerRequest:
			list.Push(issues.Issue{Path: "", Message: fmt.Sprintf("more than %d events in one request", MaxEventsPerRequest)})
			list.Stop()
		default:
			for i, x := range arr {
				records = append(records, numbered{line: i + 1, value: x})
			}
		}
	} else {
		count := 0
		for i, l := range strings.Split(text, "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if count++; count > MaxEventsPerRequest {
				list.Push(issues.Issue{Path: "", Message: fmt.Sprintf("more than %d events in one request", MaxEventsPerRequest)})
				list.Stop()
				break
			}
			v, err := decodeJSON(l)
			records = append(records, numbered{line: i + 1, value: v, err: err})
		}
	}
	var events []Event
	var lined []numberedEvent
	seen := map[string]int{}
	oversized := 0
	any := false
	for _, r := range records {
		if list.Full() {
			list.Stop()
			break
		}
		any = true
		if r.err != nil {
			list.Push(issues.Issue{Path: "", Message: "not JSON: " + r.err.Error(), Line: r.line})
			continue
		}
		e, found := ParseEvent(r.value, unpaired)
		if len(found) > 0 {
			for _, is := range found {
				list.Push(issues.Issue{Path: is.Path, Message: is.Message, Line: r.line})
			}
			continue
		}
		if size := eventSizeIssue(e); size != "" {
			list.Push(issues.Issue{Path: "", Message: size, Line: r.line})
			oversized++
		}
		if first, dup := seen[e.EventID]; dup {
			list.Push(issues.Issue{Path: "eventId", Message: fmt.Sprintf("duplicate of line %d", first), Line: r.line})
		}
		seen[e.EventID] = r.line
		spec := specs(e.Workflow)
		if spec == nil {
			list.Push(issues.Issue{Path: "workflow", Message: fmt.Sprintf("unknown workflow '%s': POST its spec to /v1/workflows first", e.Workflow), Line: r.line})
			continue
		}
		for _, is := range CheckEvent(e, spec) {
			list.Push(issues.Issue{Path: is.Path, Message: is.Message, Line: r.line})
		}
		events = append(events, e)
		lined = append(lined, numberedEvent{r.line, e})
	}
	if list.Count() == 0 && !any {
		list.Push(issues.Issue{Path: "", Message: "no events in the body"})
	}
	if !list.Full() {
		list.Push(orderIssues(lined)...)
	}
	if list.Count() > 0 {
		r := list.Report()
		return BodyResult{Report: &r, TooLarge: oversized == list.Count()}
	}
	return BodyResult{Events: events}
}

type numberedEvent struct {
	line  int
	event Event
}

// orderIssues: parseEventBody.ts orderIssues: one begin and one end per task execution, the end
// not before the begin (in the body and in time).
func orderIssues(events []numberedEvent) []issues.Issue {
	type at struct {
		line, seen int
		time       int64
	}
	var out []issues.Issue
	phases := map[[2]string]map[string]*at{}
	for _, ne := range events {
		e := ne.event
		key := [2]string{e.WorkflowExecution, e.TaskExecution}
		p := phases[key]
		if p == nil {
			p = map[string]*at{}
			phases[key] = p
		}
		if s := p[e.Phase]; s != nil {
			out = append(out, issues.Issue{Path: "phase", Message: fmt.Sprintf("second %s of task execution '%s' (first on line %d)", e.Phase, e.TaskExecution, s.line), Line: ne.line})
			continue
		}
		p[e.Phase] = &at{line: ne.line, time: e.Time}
		if e.Phase == "begin" && p["end"] != nil {
			out = append(out, issues.Issue{Path: "phase", Message: fmt.Sprintf("end of task execution '%s' (line %d) comes before its begin", e.TaskExecution, p["end"].line), Line: p["end"].line})
		}
		if b, en := p["begin"], p["end"]; b != nil && en != nil && en.time < b.time {
			out = append(out, issues.Issue{Path: "time", Message: fmt.Sprintf("task execution '%s' ends before it begins (begin on line %d)", e.TaskExecution, b.line), Line: en.line})
		}
	}
	return out
}

// EventJSON is the spool payload of an event accepted over HTTP: `{"event": …}` of the
// normalised event (SpoolIngestTarget.ts publishEvents, captureJson).
func EventJSON(e Event) []byte {
	return append(append([]byte(`{"event":`), marshalJS(e)...), '}')
}

// SpecJSON is the spool payload of a spec accepted over HTTP: `{"spec": …}` (publishSpec).
func SpecJSON(c *CompiledSpec) []byte {
	return append(append([]byte(`{"spec":`), marshalJS(c.Spec)...), '}')
}
