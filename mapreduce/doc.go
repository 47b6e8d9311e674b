// Package mapreduce is the job model of picdex's batch builds, and
// nothing image-specific: a job's input is a list of splits; a map task
// reads one split and emits key/value pairs; each pair goes to the
// partition its key hashes to (the shuffle); one reduce task per
// partition consumes that partition's pairs.
//
// A Job is a definition; a runner runs it. RunLocal runs every task in
// this process: map tasks on all the CPUs, the reduce tasks beside them,
// bounded channels in between. A reindex on one machine runs its build
// this way.
//
// RunKafka runs the same Job with Kafka in between: the splits are handed
// out through a topic to the members of a consumer group (map tasks in
// this process and, through MapKafka, in others), the shuffle is a topic
// with one partition per reduce task, and each reduce task reads its
// partition from offset zero. A member that dies leaves its split
// uncommitted and another maps it again; every pair carries its split and
// number (PairHeader), so the reduce tasks take each pair once, and a job
// run again under its topic resumes. Its Reduce may also live elsewhere:
// a picdex reindex on a cluster writes the new generation's shard log as
// the shuffle, and the shard servers' replicas reduce it, with the
// Applier of the streaming path (batch is streaming started at offset
// zero).
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
