// Package metrics serves GET /metrics on the Go agent's HTTP port (Prometheus text: records by
// outcome, spool and publisher counters, resident set and Go heap), and 404 for unknown routes.
package metrics

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/provml/provml/capture-agent/agent-go/internal/ingest"
	"github.com/provml/provml/capture-agent/agent-go/internal/publish"
	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
)

// Handler serves /metrics, and answers 404 to everything else.
func Handler(w *spool.Writer, p *publish.Publisher, counts *ingest.Counts) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(rw http.ResponseWriter, _ *http.Request) {
		var b strings.Builder
		line := func(name, help string, v int64) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
		}
		counts.Lock()
		accepted, rejected := counts.Accepted, counts.Rejected
		counts.Unlock()
		b.WriteString("# HELP provml_agent_records_total Records received, by protocol and outcome.\n# TYPE provml_agent_records_total counter\n")
		fmt.Fprintf(&b, "provml_agent_records_total{protocol=\"socket\",outcome=\"accepted\"} %d\n", accepted)
		fmt.Fprintf(&b, "provml_agent_records_total{protocol=\"socket\",outcome=\"rejected\"} %d\n", rejected)
		s := w.Stats()
		line("provml_spool_appended_records", "Records appended to the spool.", s.AppendedRecords)
		line("provml_spool_rejected_batches", "Batches refused at the cap.", s.RejectedBatches)
		line("provml_spool_dropped_records", "Records dropped under the cap (drop-oldest).", s.DroppedRecords)
		line("provml_spool_depth_records", "Unpublished records.", s.Next-s.Published)
		if p != nil {
			ps := p.Stats()
			line("provml_publisher_events", "Events acknowledged by Kafka.", ps.Events)
			line("provml_publisher_invalid", "Spool records skipped as invalid.", ps.Invalid)
			line("provml_publisher_retries", "Failed sends tried again.", ps.Retries)
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		line("process_resident_memory_bytes", "Resident memory size in bytes.", rss())
		line("go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", int64(m.HeapInuse))
		line("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", int64(m.HeapAlloc))
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = rw.Write([]byte(b.String()))
	})
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json; charset=utf-8")
		rw.WriteHeader(http.StatusNotFound)
		_, _ = fmt.Fprintf(rw, `{"error":"not-found","message":"no route %s %s"}`, r.Method, strings.ReplaceAll(r.URL.Path, `"`, `\"`))
	})
	return mux
}

// rss is the resident set from /proc/self/statm (0 where there is none).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
