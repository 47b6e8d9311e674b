package tier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/remote"
	"github.com/picdex/picdex/index/replica"
)

// ErrNoGeneration means the tier does not know the live generation yet.
// It is a kind of index.ErrAllShardsFailed: no shard can answer.
var ErrNoGeneration = fmt.Errorf("%w: no live index generation is known yet", index.ErrAllShardsFailed)

// Generation is what the tier needs of an index generation.
type Generation struct {
	ID     int
	Shards int
}

// DefaultInlineRecords is the largest from+size whose records the shard
// servers send with phase 2: over the network a fetch round costs more
// than reading from+size records on every shard for a small page.
const DefaultInlineRecords = 100

// Options configure a Tier. A zero field takes its default.
type Options struct {
	// ShardServers are the base URLs of the shard servers
	// ("http://host:port").
	ShardServers []string
	// Discover, when set, returns more shard servers' base URLs (the
	// ones that announced themselves in the cluster's metadata); it is
	// asked on every poll, and a server it stops returning is dropped
	// unless ShardServers names it.
	Discover func(ctx context.Context) ([]string, error)
	// Live returns the live generation (the cluster's metadata).
	Live func(ctx context.Context) (Generation, error)
	// Client configures the calls to shard servers.
	Client remote.ClientOptions
	// PollInterval is how often shard servers' info is read, and so how
	// soon a replica that failed or caught up is seen (default 500ms).
	PollInterval time.Duration
	// PollTimeout bounds one info call (default 2s).
	PollTimeout time.Duration
	// MaxLag is how many shard-log messages behind a replica may be and
	// still count as caught up (default 1000).
	MaxLag int64
	// StaleAfter is how long a replica may go without word from the
	// broker on its partition's end before its lag counts as unknown
	// (default 10s): it is then chosen only while no replica of the shard
	// in recent contact is caught up, so a replica cut off from Kafka
	// does not keep answering with ever older contents.
	StaleAfter time.Duration
	// SwitchGrace is how long, after the live generation changed, the
	// old one goes on answering while a shard of the new one has no
	// healthy, caught-up replica known (default 10s; negative: none).
	SwitchGrace time.Duration
	// Replica configures each shard's replica selection.
	Replica replica.Options
	// Fanout bounds the searches, as in one process. Its InlineRecords
	// defaults to DefaultInlineRecords (negative: always a fetch round).
	Fanout index.FanoutOptions
	Logger *slog.Logger
}

