// Package cluster describes the index generations of a picdex cluster:
// which exist, their shard counts, routing and mapping versions, their
// states, and which one is live.
//
// A generation G has a fixed shard count N and its shard log, the topic
// ShardTopic(G) with exactly N partitions: partition i holds, in order,
// every record routed to shard i (index.ShardOf). Routers write it, shard
// replicas read it.
//
// The description lives in a Store. With Kafka it is the compacted,
// one-partition topic picdex.cluster (Kafka): the last record of each key
// wins, so compaction keeps exactly the state. On one machine it is a
// JSON file in the data directory (File). Both keep the same State.
//
// Bootstrap makes generation 1 live on an empty cluster; any number of
// processes may call it at once: each records a bid, and the first bid
// recorded is the one every caller adopts, so they converge on one shard
// count.
package cluster
