package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/picdex/picdex/indexer/backoff"
	"github.com/picdex/picdex/indexer/queue"
	"github.com/picdex/picdex/mapreduce"
)

// HeaderOrigin carries, on a shard-log message, where the router read it:
// "topic/partition/offset" (see Origin).
const HeaderOrigin = "picdex-origin"

// HeaderOriginReset marks a shard-log message that carries no record but
// an instruction, from a router that found an origin partition
// ("topic/partition") re-created: forget the origin offsets held of it,
// for the messages after this one come from the partition's new life,
// whose offsets start again (see Router).
const HeaderOriginReset = "picdex-origin-reset"

// partitionLog is one partition of a topic, read directly (not through a
// group) by a consumer member, a router member or a replica.
type partitionLog struct {
	brokers []string
	topic   string
	part    int
	logger  *slog.Logger
}

// resume returns where to read from, given from, the offset the caller
// would resume at: checked against the partition's log, asking again
// with back-off while the broker cannot say, until ctx ends.
//
// Past the log's end, the offsets the caller holds belong to an earlier
// life of the topic (deleted and created again, or a log that lost its
// tail to an unclean leader election): reading on from there would
// silently skip every new message up to from. restart, when set, then
// makes the caller forget the partition, and it is read again from its
// first offset — re-applying, in order, what is still in the log, which
// leaves every image as its last message says. Before its start
// (retention deleted messages never applied), those are gone; reading
// starts at the first offset left, with a warning.
func (l partitionLog) resume(ctx context.Context, from int64, restart func(context.Context) error) (int64, error) {
	for wait := backoff.Default(); ; {
		first, last, err := l.offsetRange(ctx)
		if err == nil {
			switch {
			case from > last:
				l.logger.Warn("offsets past the end of the partition: the topic was re-created or truncated; reading it again from the start",
					"topic", l.topic, "partition", l.part, "resume", from, "end", last)
				if restart != nil {
					if err := restart(ctx); err != nil {
						return 0, err
					}
				}
				return first, nil
			case from < first:
				l.logger.Warn("messages were deleted from the partition before they were read",
					"topic", l.topic, "partition", l.part, "lost", first-from, "resume", first)
				return first, nil
			}
			return from, nil
		}
		l.logger.Warn("reading the partition's offsets; retrying", "topic", l.topic, "partition", l.part, "err", err)
		if err := backoff.Sleep(ctx, wait.Next()); err != nil {
			return 0, err
		}
	}
}

// offsetRange returns the first offset of the partition and the one past
// its last message.
func (l partitionLog) offsetRange(ctx context.Context) (first, last int64, err error) {
	return mapreduce.PartitionOffsets(ctx, l.brokers, l.topic, l.part)
}

// read feeds the partition's messages from offset from to in until ctx
// ends or a fetch fails, reporting each message's lag to the end of the
// log (the offsets past it) to lag.
func (l partitionLog) read(ctx context.Context, from int64, wait time.Duration, in chan<- Message, lag func(highWater int64, next int64)) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: l.brokers, Topic: l.topic, Partition: l.part,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: wait,
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		if lag != nil {
			lag(m.HighWaterMark, m.Offset+1)
		}
		select {
		case in <- toMessage(l.topic, l.part, m):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func toMessage(topic string, part int, m kafka.Message) Message {
	msg := Message{Topic: topic, Partition: part, Offset: m.Offset, Key: m.Key, Value: m.Value, Read: time.Now()}
	for _, h := range m.Headers {
		switch h.Key {
		case queue.HeaderProducedAt:
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				msg.ProducedAt = time.Unix(0, ns)
			}
		case HeaderOrigin, mapreduce.PairHeader:
			// A malformed origin (not one a router wrote) is no origin:
			// the message is applied as one produced here. A pair of a
			// batch build (the Kafka runner's shuffle) has its split for
			// a partition and its number in it for an offset: a split
			// mapped again is skipped as a router's re-send is.
			if o, err := ParseOrigin(string(h.Value)); err == nil {
				msg.Origin = o
			}
		case HeaderOriginReset:
			if o, err := ParseOrigin(string(h.Value) + "/0"); err == nil {
				msg.OriginReset = o.stream()
			}
		}
	}
	return msg
}

// TopicEnds returns the end offset of every partition of topic.
func TopicEnds(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	parts, err := topicPartitions(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	ends := make(map[int]int64, len(parts))
	for _, p := range parts {
		_, last, err := partitionLog{brokers: brokers, topic: topic, part: p}.offsetRange(ctx)
		if err != nil {
			return nil, err
		}
		ends[p] = last
	}
	return ends, nil
}

func topicPartitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var errs []error
	for _, b := range brokers {
		conn, err := (&kafka.Dialer{}).DialContext(tctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		deadline, _ := tctx.Deadline()
		conn.SetDeadline(deadline)
		ps, err := conn.ReadPartitions(topic)
		conn.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out := make([]int, len(ps))
		for i, p := range ps {
			out[i] = p.ID
		}
		return out, nil
	}
	return nil, fmt.Errorf("partitions of %s: %w", topic, errors.Join(errs...))
}

// GroupCommitted returns the offsets the consumer group has committed
// on the partitions of topic; a partition it has none on is left out.
func GroupCommitted(ctx context.Context, brokers []string, group, topic string) (map[int]int64, error) {
	parts, err := topicPartitions(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	res, err := c.OffsetFetch(tctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	committed := map[int]int64{}
	if err == nil && res.Error != nil {
		if errors.Is(res.Error, kafka.GroupIdNotFound) {
			return committed, nil // no member has joined yet
		}
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error == nil && p.CommittedOffset >= 0 {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	return committed, nil
}
