package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
)

// Headers of the internal API.
const (
	// HeaderOffset carries the replica's applied shard-log offset.
	HeaderOffset = "X-Picdex-Offset"
	// HeaderTimeout carries the caller's remaining time, in milliseconds.
	HeaderTimeout = "X-Picdex-Timeout-Ms"
)

// Info describes a shard server and the replicas it hosts.
type Info struct {
	Node     string        `json:"node"`
	Replicas []ReplicaInfo `json:"replicas"`
}

// ReplicaInfo describes one hosted replica.
type ReplicaInfo struct {
	Generation     int    `json:"generation"`
	Shard          int    `json:"shard"`
	Shards         int    `json:"shards"` // the generation's shard count
	MappingVersion int    `json:"mapping_version"`
	Applied        int64  `json:"applied"`    // next shard-log offset to apply
	HighWater      int64  `json:"high_water"` // the partition's high-water mark
	Lag            int64  `json:"lag"`
	Docs           uint64 `json:"docs"`
	Ready          bool   `json:"ready"` // caught up, warmed and serving
	// Warming is true while the replica's index builds its search caches
	// after opening (not ready then).
	Warming bool `json:"warming,omitempty"`
	// ContactAgeMs is how long ago the broker last told the replica the
	// end of its partition, in milliseconds (-1: never). Applied and Lag
	// are only as current as that.
	ContactAgeMs int64 `json:"contact_age_ms"`
}

// replica finds the replica of gen and shard.
func (in Info) replica(gen, shard int) (ReplicaInfo, bool) {
	for _, r := range in.Replicas {
		if r.Generation == gen && r.Shard == shard {
			return r, true
		}
	}
	return ReplicaInfo{}, false
}

// Applier is what a hosted shard may implement to report its applied
// offset cheaply; without it the handler asks Info.
type Applier interface {
	Applied() int64
}

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Lookup returns the hosted replica of a generation's shard
	// (required).
	Lookup func(gen, shard int) (index.Shard, bool)
	// Info describes the server (nil: no replicas, never ready).
	Info func(ctx context.Context) Info
	// Logger receives faults: panics and errors that are no caller's
	// doing. Nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body (default 16 MiB).
	MaxBodyBytes int64
	// DefaultTimeout bounds a call that names no timeout (default 10s);
	// MaxTimeout bounds every call (default 60s).
	DefaultTimeout, MaxTimeout time.Duration
	// Searches is how many term-statistics and search calls (a batch
	// counts once) run at once; more wait for their turn, first come
	// first served, until their deadline, and are then answered 429
	// overloaded (see index.Turns). 0 means twice the cores; negative, no
	// limit.
	Searches int
	// Waited, when set, counts the calls that waited for their turn,
	// whether they got it or not.
	Waited *atomic.Uint64
}

// Validate checks the options.
func (o *HandlerOptions) Validate() error {
	switch {
	case o.Lookup == nil:
		return errors.New("remote: HandlerOptions.Lookup is required")
	case o.MaxBodyBytes < 0:
		return fmt.Errorf("remote: MaxBodyBytes %d is negative", o.MaxBodyBytes)
	case o.DefaultTimeout < 0 || o.MaxTimeout < 0:
		return errors.New("remote: timeouts must not be negative")
	}
	return nil
}

