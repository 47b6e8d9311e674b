package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/picdex/picdex/index/generation"
	"github.com/picdex/picdex/indexer"
)

// adminURL checks a --server URL and joins path to it.
func adminURL(server, path string) (string, error) {
	base, err := url.Parse(strings.TrimSuffix(server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return "", fmt.Errorf("--server %q: want an http:// or https:// URL", server)
	}
	return base.JoinPath(path).String(), nil
}

// adminCall makes an admin call of a running serve and decodes its
// answer (status want) into out.
func adminCall(ctx context.Context, server, key, method, path string, body any, want int, out any) error {
	u, err := adminURL(server, path)
	if err != nil {
		return err
	}
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if key != "" {
		hreq.Header.Set("Authorization", "Bearer "+key)
	}
	data, err := doRemote(hreq, want)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// jobPoll is how often picdex reindex --server asks for its job.
const jobPoll = 500 * time.Millisecond

// reindexRemote starts a reindex on the serve at server and follows its
// job to its end, with the progress bar.
func reindexRemote(ctx context.Context, e *env, server, key string, from []string, shards int) int {
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "picdex reindex: %v\n", err)
		return 1
	}
	var job generation.JobStatus
	if err := adminCall(ctx, server, key, http.MethodPost, "/v1/admin/reindex", generation.ReindexRequest{From: from, Shards: shards}, http.StatusAccepted, &job); err != nil {
		return fail(err)
	}
	fmt.Fprintf(e.stderr, "job %s: building generation %d (%d shards) from %s on %s\n", job.ID, job.Generation, job.Shards, job.Source, server)
	bar := newProgressBar(e.stderr, isTerminal(e.stderr))
	shown := 0
	for job.State == generation.JobRunning {
		select {
		case <-ctx.Done():
			bar.clear()
			fmt.Fprintf(e.stderr, "picdex reindex: stopped following job %s, which goes on on the server (GET /v1/admin/jobs/%s)\n", job.ID, job.ID)
			return 1
		case <-time.After(jobPoll):
		}
		if err := adminCall(ctx, server, key, http.MethodGet, "/v1/admin/jobs/"+url.PathEscape(job.ID), nil, http.StatusOK, &job); err != nil {
			bar.clear()
			return fail(err)
		}
		for ; shown < len(job.Errors) && job.State == generation.JobRunning; shown++ {
			bar.println(job.Errors[shown])
		}
		bar.update(indexer.BuildProgress{BytesRead: job.BytesRead, BytesTotal: job.BytesTotal, Records: job.Records,
			Bad: job.Bad, Elapsed: time.Since(job.Started)})
	}
	bar.clear()
	for ; shown < len(job.Errors); shown++ {
		fmt.Fprintln(e.stderr, job.Errors[shown])
	}
	if job.State != generation.JobSucceeded {
		return fail(fmt.Errorf("job %s failed; the live generation is unchanged", job.ID))
	}
	took := time.Duration(0)
	if job.Finished != nil {
		took = job.Finished.Sub(job.Started)
	}
	fmt.Fprintf(e.stdout, "generation %d is live on %s: %d shards, from %d records (%d invalid), %d writes made during the build, in %s\n",
		job.Generation, server, job.Shards, job.Records, job.Bad, job.Writes, took.Round(time.Millisecond))
	return 0
}

// rollbackRemote rolls back the serve at server.
func rollbackRemote(ctx context.Context, e *env, server, key string) int {
	var out struct {
		Live   int `json:"live"`
		Shards int `json:"shards"`
	}
	if err := adminCall(ctx, server, key, http.MethodPost, "/v1/admin/rollback", nil, http.StatusOK, &out); err != nil {
		fmt.Fprintf(e.stderr, "picdex rollback: %v\n", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "generation %d is live again on %s (%d shards)\n", out.Live, server, out.Shards)
	return 0
}
