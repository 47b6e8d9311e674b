package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// delayProxy stands in front of a shard server and holds back every nth
// shard call (the internal API's generation routes, batches included;
// not info or health) by a delay before passing it on: one replica made
// slow on purpose, as the cluster test and the cluster suite need it. A
// query server given the proxy's address sees it as a shard server of
// its own, hosting the same replicas. The delay can change while it
// runs; 0 passes every call on at once.
type delayProxy struct {
	ln    net.Listener
	srv   *http.Server
	nth   int64
	delay atomic.Int64 // nanoseconds
	calls atomic.Int64
	held  atomic.Int64 // calls held back
}

// startDelayProxy listens on a loopback port and forwards to target
// ("host:port"), holding back every nth shard call by delay.
func startDelayProxy(target string, delay time.Duration, nth int) (*delayProxy, error) {
	if nth < 1 {
		return nil, fmt.Errorf("delay proxy: nth %d: want at least 1", nth)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, nth: int64(nth)}
	p.delay.Store(int64(delay))
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.FlushInterval = -1 // a batch's parts pass as they come
	rp.Transport = &http.Transport{Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	rp.ErrorLog = log.New(io.Discard, "", 0) // the losers of hedges end mid-copy
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Context().Err() == nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/internal/v1/generations/") && p.calls.Add(1)%p.nth == 0 {
			if d := time.Duration(p.delay.Load()); d > 0 {
				p.held.Add(1)
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-r.Context().Done(): // the caller took another replica's answer
					t.Stop()
					return
				}
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *delayProxy) addr() string { return p.ln.Addr().String() }

// setDelay changes the delay of the calls held back from now on.
func (p *delayProxy) setDelay(d time.Duration) { p.delay.Store(int64(d)) }

// heldBack is how many calls the proxy has held back so far.
func (p *delayProxy) heldBack() int64 { return p.held.Load() }

func (p *delayProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if p.srv.Shutdown(ctx) != nil {
		p.srv.Close()
	}
}

// metricSum adds up the values of every series of the Prometheus metric
// name in a /metrics text.
func metricSum(metrics, name string) float64 {
	total := 0.0
	for line := range strings.SplitSeq(metrics, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			total += v
		}
	}
	return total
}
