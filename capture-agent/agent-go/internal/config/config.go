// Package config reads the Go agent's one configuration from its flags and the environment, with
// the names of `provml agent` (capture-agent/agent/src/agentMain.ts, service/src/ServiceConfig.ts).
// What the Go agent does not support is refused with a clear error, never silently ignored.
// Kafka TLS and SASL are configured as for provml agent: PROVML_KAFKA_SSL and PROVML_KAFKA_SASL_*.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Config is everything the agent is started with.
type Config struct {
	Brokers           []string
	TopicPrefix       string
	InstanceID        string
	Partitions        int32
	ReplicationFactor int16
	MinInsyncReplicas string
	RegistryURL       string
	Host              string
	Port              int
	LogLevel          string
	SpoolDir          string
	SocketPath        string
	Fsync             string
	MaxBytes          int64
	Policy            string
	Offline           bool
	// TLS to the brokers (PROVML_KAFKA_SSL=true), verified against the system's trust store
	// (SSL_CERT_FILE / SSL_CERT_DIR add or replace it, as NODE_EXTRA_CA_CERTS for the Node agent).
	SSL bool
	// SASL, nil without PROVML_KAFKA_SASL_MECHANISM (as kafka.sasl of service/src/ServiceConfig.ts).
	SASL *SASL
}

// SASL is the mechanism and credentials of PROVML_KAFKA_SASL_*; the password is never logged.
type SASL struct {
	Mechanism string // plain, scram-sha-256 or scram-sha-512
	Username  string
	Password  string
}

// Usage is printed by --help.
const Usage = `usage: provml-agent-go [--kafka HOST:PORT,...] [--topic-prefix P] [--instance-id ID]
              [--host H] [--port N] [--log-level L] [--spool DIR] [--socket PATH]
              [--fsync batch|interval|never] [--max-bytes N] [--policy reject|drop-oldest] [--offline]

The sidecar agent in Go (capture-agent/AGENT.md, "The Go agent"): the Unix socket (<spool>/agent.sock)
and the HTTP ingest of events and workflow specs into the same durable spool as provml agent, published
to Kafka unless --offline. Annotations and --config files are provml agent's (Node).
Environment and access control: the PROVML_* variables of provml agent for what it supports, Kafka
TLS (PROVML_KAFKA_SSL=true; trust store: the system's, or SSL_CERT_FILE) and SASL included
(PROVML_KAFKA_SASL_MECHANISM plain|scram-sha-256|scram-sha-512, PROVML_KAFKA_SASL_USERNAME, _PASSWORD).`

// ErrHelp is returned for --help.
var ErrHelp = errors.New("help")

var brokerRe = regexp.MustCompile(`^[^\s:]+:\d+$`)

