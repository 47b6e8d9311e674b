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
// A message routed through a shard log (see Router and Replica) also
// carries its Origin: where it was first read. A router that crashed
// between producing and committing sends some messages again; the shard
// stores, in the same batch, the highest origin offset applied of every
// origin partition ("picdex/origins/TOPIC/PARTITION", a JSON object), and
// a message at or below it is such a re-send and is skipped.
//
// Applying a micro-batch is a map and a reduce: map parses and validates
// each message into a record (or a reason to dead-letter it) and routes it
// to its shard; reduce writes each shard's share as one batch.
package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strconv"
	"strings"
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
	// Read is when this process read the message from its log; zero
	// when the reader did not say. A micro-batch's wait counts from its
	// first message's.
	Read time.Time
	// Origin is where a routed message was first read; zero for one read
	// where it was produced.
	Origin Origin
	// OriginReset, on a shard-log message a router wrote in place of a
	// record, names an origin partition ("topic/partition") whose held
	// origin offsets are to be forgotten: it was created again, and its
	// offsets start over.
	OriginReset string
}

// Origin names a message of the records topic that a router forwarded.
type Origin struct {
	Topic     string // empty: no origin
	Partition int
	Offset    int64
}

// String is the origin as the picdex-origin header carries it:
// "topic/partition/offset".
func (o Origin) String() string {
	return o.Topic + "/" + strconv.Itoa(o.Partition) + "/" + strconv.FormatInt(o.Offset, 10)
}

// stream names the origin's partition in the stored marks.
func (o Origin) stream() string { return o.Topic + "/" + strconv.Itoa(o.Partition) }

// ParseOrigin reads an origin header. Topic names cannot hold a slash,
// so the last two fields are the partition and the offset.
func ParseOrigin(s string) (Origin, error) {
	rest, off, ok1 := cutLast(s)
	topic, part, ok2 := cutLast(rest)
	if !ok1 || !ok2 || topic == "" {
		return Origin{}, fmt.Errorf("origin %q: want topic/partition/offset", s)
	}
	p, err1 := strconv.Atoi(part)
	o, err2 := strconv.ParseInt(off, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return Origin{}, fmt.Errorf("origin %q: want topic/partition/offset", s)
	}
	return Origin{Topic: topic, Partition: p, Offset: o}, nil
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
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
	Resent   int        // records skipped as a router's re-send (by their origin)
	Resets   int        // a router's marks that an origin partition starts over
	Rejected []Rejected // for the dead-letter queue
}

// Applier writes micro-batches of one index. It is safe for concurrent
// use by the consumers of different partitions.
type Applier struct {
	ix *index.Index

	mu      sync.Mutex
	applied map[offsetKey]int64            // highest offset a shard holds; absent: not read yet
	origins map[offsetKey]map[string]int64 // origin partition -> highest origin offset a shard holds
}

type offsetKey struct {
	shard     int
	topic     string
	partition int
}

// NewApplier returns an Applier writing to ix.
func NewApplier(ix *index.Index) *Applier {
	return &Applier{ix: ix, applied: map[offsetKey]int64{}, origins: map[offsetKey]map[string]int64{}}
}

func internalKey(topic string, partition int) string {
	return "picdex/offset/" + topic + "/" + strconv.Itoa(partition)
}

func originsKey(topic string, partition int) string {
	return "picdex/origins/" + topic + "/" + strconv.Itoa(partition)
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

// storedOrigins is the highest origin offset, per origin partition, that
// shard holds of what came through topic/partition. The caller holds a.mu
// and must not change the map.
func (a *Applier) storedOrigins(shard int, topic string, partition int) (map[string]int64, error) {
	k := offsetKey{shard, topic, partition}
	if m, ok := a.origins[k]; ok {
		return m, nil
	}
	v, err := a.ix.GetInternal(shard, originsKey(topic, partition))
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	if v != nil {
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("shard %d: origins of %s/%d: %w", shard, topic, partition, err)
		}
	}
	a.origins[k] = m
	return m, nil
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

// Apply writes msgs, all of one topic, each partition's in offset order
// (partitions may interleave). Each shard gets its records and the new
// offset of every partition in the batch in one atomic batch, and skips
// messages it already holds. Messages that can never be indexed come back
// in Result.Rejected; they count as applied for the offsets, so their
// partition moves on. On an error some shards may have applied their
// share; calling Apply again with the same messages is safe.
func (a *Applier) Apply(ctx context.Context, msgs []Message) (Result, error) {
	return a.ApplyMapped(ctx, MapAll(msgs))
}

// Mapped is a message and what Map made of it.
type Mapped struct {
	Message
	Record record.Record
	Err    error // why it can never be indexed
}

// MapAll maps msgs on all CPUs, keeping their order.
func MapAll(msgs []Message) []Mapped {
	out := make([]Mapped, len(msgs))
	workers := min(runtime.GOMAXPROCS(0), (len(msgs)+63)/64)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(msgs); i += workers {
				if msgs[i].OriginReset != "" {
					out[i] = Mapped{Message: msgs[i]}
					continue
				}
				r, err := Map(msgs[i])
				out[i] = Mapped{Message: msgs[i], Record: r, Err: err}
			}
		})
	}
	wg.Wait()
	return out
}

