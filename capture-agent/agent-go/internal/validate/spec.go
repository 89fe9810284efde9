package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
)

// Spec is a prospective workflow spec as zod's specSchema outputs it (schemas/src/ProspectiveSpec.ts):
// the same keys in the same order, defaults filled (inputs, outputs), absent optionals left out.
type Spec struct {
	Workflow    string  `json:"workflow"`
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	Phase       string  `json:"phase"`
	Version     *string `json:"version,omitempty"`
	Tasks       []Task  `json:"tasks"`
}

// Task is a task (data transformation) of a workflow.
type Task struct {
	ID          string          `json:"id"`
	Description *string         `json:"description,omitempty"`
	Parent      json.RawMessage `json:"parent,omitempty"` // absent, null or a task id (zod keeps null)
	Stage       *string         `json:"stage,omitempty"`
	Inputs      []Attribute     `json:"inputs"`
	Outputs     []Attribute     `json:"outputs"`
}

// Attribute is a declared task input or output.
type Attribute struct {
	Name          string  `json:"name"`
	Semantics     string  `json:"semantics"`
	Description   *string `json:"description,omitempty"`
	Unit          *string `json:"unit,omitempty"`
	Characterizes *string `json:"characterizes,omitempty"`
}

// parentID is the task's parent, "" when absent or null.
func (t Task) parentID() string {
	var s string
	if len(t.Parent) > 0 && json.Unmarshal(t.Parent, &s) == nil {
		return s
	}
	return ""
}

// CompiledSpec is a validated spec with the lookups events are checked with.
type CompiledSpec struct {
	Spec       Spec
	attributes map[string]map[string]string // task id → attribute name → semantics
}

// referenceSemantics: ProspectiveSpec.ts REFERENCE_SEMANTICS (values that arrive as dataRefs).
var referenceSemantics = map[string]bool{"dataset-reference": true, "model-reference": true, "data-reference": true}

// CompileSpec validates a spec given as a decoded JSON value, JSON text or YAML text and indexes it
// (ProspectiveSpec.ts compileSpec).
func CompileSpec(raw any) (*CompiledSpec, []issues.Issue) {
	if text, ok := raw.(string); ok {
		var y any
		if err := yaml.Unmarshal([]byte(text), &y); err != nil {
			return nil, []issues.Issue{{Path: "", Message: err.Error()}}
		}
		// through JSON, so numbers and maps are what the schema validator reads
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(marshalJS(y)))
		if err != nil {
			return nil, []issues.Issue{{Path: "", Message: "spec is neither JSON nor YAML"}}
		}
		raw = v
	}
	if found := schemaIssues(specSchema, raw); len(found) > 0 {
		return nil, found
	}
	var spec Spec
	if err := json.Unmarshal(marshalJS(raw), &spec); err != nil {
		return nil, []issues.Issue{{Path: "", Message: err.Error()}}
	}
	if found := crossChecks(spec); len(found) > 0 {
		return nil, found
	}
	return compiled(spec), nil
}

func compiled(spec Spec) *CompiledSpec {
	for i := range spec.Tasks {
		if spec.Tasks[i].Inputs == nil {
			spec.Tasks[i].Inputs = []Attribute{}
		}
		if spec.Tasks[i].Outputs == nil {
			spec.Tasks[i].Outputs = []Attribute{}
		}
	}
	c := &CompiledSpec{Spec: spec, attributes: map[string]map[string]string{}}
	for _, t := range spec.Tasks {
		m := map[string]string{}
		for _, a := range append(append([]Attribute{}, t.Inputs...), t.Outputs...) {
			if _, dup := m[a.Name]; !dup {
				m[a.Name] = a.Semantics
			}
		}
		c.attributes[t.ID] = m
	}
	return c
}

// crossChecks: ProspectiveSpec.ts crossChecks (what a schema cannot say): unique task ids, known
// parents, attributes declared once per task, `characterizes` naming a dataset-reference of its
// task and used only by dataset-characteristic, no parent cycles.
func crossChecks(spec Spec) []issues.Issue {
	var out []issues.Issue
	ids := map[string]Task{}
	for i, t := range spec.Tasks {
		if _, dup := ids[t.ID]; dup {
			out = append(out, issues.Issue{Path: fmt.Sprintf("tasks.%d.id", i), Message: fmt.Sprintf("duplicate task id '%s'", t.ID)})
		}
		ids[t.ID] = t
	}
	for i, t := range spec.Tasks {
		if p := t.parentID(); p != "" {
			if _, ok := ids[p]; !ok {
				out = append(out, issues.Issue{Path: fmt.Sprintf("tasks.%d.parent", i), Message: fmt.Sprintf("unknown parent task '%s'", p)})
			}
		}
		all := append(append([]Attribute{}, t.Inputs...), t.Outputs...)
		names := map[string]bool{}
		for _, a := range all {
			if names[a.Name] {
				out = append(out, issues.Issue{Path: fmt.Sprintf("tasks.%d", i), Message: fmt.Sprintf("attribute '%s' declared twice in task '%s'", a.Name, t.ID)})
			}
			names[a.Name] = true
		}
		for _, a := range all {
			if a.Characterizes == nil {
				continue
			}
			var target *Attribute
			for j := range all {
				if all[j].Name == *a.Characterizes {
					target = &all[j]
					break
				}
			}
			if a.Semantics != "dataset-characteristic" || target == nil || target.Semantics != "dataset-reference" {
				out = append(out, issues.Issue{Path: fmt.Sprintf("tasks.%d", i), Message: fmt.Sprintf("'%s.characterizes' must name a dataset-reference of task '%s' and only dataset-characteristic may use it", a.Name, t.ID)})
			}
		}
	}
	for _, t := range spec.Tasks {
		seen := map[string]bool{t.ID: true}
		for p := t.parentID(); p != ""; p = ids[p].parentID() {
			if seen[p] {
				out = append(out, issues.Issue{Path: "tasks", Message: fmt.Sprintf("parent cycle through task '%s'", t.ID)})
				break
			}
			seen[p] = true
		}
	}
	return out
}

