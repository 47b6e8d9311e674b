// Package mapreduce is the job model of picdex's batch builds, and
// nothing image-specific: a job's input is a list of splits; a map task
// reads one split and emits key/value pairs; each pair goes to the
// partition its key hashes to (the shuffle); one reduce task per
// partition consumes that partition's pairs.
//
// A Job is a definition; a runner runs it. RunLocal runs every task in
// this process: map tasks on all the CPUs, the reduce tasks beside them,
// bounded channels in between. A reindex on one machine runs its build
// this way; across machines the same job model has Kafka for its shuffle
// (a generation's shard log, one partition per reduce task) and the shard
// servers' replicas as its reduce tasks, so a batch build is the
// streaming path started at offset zero.
//
// Invariants:
//   - The shuffle is bounded: a map task whose partition's buffer is full
//     waits in Emit until its reduce task takes pairs (back-pressure), so a
//     skewed or huge shuffle holds at most Buffer pairs per partition
//     plus one pair per map task, whatever the input's size.
//   - Each reduce task gets the pairs of one split in the order its map
//     task emitted them, numbered (Pair.Split, Pair.Seq), so a reducer
//     that needs the source order (the last version of a record wins)
//     can restore it across splits.
//   - A bad input is skipped and counted (Emitter.Bad) up to
//     Job.MaxBadInputs; one more fails the job with the first reasons. A
//     map or reduce task that returns an error fails the job at once.
//   - A job that fails or whose context ends stops every task: Run
//     returns only after every goroutine it started has returned.
//   - HashPartition, the default partitioner, is the jump hash of the
//     key's FNV-1a: the function picdex routes a record to its shard with,
//     so a reindex's partitions are the new generation's shards.
package mapreduce
