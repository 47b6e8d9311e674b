package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/picdex/picdex/index"
)

// Generation states.
const (
	StateBuilding = "building" // being built; not searchable as the index yet
	StateReady    = "ready"    // built (or formerly live); can be made live
	StateLive     = "live"     // the one queries use
	StateRetired  = "retired"  // kept for nothing; may be deleted
)

// SourceBootstrap is the Source of the generation Bootstrap creates.
const SourceBootstrap = "bootstrap"

// ErrUnknownGeneration means a generation that the cluster does not
// describe was asked for.
var ErrUnknownGeneration = errors.New("unknown index generation")

// ErrNotBootstrappable means the cluster has generations but none live,
// so Bootstrap will not decide which one should be.
var ErrNotBootstrappable = errors.New("the cluster has index generations but none is live")

// Generation is one build of the index.
type Generation struct {
	ID             int       `json:"id"`
	Shards         int       `json:"shards"`
	MappingVersion int       `json:"mapping_version"`
	State          string    `json:"state"`
	Source         string    `json:"source,omitempty"` // what it was built from
	Created        time.Time `json:"created"`
	// Follow says the routers route the records topic to this
	// generation's shard log: from the start of every partition, or from
	// From[partition] when From is set (a build from files follows what
	// was written from the moment it started). A building generation
	// without Follow is being written by a batch job alone.
	Follow bool          `json:"follow,omitempty"`
	From   map[int]int64 `json:"from,omitempty"`
	// Beat is when the job building this generation last said it was
	// alive; a building generation whose beat is old is a build that died.
	Beat time.Time `json:"beat,omitzero"`
	// Docs are the documents of each shard, and Covers the records
	// topic's offsets (partition -> next offset) the generation had
	// applied, when its build was verified.
	Docs   []uint64      `json:"docs,omitempty"`
	Covers map[int]int64 `json:"covers,omitempty"`
}

// Routed reports whether routers route to g: it is live, ready (a
// rollback target, kept up to date) or a build that follows the stream.
func (g Generation) Routed() bool {
	return g.State == StateLive || g.State == StateReady || (g.State == StateBuilding && g.Follow)
}

// Validate reports a generation that cannot be stored.
func (g Generation) Validate() error {
	switch {
	case g.ID < 1:
		return fmt.Errorf("generation %d: ids start at 1", g.ID)
	case g.Shards < 1 || g.Shards > 1024:
		return fmt.Errorf("generation %d: %d shards, want 1 to 1024", g.ID, g.Shards)
	case g.MappingVersion < 1:
		return fmt.Errorf("generation %d: mapping version %d", g.ID, g.MappingVersion)
	}
	switch g.State {
	case StateBuilding, StateReady, StateLive, StateRetired:
		return nil
	}
	return fmt.Errorf("generation %d: state %q, want building, ready, live or retired", g.ID, g.State)
}

// Server is a shard server as it announces itself, so that query servers
// find it without being told (see Store.Announce).
type Server struct {
	Name    string    `json:"name"` // unique in the cluster: a successor under the same name replaces it
	URL     string    `json:"url"`  // its internal API, "http://host:port"
	Started time.Time `json:"started"`
}

// Validate reports an announcement that cannot be stored or used.
func (s Server) Validate() error {
	if s.Name == "" || len(s.Name) > 256 || strings.ContainsAny(s.Name, "\x00\n") {
		return fmt.Errorf("shard server name %q: want 1 to 256 characters on one line", s.Name)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" ||
		u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("shard server %s: URL %q: want http(s)://host:port", s.Name, s.URL)
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("shard server %s: URL %q: %s is no address to reach it at", s.Name, s.URL, u.Hostname())
	}
	return nil
}

// ShardTopic is the shard log of generation g.
func ShardTopic(g int) string { return "picdex.shards." + strconv.Itoa(g) }

// State is what a Store holds: every generation, which one is live (0:
// none), and the shard servers that announced themselves, by name.
type State struct {
	Live        int                `json:"live"`
	Generations map[int]Generation `json:"generations"`
	Servers     map[string]Server  `json:"servers,omitempty"`
}

// LiveGeneration returns the live generation, if there is one.
func (s State) LiveGeneration() (Generation, bool) {
	g, ok := s.Generations[s.Live]
	return g, ok && s.Live != 0
}