// Parse resolves flags over the environment over the defaults of provml agent.
func Parse(args []string, env func(string) string) (Config, error) {
	c := Config{Brokers: []string{"127.0.0.1:19092"}, Host: "127.0.0.1", Port: 7071, LogLevel: "info",
		SpoolDir: ".data/agent/spool", Fsync: "batch", MaxBytes: 1 << 30, Policy: "reject", Partitions: 4, ReplicationFactor: -1}
	if env("PROVML_PROTECT_METRICS") == "true" {
		return c, errors.New("PROVML_PROTECT_METRICS: provml-agent-go has no access control; its /metrics is open (keep its port on 127.0.0.1 or a private network), or run provml agent (Node)")
	}
	var errs []error
	str := func(name string, into *string) {
		if v := env(name); v != "" {
			*into = v
		}
	}
	num := func(name string, into *int64) {
		if v := env(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: not a number: %q", name, v))
			}
			*into = n
		}
	}
	if v := env("PROVML_KAFKA_BROKERS"); v != "" {
		c.Brokers = strings.Split(v, ",")
	}
	str("PROVML_INSTANCE_ID", &c.InstanceID)
	str("PROVML_TOPIC_PREFIX", &c.TopicPrefix)
	str("PROVML_MIN_INSYNC_REPLICAS", &c.MinInsyncReplicas)
	str("PROVML_REGISTRY_URL", &c.RegistryURL)
	str("PROVML_HTTP_HOST", &c.Host)
	str("PROVML_LOG_LEVEL", &c.LogLevel)
	str("PROVML_AGENT_SPOOL", &c.SpoolDir)
	str("PROVML_AGENT_SOCKET", &c.SocketPath)
	str("PROVML_AGENT_FSYNC", &c.Fsync)
	str("PROVML_AGENT_POLICY", &c.Policy)
	var port, partitions, rf int64 = int64(c.Port), int64(c.Partitions), int64(c.ReplicationFactor)
	num("PROVML_HTTP_PORT", &port)
	num("PROVML_INGEST_PORT", &port)
	num("PROVML_PARTITIONS", &partitions)
	num("PROVML_REPLICATION_FACTOR", &rf)
	num("PROVML_AGENT_MAX_BYTES", &c.MaxBytes)
	if v := env("PROVML_AGENT_OFFLINE"); v != "" {
		c.Offline = v == "true"
	}
	// as ServiceConfig.ts fromEnv: TLS only for "true"; SASL when a mechanism is given, and then
	// its username and password are required
	c.SSL = env("PROVML_KAFKA_SSL") == "true"
	if m := env("PROVML_KAFKA_SASL_MECHANISM"); m != "" {
		c.SASL = &SASL{Mechanism: m, Username: env("PROVML_KAFKA_SASL_USERNAME"), Password: env("PROVML_KAFKA_SASL_PASSWORD")}
		switch m {
		case "plain", "scram-sha-256", "scram-sha-512":
		default:
			errs = append(errs, fmt.Errorf("kafka.sasl.mechanism: %q must be plain, scram-sha-256 or scram-sha-512 (PROVML_KAFKA_SASL_MECHANISM)", m))
		}
		if c.SASL.Username == "" {
			errs = append(errs, errors.New("kafka.sasl.username: missing (PROVML_KAFKA_SASL_USERNAME)"))
		}
		if c.SASL.Password == "" {
			errs = append(errs, errors.New("kafka.sasl.password: missing (PROVML_KAFKA_SASL_PASSWORD)"))
		}
	}

	fs := flag.NewFlagSet("provml-agent-go", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kafka := fs.String("kafka", "", "")
	configFile := fs.String("config", "", "")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", c.TopicPrefix, "")
	fs.StringVar(&c.InstanceID, "instance-id", c.InstanceID, "")
	fs.StringVar(&c.Host, "host", c.Host, "")
	fs.Int64Var(&port, "port", port, "")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "")
	fs.StringVar(&c.SpoolDir, "spool", c.SpoolDir, "")
	fs.StringVar(&c.SocketPath, "socket", c.SocketPath, "")
	fs.StringVar(&c.Fsync, "fsync", c.Fsync, "")
	fs.Int64Var(&c.MaxBytes, "max-bytes", c.MaxBytes, "")
	fs.StringVar(&c.Policy, "policy", c.Policy, "")
	fs.BoolVar(&c.Offline, "offline", c.Offline, "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	// options of the other provml services that provml agent accepts and does not use
	for _, unused := range []string{"data-dir", "store", "store-url", "repository", "triples-encoding"} {
		fs.String(unused, "", "")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *help {
		return c, ErrHelp
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configFile != "" {
		return c, errors.New("--config: configuration files are not supported by provml-agent-go; use flags or PROVML_* environment variables")
	}
	if *kafka != "" {
		c.Brokers = strings.Split(*kafka, ",")
	}
	for _, b := range c.Brokers {
		if !brokerRe.MatchString(b) {
			errs = append(errs, fmt.Errorf("kafka.brokers: %q must be host:port", b))
		}
	}
	if port < 0 || port > 65535 {
		errs = append(errs, fmt.Errorf("http.port: %d is not a port", port))
	}
	c.Port, c.Partitions, c.ReplicationFactor = int(port), int32(partitions), int16(rf)
	if c.Fsync != "batch" && c.Fsync != "interval" && c.Fsync != "never" {
		errs = append(errs, fmt.Errorf("agent.fsync: %q must be batch, interval or never", c.Fsync))
	}
	if c.Policy != "reject" && c.Policy != "drop-oldest" {
		errs = append(errs, fmt.Errorf("agent.policy: %q must be reject or drop-oldest", c.Policy))
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("agent.maxBytes: %d must be positive", c.MaxBytes))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("logLevel: %q must be debug, info, warn or error", c.LogLevel))
	}
	if c.SocketPath == "" {
		c.SocketPath = filepath.Join(c.SpoolDir, "agent.sock")
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = "agent-" + host
	}
	return c, errors.Join(errs...)
}
