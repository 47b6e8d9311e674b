package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
)

// Server is the client side of one shard server: the Clients of its
// shards share it, and the calls of one fan-out phase to several of its
// shards travel as one request.
//
// A fan-out sends the same *index.ShardRequest to every shard of a
// phase, at once. The first call of a request to reach a Server waits
// for the others, yielding the processor a few times (the fan-out's
// other calls are then runnable, and run up to here before it resumes)
// or until every shard of the generation the Server serves has joined;
// then the calls gathered go as one batch, each answered on its own
// (an error of one shard is that shard's alone). A call that comes later
// (a hedge, a retry, a straggler) makes a batch of its own, and a batch
// of one is an ordinary shard call. Everything above the Client stays
// per shard: the replica set picks, retries, hedges and ejects per
// shard, and each call still ends at its own context; the batch's
// request ends when every call in it has, and carries the latest of
// their deadlines.
type Server struct {
	base  string // "http://host:port"
	host  string
	opts  ClientOptions
	conns *conns // nil: the batches go through opts.HTTPClient

	mu     sync.Mutex
	open   map[batchKey]*batch
	shards map[int]int // clients per generation, what a batch may wait for

	batches, batchedCalls atomic.Uint64
	// lingerScore is +1 for each linger that filled its batch and -1 for
	// each that ran out, within ±lingerScoreBound; lingerSkips counts the
	// lingers skipped, for the probes.
	lingerScore atomic.Int32
	lingerSkips atomic.Uint32
}

// NewServer returns the client of the shard server at baseURL
// ("http://host:port").
func NewServer(baseURL string, opts ClientOptions) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	u, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	s := &Server{base: u.String(), host: u.Host, open: map[batchKey]*batch{}, shards: map[int]int{}}
	if opts.HTTPClient == nil && u.Scheme == "http" {
		s.conns = &conns{addr: hostPort(u), host: u.Host}
	}
	opts.setDefaults()
	s.opts = opts
	return s, nil
}

// Shard returns the client of shard of generation gen on the server;
// Close it when it is no longer called.
func (s *Server) Shard(gen, shard int) (*Client, error) {
	if gen < 0 || shard < 0 {
		return nil, fmt.Errorf("remote: generation %d, shard %d: must not be negative", gen, shard)
	}
	c := &Client{
		srv: s, gen: gen, shard: shard,
		base: fmt.Sprintf("%s/internal/v1/generations/%d/shards/%d/", s.base, gen, shard),
		name: fmt.Sprintf("shard %d/%d at %s", gen, shard, s.host),
	}
	c.offset.Store(-1)
	s.mu.Lock()
	s.shards[gen]++
	s.mu.Unlock()
	return c, nil
}

func (s *Server) forget(gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shards[gen]--; s.shards[gen] <= 0 {
		delete(s.shards, gen)
	}
	if len(s.shards) == 0 && s.conns != nil {
		s.conns.closeIdle() // no client left to call the server
	}
}

// BatchStats count the batches a Server sent.
type BatchStats struct {
	Batches uint64 `json:"batches"` // requests that carried more than one shard call
	Calls   uint64 `json:"calls"`   // shard calls they carried
}

// BatchStats returns the Server's counters.
func (s *Server) BatchStats() BatchStats {
	return BatchStats{Batches: s.batches.Load(), Calls: s.batchedCalls.Load()}
}

// The shard calls that travel in batches, as their routes name them.
const (
	callTermStats = "termstats"
	callSearch    = "search"
)

// maxYields bounds how many times the first call of a batch yields the
// processor for the others to join it; past them, it lingers at most
// batchLinger for more (as a Kafka producer's linger.ms does), woken by
// each that joins. On a busy machine the fan-out's other calls may be
// queued behind many runnable goroutines when the yields are spent, and
// a call that misses its batch costs a request of its own on both sides;
// a batch that cannot fill (the other shards' calls went to replicas
// elsewhere) waits no longer than the linger. Where lingering has not
// paid off lately (lingerScore below zero: batches here seldom fill, as
// when a search's calls spread over replicas, or for hedges and retries,
// which come alone), a call goes without it, but for one in
// lingerProbeEvery that finds out whether it pays again.
const (
	maxYields        = 4
	batchLinger      = 200 * time.Microsecond
	lingerScoreBound = 8
	lingerProbeEvery = 16
)

type batchKey struct {
	sr   *index.ShardRequest
	call string
	gen  int
}

// batch is the calls of one request gathered for one server.
type batch struct {
	key    batchKey
	body   []byte // the encoded shard request, alike for all
	calls  []*batchCall
	joined chan struct{} // a call joined (buffered: one wake-up pending at most)
}

// batchCall is one shard's call in a batch and, once done is closed, its
// answer: a 200's body, or the error.
type batchCall struct {
	c    *Client
	ctx  context.Context
	done chan struct{}
	data []byte
	err  error
}

