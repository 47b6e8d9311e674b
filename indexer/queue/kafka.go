package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/index/record"
)

// Default topic names.
const (
	DefaultTopic    = "picdex.images"
	DefaultDLQTopic = "picdex.images.dlq"
)

// HeaderProducedAt carries the time a record was published (Unix
// nanoseconds, decimal), from which the indexer measures freshness.
const HeaderProducedAt = "picdex-produced-at"

// KafkaOptions configure a Producer. A zero field takes its default.
type KafkaOptions struct {
	Brokers []string // host:port of one or more brokers (required)
	Topic   string   // default DefaultTopic
	// Partitions and ReplicationFactor are used when the topic must be
	// created (default 12 partitions; replication min(3, brokers known)).
	Partitions        int
	ReplicationFactor int
	BatchSize         int           // records per produce request (default 500)
	Linger            time.Duration // longest a partial batch waits (default 10 ms)
	// Compression: "snappy" (default), "zstd", "lz4", "gzip" or "none".
	Compression  string
	WriteTimeout time.Duration // one produce request (default 10 s)
	MaxAttempts  int           // per batch (default 10, with growing back-off)
}

// Validate fills in defaults and reports options that cannot work.
func (o *KafkaOptions) Validate() error {
	var brokers []string
	for _, b := range o.Brokers {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				if _, _, err := net.SplitHostPort(s); err != nil {
					return fmt.Errorf("broker %q: want host:port", s)
				}
				brokers = append(brokers, s)
			}
		}
	}
	if len(brokers) == 0 {
		return errors.New("no Kafka broker given")
	}
	o.Brokers = brokers
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.Partitions < 0 || o.ReplicationFactor < 0 || o.BatchSize < 0 || o.MaxAttempts < 0 {
		return errors.New("Kafka options must not be negative")
	}
	if o.Partitions == 0 {
		o.Partitions = 12
	}
	if o.BatchSize == 0 {
		o.BatchSize = 500
	}
	if o.Linger == 0 {
		o.Linger = 10 * time.Millisecond
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 10
	}
	if o.Compression == "" {
		o.Compression = "snappy"
	}
	if _, err := codec(o.Compression); err != nil {
		return err
	}
	return nil
}

func codec(name string) (kafka.Compression, error) {
	switch name {
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("compression %q: want snappy, zstd, lz4, gzip or none", name)
}

// Producer publishes records to Kafka. Publish blocks until every record
// is acknowledged by all in-sync replicas, so a slow broker slows its
// caller instead of growing a buffer: that is the back-pressure.
type Producer struct {
	w     *kafka.Writer
	topic string
}

// NewProducer creates the topic if it is missing and returns a Producer.
func NewProducer(ctx context.Context, opts KafkaOptions) (*Producer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := EnsureTopic(ctx, opts.Brokers, opts.Topic, opts.Partitions, opts.ReplicationFactor); err != nil {
		return nil, err
	}
	return OpenProducer(opts)
}

// OpenProducer returns a Producer without touching the network: for a
// server that must start while its brokers are down (its consumer creates
// the topic once they are up).
func OpenProducer(opts KafkaOptions) (*Producer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c, _ := codec(opts.Compression)
	w := &kafka.Writer{
		Addr:  kafka.TCP(opts.Brokers...),
		Topic: opts.Topic,
		// Murmur2, as the Java client partitions keys: a record produced by
		// any client with the same key lands in the same partition.
		Balancer:        &kafka.Murmur2Balancer{},
		RequiredAcks:    kafka.RequireAll,
		BatchSize:       opts.BatchSize,
		BatchBytes:      16 << 20,
		BatchTimeout:    opts.Linger,
		WriteTimeout:    opts.WriteTimeout,
		MaxAttempts:     opts.MaxAttempts,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 5 * time.Second,
		Compression:     c,
	}
	return &Producer{w: w, topic: opts.Topic}, nil
}

// Message turns a record into its Kafka message: key the id, value the
// JSON, and the time of publishing in a header.
func Message(r record.Record, now time.Time) (kafka.Message, error) {
	if r.ID == "" {
		if err := r.Normalize(); err != nil {
			return kafka.Message{}, err
		}
	}
	v, err := record.Encode(&r)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{
		Key:     []byte(r.ID),
		Value:   v,
		Headers: []kafka.Header{{Key: HeaderProducedAt, Value: []byte(strconv.FormatInt(now.UnixNano(), 10))}},
	}, nil
}

// Publish sends recs and returns once all are acknowledged, or with the
// first error. Every record is encoded before any is sent, so an invalid
// one fails the call with nothing published. Past that point Kafka gives
// no atomicity across partitions: an error — a broker failing, ctx ending —
// may come after some partitions took their share of recs. Publishing the
// same records again is the remedy; for picdex records, keyed upserts and
// deletes, a repeat changes nothing.
func (p *Producer) Publish(ctx context.Context, recs []record.Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		m, err := Message(r, now)
		if err != nil {
			return fmt.Errorf("record %s: %w", r.URL, err)
		}
		msgs[i] = m
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publishing to %s: %w", p.topic, err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.w.Close() }

// EnsureTopic creates topic on the cluster at brokers unless it exists.
// A replication factor of 0 means min(3, the number of brokers).
func EnsureTopic(ctx context.Context, brokers []string, topic string, partitions, replication int) error {
	_, err := EnsureTopicConfig(ctx, brokers, kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: replication})
	return err
}

// EnsureTopicConfig creates a topic as t says unless it exists (its
// ConfigEntries set, e.g., cleanup.policy), and returns the number of
// partitions the topic has, which for one that existed may differ from
// t's. A replication factor of 0 means min(3, the number of brokers).
func EnsureTopicConfig(ctx context.Context, brokers []string, t kafka.TopicConfig) (partitions int, err error) {
	var d kafka.Dialer
	var conn *kafka.Conn
	for _, b := range brokers {
		if conn, err = d.DialContext(ctx, "tcp", b); err == nil {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("Kafka brokers %s: %w", strings.Join(brokers, ","), err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if parts, err := conn.ReadPartitions(t.Topic); err == nil && len(parts) > 0 {
		return len(parts), nil
	}
	known, err := conn.Brokers()
	if err != nil {
		return 0, fmt.Errorf("Kafka metadata: %w", err)
	}
	if t.ReplicationFactor == 0 {
		t.ReplicationFactor = min(3, len(known))
	}
	ctrl, err := conn.Controller()
	if err != nil {
		return 0, fmt.Errorf("Kafka controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return 0, fmt.Errorf("Kafka controller: %w", err)
	}
	defer cc.Close()
	err = cc.CreateTopics(t)
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return 0, fmt.Errorf("creating topic %s: %w", t.Topic, err)
	}
	if err == nil {
		return t.NumPartitions, nil
	}
	// Someone else created it first: say what they made.
	parts, err := conn.ReadPartitions(t.Topic)
	if err != nil {
		return 0, fmt.Errorf("Kafka metadata of %s: %w", t.Topic, err)
	}
	return len(parts), nil
}
