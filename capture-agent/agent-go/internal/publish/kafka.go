// Package publish sends the spool to Kafka (capture-agent/src/spool/SpoolPublisher.ts with the
// agent's LogPublishPort and LogIngestTarget): events to the events topic keyed by workflow
// execution (Kafka's murmur2 partitioning, as kafkajs' DefaultPartitioner and the embedded log),
// specs and annotations to their compacted topics, through an idempotent producer with acks from
// all in-sync replicas; `published` advances only after Kafka acknowledged.
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/provml/provml/capture-agent/agent-go/internal/capture"
	"github.com/provml/provml/capture-agent/agent-go/internal/validate"
)

// Topics are the topic names (log/src/topics.ts DEFAULT_TOPICS with the configured prefix).
type Topics struct{ Events, Specs, Annotations, Triples, DeadLetters string }

// TopicsWithPrefix: service/src/ServiceConfig.ts topicNames.
func TopicsWithPrefix(p string) Topics {
	return Topics{p + "provml.events", p + "provml.specs", p + "provml.annotations", p + "provml.triples", p + "provml.dlq"}
}

// Annotation record headers (log/src/topics.ts).
const (
	annotationSourceHeader = "provml-annotation-source"
	annotationAgentHeader  = "provml-annotation-agent"
)

// KafkaOptions configure the connection.
type KafkaOptions struct {
	Brokers           []string
	ClientID          string
	Topics            Topics
	Partitions        int32 // of events, triples and dead letters (default 4)
	ReplicationFactor int16 // -1: the broker's default
	MinInsyncReplicas string
	RegistryURL       string         // Confluent wire format when set
	TLS               bool           // PROVML_KAFKA_SSL=true (security.go)
	SASL              sasl.Mechanism // nil: none (SASLMechanism)
}

// Kafka is a connection to the topics: a producer, and a reader of the specs topic.
type Kafka struct {
	opts     KafkaOptions
	producer *kgo.Client
	specs    *kgo.Client
	mu       sync.Mutex
	registry map[string]*validate.CompiledSpec // workflow → latest spec on the specs topic
	consumed map[int32]int64                   // specs partition → next offset the reader will see
	refresh  sync.Mutex                        // one catch-up at a time
	encode   func(capture.Event) ([]byte, error)
	ready    bool
}

// NewKafka creates the clients (franz-go connects lazily: the agent spools while Kafka is down).
func NewKafka(o KafkaOptions) (*Kafka, error) {
	if o.Partitions <= 0 {
		o.Partitions = 4
	}
	producer, err := kgo.NewClient(append(securityOpts(o),
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(o.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 of the key, as Java and kafkajs
		kgo.ProducerBatchCompression(kgo.NoCompression()),    // as the Node agent (kafka.compression none); franz-go's default is snappy
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.ProduceRequestTimeout(10*time.Second),
		kgo.MaxBufferedRecords(20_000),
	)...)
	if err != nil {
		return nil, err
	}
	specs, err := kgo.NewClient(append(securityOpts(o),
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(o.ClientID+"-specs"),
		kgo.ConsumeTopics(o.Topics.Specs),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(8<<20),
	)...)
	if err != nil {
		producer.Close()
		return nil, err
	}
	k := &Kafka{opts: o, producer: producer, specs: specs, registry: map[string]*validate.CompiledSpec{}, consumed: map[int32]int64{}}
	return k, nil
}

// connect creates the topics (once) and the event codec; tried again after a failure.
func (k *Kafka) connect(ctx context.Context) error {
	k.mu.Lock()
	ready := k.ready
	k.mu.Unlock()
	if ready {
		return nil
	}
	if err := k.createTopics(ctx); err != nil {
		return err
	}
	encode := capture.SingleObject
	if k.opts.RegistryURL != "" {
		id, err := registerSchema(ctx, k.opts.RegistryURL, k.opts.Topics.Events+"-value")
		if err != nil {
			return err
		}
		encode = func(e capture.Event) ([]byte, error) { return capture.Confluent(e, id) }
	}
	k.mu.Lock()
	k.encode, k.ready = encode, true
	k.mu.Unlock()
	return nil
}

// createTopics: log/src/topics.ts createTopics (existing topics are left as they are).
func (k *Kafka) createTopics(ctx context.Context) error {
	admin := kadm.NewClient(k.producer)
	configs := func(compacted bool) map[string]*string {
		c := map[string]*string{}
		if compacted {
			v := "compact"
			c["cleanup.policy"] = &v
		}
		if k.opts.MinInsyncReplicas != "" {
			v := k.opts.MinInsyncReplicas
			c["min.insync.replicas"] = &v
		}
		return c
	}
	t := k.opts.Topics
	for _, group := range []struct {
		topics     []string
		partitions int32
		compacted  bool
	}{{[]string{t.Events, t.Triples, t.DeadLetters}, k.opts.Partitions, false}, {[]string{t.Specs, t.Annotations}, 1, true}} {
		res, err := admin.CreateTopics(ctx, group.partitions, k.opts.ReplicationFactor, configs(group.compacted), group.topics...)
		if err != nil {
			return err
		}
		for _, r := range res.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("could not create topic %s: %w", r.Topic, r.Err)
			}
		}
	}
	return nil
}