// batched makes call for c with the encoded body of sr, in a batch with
// the calls of sr to the server's other shards that come at the same
// time, and returns the body of its 200.
func (s *Server) batched(ctx context.Context, c *Client, call string, sr *index.ShardRequest, body []byte) ([]byte, error) {
	key := batchKey{sr: sr, call: call, gen: c.gen}
	bc := &batchCall{c: c, ctx: ctx, done: make(chan struct{})}
	s.mu.Lock()
	b, joined := s.open[key]
	if !joined {
		b = &batch{key: key, body: body, joined: make(chan struct{}, 1)}
		s.open[key] = b
	}
	b.calls = append(b.calls, bc)
	s.mu.Unlock()
	if joined {
		select {
		case b.joined <- struct{}{}:
		default:
		}
	}
	if !joined {
		s.gather(ctx, b)
		if len(b.calls) == 1 {
			return c.do(ctx, http.MethodPost, call, body, sr.Request)
		}
		go s.send(b)
	}
	select {
	case <-bc.done:
		return bc.data, bc.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", c, ctx.Err())
	}
}

// gather lets the other calls join b, then closes it to them; ctx is
// the first call's.
func (s *Server) gather(ctx context.Context, b *batch) {
	defer func() {
		s.mu.Lock()
		delete(s.open, b.key)
		s.mu.Unlock()
	}()
	full := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(b.calls) >= s.shards[b.key.gen]
	}
	for range maxYields {
		if full() {
			return
		}
		runtime.Gosched()
	}
	if full() {
		return
	}
	if s.lingerScore.Load() < 0 && s.lingerSkips.Add(1)%lingerProbeEvery != 0 {
		return
	}
	linger := time.NewTimer(batchLinger)
	defer linger.Stop()
	for {
		select {
		case <-b.joined:
			if full() {
				s.scoreLinger(1)
				return
			}
		case <-linger.C:
			s.scoreLinger(-1)
			return
		case <-ctx.Done():
			return
		}
	}
}

// scoreLinger moves lingerScore by d, within its bounds.
func (s *Server) scoreLinger(d int32) {
	for {
		v := s.lingerScore.Load()
		n := min(max(v+d, -lingerScoreBound), lingerScoreBound)
		if n == v || s.lingerScore.CompareAndSwap(v, n) {
			return
		}
	}
}

// send makes b's request and answers each of its calls as its part of
// the answer comes.
func (s *Server) send(b *batch) {
	s.batches.Add(1)
	s.batchedCalls.Add(uint64(len(b.calls)))
	ctx, cancel := batchContext(b.calls)
	defer cancel()
	answered := make([]bool, len(b.calls))
	err := s.post(ctx, b, func(i int, p part) {
		bc := b.calls[i]
		if p.offset >= 0 {
			bc.c.offset.Store(p.offset)
		}
		if p.status == http.StatusOK {
			bc.data = p.body
		} else {
			bc.err = rebuild(p.status, p.body, b.key.sr.Request, bc.c.String())
		}
		answered[i] = true
		close(bc.done)
	})
	for i, bc := range b.calls {
		switch {
		case answered[i]:
			continue
		case bc.ctx.Err() != nil:
			bc.err = fmt.Errorf("%s: %w", bc.c, bc.ctx.Err())
		case err != nil:
			bc.err = fmt.Errorf("%s: %w", bc.c, err)
		default:
			bc.err = fmt.Errorf("%s: no answer in the batch", bc.c)
		}
		close(bc.done)
	}
}

