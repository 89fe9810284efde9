package validate

import (
	"fmt"
	"regexp"

	"github.com/provml/provml/capture-agent/agent-go/internal/capture"
	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
)

// MaxRecordBytes: recordLimits.ts MAX_RECORD_BYTES, the largest event, spec or annotation document
// as JSON and as Avro (one Kafka message, one spool record).
const MaxRecordBytes = 1_000_000

// maxPayloadBytes of one spool record (1 MiB).
const maxPayloadBytes = 1_048_576

// Batch is a valid batch: the payload of each line to spool, and the specs among them (compiled;
// they count for the events after them). Events, when set, holds beside each payload the event it
// decodes to (nil for other records), so that the publisher need not decode it again.
type Batch struct {
	Payloads [][]byte
	Events   []*Event
	Specs    []*CompiledSpec
	Counts   struct{ Events, Specs, Annotations int }
}

// SpecLookup is the latest spec of a workflow known outside the batch (nil when unknown).
type SpecLookup func(workflow string) *CompiledSpec

// ParseBatch validates the lines of one socket batch (parseEnvelopeBatch.ts): either every line is
// returned as a payload, or nothing is and the problems are named with their 1-based lines (the
// first 100 and their count; validation stops at 10 000).
//
// Annotations: the Node agent parses their Turtle; no Turtle parser is part of this agent, so an
// annotations line is refused (`annotations`: use provml-agent or the HTTP ingest for them).
func ParseBatch(lines []string, specs SpecLookup) (*Batch, *issues.Report) {
	list := issues.NewList()
	b := &Batch{}
	batchSpecs := map[string]*CompiledSpec{}
	var order []string
	seen := map[string]int{}
	specOf := func(w string) *CompiledSpec {
		if s, ok := batchSpecs[w]; ok {
			return s
		}
		return specs(w)
	}
	for i, text := range lines {
		if list.Full() {
			list.Stop()
			break
		}
		line := i + 1
		// parseEnvelopeBatch.ts names an issue `event.${path}` / `spec.${path}` (`event.` for the event itself)
		push := func(prefix string, found []issues.Issue) {
			for _, is := range found {
				list.Push(issues.Issue{Path: prefix + "." + is.Path, Message: is.Message, Line: line})
			}
		}
		if len(text) > maxPayloadBytes {
			list.Push(issues.Issue{Path: "", Message: fmt.Sprintf("longer than %d bytes", maxPayloadBytes), Line: line})
			continue
		}
		p, err := parseLine(text)
		if err != nil {
			list.Push(issues.Issue{Path: "", Message: "not JSON: " + err.Error(), Line: line})
			continue
		}
		kind, env := classify(p.value)
		if kind == "" {
			list.Push(issues.Issue{Path: "", Message: "not an envelope: an object with exactly one of event, spec, annotations (+ source)", Line: line})
			continue
		}
		before := list.Count()
		var event *Event
		switch kind {
		case "event":
			e, found := ParseEvent(env["event"], p.unpaired)
			if len(found) > 0 {
				push("event", found)
				break
			}
			if size := eventSizeIssue(e); size != "" {
				list.Push(issues.Issue{Path: "event", Message: size, Line: line})
			}
			if first, dup := seen[e.EventID]; dup {
				list.Push(issues.Issue{Path: "event.eventId", Message: fmt.Sprintf("duplicate of line %d", first), Line: line})
			}
			seen[e.EventID] = line
			if spec := specOf(e.Workflow); spec == nil {
				list.Push(issues.Issue{Path: "event.workflow", Message: fmt.Sprintf("unknown workflow '%s': send its spec first", e.Workflow), Line: line})
			} else {
				push("event", CheckEvent(e, spec))
			}
			event = &e
			b.Counts.Events++
		case "spec":
			c, found := CompileSpec(env["spec"])
			if len(found) > 0 {
				push("spec", found)
				break
			}
			if n := len(marshalJS(c.Spec)); n > MaxRecordBytes {
				list.Push(issues.Issue{Path: "spec", Message: tooLarge("the spec as JSON", n, "split the workflow into several workflows"), Line: line})
			}
			w := c.Spec.Workflow
			if _, ok := batchSpecs[w]; !ok {
				order = append(order, w)
			}
			batchSpecs[w] = ExtendSpec(specOf(w), c)
			b.Counts.Specs++
		default:
			if _, has := env["agent"]; has {
				// who annotated is the agent's to say (from an HTTP client's token), never a local client's
				list.Push(issues.Issue{Path: "agent", Message: "agent is set by the agent, not by its clients", Line: line})
			} else if src, has := env["source"]; has && !sourcePattern.MatchString(src.(string)) {
				list.Push(issues.Issue{Path: "source", Message: "source must be 1 to 200 letters, digits and . _ ~ -", Line: line})
			} else {
				list.Push(issues.Issue{Path: "annotations", Message: "provml-agent-go does not parse Turtle: send annotations through provml-agent (Node) or the HTTP ingest", Line: line})
			}
		}
		if list.Count() == before {
			b.Payloads = append(b.Payloads, []byte(text))
			b.Events = append(b.Events, event)
		}
	}
	if len(lines) == 0 {
		list.Push(issues.Issue{Path: "", Message: "empty batch"})
	}
	if list.Count() > 0 {
		r := list.Report()
		return nil, &r
	}
	for _, w := range order {
		b.Specs = append(b.Specs, batchSpecs[w])
	}
	return b, nil
}

