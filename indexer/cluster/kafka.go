package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/indexer/queue"
)

// Topic is the compacted topic that describes the cluster.
const Topic = "picdex.cluster"

// Keys of the records in Topic: "live" holds {"generation": G};
// "generation/G" holds a Generation; "claim/G/NONCE" holds a bid for
// generation G (one key per bid, so that compaction keeps them all and
// the first stays first); "server/NAME" holds a Server (a tombstone once
// it is withdrawn).
const (
	keyLive       = "live"
	keyGeneration = "generation/"
	keyClaim      = "claim/"
	keyServer     = "server/"
)

// Kafka is the Store on the compacted topic picdex.cluster, which it
// creates (one partition, cleanup.policy=compact) when it is missing.
type Kafka struct {
	brokers []string
	timeout time.Duration
}

// NewKafka returns the Store on the Kafka cluster at brokers.
func NewKafka(brokers []string) *Kafka { return &Kafka{brokers: brokers, timeout: 10 * time.Second} }

// Load returns the state of the cluster at brokers.
func Load(ctx context.Context, brokers []string) (State, error) { return NewKafka(brokers).Load(ctx) }

// Put describes generation g on the cluster at brokers.
func Put(ctx context.Context, brokers []string, g Generation) error {
	return NewKafka(brokers).Put(ctx, g)
}

// SetLive makes generation g live on the cluster at brokers.
func SetLive(ctx context.Context, brokers []string, g int) error {
	return NewKafka(brokers).SetLive(ctx, g)
}

// EnsureShardTopic creates generation g's shard topic with exactly
// g.Shards partitions, compacted by key (so that it always holds the last
// version, or the delete, of every image routed to it, and a new replica
// can be built from its start), and fails if it exists with another
// number of partitions.
func EnsureShardTopic(ctx context.Context, brokers []string, g Generation) error {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := queue.EnsureTopicConfig(tctx, brokers, kafka.TopicConfig{Topic: ShardTopic(g.ID), NumPartitions: g.Shards,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}})
	if err != nil {
		return err
	}
	if n != g.Shards {
		return fmt.Errorf("shard topic %s has %d partitions, generation %d has %d shards", ShardTopic(g.ID), n, g.ID, g.Shards)
	}
	return nil
}

func (k *Kafka) ensure(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	_, err := queue.EnsureTopicConfig(tctx, k.brokers, kafka.TopicConfig{Topic: Topic, NumPartitions: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}})
	return err
}

// log is what the topic holds: the state, and the first bid of each
// generation.
type log struct {
	state  State
	claims map[int]Generation
}

// replay reads the topic from its start to its end as it is now.
func (k *Kafka) replay(ctx context.Context) (log, error) {
	l := log{state: State{Generations: map[int]Generation{}, Servers: map[string]Server{}}, claims: map[int]Generation{}}
	if err := k.ensure(ctx); err != nil {
		return l, err
	}
	tctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	first, last, err := offsets(tctx, k.brokers)
	if err != nil || first >= last {
		return l, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.brokers, Topic: Topic, Partition: 0, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return l, err
	}
	for {
		m, err := r.FetchMessage(tctx)
		if err != nil {
			return l, fmt.Errorf("reading %s: %w", Topic, err)
		}
		l.apply(string(m.Key), m.Value)
		if m.Offset+1 >= last {
			return l, nil
		}
	}
}

// apply adds one record of the topic. Records that do not parse (not
// written by picdex) are ignored rather than making the cluster
// unreadable.
func (l *log) apply(key string, value []byte) {
	switch {
	case key == keyLive:
		var v struct {
			Generation int `json:"generation"`
		}
		if value == nil {
			l.state.Live = 0
		} else if json.Unmarshal(value, &v) == nil {
			l.state.Live = v.Generation
		}
	case strings.HasPrefix(key, keyGeneration):
		id, err := strconv.Atoi(strings.TrimPrefix(key, keyGeneration))
		if err != nil {
			return
		}
		var g Generation
		if value == nil {
			delete(l.state.Generations, id)
		} else if json.Unmarshal(value, &g) == nil && g.ID == id && g.Validate() == nil {
			l.state.Generations[id] = g
		}
	case strings.HasPrefix(key, keyServer):
		name := strings.TrimPrefix(key, keyServer)
		var s Server
		if value == nil {
			delete(l.state.Servers, name)
		} else if json.Unmarshal(value, &s) == nil && s.Name == name && s.Validate() == nil {
			l.state.Servers[name] = s
		}
	case strings.HasPrefix(key, keyClaim):
		var g Generation
		if json.Unmarshal(value, &g) == nil && g.Validate() == nil {
			if _, ok := l.claims[g.ID]; !ok {
				l.claims[g.ID] = g
			}
		}
	}
}