// Validate fills in defaults and reports options that cannot work.
func (o *Options) Validate() error {
	if len(o.ShardServers) == 0 && o.Discover == nil {
		return errors.New("tier: no shard servers")
	}
	for i, s := range o.ShardServers {
		o.ShardServers[i] = baseURL(s)
	}
	if o.Live == nil {
		return errors.New("tier: no source of the live generation")
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 2 * time.Second
	}
	if o.MaxLag <= 0 {
		o.MaxLag = 1000
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 10 * time.Second
	}
	if o.SwitchGrace == 0 {
		o.SwitchGrace = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Fanout.InlineRecords == 0 {
		o.Fanout.InlineRecords = DefaultInlineRecords
	}
	return o.Replica.Validate()
}

// baseURL is s as a base URL: http:// when it names no scheme, no
// trailing slash.
func baseURL(s string) string {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return strings.TrimRight(s, "/")
}

// Tier is the query tier over a cluster's shard servers. It is safe for
// concurrent use.
type Tier struct {
	opts   Options
	client *http.Client // nil: remote's shared default
	view   atomic.Pointer[view]

	mu      sync.Mutex
	servers map[string]*serverState // by base URL
	// pending is the live generation last seen, since pendingSince.
	pending      Generation
	pendingSince time.Time
}

// view is one generation's shards: searches load it once.
type view struct {
	gen  Generation
	sets []*replica.Set
	fan  *index.Fanout
	// version names what the members searches may reach hold: the
	// generation and, per shard, every member's applied offset (see
	// Version).
	version atomic.Pointer[string]
	// servable is, per shard, whether a healthy, caught-up replica exists.
	servable []atomic.Bool
}

type serverState struct {
	healthy bool
	info    remote.Info
	// remote is the server's client: the calls of a search to its
	// shards travel together.
	remote  *remote.Server
	clients map[[2]int]*remote.Client // (generation, shard) -> client
	err     error
}

// New returns a Tier; Run keeps its view current.
func New(opts Options) (*Tier, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := opts.Client.Validate(); err != nil {
		return nil, err
	}
	t := &Tier{opts: opts, client: opts.Client.HTTPClient, servers: map[string]*serverState{}}
	for _, s := range opts.ShardServers {
		rs, err := remote.NewServer(s, opts.Client)
		if err != nil {
			return nil, err
		}
		t.servers[s] = &serverState{remote: rs, clients: map[[2]int]*remote.Client{}}
	}
	return t, nil
}

// Run polls the live generation and the shard servers until ctx ends.
func (t *Tier) Run(ctx context.Context) {
	tick := time.NewTicker(t.opts.PollInterval)
	defer tick.Stop()
	for {
		t.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Refresh reads the live generation and every shard server's info once,
// and brings the view up to date.
func (t *Tier) Refresh(ctx context.Context) {
	// The live generation is read while the servers are polled, so a
	// slow metadata store does not hold up the health checks.
	var gen Generation
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		gen, err = t.opts.Live(ctx)
		if err == nil && gen.Shards < 1 {
			err = fmt.Errorf("live generation %d has %d shards", gen.ID, gen.Shards)
		}
	})
	var found []string
	var discoverErr error
	if t.opts.Discover != nil {
		// Servers found now are polled from the next round on.
		wg.Go(func() { found, discoverErr = t.opts.Discover(ctx) })
	}
	t.mu.Lock()
	bases := slices.Collect(maps.Keys(t.servers))
	t.mu.Unlock()
	for _, base := range bases {
		wg.Go(func() { t.poll(ctx, base) })
	}
	wg.Wait()
	if discoverErr != nil {
		t.opts.Logger.Warn("finding shard servers", "err", discoverErr)
	} else if t.opts.Discover != nil {
		t.setServers(found)
	}
	if err != nil {
		t.opts.Logger.Warn("reading the live generation", "err", err)
		if v := t.view.Load(); v != nil {
			gen = v.gen // keep serving the one we have
		} else {
			return
		}
	}
	t.update(gen)
}

// setServers makes the polled servers the configured ones and found.
func (t *Tier) setServers(found []string) {
	want := map[string]bool{}
	for _, s := range t.opts.ShardServers {
		want[s] = true
	}
	for _, s := range found {
		want[baseURL(s)] = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for base, st := range t.servers {
		if !want[base] {
			t.opts.Logger.Info("shard server gone from the cluster's metadata", "server", base)
			for _, c := range st.clients {
				c.Close()
			}
			delete(t.servers, base)
		}
	}
	for base := range want {
		if t.servers[base] != nil {
			continue
		}
		rs, err := remote.NewServer(base, t.opts.Client)
		if err != nil {
			t.opts.Logger.Warn("shard server announced with an unusable URL", "server", base, "err", err)
			continue
		}
		t.opts.Logger.Info("shard server found", "server", base)
		t.servers[base] = &serverState{remote: rs, clients: map[[2]int]*remote.Client{}}
	}
}

// poll reads one shard server's info: the active health check.
func (t *Tier) poll(ctx context.Context, base string) {
	pctx, cancel := context.WithTimeout(ctx, t.opts.PollTimeout)
	defer cancel()
	info, err := remote.FetchInfo(pctx, t.client, base, t.opts.Client.APIKey)
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.servers[base]
	if st == nil {
		return // dropped meanwhile
	}
	wasHealthy := st.healthy
	st.healthy, st.err = err == nil, err
	if err == nil {
		st.info = info
	}
	switch {
	case err != nil && wasHealthy:
		t.opts.Logger.Warn("shard server unhealthy", "server", base, "err", err)
	case err == nil && !wasHealthy:
		t.opts.Logger.Info("shard server healthy", "server", base, "replicas", len(info.Replicas))
	}
}

// update rebuilds the members of each shard of gen from the servers'
// state, swapping in a new view when the generation changed.
func (t *Tier) update(gen Generation) {
	v := t.view.Load()
	if v == nil || v.gen != gen {
		nv := &view{gen: gen, sets: make([]*replica.Set, gen.Shards), servable: make([]atomic.Bool, gen.Shards)}
		shards := make([]index.Shard, gen.Shards)
		for i := range nv.sets {
			nv.sets[i] = replica.NewSet(fmt.Sprintf("g%d/shard-%d", gen.ID, i), t.opts.Replica)
			shards[i] = nv.sets[i]
		}
		nv.fan = index.NewFanout(shards, t.opts.Fanout)
		t.fill(nv)
		t.mu.Lock()
		if t.pending != gen {
			t.pending, t.pendingSince = gen, time.Now()
		}
		waited := time.Since(t.pendingSince)
		t.mu.Unlock()
		if v != nil && !nv.allServable() && v.allServable() && waited < t.opts.SwitchGrace {
			// The new generation has a shard no healthy, caught-up
			// replica is known of yet (its servers were just found, and
			// are polled from the next round on): the old one answers
			// until it has, so the switch fails no search, for
			// SwitchGrace at most.
			t.opts.Logger.Info("live generation changed; answering from the old one until the new one is servable", "from", v.gen.ID, "to", gen.ID)
			t.fill(v)
			return
		}
		if v != nil {
			t.opts.Logger.Info("live generation changed", "from", v.gen.ID, "to", gen.ID, "shards", gen.Shards)
		}
		t.view.Store(nv)
		return
	}
	t.fill(v)
}

// allServable reports whether every shard of v has a healthy, caught-up
// replica.
func (v *view) allServable() bool {
	for i := range v.servable {
		if !v.servable[i].Load() {
			return false
		}
	}
	return true
}

// fill gives each shard of v its members as the servers report them.
func (t *Tier) fill(v *view) {
	t.mu.Lock()
	defer t.mu.Unlock()
	members := make([][]replica.Member, v.gen.Shards)
	offsets := make([][]string, v.gen.Shards) // per member, "server=applied"
	servable := make([]bool, v.gen.Shards)
	applied := make([][]int64, v.gen.Shards) // per member, its applied offset
	fresh := make([][]bool, v.gen.Shards)    // per member, in recent contact with the broker
	current := make([]bool, v.gen.Shards)    // a healthy, caught-up member in recent contact exists
	bases := make([]string, 0, len(t.servers))
	for base := range t.servers {
		bases = append(bases, base)
	}
	slices.Sort(bases)
	for _, base := range bases {
		st := t.servers[base]
		// Forget the clients of replicas the server no longer hosts
		// (another generation, a shard moved away).
		hosted := map[[2]int]bool{}
		for _, r := range st.info.Replicas {
			hosted[[2]int{r.Generation, r.Shard}] = true
		}
		maps.DeleteFunc(st.clients, func(k [2]int, c *remote.Client) bool {
			if hosted[k] {
				return false
			}
			c.Close()
			return true
		})
		for _, r := range st.info.Replicas {
			if r.Generation != v.gen.ID || r.Shard < 0 || r.Shard >= v.gen.Shards || r.Shards != v.gen.Shards {
				continue
			}
			key := [2]int{r.Generation, r.Shard}
			c := st.clients[key]
			if c == nil {
				var err error
				if c, err = st.remote.Shard(r.Generation, r.Shard); err != nil {
					t.opts.Logger.Error("shard server", "server", base, "err", err)
					continue
				}
				st.clients[key] = c
			}
			caughtUp := r.Ready && r.Lag <= t.opts.MaxLag
			members[r.Shard] = append(members[r.Shard], replica.Member{ID: base, Shard: c, CaughtUp: caughtUp, Healthy: st.healthy})
			offsets[r.Shard] = append(offsets[r.Shard], base+"="+strconv.FormatInt(r.Applied, 10))
			applied[r.Shard] = append(applied[r.Shard], r.Applied)
			inContact := r.ContactAgeMs >= 0 && time.Duration(r.ContactAgeMs)*time.Millisecond <= t.opts.StaleAfter
			fresh[r.Shard] = append(fresh[r.Shard], inContact)
			if st.healthy && caughtUp {
				servable[r.Shard] = true
				current[r.Shard] = current[r.Shard] || inContact
			}
		}
	}
	var version strings.Builder
	version.WriteString("g" + strconv.Itoa(v.gen.ID))
	for i, s := range v.sets {
		ms, offs, at := members[i], offsets[i], applied[i]
		if servable[i] {
			// A replica still catching up is only a last resort: with
			// a caught-up one at hand, neither a retry nor a hedge may
			// answer from it (and be cached as complete). Nor may one
			// cut off from the broker while another is in contact.
			ms, offs, at = nil, nil, nil
			for j, m := range members[i] {
				if m.Healthy && m.CaughtUp && (fresh[i][j] || !current[i]) {
					ms, offs, at = append(ms, m), append(offs, offsets[i][j]), append(at, applied[i][j])
				}
			}
		}
		if cv := contentVersion(v.gen.ID, i, at); cv != 0 {
			s.SetContentVersionAt(cv, at[0])
		} else {
			s.SetContentVersion(0)
		}
		if err := s.Update(ms); err != nil {
			t.opts.Logger.Error("replicas of a shard", "shard", s.String(), "err", err)
		}
		v.servable[i].Store(servable[i])
		// Every member a search may reach is in the version: whichever
		// answers, a result is kept only while none of them has
		// applied anything new.
		version.WriteString(";" + strings.Join(offs, ","))
	}
	vs := version.String()
	v.version.Store(&vs)
}

// contentVersion is the version of a shard whose members have applied
// offsets at: one number for the generation, shard and offset when every
// member has applied the same, so any of them holds the same contents
// and the fan-out may keep the shard's statistics; 0 otherwise (members
// apart, or none).
func contentVersion(gen, shard int, at []int64) uint64 {
	if len(at) == 0 || slices.Min(at) != slices.Max(at) {
		return 0
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%d", gen, shard, at[0])
	return h.Sum64() | 1
}

// Search implements index.Searcher over the live generation.
func (t *Tier) Search(ctx context.Context, req *index.Request) (*index.Result, error) {
	v := t.view.Load()
	if v == nil {
		return nil, ErrNoGeneration
	}
	return v.fan.Search(ctx, req)
}

// Get returns the record of id from a replica of its shard.
func (t *Tier) Get(ctx context.Context, id string) (json.RawMessage, error) {
	v := t.view.Load()
	if v == nil {
		return nil, ErrNoGeneration
	}
	raws, err := v.sets[index.ShardOf(id, v.gen.Shards)].Fetch(ctx, []string{id})
	switch {
	case err == nil:
	case errors.Is(err, index.ErrBadRequest), ctx.Err() != nil:
		return nil, err
	default:
		// No replica of the id's shard could answer: unavailable, not
		// the server's fault to report as a 500.
		return nil, fmt.Errorf("%w: %w", index.ErrAllShardsFailed, err)
	}
	if len(raws) == 0 || raws[0] == nil {
		return nil, fmt.Errorf("%w: %q", index.ErrNotFound, id)
	}
	return raws[0], nil
}

// Version names the content the tier serves: the live generation and,
// per shard, the applied offset of every replica a search may reach. It
// changes when any of them applies a write or the generation switches,
// so a result cache keyed by it never serves a result of other contents.
func (t *Tier) Version() string {
	v := t.view.Load()
	if v == nil {
		return ""
	}
	if vs := v.version.Load(); vs != nil {
		return *vs
	}
	return ""
}

// Ready reports whether every shard of the live generation has a healthy,
// caught-up replica.
func (t *Tier) Ready(context.Context) error {
	v := t.view.Load()
	if v == nil {
		return ErrNoGeneration
	}
	var missing []string
	for i := range v.servable {
		if !v.servable[i].Load() {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no healthy, caught-up replica of shard %s of generation %d", strings.Join(missing, ", "), v.gen.ID)
	}
	return nil
}

// Generation returns the generation searches run on now.
func (t *Tier) Generation() (Generation, bool) {
	v := t.view.Load()
	if v == nil {
		return Generation{}, false
	}
	return v.gen, true
}

// ServerStatus is what the tier knows of one shard server.
type ServerStatus struct {
	URL      string               `json:"url"`
	Healthy  bool                 `json:"healthy"`
	Error    string               `json:"error,omitempty"`
	Replicas []remote.ReplicaInfo `json:"replicas"`
	// Batches counts the shard calls that went to it several in one
	// request.
	Batches remote.BatchStats `json:"batches"`
}

// Servers returns the shard servers' state, for metrics and /v1/stats.
func (t *Tier) Servers() []ServerStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ServerStatus, 0, len(t.servers))
	for base, st := range t.servers {
		s := ServerStatus{URL: base, Healthy: st.healthy, Replicas: st.info.Replicas, Batches: st.remote.BatchStats()}
		if st.err != nil {
			s.Error = st.err.Error()
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ServerStatus) int { return strings.Compare(a.URL, b.URL) })
	return out
}

// FanoutStats counts how the live generation's searches got their term
// statistics (kept ones, or a phase-1 round).
func (t *Tier) FanoutStats() index.FanoutStats {
	v := t.view.Load()
	if v == nil {
		return index.FanoutStats{}
	}
	return v.fan.Stats()
}

// Sets returns the replica sets of the live generation's shards, for
// metrics.
func (t *Tier) Sets() []*replica.Set {
	v := t.view.Load()
	if v == nil {
		return nil
	}
	return v.sets
}

// String implements index.Searcher.
func (t *Tier) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("query tier over %d shard servers", len(t.servers))
}

// Close implements index.Searcher.
func (t *Tier) Close() error { return nil }
