// Package httpingest serves the HTTP ingest of the agent's port (capture-agent/agent/src/ingest/
// createIngestApp.ts, README Public contracts §3) for events and workflow specs: POST /v1/events
// (NDJSON or a JSON array), POST /v1/workflows, GET /healthz, with the same bearer-token access
// control, body limits, answers and spooling before the answer. Annotations need a Turtle parser,
// which the Go agent has not: /v1/annotations answers 501 `not-implemented`.
package httpingest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/provml/provml/capture-agent/agent-go/internal/ingest"
	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
	"github.com/provml/provml/capture-agent/agent-go/internal/validate"
)

// BodyLimit: the ingest's largest request body (32 MiB, as createIngestApp's default).
const BodyLimit = 32 << 20

// Handler answers the ingest routes; other paths are the caller's (next).
type Handler struct {
	Target *ingest.Target
	Auth   *Auth
	Log    *slog.Logger
	Next   http.Handler
}

func sendJSON(rw http.ResponseWriter, status int, body any) {
	text, _ := json.Marshal(body)
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.Header().Set("Content-Length", strconv.Itoa(len(text)))
	rw.WriteHeader(status)
	_, _ = rw.Write(text)
}

type rejection struct {
	Error      string         `json:"error"`
	Message    string         `json:"message"`
	Issues     []issues.Issue `json:"issues"`
	IssueCount int            `json:"issueCount"`
	Complete   bool           `json:"complete"`
}

// reject: createIngestApp.ts reject: 400 invalid-input, or 413 too-large.
func reject(rw http.ResponseWriter, status int, message string, r issues.Report) {
	kind := "invalid-input"
	if status == 413 {
		kind = "too-large"
	}
	sendJSON(rw, status, rejection{kind, message, r.Issues, r.IssueCount, r.Complete})
}

func report(is ...issues.Issue) issues.Report {
	l := issues.NewList()
	l.Push(is...)
	return l.Report()
}

func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /healthz", "HEAD /healthz":
		sendJSON(rw, 200, map[string]string{"status": "ok"})
		return
	case "POST /v1/events", "POST /v1/workflows", "POST /v1/annotations", "DELETE /v1/annotations":
	default:
		h.Next.ServeHTTP(rw, r)
		return
	}
	if !h.Auth.check(rw, r) {
		return
	}
	if strings.HasSuffix(route, "/v1/annotations") {
		sendJSON(rw, 501, map[string]string{"error": "not-implemented", "message": "provml-agent-go does not parse Turtle: post annotations to provml agent (Node)"})
		return
	}
	body, status, err := readBody(r)
	if err != nil {
		answerBodyError(rw, status, err)
		return
	}
	text, ok := bodyText(rw, body)
	if !ok {
		return
	}
	if route == "POST /v1/events" {
		h.postEvents(rw, text)
	} else {
		h.postWorkflow(rw, text)
	}
}

func (h *Handler) postEvents(rw http.ResponseWriter, text string) {
	h.Target.RefreshSpecs()
	res := validate.ParseEventBody(text, h.Target.Spec)
	if res.Report != nil {
		if res.TooLarge {
			reject(rw, 413, "rejected: an event is larger than one record may be", *res.Report)
			return
		}
		plus := ""
		if !res.Report.Complete {
			plus = "+"
		}
		reject(rw, 400, fmt.Sprintf("rejected: %d%s problem(s); nothing was stored", res.Report.IssueCount, plus), *res.Report)
		return
	}
	payloads := make([][]byte, len(res.Events))
	events := make([]*validate.Event, len(res.Events))
	size := 0
	for i := range res.Events {
		payloads[i] = validate.EventJSON(res.Events[i])
		events[i] = &res.Events[i] // what the payload decodes to (validate.EventJSON is its normal form)
		size += len(payloads[i])
	}
	b := &validate.Batch{Payloads: payloads}
	if len(text) <= 2*size+4096 {
		// the events' strings are slices of the body: handed to the publisher (which keeps them until
		// it sends them) only when the body is not much larger than the events
		b.Events = events
	}
	if h.spool(rw, b) {
		sendJSON(rw, 202, map[string]int{"accepted": len(res.Events)})
	}
}