// RefreshSpecs reads the specs topic up to its end now (IngestTarget.ts refreshSpecs).
func (k *Kafka) RefreshSpecs(ctx context.Context) error {
	k.refresh.Lock()
	defer k.refresh.Unlock()
	ends, err := kadm.NewClient(k.specs).ListEndOffsets(ctx, k.opts.Topics.Specs)
	if err != nil {
		return err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > k.consumed[o.Partition] {
			want[o.Partition] = o.Offset
		}
	})
	for len(want) > 0 {
		fetches := k.specs.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if c, found := validate.CompileSpec(decodeJSON(r.Value)); len(found) == 0 && c != nil {
				k.mu.Lock()
				k.registry[c.Spec.Workflow] = c
				k.mu.Unlock()
			}
			k.consumed[r.Partition] = r.Offset + 1
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}

func decodeJSON(b []byte) any {
	var v any
	d := json.NewDecoder(bytesReader(b))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}

// Spec is the latest spec of a workflow read from the specs topic (nil when unknown).
func (k *Kafka) Spec(workflow string) *validate.CompiledSpec {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.registry[workflow]
}

// PublishEvents sends events keyed by workflow execution and waits for every acknowledgement.
func (k *Kafka) PublishEvents(ctx context.Context, events []capture.Event) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	records := make([]*kgo.Record, len(events))
	for i, e := range events {
		value, err := k.encode(e)
		if err != nil {
			return err
		}
		records[i] = &kgo.Record{Topic: k.opts.Topics.Events, Key: []byte(e.WorkflowExecution), Value: value}
	}
	return k.producer.ProduceSync(ctx, records...).FirstErr()
}

// PublishSpec sends the workflow's versions added up, after catching up with other publishers
// (IngestTarget.ts LogIngestTarget.publishSpec: the compacted topic keeps only the last record).
func (k *Kafka) PublishSpec(ctx context.Context, spec *validate.CompiledSpec) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	if err := k.RefreshSpecs(ctx); err != nil {
		return err
	}
	extended := validate.ExtendSpec(k.Spec(spec.Spec.Workflow), spec)
	value, err := json.Marshal(extended.Spec)
	if err != nil {
		return err
	}
	r := &kgo.Record{Topic: k.opts.Topics.Specs, Key: []byte(spec.Spec.Workflow), Value: value}
	if err := k.producer.ProduceSync(ctx, r).FirstErr(); err != nil {
		return err
	}
	k.mu.Lock()
	k.registry[spec.Spec.Workflow] = extended
	k.mu.Unlock()
	return nil
}

// PublishAnnotations sends a record keyed by the source on the compacted topic (an empty
// document, an empty value, withdraws the source), with the source and agent headers.
func (k *Kafka) PublishAnnotations(ctx context.Context, turtle string, source, agent *string) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	r := &kgo.Record{Topic: k.opts.Topics.Annotations, Value: []byte(turtle)}
	if source != nil {
		r.Key = []byte(*source)
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: annotationSourceHeader, Value: []byte(*source)})
	} else {
		r.Key = []byte{}
	}
	if agent != nil {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: annotationAgentHeader, Value: []byte(*agent)})
	}
	return k.producer.ProduceSync(ctx, r).FirstErr()
}

// Close flushes nothing (the spool holds what was not acknowledged) and closes the clients.
func (k *Kafka) Close() {
	k.producer.Close()
	k.specs.Close()
}
