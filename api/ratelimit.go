package api

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// DefaultMaxClients bounds the clients a RateLimiter tracks at once.
const DefaultMaxClients = 65536

// RateLimitOptions configure NewRateLimiter.
type RateLimitOptions struct {
	// Rate is the requests a second each client may make on average.
	Rate float64
	// Burst is how many it may make at once after a pause (default 2×Rate,
	// at least 1).
	Burst float64
	// MaxClients bounds the table of clients (default DefaultMaxClients):
	// a flood of new addresses evicts idle clients, then the least
	// recently seen ones, instead of growing memory.
	MaxClients int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *RateLimitOptions) setDefaults() {
	if o.Burst == 0 {
		o.Burst = max(2*o.Rate, 1)
	}
	if o.MaxClients == 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports options NewRateLimiter cannot use.
func (o RateLimitOptions) Validate() error {
	switch {
	case !(o.Rate > 0) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("rate limit %g: want a positive number of requests a second", o.Rate)
	case o.Burst < 0 || (o.Burst > 0 && o.Burst < 1) || math.IsNaN(o.Burst) || math.IsInf(o.Burst, 0):
		return fmt.Errorf("burst %g: want at least 1", o.Burst)
	case o.MaxClients < 0:
		return errors.New("negative MaxClients")
	}
	return nil
}

// RateLimiter is a token bucket per client (a key id or an address),
// safe for concurrent use. The table is split into shards with a lock
// each, so hundreds of concurrent connections rarely wait on one another.
type RateLimiter struct {
	rate, burst float64
	now         func() time.Time
	seed        maphash.Seed
	shards      []limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]bucket
	max     int
}

type bucket struct {
	tokens float64
	last   int64 // Unix nanoseconds of the last refill
}

// The table has up to maxLimiterShards shards of at least minShardClients
// each: eviction is decided within a shard, and a tiny shard would evict
// a busy client for any newcomer.
const (
	maxLimiterShards = 64
	minShardClients  = 256
)

// evictSample is how many entries a full shard looks at to make room: a
// constant amount of work per new client however large the table.
const evictSample = 16

// NewRateLimiter returns a limiter; see RateLimitOptions.
func NewRateLimiter(o RateLimitOptions) (*RateLimiter, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.setDefaults()
	n := 1
	for n*2 <= maxLimiterShards && n*2*minShardClients <= o.MaxClients {
		n *= 2
	}
	l := &RateLimiter{rate: o.Rate, burst: o.Burst, now: o.Now, seed: maphash.MakeSeed(), shards: make([]limiterShard, n)}
	for i := range l.shards {
		l.shards[i] = limiterShard{buckets: map[string]bucket{}, max: o.MaxClients / n}
	}
	return l, nil
}

// Rate is the configured requests a second.
func (l *RateLimiter) Rate() float64 { return l.rate }

// Allow takes a token from client id's bucket. When there is none, it
// reports false and how long until there is one.
func (l *RateLimiter) Allow(id string) (ok bool, retryAfter time.Duration) {
	now := l.now().UnixNano()
	sh := &l.shards[maphash.String(l.seed, id)&uint64(len(l.shards)-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, found := sh.buckets[id]
	if found {
		b.tokens = l.refilled(b, now)
	} else {
		if len(sh.buckets) >= sh.max {
			l.evict(sh, now)
		}
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		sh.buckets[id] = b
		return true, 0
	}
	sh.buckets[id] = b
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

func (l *RateLimiter) refilled(b bucket, now int64) float64 {
	elapsed := max(float64(now-b.last)/float64(time.Second), 0) // a clock step back refills nothing
	return min(l.burst, b.tokens+elapsed*l.rate)
}

// evict makes room in a full shard. A full bucket is the same as none, so
// those go first; when the sample holds none, the least recently seen
// client of the sample loses its bucket (and so its debt: under a flood of
// new addresses an active client may get a fresh burst, never less).
// Map iteration starts at a random place, so the sample is a random one.
func (l *RateLimiter) evict(sh *limiterShard, now int64) {
	var oldest string
	oldestAt := int64(math.MaxInt64)
	seen, freed := 0, false
	for id, b := range sh.buckets {
		if l.refilled(b, now) >= l.burst {
			delete(sh.buckets, id)
			freed = true
		} else if b.last < oldestAt {
			oldest, oldestAt = id, b.last
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if !freed {
		delete(sh.buckets, oldest)
	}
}

// Len is the number of clients tracked.
func (l *RateLimiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}

// retryAfterSeconds rounds a wait up to the whole seconds of a Retry-After
// header, at least 1: "0" would invite an immediate retry.
func retryAfterSeconds(d time.Duration) int {
	return max(int(math.Ceil(d.Seconds())), 1)
}
