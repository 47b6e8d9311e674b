// Package tier is a query server's view of a cluster: the live index
// generation and, for each of its shards, the replicas that shard servers
// host. It implements index.Searcher as the unchanged index.Fanout over
// one replica.Set per shard, each over remote shards, so a search in the
// query tier is scored, merged and paged exactly as in one process. The
// remote shards of one shard server share one remote.Server, so that a
// search's calls to that server's shards travel as one request per
// phase, and small pages come with their records in phase 2 (Options'
// Fanout.InlineRecords, DefaultInlineRecords): a search is then one
// round trip per shard server.
//
// The view is rebuilt from the shard servers' info (which replicas each
// hosts, their applied offsets and lag) every PollInterval; polling is
// also the active health check: a shard server that does not answer is
// unhealthy until it does, and replica.Set ejects a replica that fails
// calls in between. When the live generation changes, a new view is
// built and swapped in atomically: each search loads the view once and
// runs wholly on one generation.
package tier
