package index

import (
	"context"
	"errors"
	"slices"
)

// Searches read sort values, filters, facets and ids from per-segment
// columns built on first use, and score with field lengths read once per
// segment. On a freshly opened index of a million records that first use
// is seconds of work, which the first searches would wait for, all of
// them at once. Warming does it before any search needs it, one shard at
// a time, so that a server opened with Options.Warm can say it is not
// ready until its searches are as fast as they will be.

// warmFields are the fields whose columns warming builds: the id, which
// every search reads, and every field searches sort, filter or facet on.
var warmFields = func() []string {
	out := []string{"_id"}
	for f, spec := range schema {
		if spec.options == optFacet {
			out = append(out, f)
		}
	}
	slices.Sort(out[1:])
	return out
}()

// Warm builds the columns, the field lengths and the decoded long
// postings lists of every shard's segments, returning when the columns
// and lengths are built (the postings lists are decoded in the
// background, as on a first search). It stops early when ctx ends.
func (ix *Index) Warm(ctx context.Context) error {
	for _, s := range ix.shards {
		if err := s.warm(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Warmed reports whether the warming that Open started with Options.Warm
// has ended (always true without it).
func (ix *Index) Warmed() bool {
	if ix.warmDone == nil {
		return true
	}
	select {
	case <-ix.warmDone:
		return true
	default:
		return false
	}
}

// startWarm warms the index in the background until done or Close.
func (ix *Index) startWarm() {
	ctx, cancel := context.WithCancel(context.Background())
	ix.stopWarm, ix.warmDone = cancel, make(chan struct{})
	go func() {
		defer close(ix.warmDone)
		if err := ix.Warm(ctx); err != nil && !errors.Is(err, context.Canceled) && ix.fan.opts.Logger != nil {
			ix.fan.opts.Logger.Warn("warming the index", "err", err)
		}
	}()
}

func (s *localShard) warm(ctx context.Context) error {
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	defer snap.Close()
	s.cols.scheduleHot(snap)
	for _, ss := range snap.Segments() {
		for _, f := range warmFields {
			if err := ctx.Err(); err != nil {
				return err
			}
			col, err := s.cols.column(ss.Segment(), f)
			if err != nil {
				return err
			}
			if schema[f].kind == kindGeo {
				col.byLatitude()
			}
		}
	}
	docs, err := snap.DocCount()
	if err != nil {
		return err
	}
	_, err = s.fieldLengths(docs)
	return err
}