// ExtendSpec: schemas/src/extendSpec.ts: next's fields win, tasks and attributes only previous
// declares are kept; where keeping them would make the spec invalid, next alone.
func ExtendSpec(previous, next *CompiledSpec) *CompiledSpec {
	if previous == nil || previous.Spec.Workflow != next.Spec.Workflow {
		return next
	}
	before := map[string]Task{}
	for _, t := range previous.Spec.Tasks {
		before[t.ID] = t
	}
	added := 0
	tasks := make([]Task, 0, len(next.Spec.Tasks))
	ids := map[string]bool{}
	for _, t := range next.Spec.Tasks {
		ids[t.ID] = true
		old, ok := before[t.ID]
		if !ok {
			tasks = append(tasks, t)
			continue
		}
		declared := map[string]bool{}
		for _, a := range append(append([]Attribute{}, t.Inputs...), t.Outputs...) {
			declared[a.Name] = true
		}
		missing := func(list []Attribute) []Attribute {
			var out []Attribute
			for _, a := range list {
				if !declared[a.Name] {
					out = append(out, a)
				}
			}
			return out
		}
		in, outs := missing(old.Inputs), missing(old.Outputs)
		added += len(in) + len(outs)
		t.Inputs = append(append([]Attribute{}, t.Inputs...), in...)
		t.Outputs = append(append([]Attribute{}, t.Outputs...), outs...)
		tasks = append(tasks, t)
	}
	var kept []Task
	for _, t := range previous.Spec.Tasks {
		if !ids[t.ID] {
			kept = append(kept, t)
		}
	}
	if added == 0 && len(kept) == 0 {
		return next
	}
	spec := next.Spec
	spec.Tasks = append(tasks, kept...)
	if len(crossChecks(spec)) > 0 {
		return next
	}
	return compiled(spec)
}

// CheckEvent: validateEvent.ts checkEventAgainstSpec: the task exists, every value and data
// reference is declared by the task, values are not references and references are not values,
// status only on end events, no task execution its own parent.
func CheckEvent(e Event, spec *CompiledSpec) []issues.Issue {
	attrs, ok := spec.attributes[e.Task]
	if !ok {
		return []issues.Issue{{Path: "task", Message: fmt.Sprintf("unknown task '%s' in workflow '%s'", e.Task, e.Workflow)}}
	}
	var out []issues.Issue
	for _, name := range slices.Sorted(maps.Keys(e.Values)) {
		sem, ok := attrs[name]
		if !ok {
			out = append(out, issues.Issue{Path: "values." + name, Message: fmt.Sprintf("'%s' is not declared by task '%s'", name, e.Task)})
		} else if referenceSemantics[sem] {
			out = append(out, issues.Issue{Path: "values." + name, Message: fmt.Sprintf("'%s' is a %s: send it in dataRefs", name, sem)})
		}
	}
	for i, d := range e.DataRefs {
		sem, ok := attrs[d.Name]
		if !ok {
			out = append(out, issues.Issue{Path: fmt.Sprintf("dataRefs.%d.name", i), Message: fmt.Sprintf("'%s' is not declared by task '%s'", d.Name, e.Task)})
		} else if !referenceSemantics[sem] {
			out = append(out, issues.Issue{Path: fmt.Sprintf("dataRefs.%d.name", i), Message: fmt.Sprintf("'%s' is a %s, not a reference", d.Name, sem)})
		}
	}
	if e.Phase == "begin" && e.Status != nil {
		out = append(out, issues.Issue{Path: "status", Message: "status is only allowed on end events"})
	}
	if e.ParentTaskExecution != nil && *e.ParentTaskExecution == e.TaskExecution {
		out = append(out, issues.Issue{Path: "parentTaskExecution", Message: "a task execution cannot be its own parent"})
	}
	return out
}
