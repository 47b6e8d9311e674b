package apibench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picdex/picdex/index/indexbench"
)

// Call is one request of a workload: a method, a path with its query
// string, and a JSON body or nil.
type Call struct {
	Method, Path string
	Body         []byte
}

// Workload picks the next request of a client.
type Workload func(r *rand.Rand) Call

// Load describes a closed-loop load: Clients connections, each sending
// its next request as soon as the last one is answered, for Duration or
// until each has sent Requests (whichever is set; Requests wins).
type Load struct {
	BaseURL  string
	Clients  int
	Duration time.Duration
	Requests int // per client
	Workload Workload
	// Keys, when set, are API keys the clients use in turn (client i
	// sends Keys[i%len(Keys)]).
	Keys []string
	Seed uint64
}

// Report is what a Load measured.
type Report struct {
	Requests  int
	Elapsed   time.Duration
	ByStatus  map[int]int
	Transport int // requests that got no HTTP answer
	// Admitted are the latencies of answers below 400 (the searches that
	// were served); All of every answer.
	Admitted, All indexbench.Latencies
	// FirstErrors holds a few bodies of 5xx answers, for the report.
	FirstErrors []string
}

// Count5xx is the number of server-fault answers.
func (r *Report) Count5xx() int {
	n := 0
	for s, c := range r.ByStatus {
		if s >= 500 {
			n += c
		}
	}
	return n
}

// PerSecond is the answered request rate.
func (r *Report) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// NewClient returns an HTTP client that keeps up to conns connections to
// one server open.
func NewClient(conns int) *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			IdleConnTimeout: time.Minute,
		},
	}
}

// Run applies the load and reports it.
func (l Load) Run(ctx context.Context, client *http.Client) (*Report, error) {
	if l.Clients < 1 || l.Workload == nil || l.BaseURL == "" || (l.Duration <= 0 && l.Requests <= 0) {
		return nil, fmt.Errorf("apibench: a load needs clients, a workload, a URL and a duration or count")
	}
	if l.Requests <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Duration)
		defer cancel()
	}
	type result struct {
		admitted, all []time.Duration
		status        map[int]int
		transport     int
		errs          []string
	}
	results := make([]result, l.Clients)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range l.Clients {
		wg.Go(func() {
			res := &results[c]
			res.status = map[int]int{}
			rng := rand.New(rand.NewPCG(l.Seed, uint64(c)))
			key := ""
			if len(l.Keys) > 0 {
				key = l.Keys[c%len(l.Keys)]
			}
			for n := 0; l.Requests <= 0 || n < l.Requests; n++ {
				if ctx.Err() != nil {
					return
				}
				call := l.Workload(rng)
				t0 := time.Now()
				status, body, err := do(ctx, client, l.BaseURL, key, call)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // the load ended mid-request
					}
					res.transport++
					continue
				}
				res.status[status]++
				res.all = append(res.all, d)
				if status < 400 {
					res.admitted = append(res.admitted, d)
				}
				if status >= 500 && len(res.errs) < 3 {
					res.errs = append(res.errs, fmt.Sprintf("%d %s %s: %.200s", status, call.Method, call.Path, body))
				}
			}
		})
	}
	wg.Wait()
	rep := &Report{Elapsed: time.Since(start), ByStatus: map[int]int{}}
	var admitted, all []time.Duration
	for _, r := range results {
		admitted = append(admitted, r.admitted...)
		all = append(all, r.all...)
		for s, n := range r.status {
			rep.ByStatus[s] += n
			rep.Requests += n
		}
		rep.Transport += r.transport
		if len(rep.FirstErrors) < 5 {
			rep.FirstErrors = append(rep.FirstErrors, r.errs...)
		}
	}
	rep.Admitted, rep.All = indexbench.Summarize(admitted), indexbench.Summarize(all)
	return rep, nil
}

func do(ctx context.Context, client *http.Client, base, key string, c Call) (int, []byte, error) {
	var body io.Reader
	if c.Body != nil {
		body = strings.NewReader(string(c.Body))
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, base+c.Path, body)
	if err != nil {
		return 0, nil, err
	}
	if c.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// String is a one-line summary.
func (r *Report) String() string {
	codes := make([]int, 0, len(r.ByStatus))
	for s := range r.ByStatus {
		codes = append(codes, s)
	}
	slices.Sort(codes)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d requests in %s (%.0f/s); p50 %s p90 %s p99 %s max %s (admitted: %d, p99 %s); status",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.PerSecond(), ms(r.All.P50), ms(r.All.P90), ms(r.All.P99), ms(r.All.Max),
		r.Admitted.N, ms(r.Admitted.P99))
	for _, s := range codes {
		fmt.Fprintf(&sb, " %d×%d", s, r.ByStatus[s])
	}
	if r.Transport > 0 {
		fmt.Fprintf(&sb, "; %d without an answer", r.Transport)
	}
	return sb.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
