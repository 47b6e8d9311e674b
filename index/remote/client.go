package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picdex/picdex/index"
)

// ClientOptions configure NewShard and FetchInfo.
type ClientOptions struct {
	// HTTPClient makes the calls (default: one shared client whose
	// transport keeps many idle connections per host, as a fan-out of
	// several calls per search to few servers needs, and for the
	// batches of a Server over http, its own connections: see conns).
	HTTPClient *http.Client
	// APIKey, when set, is sent as a bearer key.
	APIKey string
	// MaxResponseBytes bounds a response body (default 64 MiB: a page of
	// records may be 32 MiB).
	MaxResponseBytes int64
}

// Validate checks the options.
func (o *ClientOptions) Validate() error {
	if o.MaxResponseBytes < 0 {
		return fmt.Errorf("remote: MaxResponseBytes %d is negative", o.MaxResponseBytes)
	}
	if strings.ContainsAny(o.APIKey, "\r\n") {
		return errors.New("remote: the API key contains a line break")
	}
	return nil
}

func (o *ClientOptions) setDefaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = defaultClient()
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = 64 << 20
	}
}

// defaultClient is shared by every Client without one of its own, so that
// they share its connections.
var defaultClient = sync.OnceValue(func() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil, // internal calls never go through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}}
})

// Client is one shard of one generation on a shard server; it implements
// index.Shard. It is safe for concurrent use.
type Client struct {
	srv    *Server
	gen    int
	shard  int
	base   string // .../internal/v1/generations/G/shards/S/
	name   string
	offset atomic.Int64
	closed sync.Once
}

var _ index.Shard = (*Client)(nil)

// NewShard returns the client of shard of generation gen at baseURL (the
// shard server's address, "http://host:port"), on a Server of its own.
func NewShard(baseURL string, gen, shard int, opts ClientOptions) (*Client, error) {
	srv, err := NewServer(baseURL, opts)
	if err != nil {
		return nil, err
	}
	return srv.Shard(gen, shard)
}

func parseBase(baseURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote: %q is not an http(s)://host:port address", baseURL)
	}
	return u, nil
}

// String names the shard and its server, as shard failures report it.
func (c *Client) String() string { return c.name }

// Close tells the Server the shard is no longer called through it, so
// that its batches stop waiting for it. Connections belong to the HTTP
// client.
func (c *Client) Close() error {
	c.closed.Do(func() { c.srv.forget(c.gen) })
	return nil
}

// LastOffset is the applied offset the server reported with its last
// answer (-1 before any).
func (c *Client) LastOffset() int64 { return c.offset.Load() }

// TermStats implements index.Shard (phase 1).
func (c *Client) TermStats(ctx context.Context, sr *index.ShardRequest) (*index.TermStats, error) {
	body, err := index.EncodeShardRequest(sr)
	if err != nil {
		return nil, err
	}
	data, err := c.srv.batched(ctx, c, callTermStats, sr, body)
	if err != nil {
		return nil, err
	}
	st, err := index.DecodeTermStats(data)
	if err := c.decoded(err); err != nil {
		return nil, err
	}
	return st, nil
}

// SearchShard implements index.Shard (phase 2).
func (c *Client) SearchShard(ctx context.Context, sr *index.ShardRequest) (*index.ShardResult, error) {
	body, err := index.EncodeShardRequest(sr)
	if err != nil {
		return nil, err
	}
	data, err := c.srv.batched(ctx, c, callSearch, sr, body)
	if err != nil {
		return nil, err
	}
	res, err := index.DecodeShardResult(data)
	if err := c.decoded(err); err != nil {
		return nil, err
	}
	return res, nil
}

// Fetch implements index.Shard (phase 3).
func (c *Client) Fetch(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	data, err := c.do(ctx, http.MethodPost, "fetch", index.EncodeIDs(ids), nil)
	if err != nil {
		return nil, err
	}
	recs, err := index.DecodeRecords(data)
	if err := c.decoded(err); err != nil {
		return nil, err
	}
	if len(recs) != len(ids) {
		return nil, fmt.Errorf("%s: %d records for %d ids", c, len(recs), len(ids))
	}
	return recs, nil
}

