package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/generation"
	"github.com/picdex/picdex/indexer"
	"github.com/picdex/picdex/indexer/cluster"
)

// clusterAdmin is a query server's admin API (api.Admin): a reindex job
// runs the cluster's reindex (as "picdex reindex --brokers") in the query
// server, whatever the client that started it does, and a rollback
// switches picdex.cluster back. A query server that dies leaves its job's
// build to be resumed: the same reindex started again, on any query
// server or from the CLI, picks it up.
type clusterAdmin struct {
	ctx     context.Context // the server's: its stop interrupts a job
	brokers []string
	topic   string
	roots   []string
	apiKey  string // for the shard servers' internal API

	rollbackMu sync.Mutex

	mu      sync.Mutex
	jobs    map[string]*clusterJob
	order   []string // job ids, oldest first
	running *clusterJob
}

// maxClusterJobs is how many jobs' statuses a query server keeps.
const maxClusterJobs = 100

type clusterJob struct {
	mu sync.Mutex
	st generation.JobStatus
}

func (j *clusterJob) status() generation.JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.st
	st.Errors = slices.Clone(st.Errors)
	return st
}

func (j *clusterJob) update(f func(*generation.JobStatus)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.st)
}

// StartReindex implements api.Admin.
func (a *clusterAdmin) StartReindex(ctx context.Context, req generation.ReindexRequest) (generation.JobStatus, error) {
	o := &clusterReindex{brokers: a.brokers, topic: a.topic, from: req.From, shards: req.Shards, replicas: 1,
		maxBad: 1000, keep: keepDefault, wait: 30 * time.Minute, apiKey: a.apiKey}
	if err := a.check(ctx, o); err != nil {
		return generation.JobStatus{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running != nil {
		st := a.running.status()
		return generation.JobStatus{}, fmt.Errorf("%w (job %s, from %s); wait for it to end", generation.ErrJobRunning, st.ID, clip(st.Source, 200))
	}
	b := make([]byte, 6)
	rand.Read(b)
	j := &clusterJob{st: generation.JobStatus{ID: "reindex-" + hex.EncodeToString(b), Kind: "reindex", State: generation.JobRunning,
		Phase: "build", Shards: req.Shards, Source: strings.Join(req.From, ","), Started: time.Now().UTC()}}
	a.jobs[j.st.ID] = j
	a.order = append(a.order, j.st.ID)
	if len(a.order) > maxClusterJobs {
		delete(a.jobs, a.order[0])
		a.order = a.order[1:]
	}
	a.running = j
	start := time.Now()
	o.onPhase = func(p string, g cluster.Generation) {
		j.update(func(s *generation.JobStatus) { s.Phase, s.Generation, s.Shards = p, g.ID, g.Shards })
	}
	o.onProgress = func(p indexer.BuildProgress) {
		j.update(func(s *generation.JobStatus) { indexer.SetProgress(s, p, 0) })
	}
	out := &jobLog{j: j}
	o.stderr = out
	go func() {
		code := o.run(a.ctx, &env{stdout: out, stderr: out, getenv: func(string) string { return "" }})
		now := time.Now().UTC()
		j.update(func(s *generation.JobStatus) {
			s.Finished = &now
			s.ETASeconds = nil
			if code == 0 {
				s.State, s.Phase = generation.JobSucceeded, "done"
			} else {
				s.State = generation.JobFailed
			}
			if s.Rate == 0 && s.Records > 0 {
				s.Rate = float64(s.Records) / time.Since(start).Seconds()
			}
		})
		a.mu.Lock()
		a.running = nil
		a.mu.Unlock()
	}()
	return j.status(), nil
}

// check refuses what a query server must not be asked to reindex from:
// files outside its --reindex-roots, another Kafka cluster, or a build
// while one runs on the cluster.
func (a *clusterAdmin) check(ctx context.Context, o *clusterReindex) error {
	if len(o.from) == 0 {
		return fmt.Errorf("%w: no source", index.ErrBadRequest)
	}
	if o.shards < 0 || o.shards > index.MaxShards {
		return fmt.Errorf("%w: %d shards: want 1 to %d (0: as the live generation)", index.ErrBadRequest, o.shards, index.MaxShards)
	}
	for _, src := range o.from {
		switch {
		case strings.HasPrefix(src, "kafka://"):
			b, t, err := parseKafkaSource(src)
			if err != nil {
				return fmt.Errorf("%w: %w", index.ErrBadRequest, err)
			}
			if len(o.from) > 1 || t != a.topic || !slices.Equal(sortedCopy(b), sortedCopy(a.brokers)) {
				return fmt.Errorf("%w: %s: a kafka:// source is this cluster's records topic, kafka://%s/%s, alone", index.ErrBadRequest,
					src, strings.Join(a.brokers, ","), a.topic)
			}
			o.kafkaSrc = true
		case strings.Contains(src, "://"):
			return fmt.Errorf("%w: %s: a source is a file or a directory on this server, or kafka://BROKERS/TOPIC", index.ErrBadRequest, src)
		default:
			if err := indexer.AllowedSource(a.roots, src); err != nil {
				return err
			}
		}
	}
	if !o.kafkaSrc {
		splits, _, err := indexer.FileSplits(o.from, 0)
		if err != nil {
			return fmt.Errorf("%w: %w", index.ErrBadRequest, err)
		}
		for _, sp := range splits {
			if err := indexer.AllowedSource(a.roots, sp.Path); err != nil {
				return err
			}
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := cluster.Load(lctx, a.brokers)
	if err != nil {
		return fmt.Errorf("%w: reading the cluster's generations: %v", api.ErrUnavailable, err)
	}
	for _, g := range st.Generations {
		if g.State == cluster.StateBuilding && time.Since(g.Beat) < buildAlive {
			return fmt.Errorf("%w: generation %d is being built from %s", generation.ErrJobRunning, g.ID, g.Source)
		}
	}
	return nil
}

// clip is s cut to n bytes at most, marked when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Job implements api.Admin.
func (a *clusterAdmin) Job(id string) (generation.JobStatus, bool) {
	a.mu.Lock()
	j := a.jobs[id]
	a.mu.Unlock()
	if j == nil {
		return generation.JobStatus{}, false
	}
	return j.status(), true
}

// Rollback implements api.Admin. It may be called while a build runs
// (that build makes its generation live once verified, keeping the one
// live then for rollback); rollbacks made at once here take turns.
func (a *clusterAdmin) Rollback(ctx context.Context) (generation.Generation, error) {
	a.rollbackMu.Lock()
	defer a.rollbackMu.Unlock()
	g, _, err := rollBackCluster(ctx, a.brokers)
	if errors.Is(err, errNoRollback) {
		return generation.Generation{}, fmt.Errorf("%w: %w", generation.ErrNoPrevious, err)
	}
	if err != nil {
		return generation.Generation{}, fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return generation.Generation{ID: g.ID, Shards: g.Shards, MappingVersion: g.MappingVersion, Source: g.Source,
		State: generation.Live, Created: g.Created}, nil
}

// jobLog keeps what a job says that matters to its status: its error
// lines ("picdex reindex: ...") and the invalid records it skipped.
type jobLog struct {
	j *clusterJob
}

func (l *jobLog) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimSpace(string(p)), "\n") {
		if msg, ok := strings.CutPrefix(line, "picdex reindex: "); ok || strings.Contains(line, " at byte ") {
			if !ok {
				msg = line
			}
			l.j.update(func(s *generation.JobStatus) {
				if len(s.Errors) < 20 {
					s.Errors = append(s.Errors, msg)
				}
			})
		}
	}
	return len(p), nil
}
