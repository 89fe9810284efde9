package validate

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// unpairedMark stands for an unpaired UTF-16 surrogate escape (`\ud800` alone) after decoding:
// Go's JSON decoder would turn it into U+FFFD silently, and the TS rules refuse it
// (eventRules.ts wellFormed). Only used in a line that had one (see parseLine).
const unpairedMark = '\uFFFE'

// parsed is a decoded JSON line.
type parsed struct {
	value    any  // as jsonschema.UnmarshalJSON gives it (numbers as json.Number)
	unpaired bool // the line held an unpaired surrogate escape (now unpairedMark)
}

// parseLine decodes one JSON text as JSON.parse would accept it.
func parseLine(line string) (parsed, error) {
	text, unpaired := markUnpairedSurrogates(line)
	if v, ok := fastDecode(text); ok {
		return parsed{value: v, unpaired: unpaired}, nil
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return parsed{}, err
	}
	return parsed{value: v, unpaired: unpaired}, nil
}

// markUnpairedSurrogates replaces each `\uD800`–`\uDFFF` escape that is not half of a pair by
// `\uFFFE` (same length); backslashes occur only inside JSON strings, so no string tracking is needed.
func markUnpairedSurrogates(s string) (string, bool) {
	if !strings.Contains(s, `\u`) && !strings.Contains(s, `\U`) {
		return s, false
	}
	b := []byte(s)
	found := false
	hex := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
		return rune(n), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		r, ok := hex(i)
		if !ok {
			i++ // another escape: skip its character
			continue
		}
		if r >= 0xD800 && r <= 0xDBFF {
			if low, ok := hex(i + 6); ok && low >= 0xDC00 && low <= 0xDFFF {
				i += 11
				continue
			}
		}
		if r >= 0xD800 && r <= 0xDFFF {
			copy(b[i:], `\ufffe`)
			found = true
		}
		i += 5
	}
	return string(b), found
}

// utf16Len is a string's length in UTF-16 units (what zod's min/max count).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r) // unpairedMark counts 1, as the lone surrogate it stands for
	}
	return n
}

// number: a JSON number as JavaScript reads it (a double; out of range is ±Infinity).
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// marshalJS is JSON.stringify's text for a value (no HTML escaping; no trailing newline).
func marshalJS(v any) []byte {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n"))
}
