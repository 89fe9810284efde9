package validate

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/provml/provml/capture-agent/agent-go/internal/capture"
	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
)

// Event is one normalised capture event (capture.Event).
type Event = capture.Event

// DataRef is a reference to data (capture.DataRef).
type DataRef = capture.DataRef

// Limits of schemas/src/eventRules.ts (EVENT_LIMITS, TEXT_LIMITS).
const (
	idLength          = 256
	stringValueLength = 65_536
	arrayValueLength  = 100_000
	valueName         = 200
	refName           = 200
	refStore          = 500
	contextName       = 100
	contextValue      = 4096
)

// eventRules.ts MIN_TIME_US and MAX_TIME_US: from the epoch to 2200-01-01.
const maxTimeUS = int64(7258118400000) * 1000

const unpairedMessage = `holds an unpaired UTF-16 surrogate (\ud800-\udfff alone), which is not Unicode text`

// ParseEvent validates one capture event in its JSON form and normalises it (parseEventJson).
// Paths name the field as zod does (`time`, `values.loss`, `dataRefs.0.uri`).
func ParseEvent(raw any, unpaired bool) (Event, []issues.Issue) {
	var found []issues.Issue
	if !eventValid(raw) {
		found = schemaIssues(eventSchema, raw)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return Event{}, found
	}
	r := rules{unpaired: unpaired, seen: map[string]bool{}}
	for _, i := range found {
		r.seen[i.Path] = true
	}
	r.issues = found
	e := r.event(obj)
	return e, r.issues
}

// rules applies what JSON Schema cannot say, each naming its TypeScript rule.
type rules struct {
	unpaired bool
	issues   []issues.Issue
	seen     map[string]bool
}

func (r *rules) add(path, msg string) {
	if r.seen[path] {
		return
	}
	r.seen[path] = true
	r.issues = append(r.issues, issues.Issue{Path: path, Message: msg})
}

// text: validateEvent.ts `text(min, max)`: a length in UTF-16 units (JSON Schema counts code
// points) and wellFormed (eventRules.ts: no unpaired surrogate).
func (r *rules) text(path string, v any, minLen, maxLen int) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	if n := utf16Len(s); n < minLen || n > maxLen {
		r.add(path, fmt.Sprintf("Too long or too short: expected %d to %d characters", minLen, maxLen))
	} else if r.unpaired && strings.ContainsRune(s, unpairedMark) {
		r.add(path, unpairedMessage)
	}
	return s
}

func (r *rules) event(o map[string]any) Event {
	// validateEvent.ts protoKeys: own __proto__ keys of values and context are refused
	for _, f := range []string{"values", "context"} {
		if m, ok := o[f].(map[string]any); ok {
			if _, has := m["__proto__"]; has {
				r.add(f+".__proto__", "the name __proto__ is not allowed")
			}
		}
	}
	e := Event{
		EventID:           r.text("eventId", o["eventId"], 1, idLength),
		Workflow:          r.text("workflow", o["workflow"], 1, idLength),
		WorkflowExecution: r.text("workflowExecution", o["workflowExecution"], 1, idLength),
		Task:              r.text("task", o["task"], 1, idLength),
		TaskExecution:     r.text("taskExecution", o["taskExecution"], 1, idLength),
		Values:            map[string]any{},
		DataRefs:          []DataRef{},
		Context:           map[string]string{},
	}
	if p, ok := o["parentTaskExecution"].(string); ok {
		r.text("parentTaskExecution", p, 1, idLength)
		e.ParentTaskExecution = &p
	}
	e.Phase, _ = o["phase"].(string)
	if s, ok := o["status"].(string); ok {
		e.Status = &s
	}
	e.Time = r.time(o["time"])
	if vs, ok := o["values"].(map[string]any); ok {
		for k, v := range vs {
			r.text("values."+k, k, 1, valueName)
			e.Values[k] = r.value("values."+k, v)
		}
	}
	if refs, ok := o["dataRefs"].([]any); ok {
		for i, x := range refs {
			d, _ := x.(map[string]any)
			path := fmt.Sprintf("dataRefs.%d.", i)
			ref := DataRef{Name: r.text(path+"name", d["name"], 1, refName)}
			ref.URI, _ = d["uri"].(string)
			// eventRules.ts isAbsoluteIri
			if _, isString := d["uri"].(string); isString && !isAbsoluteIRI(ref.URI) {
				r.add(path+"uri", `must be an absolute URI by RFC 3987 (scheme; no spaces, controls, <>"{}|\^`+"`"+`, noncharacters or private use)`)
			}
			if s, ok := d["store"].(string); ok {
				r.text(path+"store", s, 1, refStore)
				ref.Store = &s
			}
			if s, ok := d["digest"].(string); ok {
				ref.Digest = &s
			}
			e.DataRefs = append(e.DataRefs, ref)
		}
	}
	if c, ok := o["context"].(map[string]any); ok {
		for k, v := range c {
			r.text("context."+k, k, 1, contextName)
			e.Context[k] = r.text("context."+k, v, 0, contextValue)
		}
	}
	return e
}

