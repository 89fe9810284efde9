package validate

import (
	"os"
	"strings"
	"testing"

	"github.com/provml/provml/capture-agent/agent-go/internal/capture"
)

// fig5Lines are the spool records of one epoch of bench/fig5.ts (a spec, then 74 events): what
// the bench/peers.ts online settings send the agent, 50 events a batch.
func fig5Lines(tb testing.TB) (spec string, events []string) {
	text, err := os.ReadFile("testdata/fig5.ndjson")
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	return lines[0], lines[1:]
}

func fig5Spec(tb testing.TB, spec string) SpecLookup {
	kind, env, _, ok := Envelope([]byte(spec))
	if !ok || kind != "spec" {
		tb.Fatal("not a spec")
	}
	c, found := CompileSpec(env["spec"])
	if len(found) > 0 {
		tb.Fatal(found)
	}
	return func(string) *CompiledSpec { return c }
}

// BenchmarkParseBatch: a socket batch of 50 events (ns/op per batch).
func BenchmarkParseBatch(b *testing.B) {
	spec, events := fig5Lines(b)
	lookup := fig5Spec(b, spec)
	batch := events[:50]
	b.ReportAllocs()
	for b.Loop() {
		if _, r := ParseBatch(batch, lookup); r != nil {
			b.Fatal(r.Issues)
		}
	}
}

// BenchmarkEnvelopeEvent: the publisher's decoding of one spooled event.
func BenchmarkEnvelopeEvent(b *testing.B) {
	_, events := fig5Lines(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, env, unpaired, _ := Envelope([]byte(events[i%len(events)]))
		if _, found := ParseEvent(env["event"], unpaired); len(found) > 0 {
			b.Fatal(found)
		}
	}
}

// BenchmarkParseEventBody: an HTTP body of 50 events as NDJSON (ns/op per body).
func BenchmarkParseEventBody(b *testing.B) {
	spec, events := fig5Lines(b)
	lookup := fig5Spec(b, spec)
	var body strings.Builder
	for _, l := range events[:50] {
		body.WriteString(strings.TrimSuffix(strings.TrimPrefix(l, `{"event":`), "}") + "\n")
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := ParseEventBody(body.String(), lookup); r.Report != nil {
			b.Fatal(r.Report.Issues)
		}
	}
}

// BenchmarkSingleObject: the Avro encoding of one event.
func BenchmarkSingleObject(b *testing.B) {
	_, events := fig5Lines(b)
	_, env, unpaired, _ := Envelope([]byte(events[len(events)-2]))
	e, _ := ParseEvent(env["event"], unpaired)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := capture.SingleObject(e); err != nil {
			b.Fatal(err)
		}
	}
}
