package publish

import (
	"crypto/tls"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASLMechanism is the franz-go mechanism of a PROVML_KAFKA_SASL_MECHANISM value (the values
// kafkajs takes from the Node agent: plain, scram-sha-256, scram-sha-512).
func SASLMechanism(mechanism, username, password string) (sasl.Mechanism, error) {
	switch mechanism {
	case "plain":
		return plain.Auth{User: username, Pass: password}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: username, Pass: password}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: username, Pass: password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: %q must be plain, scram-sha-256 or scram-sha-512", mechanism)
}

// securityOpts are the client options of TLS and SASL: TLS 1.2 or later verified against the
// system's trust store (SSL_CERT_FILE and SSL_CERT_DIR replace it, crypto/x509), the server name
// taken from each broker's host by franz-go; SASL on every connection, after TLS when both are on.
func securityOpts(o KafkaOptions) []kgo.Opt {
	var opts []kgo.Opt
	if o.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if o.SASL != nil {
		opts = append(opts, kgo.SASL(o.SASL))
	}
	return opts
}
