// Package replica makes the replicas of one index shard look like one
// index.Shard, for the query tier: a Set sends each call to one replica,
// retries it on another when the first fails, hedges it when it is slow,
// and sets aside (ejects) a replica that keeps failing.
//
// The choices follow "The tail at scale" (Dean and Barroso) and what
// Elasticsearch and Envoy do with it:
//
//   - Selection: among the eligible members (healthy, caught up, not
//     ejected; failing that, healthy ones still catching up; failing that,
//     the ejected one whose ejection ends first) the one with the fewest
//     calls outstanding from this Set, ties broken by the lower recent
//     latency (an EWMA that decays while a member is idle, so a member
//     that was slow once is tried again), then at random.
//   - Retry: a call that fails through no fault of the caller (not an
//     index.ErrBadRequest, not the caller's context ending) is sent once
//     more, to a member not yet tried, while the caller's context lasts.
//   - Hedging: a call still unanswered after the recent HedgeAfterPercentile
//     of this shard's latencies for that kind of call (TermStats,
//     SearchShard and Fetch are timed apart: they differ by an order of
//     magnitude), and after at least HedgeMin, is sent to a second member;
//     the first success is returned and the other attempt is cancelled. No
//     hedge is sent before the window holds minHedgeSamples latencies.
//   - Ejection: FailuresToEject consecutive failures set a member aside
//     for EjectFor, longer each time it is ejected again (EjectFor times
//     the number of ejections in a row, at most maxEjectFactor times). An
//     ejected member is back when its time ends, on probation: one more
//     failure ejects it again, a success clears its record.
//
// Invariants:
//   - Every attempt runs under the caller's context: it stops at the
//     caller's deadline, and no attempt outlives the call by more than the
//     time its member takes to notice the cancellation.
//   - A call makes at most three attempts (the first, one hedge, one retry),
//     each on a different member.
//   - Cancelled attempts and calls whose caller went away count neither as
//     failures nor as latency samples of the shard (the EWMA of a cancelled
//     loser does learn that it was at least that slow).
//   - A panic in a member is recovered and counts as that member's failure.
//
// The phases of one search (term statistics, shard search, fetch) may be
// served by different replicas of a shard. That is sound because replicas
// of a shard that are caught up hold identical contents (they apply the
// same partition of the shard log, with the offsets stored in the shard);
// members that are not caught up are used only when no caught-up member is
// eligible, and then a search may see a slightly older state in one phase.
//
// A Set does not own its members: Close closes nothing, because the
// clients behind the members are made, shared and replaced by the caller
// (a query server re-reading its shard servers' info), which closes them.
package replica