// Equal reports whether two states say the same.
func (s State) Equal(o State) bool {
	return s.Live == o.Live && maps.EqualFunc(s.Generations, o.Generations, func(a, b Generation) bool {
		return a.ID == b.ID && a.Shards == b.Shards && a.MappingVersion == b.MappingVersion &&
			a.State == b.State && a.Source == b.Source && a.Created.Equal(b.Created) &&
			a.Follow == b.Follow && maps.Equal(a.From, b.From) && a.Beat.Equal(b.Beat) &&
			slices.Equal(a.Docs, b.Docs) && maps.Equal(a.Covers, b.Covers)
	}) && maps.EqualFunc(s.Servers, o.Servers, func(a, b Server) bool {
		return a.Name == b.Name && a.URL == b.URL && a.Started.Equal(b.Started)
	})
}

// withLive is s with g made live and the generation live before it, if
// any, ready again (a rollback target).
func (s State) withLive(g int) (State, error) {
	gen, ok := s.Generations[g]
	if !ok {
		return s, fmt.Errorf("%w: %d", ErrUnknownGeneration, g)
	}
	out := State{Live: g, Generations: maps.Clone(s.Generations), Servers: s.Servers}
	if old, ok := out.Generations[s.Live]; ok && s.Live != g {
		old.State = StateReady
		out.Generations[s.Live] = old
	}
	gen.State = StateLive
	out.Generations[g] = gen
	return out, nil
}

// A Store keeps the cluster's State. Kafka and File implement it.
type Store interface {
	// Load returns the state as last written.
	Load(ctx context.Context) (State, error)
	// Put adds or replaces a generation's description.
	Put(ctx context.Context, g Generation) error
	// SetLive makes generation g live, and the one live before it ready.
	SetLive(ctx context.Context, g int) error
	// Claim records bid as a proposal for generation bid.ID and returns
	// the first proposal recorded for it: bid itself, or an earlier one.
	Claim(ctx context.Context, bid Generation) (Generation, error)
	// Announce records a shard server (replacing one of the same name);
	// Withdraw removes it.
	Announce(ctx context.Context, s Server) error
	Withdraw(ctx context.Context, name string) error
}

// Bootstrap makes generation 1, with shards shards and its shard topic
// of exactly that many partitions, live on the Kafka cluster at brokers,
// unless a generation is live already; it returns the live generation.
func Bootstrap(ctx context.Context, brokers []string, shards int) (Generation, error) {
	return BootstrapStore(ctx, NewKafka(brokers), shards, func(ctx context.Context, g Generation) error {
		return EnsureShardTopic(ctx, brokers, g)
	})
}

// BootstrapStore is Bootstrap on any Store: prepare, when set, is called
// with the generation before it is made live (Bootstrap creates its
// shard topic there). Concurrent calls converge on the first bid
// recorded, and a call that died part-way is completed by the next.
func BootstrapStore(ctx context.Context, s Store, shards int, prepare func(context.Context, Generation) error) (Generation, error) {
	st, err := s.Load(ctx)
	if err != nil {
		return Generation{}, err
	}
	if g, ok := st.LiveGeneration(); ok {
		return g, nil
	}
	g, ok := st.Generations[1]
	switch {
	case ok && g.Source != SourceBootstrap:
		return Generation{}, ErrNotBootstrappable
	case !ok && len(st.Generations) > 0:
		return Generation{}, ErrNotBootstrappable
	case !ok:
		bid := Generation{ID: 1, Shards: shards, MappingVersion: index.MappingVersion, State: StateLive,
			Source: SourceBootstrap, Created: time.Now().UTC().Truncate(time.Millisecond)}
		if err := bid.Validate(); err != nil {
			return Generation{}, err
		}
		if g, err = s.Claim(ctx, bid); err != nil {
			return Generation{}, err
		}
	}
	if prepare != nil {
		if err := prepare(ctx, g); err != nil {
			return Generation{}, err
		}
	}
	// Every caller writes the same record (the first bid's), as live:
	// however they interleave, the state never goes back.
	g.State = StateLive
	if err := s.Put(ctx, g); err != nil {
		return Generation{}, err
	}
	if err := s.SetLive(ctx, g.ID); err != nil {
		return Generation{}, err
	}
	return g, nil
}

// Watch loads the state every interval until ctx ends, and calls changed
// with it the first time and whenever it differs from the last one
// reported; a failed load is reported with its error (and the state
// last reported). It returns ctx's error.
func Watch(ctx context.Context, s Store, every time.Duration, changed func(State, error)) error {
	if every <= 0 {
		every = time.Second
	}
	var last State
	seen := false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st, err := s.Load(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			changed(last, err)
		case err == nil && (!seen || !st.Equal(last)):
			last, seen = st, true
			changed(st, nil)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
