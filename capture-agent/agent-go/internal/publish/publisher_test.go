package publish

import (
	"log/slog"
	"testing"

	"github.com/provml/provml/capture-agent/agent-go/internal/capture"
	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
)

const spooled = `{"event":{"eventId":"e1","workflow":"w1","workflowExecution":"x1","task":"train","taskExecution":"t1","phase":"end","time":1700000000000000,"values":{"loss":0.5}}}`

func publisher(t *testing.T) *Publisher {
	t.Helper()
	w, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return NewPublisher(w, nil, slog.New(slog.DiscardHandler))
}

// An event appended by this process is not decoded again when its record reads back the same; a
// record whose bytes differ is decoded from them.
func TestDecodedEventsAreTakenOnlyForTheSameBytes(t *testing.T) {
	p := publisher(t)
	marked := &capture.Event{EventID: "given"} // not what the bytes say: shows where the event came from
	p.Appended(7, [][]byte{[]byte(spooled), []byte(spooled)}, []*capture.Event{marked, marked})
	it, ok := p.decode(spool.Record{Sequence: 7, Payload: []byte(spooled)})
	if !ok || it.event.EventID != "given" {
		t.Fatalf("same bytes: got %q, want the event given", it.event.EventID)
	}
	other := []byte(spooled[:len(spooled)-3] + `6}}}`)
	it, ok = p.decode(spool.Record{Sequence: 8, Payload: other})
	if !ok || it.event.EventID != "e1" || it.event.Values["loss"] != 0.56 {
		t.Fatalf("other bytes: got %+v, want the record decoded", it.event)
	}
	if len(p.decoded) != 0 {
		t.Fatalf("%d decoded events kept after they were read", len(p.decoded))
	}
}

func TestDecodedEventsAreBoundedAndForgottenBehindTheCursor(t *testing.T) {
	p := publisher(t)
	payloads := make([][]byte, maxDecoded+10)
	events := make([]*capture.Event, len(payloads))
	for i := range payloads {
		payloads[i], events[i] = []byte(spooled), &capture.Event{}
	}
	events[3] = nil // a spec: nothing to keep
	p.Appended(100, payloads, events)
	if len(p.decoded) != maxDecoded || p.decoded[103].event != nil {
		t.Fatalf("kept %d decoded events (bound %d)", len(p.decoded), maxDecoded)
	}
	p.forgetBelow(100 + 50)
	if len(p.decoded) != maxDecoded-50+1 || p.decodedBytes != len(p.decoded)*len(spooled) {
		t.Fatalf("kept %d (%d bytes) after forgetting below 150", len(p.decoded), p.decodedBytes)
	}
}
