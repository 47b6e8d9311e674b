// Package indexer turns a stream of record messages into index writes with
// an exactly-once effect.
//
// Each shard stores, in the same atomic bleve batch as the documents, the
// highest offset it has applied of every partition it has seen
// (internal key "picdex/offset/TOPIC/PARTITION"). A partition is consumed
// from one past the lowest offset any shard holds, and each shard skips
// the messages it already has, so a process killed at any instant —
// between two shards' batches included — and restarted ends with every
// message applied exactly once. Messages of one key share a partition
// (the producers key by record id), so an image's upserts and deletes are
// applied in the order they were produced.
//
// Applying a micro-batch is a map and a reduce: map parses and validates
// each message into a record (or a reason to dead-letter it) and routes it
// to its shard; reduce writes each shard's share as one batch.
package indexer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

// Message is one record message of a partition.
type Message struct {
	Topic      string
	Partition  int
	Offset     int64
	Key, Value []byte
	ProducedAt time.Time // zero when the producer did not say
}

// Rejected is a message that can never be indexed, and why.
type Rejected struct {
	Message
	Reason string
}

// Result says what one Apply did.
type Result struct {
	Applied  int        // records written (to their shard)
	Skipped  int        // records their shard already had
	Rejected []Rejected // for the dead-letter queue
}

// Applier writes micro-batches of one index. It is safe for concurrent
// use by the consumers of different partitions.
type Applier struct {
	ix *index.Index

	mu      sync.Mutex
	applied map[offsetKey]int64 // highest offset a shard holds; absent: not read yet
}

type offsetKey struct {
	shard     int
	topic     string
	partition int
}

// NewApplier returns an Applier writing to ix.
func NewApplier(ix *index.Index) *Applier {
	return &Applier{ix: ix, applied: map[offsetKey]int64{}}
}

func internalKey(topic string, partition int) string {
	return "picdex/offset/" + topic + "/" + strconv.Itoa(partition)
}

// stored is the highest offset of topic/partition that shard holds, -1
// for none. The caller holds a.mu.
func (a *Applier) stored(shard int, topic string, partition int) (int64, error) {
	k := offsetKey{shard, topic, partition}
	if off, ok := a.applied[k]; ok {
		return off, nil
	}
	v, err := a.ix.GetInternal(shard, internalKey(topic, partition))
	if err != nil {
		return 0, err
	}
	off := int64(-1)
	if v != nil {
		if off, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return 0, fmt.Errorf("shard %d: offset of %s/%d: %w", shard, topic, partition, err)
		}
	}
	a.applied[k] = off
	return off, nil
}

// Resume returns the offset to consume topic/partition from: one past the
// lowest offset any shard holds (0 when a shard holds none).
func (a *Applier) Resume(topic string, partition int) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	low := int64(-1)
	for s := range a.ix.NumShards() {
		off, err := a.stored(s, topic, partition)
		if err != nil {
			return 0, err
		}
		if s == 0 || off < low {
			low = off
		}
	}
	return low + 1, nil
}

// Map turns a message into a record, or says why it can never be one.
// The message key is not checked against the record id: producers should
// key by id (picdex's do) so that an image's versions share a partition,
// but a record is indexed by its own id whatever the key.
func Map(m Message) (record.Record, error) { return record.Parse(m.Value) }

// Apply writes msgs, all of one topic and partition in offset order. Each
// shard gets its records and the partition's new offset in one atomic
// batch, and skips messages it already holds. Messages that can never be
// indexed come back in Result.Rejected; they count as applied for the
// offsets, so the partition moves on. On an error some shards may have
// applied their share; calling Apply again with the same messages is safe.
func (a *Applier) Apply(ctx context.Context, msgs []Message) (Result, error) {
	var res Result
	if len(msgs) == 0 {
		return res, nil
	}
	topic, part := msgs[0].Topic, msgs[0].Partition
	last := msgs[len(msgs)-1].Offset
	n := a.ix.NumShards()

	a.mu.Lock()
	have := make([]int64, n)
	for s := range n {
		off, err := a.stored(s, topic, part)
		if err != nil {
			a.mu.Unlock()
			return res, err
		}
		have[s] = off
	}
	a.mu.Unlock()

	// Map: parse and route.
	shares := make([][]record.Record, n)
	for _, m := range msgs {
		if m.Topic != topic || m.Partition != part {
			return res, errors.New("indexer: a batch mixes partitions")
		}
		r, err := Map(m)
		if err != nil {
			res.Rejected = append(res.Rejected, Rejected{Message: m, Reason: err.Error()})
			continue
		}
		s := a.ix.ShardOf(r.ID)
		if m.Offset <= have[s] {
			res.Skipped++
			continue
		}
		shares[s] = append(shares[s], r)
	}

	// Reduce: one batch per shard, the new offset with it — also on
	// shards with nothing to write, so that every shard's offset moves.
	mark := map[string][]byte{internalKey(topic, part): []byte(strconv.FormatInt(last, 10))}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for s := range n {
		if have[s] >= last {
			continue
		}
		wg.Go(func() {
			if errs[s] = a.ix.ApplyShard(ctx, s, shares[s], mark); errs[s] != nil {
				return
			}
			a.mu.Lock()
			a.applied[offsetKey{s, topic, part}] = last
			a.mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	for _, sh := range shares {
		res.Applied += len(sh)
	}
	return res, nil
}

// Forget drops what the Applier remembers of a partition's offsets, so
// they are read from the shards again: after a rebalance, another process
// may have moved them on.
func (a *Applier) Forget(topic string, partition int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.applied {
		if k.topic == topic && k.partition == partition {
			delete(a.applied, k)
		}
	}
}
