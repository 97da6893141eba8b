// Package namenode owns the HDFS namespace: the inode tree, leases,
// extended attributes and storage policies, the edit log and fsimage that
// make it durable, checkpoints, safe mode, and the ClientProtocol handlers
// that expose it over Hadoop RPC.
//
// Every namespace change takes one path: a handler validates the request
// under the namespace lock, turns it into an nnpb.Op with every
// nondeterministic value resolved (ids, times), appends it to the edit log,
// and hands it to Namespace.apply. The caller then waits, outside the lock,
// for the log to make the record durable (group commit) before replying.
// Start-up replay and (later) a standby tailing the log call the same apply.
//
// Apply happens before the sync, as in HDFS, so that the next operation is
// validated against the state that includes this one while the fsync of a
// whole group of records runs without the lock. If the sync fails, the
// NameNode enters safe mode and reloads its state from disk, so no change
// that was not made durable survives in memory.
package namenode