// sourcePattern: annotationSource.ts (letters, digits and . _ ~ -).
var sourcePattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,200}$`)

// classify: spoolFormat.ts classifyEnvelope: an object with exactly one of event, spec,
// annotations (a string, with optional string source and agent).
func classify(v any) (string, map[string]any) {
	o, ok := v.(map[string]any)
	if !ok {
		return "", nil
	}
	if _, has := o["event"]; has && len(o) == 1 {
		return "event", o
	}
	if _, has := o["spec"]; has && len(o) == 1 {
		return "spec", o
	}
	if a, has := o["annotations"]; has {
		if _, isString := a.(string); !isString {
			return "", nil
		}
		for k, x := range o {
			if k != "annotations" && k != "source" && k != "agent" {
				return "", nil
			}
			if _, isString := x.(string); !isString {
				return "", nil
			}
		}
		return "annotations", o
	}
	return "", nil
}

func tooLarge(what string, n int, hint string) string {
	return fmt.Sprintf("%s is %d bytes, over the %d bytes one record may hold; %s", what, n, MaxRecordBytes, hint)
}

// eventSizeIssue: recordLimits.ts eventSizeIssue: the event as JSON and as Avro at most
// MaxRecordBytes; cheap (an upper bound) for the events under it.
func eventSizeIssue(e Event) string {
	if eventSizeBound(e) <= MaxRecordBytes {
		return ""
	}
	const hint = "send large arrays as data references, or split them over several values or events"
	if n := len(marshalJS(e)); n > MaxRecordBytes {
		return tooLarge("the event as JSON", n, hint)
	}
	if body, err := capture.AvroBody(e); err == nil && len(body)+10 > MaxRecordBytes {
		return tooLarge("the event as Avro", len(body)+10, hint)
	}
	return ""
}

// eventSizeBound: recordLimits.ts eventSizeBound.
func eventSizeBound(e Event) int {
	str := func(s string) int { return 6*utf16Len(s) + 3 }
	const number = 25
	n := 512 + number
	for _, s := range []string{e.EventID, e.Workflow, e.WorkflowExecution, e.Task, e.TaskExecution} {
		n += str(s)
	}
	if e.ParentTaskExecution != nil {
		n += str(*e.ParentTaskExecution)
	}
	for k, v := range e.Values {
		n += str(k)
		switch x := v.(type) {
		case string:
			n += str(x)
		case []float64:
			n += 2 + number*len(x)
		default:
			n += number
		}
	}
	for _, d := range e.DataRefs {
		store := ""
		if d.Store != nil {
			store = *d.Store
		}
		n += 32 + str(d.Name) + str(d.URI) + str(store)
	}
	for k, v := range e.Context {
		n += str(k) + str(v)
	}
	return n
}

// Envelope decodes a spool record's payload (spoolFormat.ts decodeEnvelope): its kind and fields,
// and whether it held an unpaired surrogate escape; ok false when it is not an envelope.
func Envelope(payload []byte) (kind string, env map[string]any, unpaired bool, ok bool) {
	p, err := parseLine(string(payload))
	if err != nil {
		return "", nil, false, false
	}
	kind, env = classify(p.value)
	return kind, env, p.unpaired, kind != ""
}