// time: validateEvent.ts `time` with eventRules.ts isEventTime: integer microseconds since the
// epoch (a safe integer) or an ISO-8601 date-time with time zone, before 2200.
func (r *rules) time(v any) int64 {
	const msg = "must be integer microseconds since the epoch or an ISO-8601 date-time with time zone, before 2200"
	var us float64
	switch t := v.(type) {
	case json.Number:
		f, ok := number(t)
		if !ok {
			r.add("time", msg)
			return 0
		}
		us = f
	case string:
		n, ok := isoToMicros(t)
		if !ok {
			r.add("time", msg)
			return 0
		}
		us = float64(n)
	default:
		r.add("time", msg)
		return 0
	}
	if us != math.Trunc(us) || math.Abs(us) > 1<<53-1 || us < 0 || us > float64(maxTimeUS) {
		r.add("time", msg)
		return 0
	}
	return int64(us)
}

var iso8601 = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.(\d{1,9}))?(Z|[+-](\d{2}):(\d{2}))$`)

// isoToMicros: validateEvent.ts isoToMicros, keeping sub-millisecond digits.
func isoToMicros(s string) (int64, bool) {
	m := iso8601.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n := func(i int) int { x, _ := strconv.Atoi(m[i]); return x }
	year, month, day, hour, minute, second := n(1), n(2), n(3), n(4), n(5), n(6)
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59 {
		return 0, false
	}
	offset := 0
	if m[9] != "Z" {
		oh, om := n(10), n(11)
		if oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if m[9][0] == '-' {
			offset = -offset
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.FixedZone("", offset))
	fraction := (m[8] + "000000")[:6]
	f, _ := strconv.ParseInt(fraction, 10, 64)
	return t.Unix()*1_000_000 + f, true
}

// daysIn: `new Date(Date.UTC(year, month, 0)).getUTCDate()`; Date.UTC reads years 0–99 as 1900–1999.
func daysIn(year, month int) int {
	if year >= 0 && year <= 99 {
		year += 1900
	}
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// value: eventRules.ts isCaptureValue and wellFormed: a boolean, a finite number, a string
// (≤ 65 536 UTF-16 units) or an array (≤ 100 000) of finite numbers.
func (r *rules) value(path string, v any) any {
	bad := func() any {
		r.add(path, fmt.Sprintf("must be a boolean, a finite number, a string (≤ %d chars) or an array of numbers (≤ %d)", stringValueLength, arrayValueLength))
		return nil
	}
	switch x := v.(type) {
	case bool:
		return x
	case json.Number:
		f, ok := number(x)
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return bad()
		}
		return f
	case string:
		if r.unpaired && strings.ContainsRune(x, unpairedMark) {
			r.add(path, unpairedMessage)
			return x
		}
		if utf16Len(x) > stringValueLength {
			return bad()
		}
		return x
	case []any:
		if len(x) > arrayValueLength {
			return bad()
		}
		out := make([]float64, len(x))
		for i, y := range x {
			f, ok := number(y)
			if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
				return bad()
			}
			out[i] = f
		}
		return out
	}
	return bad()
}