func offsets(ctx context.Context, brokers []string) (first, last int64, err error) {
	var errs []error
	for _, b := range brokers {
		conn, err := kafka.DialLeader(ctx, "tcp", b, Topic, 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			conn.SetDeadline(dl)
		}
		first, last, err = conn.ReadOffsets()
		conn.Close()
		if err == nil {
			return first, last, nil
		}
		errs = append(errs, err)
	}
	return 0, 0, fmt.Errorf("offsets of %s: %w", Topic, errors.Join(errs...))
}

// write appends msgs as one batch: they become visible together.
func (k *Kafka) write(ctx context.Context, msgs ...kafka.Message) error {
	if err := k.ensure(ctx); err != nil {
		return err
	}
	// A transport of its own: kafka-go's default one caches the
	// brokers' metadata, and a topic created after (a shard topic) would
	// be unknown to every later writer of the process for a while.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(k.brokers...), Topic: Topic, RequiredAcks: kafka.RequireAll, Transport: tr,
		BatchSize: len(msgs), BatchTimeout: time.Millisecond, WriteTimeout: k.timeout, MaxAttempts: 5}
	defer w.Close()
	tctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	if err := w.WriteMessages(tctx, msgs...); err != nil {
		return fmt.Errorf("writing %s: %w", Topic, err)
	}
	return nil
}

func generationMessage(g Generation) (kafka.Message, error) {
	v, err := json.Marshal(g)
	return kafka.Message{Key: []byte(keyGeneration + strconv.Itoa(g.ID)), Value: v}, err
}

// Load implements Store.
func (k *Kafka) Load(ctx context.Context) (State, error) {
	l, err := k.replay(ctx)
	return l.state, err
}

// Put implements Store.
func (k *Kafka) Put(ctx context.Context, g Generation) error {
	if err := g.Validate(); err != nil {
		return err
	}
	m, err := generationMessage(g)
	if err != nil {
		return err
	}
	return k.write(ctx, m)
}

// SetLive implements Store: the generations' new states and the live
// pointer go in one batch.
func (k *Kafka) SetLive(ctx context.Context, g int) error {
	st, err := k.Load(ctx)
	if err != nil {
		return err
	}
	next, err := st.withLive(g)
	if err != nil {
		return err
	}
	var msgs []kafka.Message
	for id, gen := range next.Generations {
		if old := st.Generations[id]; old.State != gen.State || id == g {
			m, err := generationMessage(gen)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
	}
	live, _ := json.Marshal(map[string]int{"generation": g})
	return k.write(ctx, append(msgs, kafka.Message{Key: []byte(keyLive), Value: live})...)
}

// Announce implements Store.
func (k *Kafka) Announce(ctx context.Context, s Server) error {
	if err := s.Validate(); err != nil {
		return err
	}
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return k.write(ctx, kafka.Message{Key: []byte(keyServer + s.Name), Value: v})
}

// Withdraw implements Store: a tombstone, which compaction keeps until
// every reader has seen it.
func (k *Kafka) Withdraw(ctx context.Context, name string) error {
	return k.write(ctx, kafka.Message{Key: []byte(keyServer + name)})
}

// Claim implements Store: the bid is written under a key of its own, and
// the first bid in the topic wins.
func (k *Kafka) Claim(ctx context.Context, bid Generation) (Generation, error) {
	if err := bid.Validate(); err != nil {
		return Generation{}, err
	}
	v, err := json.Marshal(bid)
	if err != nil {
		return Generation{}, err
	}
	key := keyClaim + strconv.Itoa(bid.ID) + "/" + nonce()
	if err := k.write(ctx, kafka.Message{Key: []byte(key), Value: v}); err != nil {
		return Generation{}, err
	}
	l, err := k.replay(ctx)
	if err != nil {
		return Generation{}, err
	}
	won, ok := l.claims[bid.ID]
	if !ok {
		return Generation{}, fmt.Errorf("claim for generation %d written but not read back from %s", bid.ID, Topic)
	}
	return won, nil
}

func nonce() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
