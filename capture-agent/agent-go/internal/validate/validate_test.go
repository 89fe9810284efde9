package validate

import (
	"strings"
	"testing"
)

const spec = `{"spec":{"workflow":"w1","phase":"learning","tasks":[{"id":"train","inputs":[{"name":"lr","semantics":"hyperparameter"},{"name":"data","semantics":"dataset-reference"}],"outputs":[{"name":"loss","semantics":"evaluation-measure"}]}]}}`

func event(fields string) string {
	return `{"event":{"eventId":"e1","workflow":"w1","workflowExecution":"x1","task":"train","taskExecution":"t1","phase":"end","time":1700000000000000` + fields + `}}`
}

func none(string) *CompiledSpec { return nil }

func paths(t *testing.T, lines ...string) []string {
	t.Helper()
	b, r := ParseBatch(lines, none)
	if r == nil {
		if len(b.Payloads) != len(lines) {
			t.Fatalf("accepted %d payloads of %d lines", len(b.Payloads), len(lines))
		}
		return nil
	}
	var out []string
	for _, i := range r.Issues {
		out = append(out, i.Path)
	}
	return out
}

func TestValidBatchIsAccepted(t *testing.T) {
	if p := paths(t, spec, event(`,"values":{"loss":0.5,"lr":"NaN"},"dataRefs":[{"name":"data","uri":"s3://b/k"}],"status":"finished"`)); p != nil {
		t.Fatalf("refused: %v", p)
	}
}

func TestInvalidEventsNameTheirPaths(t *testing.T) {
	cases := map[string]string{
		event(`,"values":{"loss":1e400}`):                        "event.values.loss",
		event(`,"time":-1`):                                      "event.time",
		event(`,"dataRefs":[{"name":"data","uri":"not a uri"}]`): "event.dataRefs.0.uri",
		event(`,"values":{"nope":1}`):                            "event.values.nope",
		event(`,"values":{"loss":"\ud800"}`):                     "event.values.loss",
		event(`,"extra":1`):                                      "event.",
		`{"event":{"eventId":"e1"}}`:                             "event.workflow",
		event(`,"values":{"data":1}`):                            "event.values.data",
		`{"event":{},"spec":{}}`:                                 "",
		`{"spec":{"workflow":"w2","phase":"nope","tasks":[]}}`:   "spec.phase",
	}
	for line, want := range cases {
		line = strings.Replace(line, `"time":1700000000000000,"time"`, `"time"`, 1)
		got := paths(t, spec, line)
		found := false
		for _, p := range got {
			found = found || p == want
		}
		if !found {
			t.Errorf("%s: paths %v, want %q among them", line, got, want)
		}
	}
}

func TestUnknownWorkflowAndDuplicates(t *testing.T) {
	if p := paths(t, event(``)); len(p) != 1 || p[0] != "event.workflow" {
		t.Fatalf("paths %v", p)
	}
	if p := paths(t, spec, event(``), event(``)); len(p) != 1 || p[0] != "event.eventId" {
		t.Fatalf("paths %v", p)
	}
}

func TestIsoTimes(t *testing.T) {
	us, ok := isoToMicros("2024-02-29T12:00:00.123456789+01:00")
	if !ok || us != 1709204400123456 {
		t.Fatalf("%d %v", us, ok)
	}
	if _, ok := isoToMicros("2023-02-29T12:00:00Z"); ok {
		t.Fatal("accepted Feb 29 of 2023")
	}
}
