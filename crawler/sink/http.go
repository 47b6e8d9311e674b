package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/picdex/picdex/crawler"
	"github.com/picdex/picdex/index/record"
)

// HTTPOptions configure an HTTP sink. A zero field takes its default.
type HTTPOptions struct {
	URL          string       // base URL of a picdex server; records go to URL/v1/images
	Client       *http.Client // default: 60 s timeout
	BatchRecords int          // records per request (default 500)
	BatchBytes   int          // bytes per request (default 8 MiB; the server takes up to 32)
	MaxRetries   int          // after the first attempt (default 5; negative: none)
	RetryBase    time.Duration
	MaxRetryWait time.Duration
	Tally        *crawler.Tally // records the server rejects are counted here
	UserAgent    string
	APIKey       string // sent as Authorization: Bearer, when set
}

// ErrPermanent is wrapped by errors that retrying cannot fix: the server
// refused the request for what it is (404, 401, 413 of one record, ...).
var ErrPermanent = errors.New("permanent delivery failure")

// StatusError is a refusal by the server.
type StatusError struct {
	Status  int
	Code    string // the API's error code, when it sent one
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap makes 4xx refusals (but 408 and 429) ErrPermanent.
func (e *StatusError) Unwrap() error {
	if e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout {
		return ErrPermanent
	}
	return nil
}

// HTTP posts records as NDJSON batches to a picdex server.
type HTTP struct {
	opts     HTTPOptions
	endpoint string
	batch    []record.Record
	lines    [][]byte
	size     int
	sleep    func(context.Context, time.Duration) error
}

// NewHTTP checks opts and returns a sink.
func NewHTTP(opts HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: want the http(s) URL of a picdex server", opts.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/images"
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if opts.BatchRecords <= 0 {
		opts.BatchRecords = 500
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 8 << 20
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 5
	} else if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 500 * time.Millisecond
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = 30 * time.Second
	}
	if opts.Tally == nil {
		opts.Tally = &crawler.Tally{}
	}
	return &HTTP{opts: opts, endpoint: u.String(), sleep: crawler.Sleep}, nil
}

// Write adds r to the batch, sending it when full.
func (h *HTTP) Write(ctx context.Context, r record.Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", r.URL, err)
	}
	if len(h.batch) > 0 && (len(h.batch) >= h.opts.BatchRecords || h.size+len(line)+1 > h.opts.BatchBytes) {
		if err := h.Flush(ctx); err != nil {
			return err
		}
	}
	h.batch = append(h.batch, r)
	h.lines = append(h.lines, line)
	h.size += len(line) + 1
	return nil
}

// Flush sends the batch. The server takes a batch whole or not at all:
// records it rejects as invalid are counted and dropped and the rest sent
// again; a batch too large for it is split in halves.
func (h *HTTP) Flush(ctx context.Context) error {
	if len(h.lines) == 0 {
		return nil
	}
	err := h.send(ctx, h.batch, h.lines)
	h.batch, h.lines, h.size = h.batch[:0], h.lines[:0], 0
	return err
}

// Close sends what is left.
func (h *HTTP) Close(ctx context.Context) error { return h.Flush(ctx) }

func (h *HTTP) send(ctx context.Context, recs []record.Record, lines [][]byte) error {
	for {
		bad, err := h.post(ctx, lines)
		var se *StatusError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se) && se.Status == http.StatusRequestEntityTooLarge:
			if len(lines) == 1 {
				h.opts.Tally.Skip(recs[0].URL, "rejected by server", err)
				return nil
			}
			half := len(lines) / 2
			if err := h.send(ctx, recs[:half], lines[:half]); err != nil {
				return err
			}
			return h.send(ctx, recs[half:], lines[half:])
		case len(bad) > 0:
			// Drop exactly the records it named, and send the rest.
			drop := map[int]string{}
			for _, b := range bad {
				if b.Index >= 0 && b.Index < len(lines) {
					drop[b.Index] = b.Reason
				}
			}
			if len(drop) == 0 {
				return err
			}
			var keepRecs []record.Record
			var keepLines [][]byte
			for i := range lines {
				if reason, ok := drop[i]; ok {
					h.opts.Tally.Skip(recs[i].URL, "rejected by server", errors.New(reason))
					continue
				}
				keepRecs, keepLines = append(keepRecs, recs[i]), append(keepLines, lines[i])
			}
			if len(keepLines) == 0 {
				return nil
			}
			recs, lines = keepRecs, keepLines
		default:
			return err
		}
	}
}

type recordError struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

type errorBody struct {
	Error struct {
		Code    string        `json:"code"`
		Message string        `json:"message"`
		Records []recordError `json:"records"`
	} `json:"error"`
}

// post sends one NDJSON body, retrying what may succeed later. It returns
// the records a 400 invalid_record answer names.
func (h *HTTP) post(ctx context.Context, lines [][]byte) ([]recordError, error) {
	body := bytes.Join(lines, []byte("\n"))
	for attempt := 0; ; attempt++ {
		wait, bad, err := h.once(ctx, body)
		if err == nil || errors.Is(err, ErrPermanent) || attempt >= h.opts.MaxRetries || ctx.Err() != nil {
			return bad, err
		}
		d := h.opts.RetryBase << attempt
		d += time.Duration(rand.Int64N(int64(d)/4 + 1))
		if wait > 0 {
			d = wait
		}
		if err := h.sleep(ctx, min(d, h.opts.MaxRetryWait)); err != nil {
			return nil, err
		}
	}
}

func (h *HTTP) once(ctx context.Context, body []byte) (retryAfter time.Duration, bad []recordError, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if h.opts.UserAgent != "" {
		req.Header.Set("User-Agent", h.opts.UserAgent)
	}
	if h.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.opts.APIKey)
	}
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return 0, nil, nil
	}
	var eb errorBody
	_ = json.Unmarshal(raw, &eb)
	se := &StatusError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	if se.Message == "" {
		se.Message = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	if resp.StatusCode == http.StatusBadRequest && eb.Error.Code == "invalid_record" {
		return 0, eb.Error.Records, se
	}
	return crawler.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil, se
}
