// Command provml-agent-go is the sidecar capture agent in Go (capture-agent/AGENT.md, "The Go
// agent"): the same Unix-socket protocol, validation decisions, spool format and Kafka records as
// `provml agent` (capture-agent/agent/src/agentMain.ts), within a smaller resident set.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/provml/provml/capture-agent/agent-go/internal/config"
	"github.com/provml/provml/capture-agent/agent-go/internal/httpingest"
	"github.com/provml/provml/capture-agent/agent-go/internal/ingest"
	"github.com/provml/provml/capture-agent/agent-go/internal/metrics"
	"github.com/provml/provml/capture-agent/agent-go/internal/publish"
	"github.com/provml/provml/capture-agent/agent-go/internal/spool"
	"github.com/provml/provml/capture-agent/agent-go/internal/validate"
)

func main() {
	cfg, err := config.Parse(os.Args[1:], os.Getenv)
	if errors.Is(err, config.ErrHelp) {
		fmt.Println(config.Usage)
		return
	}
	if err != nil {
		fail(err)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(40 << 20) // a soft limit: collect harder before the heap grows past it
	}
	stopProfile := startCPUProfile(os.Getenv("PROVML_GO_CPUPROFILE"))
	err = run(cfg, newLogger(cfg.LogLevel))
	stopProfile()
	if err != nil {
		fail(err)
	}
}

// startCPUProfile writes a pprof CPU profile of the whole run to path when it is set (off by
// default; `go tool pprof dist/provml-agent-go PATH` reads it), complete once the agent stopped.
func startCPUProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fail(fmt.Errorf("PROVML_GO_CPUPROFILE: %w", err))
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fail(fmt.Errorf("PROVML_GO_CPUPROFILE: %w", err))
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// warnWithoutTrustedCAs says at start what TLS would only say at each connection: that no CA
// certificate is trusted (an image without the system's CA bundle, as node:*-slim), and how to give one.
func warnWithoutTrustedCAs(log *slog.Logger) {
	if pool, err := x509.SystemCertPool(); err != nil || pool.Equal(x509.NewCertPool()) {
		log.Warn("PROVML_KAFKA_SSL=true but no CA certificates are trusted: the brokers' certificates cannot be verified; " +
			"install the system's CA bundle or point SSL_CERT_FILE at a PEM file of the CAs (SSL_CERT_DIR at a directory)")
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "provml-agent-go: %v\n", err)
	os.Exit(1)
}

// newLogger writes JSON lines as schemas/src/Logger.ts createJsonLogger: time, level, component, message.
func newLogger(level string) *slog.Logger {
	lv := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[level]
	h := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.MessageKey:
			a.Key = "message"
		case slog.LevelKey:
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		}
		return a
	}})
	return slog.New(h)
}

// component is the logger of one part of the agent (as the Node agent's logger.child names).
func component(log *slog.Logger, name string) *slog.Logger {
	return log.With("component", "provml.agent"+name)
}

func run(cfg config.Config, log *slog.Logger) error {
	w, err := spool.Open(cfg.SpoolDir, spool.Options{
		Fsync: spool.FsyncPolicy(cfg.Fsync), MaxBytes: cfg.MaxBytes, Policy: spool.CapPolicy(cfg.Policy), Logger: component(log, ".spool"),
	})
	if err != nil {
		return err
	}
	var kafka *publish.Kafka
	var publisher *publish.Publisher
	var remote ingest.RemoteSpecs
	if !cfg.Offline {
		var mechanism sasl.Mechanism
		if cfg.SASL != nil {
			if mechanism, err = publish.SASLMechanism(cfg.SASL.Mechanism, cfg.SASL.Username, cfg.SASL.Password); err != nil {
				w.Close()
				return err
			}
		}
		kafka, err = publish.NewKafka(publish.KafkaOptions{
			Brokers: cfg.Brokers, ClientID: cfg.InstanceID, Topics: publish.TopicsWithPrefix(cfg.TopicPrefix),
			Partitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor, MinInsyncReplicas: cfg.MinInsyncReplicas,
			RegistryURL: cfg.RegistryURL, TLS: cfg.SSL, SASL: mechanism,
		})
		if err != nil {
			w.Close()
			return err
		}
		publisher = publish.NewPublisher(w, kafka, component(log, ".publisher"))
		remote = kafka
	}
	auth, err := httpingest.AuthFromEnv(os.Getenv) // HTTP only: the socket is local (mode 0660)
	if err != nil {
		w.Close()
		if kafka != nil {
			kafka.Close()
		}
		return err
	}
	if cfg.SSL && !cfg.Offline {
		warnWithoutTrustedCAs(component(log, ".kafka"))
	}
	if auth == nil {
		component(log, ".ingest").Warn("ACCESS CONTROL IS DISABLED (PROVML_AUTH_DISABLED=true): anyone who reaches this port may write provenance")
	}
	ctx, stopPublishing := context.WithCancel(context.Background())
	published := make(chan struct{})
	var appended func(first int64, b *validate.Batch)
	if publisher != nil {
		appended = func(first int64, b *validate.Batch) { publisher.Appended(first, b.Payloads, b.Events) }
		go func() { publisher.Run(ctx); close(published) }()
	} else {
		close(published)
	}
	target := ingest.NewTarget(w, remote, appended, component(log, ""))
	socket := ingest.NewServer(target, component(log, ".socket"))
	closeAll := func() {
		socket.Close()
		stopPublishing()
		<-published
		w.Close()
		if kafka != nil {
			kafka.Close()
		}
	}
	if err := socket.Listen(cfg.SocketPath); err != nil {
		closeAll()
		return err
	}
	listener, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		closeAll()
		return fmt.Errorf("cannot listen on %s:%d: %w; choose another with --port N (PROVML_INGEST_PORT or PROVML_HTTP_PORT)", cfg.Host, cfg.Port, err)
	}
	handler := &httpingest.Handler{Target: target, Auth: auth, Log: component(log, ".ingest"), Next: metrics.Handler(w, publisher, &socket.Counts)}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(listener) }()
	url := "http://" + listener.Addr().String()
	fmt.Printf("provml agent running at %s (Kafka %s)\n", url, strings.Join(cfg.Brokers, ","))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	sig := <-signals
	fmt.Printf("%s: flushing and stopping...\n", map[os.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig])
	socket.Close()
	shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = server.Shutdown(shutdown)
	cancel()
	if publisher != nil {
		// publish what is spooled, for a few seconds at most; the rest waits in the spool
		drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stopPublishing()
		<-published
		publisher.Drain(drain)
		cancel()
	}
	closeAll()
	return nil
}
