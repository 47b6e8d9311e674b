// Package generation keeps the index generations of one data directory:
// which builds exist, their states and which one is live, and switches
// between them atomically for the searches of a running process.
//
// A generation is a complete index (index.Open's directory) with its own
// shard count and mapping version. A data directory that has never been
// reindexed holds one generation, 1, in the directory itself; each
// reindex builds generation G+1 under generations/G+1 and, once it is
// verified, makes it live. The manifest, picdex-generations.json, says
// all this; it is written whole, to a temporary file renamed over the
// old one, so a crash leaves the old manifest or the new, never a mix.
//
// Invariants:
//   - At most one generation is live; the live one never changes until a
//     build has finished and been verified (Switch refuses any other).
//   - A build that did not finish (its process died) is left "building";
//     the next Begin removes it and starts over.
//   - Rollback makes the previous live generation live again; it is kept
//     (state "ready") until Retain newer ones push it out, and then
//     retired: its directory is deleted and its entry stays, as history.
//   - Current hands each search one generation for its whole run, and a
//     generation that is switched away from is closed only after the
//     searches running on it have returned.
package generation