// ApplyMapped is Apply for messages mapped already.
func (a *Applier) ApplyMapped(ctx context.Context, msgs []Mapped) (Result, error) {
	var res Result
	if len(msgs) == 0 {
		return res, nil
	}
	topic := msgs[0].Topic
	last := map[int]int64{} // partition -> its last offset in the batch
	for _, m := range msgs {
		if m.Topic != topic {
			return res, errors.New("indexer: a batch mixes topics")
		}
		if cur, ok := last[m.Partition]; !ok || m.Offset > cur {
			last[m.Partition] = m.Offset
		}
	}
	n := a.ix.NumShards()

	a.mu.Lock()
	have := make([]map[int]int64, n)               // shard -> partition -> offset held
	origins := make([]map[int]map[string]int64, n) // shard -> partition -> origin -> offset held, copied
	for s := range n {
		have[s] = make(map[int]int64, len(last))
		origins[s] = make(map[int]map[string]int64, len(last))
		for p := range last {
			off, err := a.stored(s, topic, p)
			if err == nil {
				var held map[string]int64
				if held, err = a.storedOrigins(s, topic, p); err == nil {
					origins[s][p] = maps.Clone(held)
				}
			}
			if err != nil {
				a.mu.Unlock()
				return res, err
			}
			have[s][p] = off
		}
	}
	a.mu.Unlock()

	// Map: drop what can never be indexed, what each shard has and what a
	// router sent again, then route — the routing bulk loads use.
	keep := make([]record.Record, 0, len(msgs))
	moved := make([]map[int]bool, n) // shard -> partitions whose origins moved
	for _, m := range msgs {
		if m.OriginReset != "" {
			// Every shard forgets the origin partition, in its place in
			// the log: what came before was held by the old offsets,
			// what follows is judged afresh.
			res.Resets++
			for s := range n {
				if m.Offset <= have[s][m.Partition] {
					continue
				}
				delete(origins[s][m.Partition], m.OriginReset)
				if moved[s] == nil {
					moved[s] = map[int]bool{}
				}
				moved[s][m.Partition] = true
			}
			continue
		}
		if m.Err != nil {
			res.Rejected = append(res.Rejected, Rejected{Message: m.Message, Reason: m.Err.Error()})
			continue
		}
		s := a.ix.ShardOf(m.Record.ID)
		if m.Offset <= have[s][m.Partition] {
			res.Skipped++
			continue
		}
		if o := m.Origin; o.Topic != "" {
			held := origins[s][m.Partition]
			if cur, ok := held[o.stream()]; ok && o.Offset <= cur {
				res.Resent++
				continue
			}
			held[o.stream()] = o.Offset
			if moved[s] == nil {
				moved[s] = map[int]bool{}
			}
			moved[s][m.Partition] = true
		}
		keep = append(keep, m.Record)
	}
	shares := a.ix.Route(keep)

	// Reduce: one batch per shard with the new offsets — also on shards
	// with nothing to write, so that every shard's offsets move.
	marks := make([]map[string][]byte, n)
	for s := range n {
		mark := func(k string, v []byte) {
			if marks[s] == nil {
				marks[s] = map[string][]byte{}
			}
			marks[s][k] = v
		}
		for p, off := range last {
			if have[s][p] < off {
				mark(internalKey(topic, p), []byte(strconv.FormatInt(off, 10)))
			}
			if moved[s][p] {
				v, err := json.Marshal(origins[s][p])
				if err != nil {
					return res, err
				}
				mark(originsKey(topic, p), v)
			}
		}
	}
	err := a.ix.ApplyShards(ctx, shares, marks)
	// Remember the offsets of the shards that wrote them. On an error the
	// ones that failed are read from the shards again next time.
	a.mu.Lock()
	for s := range n {
		for p, off := range last {
			k := offsetKey{s, topic, p}
			if err != nil {
				delete(a.applied, k)
				delete(a.origins, k)
				continue
			}
			a.applied[k] = max(a.applied[k], off)
			if moved[s][p] {
				a.origins[k] = origins[s][p]
			}
		}
	}
	a.mu.Unlock()
	if err != nil {
		return res, err
	}
	res.Applied = len(keep)
	return res, nil
}

// Restart makes every shard forget what it applied of topic/partition, so
// that the partition is consumed again from its first offset: for a topic
// that was deleted and created again, or a log that lost its tail, whose
// offsets no longer mean what the shards recorded. The origin offsets that
// came through the partition are forgotten too: the log is re-applied in
// order, re-sends included, which leaves every image as its last message
// says (the records topic may have been created again with it). Each shard records it
// durably before Restart returns; a crash part-way is repaired by calling
// Restart again (Resume then returns 0 at once).
func (a *Applier) Restart(ctx context.Context, topic string, partition int) error {
	n := a.ix.NumShards()
	marks := make([]map[string][]byte, n)
	for s := range n {
		marks[s] = map[string][]byte{internalKey(topic, partition): []byte("-1"), originsKey(topic, partition): []byte("{}")}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.ix.ApplyShards(ctx, make([][]record.Record, n), marks)
	for s := range n {
		k := offsetKey{s, topic, partition}
		if err != nil {
			delete(a.applied, k)
			delete(a.origins, k)
		} else {
			a.applied[k] = -1
			a.origins[k] = map[string]int64{}
		}
	}
	return err
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
	for k := range a.origins {
		if k.topic == topic && k.partition == partition {
			delete(a.origins, k)
		}
	}
}
