package capture

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/hamba/avro/v2"
)

func ptr(s string) *string { return &s }

// The bytes schemas/src encodeCaptureEvent writes for the same event (node: encodeCaptureEvent(...).toString('hex')).
func TestSingleObjectMatchesTheNodeCodec(t *testing.T) {
	e := Event{
		EventID: "e1", Workflow: "w", WorkflowExecution: "x", Task: "t", TaskExecution: "te",
		Phase: "end", Time: 1700000000000000, Values: map[string]any{"a": 1.5},
		DataRefs: []DataRef{{Name: "d", URI: "file:///a"}}, Status: ptr("finished"),
		Context: map[string]string{"h": "n"},
	}
	got, err := SingleObject(e)
	if err != nil {
		t.Fatal(err)
	}
	// the header (marker and fingerprint) byte for byte; the body decodes to the same event (hamba
	// writes map blocks with their byte size, a negative count, which every Avro reader accepts)
	const want = "c301a43447985c90bb8f04653102770278027404746500028080f2818389850602026102000000000000f83f000202641266696c653a2f2f2f610000000200020268026e00"
	if hex.EncodeToString(got[:10]) != want[:20] {
		t.Fatalf("header %x, want %s", got[:10], want[:20])
	}
	node, _ := hex.DecodeString(want)
	var a, b Event
	if err := avro.Unmarshal(Schema, got[10:], &a); err != nil {
		t.Fatal(err)
	}
	if err := avro.Unmarshal(Schema, node[10:], &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, e) {
		t.Fatalf("decoded %+v, node's %+v, sent %+v", a, b, e)
	}
}

func TestArrayValuesEncode(t *testing.T) {
	e := Event{EventID: "e", Workflow: "w", WorkflowExecution: "x", Task: "t", TaskExecution: "te", Phase: "begin",
		Values: map[string]any{"v": []float64{1, 2}, "b": true, "s": "NaN"}, DataRefs: []DataRef{}, Context: map[string]string{}}
	if _, err := SingleObject(e); err != nil {
		t.Fatal(err)
	}
}
