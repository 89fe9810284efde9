package validate

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// eventSchemaSHA256 is the event schema fastEventValid was written from: while the embedded
// schema is another (regenerated from changed zod schemas), every event goes through the JSON
// Schema validator, and TestFastEventPathFollowsTheSchema fails until fastEventValid is reviewed.
const eventSchemaSHA256 = "697831f28c5efc2fa78b24321f21fbf63b16a96c4cefcde150485a8ac1d2b2e8"

var fastEventPath = func() bool {
	text, err := schemaFiles.ReadFile("schemas/event.schema.json")
	if err != nil {
		return false
	}
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:]) == eventSchemaSHA256
}()

// eventValid: whether v is an event the JSON Schema accepts. The JSON Schema validator decides
// only for the others (and names their problems): it is most of the cost of a valid event.
func eventValid(v any) bool {
	return fastEventPath && fastEventValid(v)
}

// fastEventValid says true only for a value schemas/event.schema.json accepts (false: let the
// schema validator decide): the same keywords written out. Lengths are in code points, as JSON
// Schema's minLength and maxLength count them.
func fastEventValid(v any) bool {
	o, ok := v.(map[string]any)
	if !ok {
		return false
	}
	required := 0
	for k, x := range o {
		switch k {
		case "eventId", "workflow", "workflowExecution", "task", "taskExecution":
			if !stringOf(x, 1, 256) {
				return false
			}
			required++
		case "parentTaskExecution":
			if x != nil && !stringOf(x, 1, 256) {
				return false
			}
		case "phase":
			if s, ok := x.(string); !ok || (s != "begin" && s != "end") {
				return false
			}
			required++
		case "time":
			required++ // {}: any value
		case "values":
			m, ok := x.(map[string]any)
			if !ok || len(m) > 1000 {
				return false
			}
			for name := range m {
				if !stringOf(name, 1, 200) {
					return false
				}
			}
		case "dataRefs":
			refs, ok := x.([]any)
			if !ok || len(refs) > 1000 {
				return false
			}
			for _, r := range refs {
				if !fastDataRefValid(r) {
					return false
				}
			}
		case "status":
			if s, ok := x.(string); x != nil && (!ok || (s != "finished" && s != "failed")) {
				return false
			}
		case "context":
			m, ok := x.(map[string]any)
			if !ok || len(m) > 100 {
				return false
			}
			for name, value := range m {
				if !stringOf(name, 1, 100) || !stringOf(value, 0, 4096) {
					return false
				}
			}
		default:
			return false // additionalProperties: false
		}
	}
	return required == 7
}

func fastDataRefValid(v any) bool {
	o, ok := v.(map[string]any)
	if !ok {
		return false
	}
	required := 0
	for k, x := range o {
		switch k {
		case "name":
			if !stringOf(x, 1, 200) {
				return false
			}
			required++
		case "uri":
			if _, ok := x.(string); !ok {
				return false
			}
			required++
		case "store":
			if x != nil && !stringOf(x, 1, 500) {
				return false
			}
		case "digest":
			if x != nil && !isDigest(x) {
				return false
			}
		default:
			return false
		}
	}
	return required == 2
}

// stringOf: a string of minLen to maxLen code points.
func stringOf(v any, minLen, maxLen int) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if minLen <= 1 && len(s) >= minLen && len(s) <= maxLen {
		return true // as many code points as bytes at most, and one at least when not empty
	}
	n := utf8.RuneCountInString(s)
	return n >= minLen && n <= maxLen
}

// isDigest: ^sha256:[0-9a-f]{64}$.
func isDigest(v any) bool {
	s, ok := v.(string)
	if !ok || len(s) != 7+64 || s[:7] != "sha256:" {
		return false
	}
	for i := 7; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
