package indexer

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/indexer/backoff"
	"github.com/picdex/picdex/indexer/queue"
)

// groupMember is what a Consumer and a Router share: a member of a consumer
// group over the records topic, reading the partitions it is assigned
// into one batcher, committing the group offsets after each batch, and
// dead-lettering what can never be indexed.
type groupMember struct {
	brokers                  []string
	topic, dlqTopic, groupID string
	partitions               int // of the topics, when the member creates them
	batchRecords             int
	batchWait                time.Duration
	logger                   *slog.Logger
	stats                    *Stats
	b                        *batcher
	ready                    atomic.Bool
	// from returns the offset to read an assigned partition from, given
	// the group's committed offset (kafka.FirstOffset when there is
	// none); claim commits an offset for the partition at once.
	from func(ctx context.Context, part int, committed int64, claim func(offset int64) error) (int64, error)
	// commit, when set, stands in for the group commit: for tests that
	// need a member to die between its writes and its commit.
	commit func(commit func() error) error

	dlq *kafka.Writer
}

func (m *groupMember) init() {
	m.dlq = &kafka.Writer{
		Addr: kafka.TCP(m.brokers...), Topic: m.dlqTopic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond, AllowAutoTopicCreation: true,
	}
	m.b.deadLetter = m.deadLetter
}

// deadLetter writes what can never be indexed to the dead-letter topic,
// with the reason and the origin in headers, retrying until it is written.
func (m *groupMember) deadLetter(ctx context.Context, rejects []Mapped) error {
	dead := make([]kafka.Message, len(rejects))
	for i, r := range rejects {
		dead[i] = kafka.Message{Key: r.Key, Value: r.Value, Headers: []kafka.Header{
			{Key: HeaderError, Value: []byte(r.Err.Error())},
			{Key: "picdex-source", Value: []byte(fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))},
		}}
	}
	wait := backoff.Default()
	for {
		err := m.dlq.WriteMessages(ctx, dead...)
		if err == nil {
			return nil
		}
		m.logger.Warn("writing dead letters", "err", err)
		if err := backoff.Sleep(ctx, wait.Next()); err != nil {
			return err
		}
	}
}

// run consumes until ctx ends. An unreachable broker is retried with a
// growing back-off (ready false meanwhile); it is not an error.
func (m *groupMember) run(ctx context.Context) error {
	defer m.dlq.Close()
	wait := backoff.Default()
	for ctx.Err() == nil {
		err := m.session(ctx)
		m.ready.Store(false)
		if ctx.Err() != nil {
			break
		}
		m.logger.Warn("kafka session ended; retrying", "err", err)
		if backoff.Sleep(ctx, wait.Next()) != nil {
			break
		}
	}
	return nil
}

// session creates the topics, joins the group and consumes generation
// after generation until an error.
func (m *groupMember) session(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := queue.EnsureTopic(tctx, m.brokers, m.topic, m.partitions, 0)
	if err == nil {
		err = queue.EnsureTopic(tctx, m.brokers, m.dlqTopic, m.partitions, 0)
	}
	cancel()
	if err != nil {
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: m.groupID, Brokers: m.brokers, Topics: []string{m.topic},
		StartOffset: kafka.FirstOffset, WatchPartitionChanges: true,
		HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: 500 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			return err
		}
		m.ready.Store(true)
		parts := gen.Assignments[m.topic]
		m.logger.Info("kafka generation", "id", gen.ID, "member", gen.MemberID, "partitions", len(parts))
		// One reader per partition feeds one batcher: a micro-batch spans
		// the member's partitions, so each shard gets one write per batch
		// however many partitions there are.
		in := make(chan Message, m.batchRecords)
		for _, p := range parts {
			claim := func(off int64) error { return gen.CommitOffsets(map[string]map[int]int64{m.topic: {p.ID: off}}) }
			gen.Start(func(ctx context.Context) {
				if err := m.read(ctx, p.ID, p.Offset, claim, in); err != nil && ctx.Err() == nil {
					m.logger.Error("partition reader stopped", "partition", p.ID, "err", err)
				}
			})
		}
		commit := func(next map[int]int64) error {
			do := func() error { return gen.CommitOffsets(map[string]map[int]int64{m.topic: next}) }
			if m.commit != nil {
				return m.commit(do)
			}
			return do()
		}
		gen.Start(func(ctx context.Context) {
			if err := m.b.run(ctx, in, commit); err != nil && ctx.Err() == nil {
				m.logger.Error("batcher stopped", "err", err)
			}
		})
	}
}

// read feeds one assigned partition's messages to in, from where m.from
// says, until the generation ends.
func (m *groupMember) read(ctx context.Context, part int, committed int64, claim func(int64) error, in chan<- Message) error {
	from, err := m.from(ctx, part, committed, claim)
	if err != nil {
		return err
	}
	l := partitionLog{brokers: m.brokers, topic: m.topic, part: part, logger: m.logger}
	return l.read(ctx, from, m.batchWait, in, func(hw, next int64) { m.stats.SetLag(part, max(hw-next, 0)) })
}