// Get returns the stored record of id, or an error wrapping
// index.ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (json.RawMessage, error) {
	data, err := c.do(ctx, http.MethodGet, "images/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(data), nil
}

// decoded names the shard in a decoding error: the server sent it.
func (c *Client) decoded(err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}

// do makes one call with ctx's remaining time in its header and returns
// the body of a 200, or the error the server answered.
func (c *Client) do(ctx context.Context, method, path string, body []byte, req *index.Request) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", index.WireContentType)
	}
	if err := setTimeout(ctx, hr); err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	data, status, header, err := send(c.srv.opts, hr)
	if off, perr := strconv.ParseInt(header.Get(HeaderOffset), 10, 64); perr == nil {
		c.offset.Store(off)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", c, ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	if status != http.StatusOK {
		return nil, rebuild(status, data, req, c.String())
	}
	return data, nil
}

// setTimeout puts ctx's remaining time in hr's header, or fails when
// none is left.
func setTimeout(ctx context.Context, hr *http.Request) error {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	ms, err := timeoutMillis(dl)
	if err == nil {
		hr.Header.Set(HeaderTimeout, ms)
	}
	return err
}

// timeoutMillis is the time left until dl in HeaderTimeout's form.
func timeoutMillis(dl time.Time) (string, error) {
	left := time.Until(dl)
	if left <= 0 {
		return "", context.DeadlineExceeded
	}
	// Rounded up, so that a call with microseconds left is not sent as
	// one with none.
	return strconv.FormatInt(int64((left+time.Millisecond-1)/time.Millisecond), 10), nil
}

// send runs one request with the client's key and reads at most
// MaxResponseBytes of its answer.
func send(opts ClientOptions, hr *http.Request) ([]byte, int, http.Header, error) {
	if opts.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+opts.APIKey)
	}
	resp, err := opts.HTTPClient.Do(hr)
	if err != nil {
		return nil, 0, http.Header{}, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > opts.MaxResponseBytes {
		return nil, 0, resp.Header, fmt.Errorf("a %d-byte answer, at most %d accepted", resp.ContentLength, opts.MaxResponseBytes)
	}
	data, err := readBody(resp.Body, resp.ContentLength, opts.MaxResponseBytes)
	if err != nil {
		return nil, 0, resp.Header, fmt.Errorf("reading the answer: %w", err)
	}
	if int64(len(data)) > opts.MaxResponseBytes {
		return nil, 0, resp.Header, fmt.Errorf("an answer of more than %d bytes", opts.MaxResponseBytes)
	}
	return data, resp.StatusCode, resp.Header, nil
}

// readBody reads a body of length n (-1 when unknown; net/http ends a
// body of a known length there) of at most limit bytes, plus one to see
// that it is past the limit, into a buffer of its length rather than one
// doubled as it fills.
func readBody(body io.Reader, n, limit int64) ([]byte, error) {
	if n < 0 || n > limit {
		return io.ReadAll(io.LimitReader(body, limit+1))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// FetchInfo asks the shard server at baseURL what it hosts. client nil
// means the shared default client.
func FetchInfo(ctx context.Context, client *http.Client, baseURL, apiKey string) (Info, error) {
	opts := ClientOptions{HTTPClient: client, APIKey: apiKey}
	if err := opts.Validate(); err != nil {
		return Info{}, err
	}
	opts.setDefaults()
	u, err := parseBase(baseURL)
	if err != nil {
		return Info{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+"/internal/v1/info", nil)
	if err != nil {
		return Info{}, err
	}
	data, status, _, err := send(opts, hr)
	if err != nil {
		return Info{}, fmt.Errorf("%s: info: %w", u.Host, err)
	}
	if status != http.StatusOK {
		return Info{}, rebuild(status, data, nil, u.Host)
	}
	var in Info
	if err := json.Unmarshal(data, &in); err != nil {
		return Info{}, fmt.Errorf("%s: info: %w", u.Host, err)
	}
	return in, nil
}
