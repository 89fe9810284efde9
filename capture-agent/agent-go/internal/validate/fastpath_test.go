package validate

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// The fast path must never accept what the schema refuses, and should accept what it accepts
// (else valid events pay for the schema validator again): both checked on fig5's events and on
// each field of an event replaced by values at and around its limits.
func TestFastEventPathFollowsTheSchema(t *testing.T) {
	if !fastEventPath {
		t.Fatal("schemas/event.schema.json changed: review fastEventValid against it, then set eventSchemaSHA256 to its SHA-256")
	}
	_, lines := fig5Lines(t)
	var bases []map[string]any
	for _, l := range lines {
		_, env, _, ok := Envelope([]byte(l))
		if !ok {
			t.Fatal("not an envelope:", l)
		}
		bases = append(bases, env["event"].(map[string]any))
	}
	checked, accepted := 0, 0
	check := func(what string, v any) {
		t.Helper()
		checked++
		fast, schema := fastEventValid(v), eventSchema.Validate(v) == nil
		if fast && !schema {
			t.Errorf("%s: the fast path accepts what the schema refuses", what)
		}
		if schema && !fast {
			t.Errorf("%s: the fast path leaves to the schema validator an event it accepts", what)
		}
		if fast {
			accepted++
		}
	}
	for i, b := range bases {
		check(fmt.Sprintf("fig5 event %d", i), b)
	}
	text := func(n int, unit string) string { return strings.Repeat(unit, n) }
	var strs []any
	for _, n := range []int{0, 1, 2, 99, 100, 101, 199, 200, 201, 255, 256, 257, 499, 500, 501, 4095, 4096, 4097} {
		for _, unit := range []string{"a", "é", "😀", "\ufffe"} {
			strs = append(strs, text(n, unit))
		}
	}
	scalars := []any{nil, true, false, json.Number("1"), json.Number("-1.5e400"), []any{}, []any{json.Number("1")}, map[string]any{},
		"begin", "end", "finished", "failed", "Begin", "sha256:" + text(64, "a"), "sha256:" + text(64, "A"), "sha256:" + text(63, "0"),
		"sha256:" + text(64, "0") + "\n", "file:///x", ""}
	values := append(append([]any{}, scalars...), strs...)
	with := func(b map[string]any, k string, v any) map[string]any {
		m := maps.Clone(b)
		m[k] = v
		return m
	}
	named := func(name string, v any, n int) map[string]any {
		m := map[string]any{}
		for i := 0; i < n; i++ {
			m[fmt.Sprintf("%s%d", name, i)] = v
		}
		return m
	}
	base := bases[0] // a dataRef, values and context
	for _, k := range []string{"eventId", "workflow", "workflowExecution", "task", "taskExecution", "parentTaskExecution", "phase", "time", "values", "dataRefs", "status", "context", "extra", "__proto__"} {
		without := maps.Clone(base)
		delete(without, k)
		check("without "+k, without)
		for i, v := range values {
			check(fmt.Sprintf("%s = value %d", k, i), with(base, k, v))
		}
	}
	for i, v := range values {
		if s, ok := v.(string); ok {
			check(fmt.Sprintf("values named value %d", i), with(base, "values", map[string]any{s: json.Number("1")}))
			check(fmt.Sprintf("context named value %d", i), with(base, "context", map[string]any{s: "x"}))
		}
		check(fmt.Sprintf("values holding value %d", i), with(base, "values", map[string]any{"v": v}))
		check(fmt.Sprintf("context holding value %d", i), with(base, "context", map[string]any{"c": v}))
		for _, field := range []string{"name", "uri", "store", "digest", "extra"} {
			ref := map[string]any{"name": "n", "uri": "file:///x", field: v}
			check(fmt.Sprintf("dataRef %s = value %d", field, i), with(base, "dataRefs", []any{ref}))
		}
		check(fmt.Sprintf("dataRef value %d", i), with(base, "dataRefs", []any{v}))
	}
	for _, n := range []int{99, 100, 101, 999, 1000, 1001} {
		check(fmt.Sprintf("%d values", n), with(base, "values", named("v", json.Number("1"), n)))
		check(fmt.Sprintf("%d context entries", n), with(base, "context", named("c", "x", n)))
		refs := make([]any, n)
		for i := range refs {
			refs[i] = map[string]any{"name": "n", "uri": "u"}
		}
		check(fmt.Sprintf("%d dataRefs", n), with(base, "dataRefs", refs))
	}
	for _, ref := range []map[string]any{{"name": "n"}, {"uri": "u"}, {}} {
		check(fmt.Sprintf("dataRef %v", ref), with(base, "dataRefs", []any{ref}))
	}
	for _, v := range scalars {
		check(fmt.Sprintf("event %v", v), v)
	}
	if accepted < len(bases) || accepted == checked {
		t.Fatalf("%d of %d cases accepted: the cases do not test both sides", accepted, checked)
	}
}
