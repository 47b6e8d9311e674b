package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/picdex/picdex/api/apibench"
	"github.com/picdex/picdex/index/indexbench"
)

// The slow-replica part of the cluster suite (issue 12: "slow one replica
// with an artificial delay → hedging keeps p99 within 2× of normal").
const (
	hedgeTarget   = 2.0                    // slow-replica p99 ÷ normal p99, at most
	hedgeConns    = 4                      // a modest, bounded load
	hedgeNth      = 5                      // every nth shard call of the slow replica is held back
	hedgeDelayX   = 4                      // the delay, in normal p99s
	hedgeDelayMin = 20 * time.Millisecond  // the delay at least
	hedgeDelayMax = time.Second            // and at most
	hedgePhase    = 5 * time.Second        // about how long one phase of a round takes, normal
	hedgeTimeout  = 2 * time.Minute        // the longest a phase may take
	hedgeMinCalls = 25                     // searches per connection and phase, at least
	hedgeSeedStep = 1000                   // the phases' searches, apart from the rounds' above
	hedgeWarmUp   = 3 * time.Second        // through each query server before the phases
	hedgeSettle   = 600 * time.Millisecond // for the query servers' next poll to see a change
)

// hedgeSetup is one way of reaching the shards in the slow-replica part.
type hedgeSetup struct {
	name  string
	qs    *child
	delay bool // the proxy holds calls back
	p50   []float64
	p99   []float64
	fails int
	hedge [2]float64 // hedges sent and won in its phases
}

func (s *hedgeSetup) medians() (p50, p99 time.Duration) {
	return time.Duration(indexbench.Median(s.p50)), time.Duration(indexbench.Median(s.p99))
}

