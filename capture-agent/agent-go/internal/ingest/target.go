// Package ingest serves the agent's Unix socket (capture-agent/AGENT.md "The sidecar's local
// protocols"; capture-agent/agent/src/ingest/SocketIngestServer.ts and SpoolIngestTarget.ts):
// NDJSON envelopes, an empty line ends a batch, one JSON answer line per batch, answered only
// after the batch is in the spool (fsynced per policy).
package ingest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
	"github.com/provml/provml/capture-agent/agent-go/internal/validate"
)

// RemoteSpecs are the specs registered elsewhere (the specs topic, online); nil offline.
type RemoteSpecs interface {
	Spec(workflow string) *validate.CompiledSpec
	RefreshSpecs(ctx context.Context) error
}

// Target appends validated batches to the spool. Specs are known from the spool itself (read once
// at start, so an offline agent keeps them across restarts) and from the remote source online.
type Target struct {
	writer   *spool.Writer
	remote   RemoteSpecs
	onAppend func(first int64, b *validate.Batch)
	log      *slog.Logger
	mu       sync.Mutex
	local    map[string]*validate.CompiledSpec
}

// NewTarget registers every spec still in the spool; onAppend (optional) is told of each batch
// appended, from its first sequence number on.
func NewTarget(w *spool.Writer, remote RemoteSpecs, onAppend func(first int64, b *validate.Batch), log *slog.Logger) *Target {
	t := &Target{writer: w, remote: remote, onAppend: onAppend, log: log, local: map[string]*validate.CompiledSpec{}}
	t.loadSpooledSpecs()
	return t
}

// Spec is the latest spec of a workflow known here or remotely.
func (t *Target) Spec(workflow string) *validate.CompiledSpec {
	t.mu.Lock()
	s := t.local[workflow]
	t.mu.Unlock()
	if s == nil && t.remote != nil {
		s = t.remote.Spec(workflow)
	}
	return s
}

// RefreshSpecs catches up with the remote specs for 2 s at most; an unreachable broker is not an error here.
func (t *Target) RefreshSpecs() {
	if t.remote == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := t.remote.RefreshSpecs(ctx); err != nil {
		t.log.Debug("specs not refreshed", "error", err.Error())
	}
}

// AppendValidated appends lines already validated by validate.ParseBatch, registering the specs among them.
func (t *Target) AppendValidated(b *validate.Batch) error {
	first, err := t.writer.AppendPayloads(b.Payloads)
	if err != nil {
		return err
	}
	t.mu.Lock()
	for _, s := range b.Specs {
		t.local[s.Spec.Workflow] = validate.ExtendSpec(t.local[s.Spec.Workflow], s) // SpecRegistry.set
	}
	t.mu.Unlock()
	if t.onAppend != nil {
		t.onAppend(first, b)
	}
	return nil
}

func (t *Target) loadSpooledSpecs() {
	r := spool.Reader{Dir: t.writer.Dir}
	pos := spool.Position{}
	if segs := spool.ListSegments(t.writer.Dir); len(segs) > 0 {
		pos = spool.Position{Sequence: segs[0], Segment: segs[0]}
	}
	limit := t.writer.Stats().Next
	for {
		read, err := r.Read(pos, 5000, limit)
		if err != nil || (len(read.Records) == 0 && read.Skipped == 0) {
			return
		}
		for _, rec := range read.Records {
			if len(rec.Payload) < 7 || string(rec.Payload[:7]) != `{"spec"` {
				continue // cheap test before parsing
			}
			if kind, env, _, ok := validate.Envelope(rec.Payload); ok && kind == "spec" {
				if c, found := validate.CompileSpec(env["spec"]); len(found) == 0 {
					t.local[c.Spec.Workflow] = validate.ExtendSpec(t.local[c.Spec.Workflow], c)
				}
			}
		}
		pos = read.Next
	}
}