// batchContext is the context of a batch's request: it keeps the values
// of the first call's, carries the latest deadline of all, and ends when
// every call's context has ended.
func batchContext(calls []*batchCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	bounded := true
	for _, bc := range calls {
		dl, ok := bc.ctx.Deadline()
		bounded = bounded && ok
		if ok && dl.After(latest) {
			latest = dl
		}
	}
	base := context.WithoutCancel(calls[0].ctx)
	var ctx context.Context
	var cancel context.CancelFunc
	if bounded {
		ctx, cancel = context.WithDeadline(base, latest)
	} else {
		ctx, cancel = context.WithCancel(base)
	}
	left := atomic.Int64{}
	left.Store(int64(len(calls)))
	stops := make([]func() bool, len(calls))
	for i, bc := range calls {
		stops[i] = context.AfterFunc(bc.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// part is one shard's answer in a batch's response.
type part struct {
	offset int64
	status int
	body   []byte
}

// post sends b and hands each part of the answer to got as it arrives,
// with the index of its call; every index at most once.
func (s *Server) post(ctx context.Context, b *batch, got func(int, part)) error {
	shards := make([]int, len(b.calls))
	for i, bc := range b.calls {
		shards[i] = bc.c.shard
	}
	path := "/internal/v1/generations/" + strconv.Itoa(b.key.gen) + "/batch/" + b.key.call
	body := encodeBatch(shards, b.body)
	if s.conns != nil {
		headers := []string{"Content-Type", index.WireContentType}
		if dl, ok := ctx.Deadline(); ok {
			ms, err := timeoutMillis(dl)
			if err != nil {
				return err
			}
			headers = append(headers, HeaderTimeout, ms)
		}
		if s.opts.APIKey != "" {
			headers = append(headers, "Authorization", "Bearer "+s.opts.APIKey)
		}
		return s.conns.post(ctx, path, headers, body, s.opts.MaxResponseBytes, func(resp *http.Response) error {
			return s.readAnswer(resp, b, got)
		})
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", index.WireContentType)
	if err := setTimeout(ctx, hr); err != nil {
		return err
	}
	if s.opts.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+s.opts.APIKey)
	}
	resp, err := s.opts.HTTPClient.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return s.readAnswer(resp, b, got)
}

// readAnswer reads the answer to b and hands each part to got as it
// arrives; it reads the body to its end.
func (s *Server) readAnswer(resp *http.Response, b *batch, got func(int, part)) error {
	var err error
	if resp.StatusCode != http.StatusOK {
		data, err := readBody(resp.Body, resp.ContentLength, s.opts.MaxResponseBytes)
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		return rebuild(resp.StatusCode, data, b.key.sr.Request, s.host)
	}
	// A body of known length (its parts were all done at once) is read
	// in one go; a chunked one part by part, as each comes.
	var br interface {
		io.Reader
		io.ByteReader
	}
	if resp.ContentLength >= 0 {
		if resp.ContentLength > s.opts.MaxResponseBytes {
			return fmt.Errorf("an answer of more than %d bytes", s.opts.MaxResponseBytes)
		}
		data, err := readBody(resp.Body, resp.ContentLength, s.opts.MaxResponseBytes)
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		br = bytes.NewReader(data)
	} else {
		br = bufio.NewReader(resp.Body)
	}
	left := s.opts.MaxResponseBytes
	seen := make([]bool, len(b.calls))
	for range b.calls {
		var h [4]uint64 // index, offset+1, status, length
		for j := range h {
			if h[j], err = binary.ReadUvarint(br); err != nil {
				return fmt.Errorf("reading the answer: %w", err)
			}
		}
		i, n := h[0], h[3]
		if i >= uint64(len(b.calls)) || seen[i] || h[2] > 999 {
			return fmt.Errorf("%w: a part for call %d of %d", errBatchFormat, i, len(b.calls))
		}
		if n > uint64(left) {
			return fmt.Errorf("an answer of more than %d bytes", s.opts.MaxResponseBytes)
		}
		left -= int64(n)
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		seen[i] = true
		got(int(i), part{offset: int64(h[1]) - 1, status: int(h[2]), body: body})
	}
	// To the end of the body (nothing is left but the chunked
	// encoding's last chunk), so that the connection is reused.
	if _, err := br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the last part", errBatchFormat)
	}
	return nil
}

// A batch travels as: the number of shards, each shard's number (all
// uvarints), then the encoded shard request they share. Its answer is a
// stream of parts, one per shard, in the order they are done: the index
// of the shard in the batch, its applied offset plus one (0 unknown), the
// status (all uvarints) and the length-prefixed body: the wire answer of
// a 200, the JSON error of any other.

func encodeBatch(shards []int, req []byte) []byte {
	b := make([]byte, 0, len(req)+4*len(shards)+8)
	b = binary.AppendUvarint(b, uint64(len(shards)))
	for _, s := range shards {
		b = binary.AppendUvarint(b, uint64(s))
	}
	return append(b, req...)
}

var errBatchFormat = fmt.Errorf("%w: malformed batch", index.ErrWireFormat)

func decodeBatch(data []byte) (shards []int, req []byte, err error) {
	r := &batchReader{b: data}
	n := r.uvarint()
	if n > uint64(len(data)) {
		return nil, nil, errBatchFormat
	}
	shards = make([]int, n)
	seen := make(map[uint64]bool, n)
	for i := range shards {
		v := r.uvarint()
		if v > 1<<30 || seen[v] {
			// A shard named twice is no call the client makes: refused,
			// rather than searched as many times as a batch names it.
			r.err = errBatchFormat
		}
		seen[v] = true
		shards[i] = int(v)
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	return shards, data[r.off:], nil
}

// appendPart appends the part of the batch's call i.
func appendPart(b []byte, i int, p part) []byte {
	b = binary.AppendUvarint(b, uint64(i))
	b = binary.AppendUvarint(b, uint64(p.offset+1))
	b = binary.AppendUvarint(b, uint64(p.status))
	b = binary.AppendUvarint(b, uint64(len(p.body)))
	return append(b, p.body...)
}

// batchReader reads a batch's uvarints; the first error sticks.
type batchReader struct {
	b   []byte
	off int
	err error
}

func (r *batchReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.err = errBatchFormat
		return 0
	}
	r.off += n
	return v
}
