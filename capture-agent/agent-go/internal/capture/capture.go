// Package capture holds the capture event as the agent publishes it: its normalised form and its
// Avro encodings (single-object, as schemas/src/avro/SingleObjectCodec.ts writes it, and the
// Confluent wire format of a schema registry), with the project's own .avsc.
package capture

import (
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/hamba/avro/v2"
)

// Event is one capture event, normalised as parseEventJson (schemas/src/validateEvent.ts) gives it:
// defaults filled, time in microseconds. Field names and order as the Avro schema's.
type Event struct {
	EventID             string            `json:"eventId" avro:"eventId"`
	Workflow            string            `json:"workflow" avro:"workflow"`
	WorkflowExecution   string            `json:"workflowExecution" avro:"workflowExecution"`
	Task                string            `json:"task" avro:"task"`
	TaskExecution       string            `json:"taskExecution" avro:"taskExecution"`
	ParentTaskExecution *string           `json:"parentTaskExecution" avro:"parentTaskExecution"`
	Phase               string            `json:"phase" avro:"phase"`
	Time                int64             `json:"time" avro:"time"`
	Values              map[string]any    `json:"values" avro:"values"` // bool, float64, string or []float64
	DataRefs            []DataRef         `json:"dataRefs" avro:"dataRefs"`
	Status              *string           `json:"status" avro:"status"`
	Context             map[string]string `json:"context" avro:"context"`
}

// DataRef is a reference to data in a file system, object store or database.
type DataRef struct {
	Name   string  `json:"name" avro:"name"`
	URI    string  `json:"uri" avro:"uri"`
	Store  *string `json:"store" avro:"store"`
	Digest *string `json:"digest,omitempty" avro:"digest"`
}

// SchemaText is CaptureEvent v2 (a copy of schemas/src/avro/CaptureEvent.v2.avsc written by
// deploy/agent-go-schemas.ts; its test fails when the copy is stale).
//
//go:embed CaptureEvent.avsc
var SchemaText string

// Schema is the parsed CaptureEvent schema.
var Schema = avro.MustParse(SchemaText)

// header of a single-object message: C3 01 and the CRC-64-AVRO fingerprint, little-endian, of
// the Parsing Canonical Form as the Avro specification defines it and schemas/src computes it
// (without logicalType attributes, which hamba/avro keeps in its canonical form).
var header = func() []byte {
	var doc any
	if err := json.Unmarshal([]byte(SchemaText), &doc); err != nil {
		panic(err)
	}
	plain, err := json.Marshal(withoutLogicalTypes(doc))
	if err != nil {
		panic(err)
	}
	fp, err := avro.MustParse(string(plain)).FingerprintUsing(avro.CRC64Avro)
	if err != nil {
		panic(err)
	}
	h := []byte{0xc3, 0x01}
	return binary.LittleEndian.AppendUint64(h, binary.BigEndian.Uint64(fp))
}()

func withoutLogicalTypes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "logicalType")
		for k, y := range x {
			x[k] = withoutLogicalTypes(y)
		}
	case []any:
		for i, y := range x {
			x[i] = withoutLogicalTypes(y)
		}
	}
	return v
}

func init() {
	avro.Register("array:double", []float64{}) // the array branch of a captured value's union
}

// AvroBody is the event in Avro binary encoding.
func AvroBody(e Event) ([]byte, error) {
	return avro.Marshal(Schema, e)
}

// SingleObject encodes an event as Avro single-object encoding (what the Node agent writes without a registry).
func SingleObject(e Event) ([]byte, error) {
	body, err := AvroBody(e)
	if err != nil {
		return nil, fmt.Errorf("encoding event %s: %w", e.EventID, err)
	}
	return append(append(make([]byte, 0, len(header)+len(body)), header...), body...), nil
}

// Confluent encodes an event in the Confluent wire format: 0, the schema id (u32 BE), the Avro body.
func Confluent(e Event, schemaID uint32) ([]byte, error) {
	body, err := AvroBody(e)
	if err != nil {
		return nil, fmt.Errorf("encoding event %s: %w", e.EventID, err)
	}
	out := binary.BigEndian.AppendUint32([]byte{0}, schemaID)
	return append(out, body...), nil
}
