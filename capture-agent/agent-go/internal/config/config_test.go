package config

import (
	"errors"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFlagsWinOverTheEnvironmentOverTheDefaults(t *testing.T) {
	c, err := Parse([]string{"--kafka", "k1:9092,k2:9092", "--spool", "/s", "--fsync", "never"},
		env(map[string]string{"PROVML_KAFKA_BROKERS": "e:1", "PROVML_TOPIC_PREFIX": "p.", "PROVML_INGEST_PORT": "9000"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Brokers, ",") != "k1:9092,k2:9092" || c.TopicPrefix != "p." || c.Port != 9000 ||
		c.SocketPath != "/s/agent.sock" || c.Fsync != "never" || c.Policy != "reject" || c.MaxBytes != 1<<30 {
		t.Fatalf("%+v", c)
	}
}

func TestWhatIsNotSupportedIsRefusedByName(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--config", "x.yaml"}, nil, "--config"},
		{nil, map[string]string{"PROVML_KAFKA_SASL_MECHANISM": "plain", "PROVML_KAFKA_SASL_PASSWORD": "p"}, "kafka.sasl.username"},
		{nil, map[string]string{"PROVML_KAFKA_SASL_MECHANISM": "scram-sha-512", "PROVML_KAFKA_SASL_USERNAME": "u"}, "kafka.sasl.password"},
		{nil, map[string]string{"PROVML_KAFKA_SASL_MECHANISM": "gssapi", "PROVML_KAFKA_SASL_USERNAME": "u", "PROVML_KAFKA_SASL_PASSWORD": "p"}, "kafka.sasl.mechanism"},
		{[]string{"--fsync", "sometimes"}, nil, "agent.fsync"},
		{[]string{"--kafka", "nohost"}, nil, "host:port"},
		{nil, map[string]string{"PROVML_PROTECT_METRICS": "true"}, "PROVML_PROTECT_METRICS"},
	} {
		_, err := Parse(tc.args, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want one naming %q", tc.args, tc.env, err, tc.want)
		}
	}
	if _, err := Parse([]string{"--help"}, env(nil)); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
}

func TestKafkaTLSAndSASLAsTheNodeAgent(t *testing.T) {
	c, err := Parse(nil, env(map[string]string{"PROVML_KAFKA_SSL": "true", "PROVML_KAFKA_SASL_MECHANISM": "scram-sha-256",
		"PROVML_KAFKA_SASL_USERNAME": "provml", "PROVML_KAFKA_SASL_PASSWORD": "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.SSL || c.SASL == nil || *c.SASL != (SASL{Mechanism: "scram-sha-256", Username: "provml", Password: "secret"}) {
		t.Fatalf("%+v", c)
	}
	// as ServiceConfig.ts: TLS only for "true", no SASL without a mechanism
	for _, v := range []string{"", "false", "yes"} {
		c, err := Parse(nil, env(map[string]string{"PROVML_KAFKA_SSL": v, "PROVML_KAFKA_SASL_USERNAME": "u"}))
		if err != nil || c.SSL || c.SASL != nil {
			t.Fatalf("PROVML_KAFKA_SSL=%q: %+v %v", v, c, err)
		}
	}
	// both credentials missing: both named, in one error
	_, err = Parse(nil, env(map[string]string{"PROVML_KAFKA_SASL_MECHANISM": "plain"}))
	if err == nil || !strings.Contains(err.Error(), "kafka.sasl.username") || !strings.Contains(err.Error(), "kafka.sasl.password") {
		t.Fatalf("error %v", err)
	}
}
