package generation

import (
	"errors"
	"time"
)

// JobState is whether a job runs, and how it ended.
type JobState string

// The states of a job.
const (
	JobRunning   JobState = "running"
	JobSucceeded JobState = "succeeded"
	JobFailed    JobState = "failed"
)

// JobStatus is what a reindex job reports (GET /v1/admin/jobs/{id}).
type JobStatus struct {
	ID    string   `json:"id"`
	Kind  string   `json:"kind"`
	State JobState `json:"state"`
	// Phase is where the job is: build (reading the source into the new
	// generation), catchup (applying the writes made meanwhile), verify,
	// merge, warm, switch, done.
	Phase      string `json:"phase"`
	Generation int    `json:"generation"`
	Shards     int    `json:"shards"`
	Source     string `json:"source"`

	Records    uint64  `json:"records"`
	Bad        uint64  `json:"bad"`
	BytesRead  int64   `json:"bytes_read"`
	BytesTotal int64   `json:"bytes_total"`
	Percent    float64 `json:"percent"`
	Rate       float64 `json:"records_per_second"`
	// ETASeconds is the build's time left at its rate so far; absent
	// when it cannot be told yet, or after the build.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	// Writes is how many writes made during the build were recorded for
	// the new generation.
	Writes int64 `json:"writes_during_build"`
	// Errors are the first invalid lines and, for a failed job, why.
	Errors []string `json:"errors,omitempty"`

	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
}

// ReindexRequest is what a reindex job builds: the sources (JSONL files
// and directories on the machine that runs it) and the new generation's
// shards (0: as the live one).
type ReindexRequest struct {
	From   []string `json:"from"`
	Shards int      `json:"shards"`
}

// ErrJobRunning means a reindex is already running on this data
// directory; one runs at a time.
var ErrJobRunning = errors.New("a reindex is already running")
