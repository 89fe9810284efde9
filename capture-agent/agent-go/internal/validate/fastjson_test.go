package validate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fastDecode gives what encoding/json gives, or leaves the text to it.
func checkFastDecode(t *testing.T, text string) bool {
	t.Helper()
	fast, ok := fastDecode(text)
	slow, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	slowBody, errBody := decodeJSONSlow(text)
	if !ok {
		return false
	}
	if err != nil || errBody != nil {
		t.Errorf("%q: decoded, but encoding/json refuses it (%v, %v)", text, err, errBody)
	} else if !reflect.DeepEqual(fast, slow) || !reflect.DeepEqual(fast, slowBody) {
		t.Errorf("%q: decoded as %#v, encoding/json gives %#v", text, fast, slow)
	}
	return true
}

// decodeJSONSlow is decodeJSON without its fast path.
func decodeJSONSlow(text string) (any, error) {
	return decodeJSONWith(text, false)
}

var fastDecodeCases = []string{
	`{}`, `[]`, ` {"a" : [1, -0, 0.5, -1.5e+10, 2E-3, 1e400, true, false, null, "x", {}, []]} `, "\t[\r\n]\n",
	`{"a":1,"a":2}`, `"é😀\ufffe"`, "\"\uFFFE\"", `0`, `-0`, `12345678901234567890123`,
	// left to encoding/json (errors, escapes, or what the fast path does not take)
	`{"a":"\n"}`, `{"a":"\u0041"}`, "\"a\x01\"", `01`, `-`, `1.`, `.5`, `1e`, `+1`, `{"a":1,}`, `[1,]`, `[1 2]`,
	`{"a" 1}`, `{a:1}`, `tru`, `nul`, `truex`, `[true`, `{"a":1}{}`, `{"a":1} x`, "\xff", "\"\xc3\"", "\ufeff{}",
	`NaN`, `Infinity`, `[-]`, `{"a":[}`, `"`, ``, ` `, strings.Repeat("[", 1001) + strings.Repeat("]", 1001),
	strings.Repeat("[", 999) + strings.Repeat("]", 999),
}

func TestFastDecodeGivesWhatEncodingJSONGives(t *testing.T) {
	decoded := 0
	_, events := fig5Lines(t)
	for _, text := range append(append([]string{}, fastDecodeCases...), events...) {
		if checkFastDecode(t, text) {
			decoded++
		}
	}
	if decoded < len(events)+11 {
		t.Fatalf("only %d texts decoded by the fast path", decoded)
	}
}

func FuzzFastDecode(f *testing.F) {
	for _, text := range fastDecodeCases {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) { checkFastDecode(t, text) })
}