func (o *HandlerOptions) setDefaults() {
	if o.Info == nil {
		o.Info = func(context.Context) Info { return Info{} }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.MaxTimeout == 0 {
		o.MaxTimeout = 60 * time.Second
	}
	if o.DefaultTimeout == 0 {
		o.DefaultTimeout = 10 * time.Second
	}
	o.DefaultTimeout = min(o.DefaultTimeout, o.MaxTimeout)
}

type handler struct {
	opts  HandlerOptions
	mux   *http.ServeMux
	turns index.Turns
}

// NewHandler returns the internal API over the replicas opts.Lookup
// finds.
func NewHandler(opts HandlerOptions) (http.Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	h := &handler{opts: opts, mux: http.NewServeMux(), turns: index.NewTurns(opts.Searches)}
	const shard = "/internal/v1/generations/{g}/shards/{s}/"
	for name, run := range requestCalls {
		h.mux.HandleFunc("POST "+shard+name, h.shardCall(func(ctx context.Context, c *call) error {
			sr, err := index.DecodeShardRequest(c.body)
			if err != nil {
				return err
			}
			release, err := h.turn(ctx)
			if err != nil {
				return err
			}
			defer release()
			data, err := run(ctx, c.shard, sr)
			if err != nil {
				return err
			}
			writeWire(c.w, data)
			return nil
		}))
	}
	h.mux.HandleFunc("POST /internal/v1/generations/{g}/batch/{call}", h.batch)
	h.mux.HandleFunc("POST "+shard+"fetch", h.shardCall(h.fetch))
	h.mux.HandleFunc("GET "+shard+"images/{id...}", h.shardCall(h.image))
	h.mux.HandleFunc("GET /internal/v1/info", h.info)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /readyz", h.ready)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{Code: "not_found", Message: "no such endpoint"}})
	})
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.opts.Logger.Error("internal shard API handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: "internal", Message: "internal server error"}})
		}
	}()
	h.mux.ServeHTTP(w, r)
}

// call is one shard call: the replica, the request, and where it answers.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	shard index.Shard
	body  []byte // the request body, for POSTs
}

// shardCall is the prologue every shard route shares: find the replica,
// bound the call by the caller's timeout, stamp the offset, read the
// body; then run fn and answer its error.
func (h *handler) shardCall(fn func(ctx context.Context, c *call) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		gen, err1 := strconv.Atoi(r.PathValue("g"))
		sh, err2 := strconv.Atoi(r.PathValue("s"))
		if err1 != nil || err2 != nil {
			h.fail(w, r, fmt.Errorf("%w: generation and shard must be numbers", index.ErrBadRequest))
			return
		}
		s, ok := h.opts.Lookup(gen, sh)
		if !ok {
			h.fail(w, r, fmt.Errorf("%w: generation %d shard %d", ErrUnknownShard, gen, sh))
			return
		}
		timeout, err := h.timeout(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		// Read before the call, so the answer reflects at least it.
		w.Header().Set(HeaderOffset, strconv.FormatInt(h.applied(ctx, s, gen, sh), 10))
		c := &call{w: w, r: r, shard: s}
		if r.Method == http.MethodPost {
			if c.body, ok = h.body(w, r); !ok {
				return
			}
		}
		if err := fn(ctx, c); err != nil {
			h.fail(w, r, err)
		}
	}
}

// body reads a shard call's wire body, or answers why it cannot.
func (h *handler) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != index.WireContentType {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Error: errorDetail{Code: "unsupported_media_type",
			Message: "shard calls take " + index.WireContentType}})
		return nil, false
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), r.ContentLength, h.opts.MaxBodyBytes)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: errorDetail{Code: "payload_too_large",
			Message: fmt.Sprintf("a shard call body is at most %d bytes", tooLarge.Limit)}})
		return nil, false
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("reading the body: %w", context.Canceled))
		return nil, false
	}
	return body, true
}

// requestCalls are the shard calls that take an index.ShardRequest, by
// route: each runs on one shard and encodes its answer.
var requestCalls = map[string]func(context.Context, index.Shard, *index.ShardRequest) ([]byte, error){
	callTermStats: func(ctx context.Context, s index.Shard, sr *index.ShardRequest) ([]byte, error) {
		st, err := s.TermStats(ctx, sr)
		if err != nil {
			return nil, err
		}
		return index.EncodeTermStats(st), nil
	},
	callSearch: func(ctx context.Context, s index.Shard, sr *index.ShardRequest) ([]byte, error) {
		res, err := s.SearchShard(ctx, sr)
		if err != nil {
			return nil, err
		}
		return index.EncodeShardResult(res), nil
	},
}

// turn waits for a search call's turn. It gives up a little before the
// call's deadline (a tenth of the time left, at most turnMargin), so that
// the caller, whose deadline it is, hears 429 overloaded rather than
// timing out, and a call does not start with no time left to run.
func (h *handler) turn(ctx context.Context) (func(), error) {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/10, turnMargin)))
		defer cancel()
	}
	release, waited, err := h.turns.Take(ctx)
	if waited && h.opts.Waited != nil {
		h.opts.Waited.Add(1)
	}
	return release, err
}