func (h *Handler) postWorkflow(rw http.ResponseWriter, text string) {
	c, found := validate.CompileSpec(text)
	if len(found) > 0 {
		message := "invalid prospective spec"
		reject(rw, 400, message, report(found...))
		return
	}
	payload := validate.SpecJSON(c)
	if len(payload)-len(`{"spec":}`) > validate.MaxRecordBytes {
		n := len(payload) - len(`{"spec":}`)
		reject(rw, 413, "rejected: the spec is larger than one record may be", report(issues.Issue{Path: "", Message: fmt.Sprintf("the spec as JSON is %d bytes, over the %d bytes one record may hold; split the workflow into several workflows", n, validate.MaxRecordBytes)}))
		return
	}
	if h.spool(rw, &validate.Batch{Payloads: [][]byte{payload}, Specs: []*validate.CompiledSpec{c}}) {
		sendJSON(rw, 201, map[string]any{"workflow": c.Spec.Workflow, "tasks": len(c.Spec.Tasks)})
	}
}

// spool appends and answers 503 spool-full or unavailable when it could not.
func (h *Handler) spool(rw http.ResponseWriter, b *validate.Batch) bool {
	err := h.Target.AppendValidated(b)
	if err == nil {
		return true
	}
	var full *spool.FullError
	if errors.As(err, &full) {
		sendJSON(rw, 503, map[string]string{"error": "spool-full", "message": full.Error()})
		return false
	}
	h.Log.Error("ingest failed", "error", err.Error())
	sendJSON(rw, 503, map[string]string{"error": "unavailable", "message": "could not publish; nothing was acknowledged, try again"})
	return false
}

var errTooLarge = errors.New("request entity too large")

// readBody: readBody.ts: the body decoded per Content-Encoding (gzip, deflate, identity; br is
// answered 415 here: no Brotli decoder in the Go standard library), at most BodyLimit bytes.
func readBody(r *http.Request) ([]byte, int, error) {
	encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	var in io.Reader = r.Body
	switch encoding {
	case "", "identity":
		if r.ContentLength > BodyLimit {
			return nil, 413, errTooLarge
		}
	case "gzip":
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, 400, err
		}
		in = z
	case "deflate":
		z, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, 400, err
		}
		in = z
	default:
		return nil, 415, fmt.Errorf("unsupported content encoding %q", encoding)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(in, BodyLimit+1))
	if err != nil {
		return nil, 400, err
	}
	if n > BodyLimit {
		return nil, 413, errTooLarge
	}
	return buf.Bytes(), 0, nil
}

func answerBodyError(rw http.ResponseWriter, status int, err error) {
	switch status {
	case 413:
		sendJSON(rw, 413, map[string]string{"error": "too-large", "message": err.Error()})
	case 415:
		sendJSON(rw, 415, map[string]string{"error": "unsupported-encoding", "message": err.Error() + ": use one of gzip, deflate"})
	default:
		sendJSON(rw, 400, map[string]string{"error": "invalid-body", "message": "the body could not be read: " + err.Error()})
	}
}

// bodyText: createIngestApp.ts bodyText: a body, as strict UTF-8.
func bodyText(rw http.ResponseWriter, body []byte) (string, bool) {
	if len(body) == 0 {
		reject(rw, 400, "empty body", report(issues.Issue{Path: "", Message: "the request has no body"}))
		return "", false
	}
	if !utf8.Valid(body) {
		reject(rw, 400, "body is not valid UTF-8", report(issues.Issue{Path: "", Message: "invalid UTF-8 byte sequence"}))
		return "", false
	}
	return string(body), true
}
