package validate

import (
	"bytes"
	"embed"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
)

// The JSON Schemas generated from the zod schemas (deploy/agent-go-schemas.ts).
//
//go:embed schemas/*.schema.json
var schemaFiles embed.FS

var (
	eventSchema = mustCompile("event.schema.json")
	specSchema  = mustCompile("spec.schema.json")
	printer     = message.NewPrinter(language.English)
)

func mustCompile(name string) *jsonschema.Schema {
	text, err := schemaFiles.ReadFile("schemas/" + name)
	if err != nil {
		panic(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
	if err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		panic(err)
	}
	return c.MustCompile(name)
}

// schemaIssues validates v and names each problem by its path (zod's dot-separated form): one
// issue per path (anyOf branches of a nullable field report one), missing properties at their own
// path, unknown keys at the object's.
func schemaIssues(s *jsonschema.Schema, v any) []issues.Issue {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []issues.Issue{{Path: "", Message: err.Error()}}
	}
	var out []issues.Issue
	seen := map[string]bool{}
	add := func(path []string, msg string) {
		p := strings.Join(path, ".")
		if seen[p] {
			return
		}
		seen[p] = true
		out = append(out, issues.Issue{Path: p, Message: msg})
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if r, ok := e.ErrorKind.(*kind.Required); ok {
			for _, m := range r.Missing {
				add(append(slices.Clone(e.InstanceLocation), m), "Invalid input: missing")
			}
			return
		}
		if a, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			add(e.InstanceLocation, fmt.Sprintf("Unrecognized key(s) in object: %s", strings.Join(a.Properties, ", ")))
			return
		}
		add(e.InstanceLocation, e.ErrorKind.LocalizedString(printer))
	}
	walk(ve)
	return out
}