// turnMargin is the most a search call gives up waiting for its turn
// before its deadline.
const turnMargin = 50 * time.Millisecond

// maxBatchShards bounds the shards of one batch.
const maxBatchShards = 1024

// batch runs one shard request on several of the server's shards at once
// (see Server) and answers every shard's outcome, each as its own call
// would have.
func (h *handler) batch(w http.ResponseWriter, r *http.Request) {
	gen, err := strconv.Atoi(r.PathValue("g"))
	run, known := requestCalls[r.PathValue("call")]
	switch {
	case err != nil:
		h.fail(w, r, fmt.Errorf("%w: the generation must be a number", index.ErrBadRequest))
		return
	case !known:
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{Code: "not_found", Message: "no such endpoint"}})
		return
	}
	timeout, err := h.timeout(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, ok := h.body(w, r)
	if !ok {
		return
	}
	shards, raw, err := decodeBatch(body)
	if err == nil && len(shards) > maxBatchShards {
		err = fmt.Errorf("at most %d shards in a batch", maxBatchShards)
	}
	var sr *index.ShardRequest
	if err == nil {
		sr, err = index.DecodeShardRequest(raw)
	}
	if err == nil {
		// Validated once for all the shards of the batch; a request in
		// error is left to each shard, which answers it as alone.
		_ = sr.Prepare()
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", index.ErrBadRequest, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	release, err := h.turn(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer release()
	w.Header().Set("Content-Type", index.WireContentType)
	rc := http.NewResponseController(w)
	// The parts answer in turn, as each is done. When they are all done
	// within partFlushDelay of the first, the body goes in one write with
	// its length, which costs both ends far fewer system calls than a
	// chunk per part; past that, what is done is sent (and the body is
	// chunked from then on), so that a slow shard holds up the others'
	// answers no longer than partFlushDelay.
	var (
		mu        sync.Mutex
		out       []byte // parts not yet written to w
		left      = len(shards)
		streaming bool // a part has been sent before the end of the body
		armed     bool // flush is due to run
		done      bool // the handler has returned: w is no longer ours
		flush     *time.Timer
	)
	write := func() {
		if _, err := w.Write(out); err != nil {
			left = -1 // the caller is gone; the parts still running end with ctx
		}
		out = out[:0]
	}
	flushNow := func() {
		mu.Lock()
		defer mu.Unlock()
		armed = false
		if done || left <= 0 || len(out) == 0 {
			return
		}
		streaming = true
		write()
		rc.Flush()
	}
	answer := func(i int, p part) {
		mu.Lock()
		defer mu.Unlock()
		if left < 0 {
			return
		}
		out = appendPart(out, i, p)
		if left--; left == 0 {
			if !streaming {
				w.Header().Set("Content-Length", strconv.Itoa(len(out)))
			}
			write()
			return
		}
		if !armed {
			armed = true
			if flush == nil {
				flush = time.AfterFunc(partFlushDelay, flushNow)
			} else {
				flush.Reset(partFlushDelay)
			}
		}
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		if flush != nil {
			flush.Stop()
		}
	}()
	// The first shard runs here, the others beside it.
	var wg sync.WaitGroup
	for i, sh := range shards[1:] {
		wg.Go(func() { answer(i+1, h.part(ctx, r, gen, sh, sr, run)) })
	}
	if len(shards) > 0 {
		answer(0, h.part(ctx, r, gen, shards[0], sr, run))
	}
	wg.Wait()
}

// partFlushDelay is how long a batch's part that others follow may wait
// in the response's buffer for them, before it is sent alone.
const partFlushDelay = time.Millisecond

// part runs one shard's call of a batch.
func (h *handler) part(ctx context.Context, r *http.Request, gen, shard int, sr *index.ShardRequest,
	run func(context.Context, index.Shard, *index.ShardRequest) ([]byte, error)) (p part) {
	p.offset = -1
	defer func() {
		if v := recover(); v != nil {
			h.opts.Logger.Error("shard call in a batch panicked", "generation", gen, "shard", shard, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			p.status, p.body = http.StatusInternalServerError, internalErrorBody
		}
	}()
	s, ok := h.opts.Lookup(gen, shard)
	if !ok {
		return h.errorPart(r, p, fmt.Errorf("%w: generation %d shard %d", ErrUnknownShard, gen, shard))
	}
	// Read before the call, so the answer reflects at least it.
	p.offset = h.applied(ctx, s, gen, shard)
	data, err := run(ctx, s, sr)
	if err != nil {
		return h.errorPart(r, p, err)
	}
	p.status, p.body = http.StatusOK, data
	return p
}

// errorPart answers err in p as fail would answer it alone.
func (h *handler) errorPart(r *http.Request, p part, err error) part {
	status, d, ok := describe(r, err)
	if !ok {
		h.opts.Logger.Error("shard call failed", "path", r.URL.Path, "err", err)
	}
	p.status = status
	if p.body, err = json.Marshal(errorBody{Error: d}); err != nil {
		p.status, p.body = http.StatusInternalServerError, internalErrorBody
	}
	return p
}

var internalErrorBody = []byte(`{"error":{"code":"internal","message":"internal server error"}}`)

// timeout is the caller's remaining time, at most MaxTimeout.
func (h *handler) timeout(r *http.Request) (time.Duration, error) {
	v := r.Header.Get(HeaderTimeout)
	if v == "" {
		return h.opts.DefaultTimeout, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return 0, fmt.Errorf("%w: %s must be a positive number of milliseconds", index.ErrBadRequest, HeaderTimeout)
	}
	if ms >= h.opts.MaxTimeout.Milliseconds() {
		return h.opts.MaxTimeout, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func (h *handler) applied(ctx context.Context, s index.Shard, gen, shard int) int64 {
	if a, ok := s.(Applier); ok {
		return a.Applied()
	}
	if r, ok := h.opts.Info(ctx).replica(gen, shard); ok {
		return r.Applied
	}
	return -1
}

func (h *handler) fetch(ctx context.Context, c *call) error {
	ids, err := index.DecodeIDs(c.body)
	if err != nil {
		return err
	}
	if len(ids) > index.MaxSize {
		return fmt.Errorf("%w: at most %d ids per fetch", index.ErrBadRequest, index.MaxSize)
	}
	recs, err := c.shard.Fetch(ctx, ids)
	if err != nil {
		return err
	}
	writeWire(c.w, index.EncodeRecords(recs))
	return nil
}

func (h *handler) image(ctx context.Context, c *call) error {
	id := c.r.PathValue("id")
	recs, err := c.shard.Fetch(ctx, []string{id})
	if err != nil {
		return err
	}
	if len(recs) != 1 || recs[0] == nil {
		return fmt.Errorf("%w: %q", index.ErrNotFound, id)
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(recs[0])
	return nil
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) {
	in := h.opts.Info(r.Context())
	if in.Replicas == nil {
		in.Replicas = []ReplicaInfo{}
	}
	writeJSON(w, http.StatusOK, in)
}

// ready is 200 when the server hosts replicas and every one is ready.
func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	in := h.opts.Info(r.Context())
	var waiting []string
	for _, rep := range in.Replicas {
		switch {
		case rep.Warming:
			waiting = append(waiting, fmt.Sprintf("generation %d shard %d (warming its caches)", rep.Generation, rep.Shard))
		case !rep.Ready:
			waiting = append(waiting, fmt.Sprintf("generation %d shard %d (lag %d)", rep.Generation, rep.Shard, rep.Lag))
		}
	}
	switch {
	case len(in.Replicas) == 0:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "reasons": []string{"no replicas hosted"}})
	case len(waiting) > 0:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "reasons": waiting})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, d, ok := describe(r, err)
	if !ok {
		h.opts.Logger.Error("shard call failed", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, errorBody{Error: d})
}

func writeWire(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", index.WireContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, internalErrorBody
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(data)
}
