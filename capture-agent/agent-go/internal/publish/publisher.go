package publish

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/provml/provml/capture-agent/agent-go/internal/capture"
	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
	"github.com/provml/provml/capture-agent/agent-go/internal/validate"
)

// Port is where the spool's records go (SpoolPublisher.ts SpoolPublishPort).
type Port interface {
	PublishEvents(ctx context.Context, events []capture.Event) error
	PublishSpec(ctx context.Context, spec *validate.CompiledSpec) error
	PublishAnnotations(ctx context.Context, turtle string, source, agent *string) error
}

// Stats of a publisher.
type Stats struct {
	Events, Specs, Annotations, Invalid, Skipped, Retries int64
	Position                                              int64
}

// Publisher reads records from the spool's `published` cursor on and sends them in order: a record
// that is not a valid envelope is skipped, counted and logged; a failed send is retried with
// backoff (100 ms doubling to 5 s), never skipped.
type Publisher struct {
	writer *spool.Writer
	port   Port
	log    *slog.Logger
	reader spool.Reader
	wake   chan struct{}
	mu     sync.Mutex
	stats  Stats
	pos    spool.Position
	// decoded: events this process appended and validated, by sequence number, with their payload;
	// a record read back with the same bytes is not decoded again (decoding is a pure function of
	// the bytes, so the outcome is the same). Bounded; entries the cursor passed are dropped.
	decoded      map[int64]decodedEvent
	decodedBytes int
}

type decodedEvent struct {
	payload []byte
	event   *capture.Event
}

// Bounds of the decoded events kept (what one spool read returns at most); past them, records
// are decoded from the spool as after a restart.
const (
	maxDecoded      = 5000
	maxDecodedBytes = 4 << 20
)

// Appended is told of each batch appended to the spool from sequence number first on: its
// payloads and the event each decodes to (nil for other records), then ends a wait as Notify.
func (p *Publisher) Appended(first int64, payloads [][]byte, events []*capture.Event) {
	p.mu.Lock()
	for i, e := range events {
		if e == nil || i >= len(payloads) {
			continue
		}
		if len(p.decoded) >= maxDecoded || p.decodedBytes+len(payloads[i]) > maxDecodedBytes {
			break
		}
		p.decoded[first+int64(i)] = decodedEvent{payloads[i], e}
		p.decodedBytes += len(payloads[i])
	}
	p.mu.Unlock()
	p.Notify()
}

// decodedAt takes the event decoded at sequence when its payload is payload.
func (p *Publisher) decodedAt(sequence int64, payload []byte) (*capture.Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.decoded[sequence]
	if !ok {
		return nil, false
	}
	delete(p.decoded, sequence)
	p.decodedBytes -= len(d.payload)
	return d.event, bytes.Equal(d.payload, payload)
}

// forgetBelow drops the decoded events before sequence (published, or dropped under the cap).
func (p *Publisher) forgetBelow(sequence int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s, d := range p.decoded {
		if s < sequence {
			delete(p.decoded, s)
			p.decodedBytes -= len(d.payload)
		}
	}
}

// NewPublisher starts at the writer's `published` position.
func NewPublisher(w *spool.Writer, port Port, log *slog.Logger) *Publisher {
	p := &Publisher{writer: w, port: port, log: log, reader: spool.Reader{Dir: w.Dir}, wake: make(chan struct{}, 1), pos: w.PublishedPosition(), decoded: map[int64]decodedEvent{}}
	p.stats.Position = p.pos.Sequence
	return p
}