// slowReplica measures searches with one replica of some shards slowed.
// The shards of servers[0] get a second replica without a second copy
// of their data: two query servers (hedging on and off) are given,
// instead of servers[0], two delayProxies in front of it, which they
// take for two shard servers hosting the same replicas, and the other
// servers. So each of those shards has two members, one of which holds
// back every hedgeNth call when the delay is on. The same bounded load
// of the suite's mix at hedgeConns connections runs, a phase each,
// normal (no delay, hedging on), slow and hedged, slow and not hedged,
// and normal not hedged, in rotating order for o.Repeat rounds.
func slowReplica(ctx context.Context, w io.Writer, o clusterBenchOptions, spawn func(string, ...string) (*child, error),
	brokers string, servers []*child, slowShards string, vocab *apibench.Vocabulary) error {
	// Both members of those shards are reached through a proxy, so that
	// which one a call goes to changes nothing but the delay; only the
	// first ever holds calls back.
	var list []string
	var proxies []*delayProxy
	defer func() {
		for _, p := range proxies {
			p.close()
		}
	}()
	for range 2 {
		p, err := startDelayProxy(servers[0].addr, 0, hedgeNth)
		if err != nil {
			return err
		}
		proxies = append(proxies, p)
		list = append(list, p.addr())
	}
	proxy := proxies[0]
	for _, s := range servers[1:] {
		list = append(list, s.addr)
	}
	start := func(name string, flags ...string) (*child, error) {
		args := append([]string{"query-server", "--brokers", brokers, "--partitions", fmt.Sprint(clusterPartitions),
			"--shard-servers", strings.Join(list, ","), "--cache-entries", "0"}, flags...)
		c, err := spawn(name, args...)
		if err == nil {
			err = c.waitReady(ctx, childReady)
		}
		return c, err
	}
	hedged, err := start("query-server-hedged")
	if err != nil {
		return err
	}
	defer hedged.stop(childGrace)
	unhedged, err := start("query-server-unhedged", "--hedge=false")
	if err != nil {
		return err
	}
	defer unhedged.stop(childGrace)
	time.Sleep(hedgeSettle) // a full poll of every server, proxy included

	client := apibench.NewClient(hedgeConns)
	run := func(qs *child, l apibench.Load) (*apibench.Report, error) {
		l.BaseURL, l.Clients, l.Workload = strings.TrimSuffix(qs.url(""), "/"), hedgeConns, vocab.MixedGeo()
		rctx, cancel := context.WithTimeout(ctx, hedgeTimeout)
		defer cancel()
		r, err := l.Run(rctx, client)
		if err == nil && rctx.Err() != nil {
			err = fmt.Errorf("slow replica: a phase through %s took over %s", qs.name, hedgeTimeout)
		}
		return r, err
	}
	// Warm-ups, which also fill the hedged query server's latency
	// windows; the normal rate and p99 set the phases' length and delay.
	warm, err := run(hedged, apibench.Load{Duration: min(hedgeWarmUp, o.Duration), Seed: uint64(o.Seed)})
	if err != nil {
		return err
	}
	if _, err := run(unhedged, apibench.Load{Duration: min(hedgeWarmUp, o.Duration), Seed: uint64(o.Seed)}); err != nil {
		return err
	}
	delay := min(max(hedgeDelayX*warm.All.P99, hedgeDelayMin), hedgeDelayMax)
	phase := min(hedgePhase, o.Duration)
	calls := max(hedgeMinCalls, int(warm.PerSecond()*phase.Seconds())/hedgeConns)

	setups := []*hedgeSetup{{name: "normal", qs: hedged}, {name: "slow, hedged", qs: hedged, delay: true},
		{name: "slow, not hedged", qs: unhedged, delay: true}, {name: "normal, not hedged", qs: unhedged}}
	hedges := func() ([2]float64, error) {
		body, err := getText(hedged.url("/metrics"))
		return [2]float64{metricSum(body, "picdex_query_hedges_total"), metricSum(body, "picdex_query_hedges_won_total")}, err
	}
	fmt.Fprintf(w, "  slow replica: two more query servers (hedging on, off; cache off) reach shards %s through two proxies in front of ss0, the first holding back every %dth shard call by %s (%d× the normal p99 of a warm-up, within %s–%s): two replicas of each; %d connections, the same %d searches each a phase, %d rounds\n",
		slowShards, hedgeNth, msText(delay), hedgeDelayX, msText(hedgeDelayMin), msText(hedgeDelayMax), hedgeConns, calls, o.Repeat)
	for rep := range o.Repeat {
		line := fmt.Sprintf("  slow replica round %d:", rep+1)
		for k := range setups {
			s := setups[(k+rep)%len(setups)]
			d := time.Duration(0)
			if s.delay {
				d = delay
			}
			proxy.setDelay(d)
			before, err := hedges()
			if err != nil {
				return err
			}
			r, err := run(s.qs, apibench.Load{Requests: calls, Seed: uint64(o.Seed) + hedgeSeedStep})
			if err != nil {
				return err
			}
			after, err := hedges()
			if err != nil {
				return err
			}
			if s.qs == hedged {
				s.hedge[0] += after[0] - before[0]
				s.hedge[1] += after[1] - before[1]
			}
			s.p50 = append(s.p50, float64(r.All.P50))
			s.p99 = append(s.p99, float64(r.All.P99))
			s.fails += failures(r)
			line += fmt.Sprintf(" %s p50 %s p99 %s;", s.name, msText(r.All.P50), msText(r.All.P99))
		}
		fmt.Fprintln(w, strings.TrimSuffix(line, ";"))
	}
	proxy.setDelay(0)
	fails := 0
	for _, s := range setups {
		fails += s.fails
		p50, p99 := s.medians()
		fmt.Fprintf(w, "  %-18s median p50 %s, p99 %s; failed %d", s.name, msText(p50), msText(p99), s.fails)
		if s.qs == hedged {
			fmt.Fprintf(w, "; %.0f shard calls hedged, %.0f of them answered first by the hedge", s.hedge[0], s.hedge[1])
		}
		fmt.Fprintln(w)
	}
	_, normal := setups[0].medians()
	_, slow := setups[1].medians()
	_, bare := setups[2].medians()
	_, plain := setups[3].medians()
	ratio := float64(slow) / float64(normal)
	fmt.Fprintf(w, "  slow replica p99 / normal p99: hedged %.2f× (target ≤ %.0f×) %s, not hedged %.2f× (of the normal p99 not hedged); %d calls held back; failed %d (target 0) %s\n",
		ratio, hedgeTarget, indexbench.PassFail(ratio <= hedgeTarget), float64(bare)/float64(plain), proxy.heldBack(), fails, indexbench.PassFail(fails == 0))
	return nil
}
