package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/provml/provml/capture-agent/agent-go/internal/framing"
	"github.com/provml/provml/capture-agent/agent-go/internal/issues"
	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
	"github.com/provml/provml/capture-agent/agent-go/internal/validate"
)

// Answer is the line a batch is answered with (schemas/src/ingestAnswers.ts SocketAnswer).
type Answer struct {
	Accepted   *int           `json:"accepted,omitempty"`
	Error      string         `json:"error,omitempty"`
	Message    string         `json:"message,omitempty"`
	Issues     []issues.Issue `json:"issues,omitempty"`
	IssueCount *int           `json:"issueCount,omitempty"`
	Complete   *bool          `json:"complete,omitempty"`
}

// Counts of records accepted and rejected (for metrics; read under Lock).
type Counts struct {
	sync.Mutex
	Accepted, Rejected int64
}

func (c *Counts) add(accepted bool, n int) {
	c.Lock()
	defer c.Unlock()
	if accepted {
		c.Accepted += int64(n)
	} else {
		c.Rejected += int64(n)
	}
}

// Server serves the socket protocol until Close.
type Server struct {
	target   *Target
	log      *slog.Logger
	limits   framing.Limits
	Counts   Counts
	listener net.Listener
	path     string
	mu       sync.Mutex
	conns    map[net.Conn]bool
	busy     sync.WaitGroup // batches being handled
	closing  bool
}

// NewServer serves target with the AGENT.md limits.
func NewServer(target *Target, log *slog.Logger) *Server {
	return &Server{target: target, log: log, limits: framing.DefaultLimits, conns: map[net.Conn]bool{}}
}

// Listen listens on path (a stale socket file of a killed agent is removed first: the spool LOCK
// is ours); the socket file gets mode 0660 (owner and group may connect).
func (s *Server) Listen(path string) error {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return err
	}
	s.listener, s.path = l, path
	go s.accept()
	return nil
}

func (s *Server) accept() {
	for {
		c, err := s.listener.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve reads batches and answers each in order; reading waits while a batch is handled.
func (s *Server) serve(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	framer := framing.New(s.limits)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			for _, f := range framer.Push(buf[:n]) {
				if !s.begin() {
					return
				}
				answer := s.handle(f)
				line, _ := json.Marshal(answer)
				_, werr := c.Write(append(line, '\n'))
				s.busy.Done()
				if werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// begin counts a batch in hand, unless the server is closing.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.busy.Add(1)
	return true
}

func intp(n int) *int    { return &n }
func boolp(b bool) *bool { return &b }

func refused(message string, r issues.Report) Answer {
	return Answer{Error: "invalid-event", Message: message, Issues: r.Issues, IssueCount: intp(r.IssueCount), Complete: boolp(r.Complete)}
}

func (s *Server) handle(f framing.Frame) Answer {
	if f.Refused != nil {
		s.Counts.add(false, f.Refused.Lines)
		r := f.Refused.Report
		if f.Refused.Reason == framing.ReasonLimit {
			return refused("batch refused at a limit; nothing was stored (the rest of it, up to its empty line, is dropped)", r)
		}
		return refused(fmt.Sprintf("rejected: %d line(s) not valid UTF-8; nothing was stored", r.IssueCount), r)
	}
	lines := f.Lines
	batch, report := validate.ParseBatch(lines, s.target.Spec)
	if report != nil && slices.ContainsFunc(report.Issues, func(i issues.Issue) bool { return i.Path == "event.workflow" }) {
		s.target.RefreshSpecs() // a workflow registered through another agent
		batch, report = validate.ParseBatch(lines, s.target.Spec)
	}
	if report != nil {
		s.Counts.add(false, len(lines))
		plus := ""
		if !report.Complete {
			plus = "+"
		}
		return refused(fmt.Sprintf("rejected: %d%s problem(s); nothing was stored", report.IssueCount, plus), *report)
	}
	if err := s.target.AppendValidated(batch); err != nil {
		s.Counts.add(false, len(lines))
		var full *spool.FullError
		if errors.As(err, &full) {
			return Answer{Error: "spool-full", Message: full.Error()}
		}
		s.log.Error("spooling a batch failed", "error", err.Error())
		return Answer{Error: "unavailable", Message: "could not spool the batch; nothing was acknowledged"}
	}
	s.Counts.add(true, len(lines))
	return Answer{Accepted: intp(len(batch.Payloads))}
}

// Close stops accepting and reading, answers the batches already in hand (within 5 s: a batch
// spooled but never answered would be sent again by its client), then ends the connections and
// removes the socket file. Idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closing || s.listener == nil {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.mu.Unlock()
	s.listener.Close()
	done := make(chan struct{})
	go func() { s.busy.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	_ = os.Remove(s.path)
}