// Notify ends a wait for new records at once (called after an append).
func (p *Publisher) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats of the publisher.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Run publishes until ctx ends; what was not acknowledged stays unpublished.
func (p *Publisher) Run(ctx context.Context) {
	for ctx.Err() == nil {
		n := p.step(ctx)
		if n == 0 {
			select {
			case <-ctx.Done():
			case <-p.wake:
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// Drain publishes everything durable now, within ctx.
func (p *Publisher) Drain(ctx context.Context) {
	end := p.writer.DurableEnd()
	for ctx.Err() == nil && p.pos.Sequence < end {
		if p.step(ctx) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

type item struct {
	kind           string
	event          capture.Event
	spec           *validate.CompiledSpec
	turtle         string
	source, author *string
}

// step reads one batch (at most 5000 records) and sends it; returns the records handled.
func (p *Publisher) step(ctx context.Context) int {
	if pub := p.writer.PublishedPosition(); p.pos.Sequence < pub.Sequence {
		p.pos = pub // records dropped under the cap
	}
	read, err := p.reader.Read(p.pos, 5000, p.writer.DurableEnd())
	if err != nil {
		p.log.Error("reading the spool failed", "error", err.Error())
		return 0
	}
	p.mu.Lock()
	p.stats.Skipped += read.Skipped
	p.mu.Unlock()
	for _, run := range p.runs(read.Records) {
		if !p.send(ctx, run) {
			return 0
		}
	}
	if read.Next.Sequence > p.pos.Sequence {
		if err := p.writer.MarkPublished(read.Next); err != nil {
			p.log.Error("writing the published cursor failed", "error", err.Error())
		}
		p.pos = read.Next
		p.mu.Lock()
		p.stats.Position = read.Next.Sequence
		p.mu.Unlock()
		p.forgetBelow(read.Next.Sequence)
	}
	return len(read.Records) + int(read.Skipped)
}

// runs decodes records and groups consecutive events (sent many per request).
func (p *Publisher) runs(records []spool.Record) [][]item {
	var out [][]item
	for _, r := range records {
		it, ok := p.decode(r)
		if !ok {
			continue
		}
		if n := len(out); n > 0 && it.kind == "event" && out[n-1][0].kind == "event" {
			out[n-1] = append(out[n-1], it)
		} else {
			out = append(out, []item{it})
		}
	}
	return out
}

func (p *Publisher) decode(r spool.Record) (item, bool) {
	invalid := func(why string) (item, bool) {
		p.mu.Lock()
		p.stats.Invalid++
		p.mu.Unlock()
		p.log.Error("skipping an invalid spool record", "sequence", r.Sequence, "why", why)
		return item{}, false
	}
	if e, ok := p.decodedAt(r.Sequence, r.Payload); ok {
		return item{kind: "event", event: *e}, true
	}
	kind, env, unpaired, ok := validate.Envelope(r.Payload)
	if !ok {
		return invalid("not an envelope")
	}
	switch kind {
	case "event":
		e, found := validate.ParseEvent(env["event"], unpaired)
		if len(found) > 0 {
			return invalid(found[0].Message)
		}
		return item{kind: kind, event: e}, true
	case "spec":
		c, found := validate.CompileSpec(env["spec"])
		if len(found) > 0 {
			return invalid(found[0].Message)
		}
		return item{kind: kind, spec: c}, true
	}
	it := item{kind: kind}
	it.turtle, _ = env["annotations"].(string)
	if s, ok := env["source"].(string); ok {
		it.source = &s
	}
	if s, ok := env["agent"].(string); ok {
		it.author = &s
	}
	return it, true
}

// send sends a run until the port acknowledges it (false when ctx ended first).
func (p *Publisher) send(ctx context.Context, run []item) bool {
	delay := 100 * time.Millisecond
	for {
		var err error
		attempt, cancel := context.WithTimeout(ctx, 30*time.Second)
		switch run[0].kind {
		case "event":
			events := make([]capture.Event, len(run))
			for i, it := range run {
				events[i] = it.event
			}
			err = p.port.PublishEvents(attempt, events)
		case "spec":
			err = p.port.PublishSpec(attempt, run[0].spec)
		default:
			err = p.port.PublishAnnotations(attempt, run[0].turtle, run[0].source, run[0].author)
		}
		cancel()
		if err == nil {
			p.mu.Lock()
			switch run[0].kind {
			case "event":
				p.stats.Events += int64(len(run))
			case "spec":
				p.stats.Specs++
			default:
				p.stats.Annotations++
			}
			p.mu.Unlock()
			return true
		}
		p.mu.Lock()
		p.stats.Retries++
		p.mu.Unlock()
		p.log.Warn("publishing failed; retrying", "error", err.Error(), "delayMs", delay.Milliseconds())
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
