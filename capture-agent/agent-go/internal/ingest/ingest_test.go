package ingest

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
)

const spec = `{"spec":{"workflow":"w","phase":"learning","tasks":[{"id":"t","outputs":[{"name":"loss","semantics":"evaluation-measure"}]}]}}`

func event(id string) string {
	return `{"event":{"eventId":"` + id + `","workflow":"w","workflowExecution":"x","task":"t","taskExecution":"te","phase":"end","time":1,"values":{"loss":"NaN"}}}`
}

// serve starts an offline agent's socket on a fresh spool; returns a connection and the spool.
func serve(t *testing.T, dir string) (net.Conn, *bufio.Reader, *spool.Writer, func()) {
	t.Helper()
	w, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(NewTarget(w, nil, nil, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler))
	path := filepath.Join(dir, "agent.sock")
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c), w, func() { c.Close(); s.Close(); w.Close() }
}

func send(t *testing.T, c net.Conn, r *bufio.Reader, lines ...string) map[string]any {
	t.Helper()
	if _, err := c.Write([]byte(strings.Join(lines, "\n") + "\n\n")); err != nil {
		t.Fatal(err)
	}
	text, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestBatchesAreAnsweredInOrderAndKeptAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	c, r, w, stop := serve(t, dir)
	if a := send(t, c, r, spec, event("a"), event("b")); a["accepted"] != 3.0 {
		t.Fatalf("answer %v", a)
	}
	a := send(t, c, r, event("c"), `{"event":{"eventId":"d"}}`)
	if a["error"] != "invalid-event" || a["issueCount"].(float64) < 1 {
		t.Fatalf("answer %v", a)
	}
	if n := w.Stats().Next; n != 3 {
		t.Fatalf("%d records spooled, want 3 (nothing of the refused batch)", n)
	}
	stop()
	// the spec is known again from the spool after a restart
	c, r, _, stop = serve(t, dir)
	defer stop()
	if a := send(t, c, r, event("e")); a["accepted"] != 1.0 {
		t.Fatalf("after a restart: %v", a)
	}
}
