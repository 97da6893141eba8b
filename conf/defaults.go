package conf

import "time"

// Type is the kind of value a known key holds; it decides how Load
// validates the key and which typed getter reads it.
type Type int

// The value types of known keys.
const (
	TypeString   Type = iota // any text
	TypeInt                  // integer, decimal or 0x hex (Hadoop getLong)
	TypeBool                 // true or false, any case (Hadoop getBoolean)
	TypeFloat                // decimal number (Hadoop getFloat)
	TypeSize                 // bytes, with an optional k/m/g/t/p/e suffix (Hadoop getLongBytes)
	TypeDuration             // time, with an optional ns/us/ms/s/m/h/d suffix (Hadoop getTimeDuration)
)

// String returns the type's name: "string", "int", "bool", "float", "size"
// or "duration".
func (t Type) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeBool:
		return "bool"
	case TypeFloat:
		return "float"
	case TypeSize:
		return "size"
	case TypeDuration:
		return "duration"
	}
	return "unknown"
}

// KeyInfo describes one known key: its Hadoop 3 default (as written in
// core-default.xml / hdfs-default.xml; "" means no default, the key is
// unset), its type and, for durations, the unit of a plain number.
type KeyInfo struct {
	Key          string
	Default      string
	Type         Type
	DurationUnit time.Duration
}

// Table helpers, to keep the table one line per key.
func tStr(k, v string) KeyInfo   { return KeyInfo{Key: k, Default: v, Type: TypeString} }
func tInt(k, v string) KeyInfo   { return KeyInfo{Key: k, Default: v, Type: TypeInt} }
func tBool(k, v string) KeyInfo  { return KeyInfo{Key: k, Default: v, Type: TypeBool} }
func tFloat(k, v string) KeyInfo { return KeyInfo{Key: k, Default: v, Type: TypeFloat} }
func tSize(k, v string) KeyInfo  { return KeyInfo{Key: k, Default: v, Type: TypeSize} }
func tDur(k, v string, unit time.Duration) KeyInfo {
	return KeyInfo{Key: k, Default: v, Type: TypeDuration, DurationUnit: unit}
}

const (
	ms  = time.Millisecond
	sec = time.Second
)

// defaults is the table of known keys. Units of plain numbers follow
// hdfs-default.xml and the key names (.ms, Msec, .millis, .seconds).
var defaults = []KeyInfo{
	// core
	tStr("fs.defaultFS", "file:///"),
	tStr("fs.permissions.umask-mode", "022"),
	tFloat("fs.trash.interval", "0"), // minutes
	tFloat("fs.trash.checkpoint.interval", "0"),
	tStr("hadoop.tmp.dir", "/tmp/hadoop-${user.name}"),
	tStr("hadoop.security.authentication", "simple"),
	tBool("hadoop.security.authorization", "false"),
	tStr("hadoop.rpc.protection", "authentication"),
	tInt("io.file.buffer.size", "4096"),
	tSize("ipc.maximum.data.length", "67108864"),
	tInt("ipc.server.handler.queue.size", "100"),
	tInt("ipc.server.listen.queue.size", "256"),
	tDur("ipc.client.connection.maxidletime", "10000", ms),
	tDur("ipc.client.connect.timeout", "20000", ms),
	tInt("ipc.client.connect.max.retries", "10"),
	tDur("ipc.ping.interval", "60000", ms),
	tStr("net.topology.script.file.name", ""),
	tInt("net.topology.script.number.args", "100"),
	tStr("net.topology.table.file.name", ""),
	tStr("net.topology.node.switch.mapping.impl", "org.apache.hadoop.net.ScriptBasedMapping"),
	tStr("ha.zookeeper.quorum", ""),
	tDur("ha.zookeeper.session-timeout.ms", "10000", ms),
	tStr("ha.zookeeper.parent-znode", "/hadoop-ha"),

	// blocks, replication, checksums
	tInt("dfs.replication", "3"),
	tInt("dfs.replication.max", "512"),
	tInt("dfs.namenode.replication.min", "1"),
	tSize("dfs.blocksize", "134217728"),
	tInt("dfs.bytes-per-checksum", "512"),
	tStr("dfs.checksum.type", "CRC32C"),
	tInt("dfs.client-write-packet-size", "65536"),
	tStr("dfs.block.replicator.classname", "org.apache.hadoop.hdfs.server.blockmanagement.BlockPlacementPolicyDefault"),
	tInt("dfs.block.invalid.limit", "1000"),

	// NameNode addresses and storage
	tStr("dfs.namenode.rpc-address", ""),
	tStr("dfs.namenode.rpc-bind-host", ""),
	tStr("dfs.namenode.servicerpc-address", ""),
	tStr("dfs.namenode.http-address", "0.0.0.0:9870"),
	tStr("dfs.namenode.secondary.http-address", "0.0.0.0:9868"),
	tStr("dfs.namenode.name.dir", "file://${hadoop.tmp.dir}/dfs/name"),
	tStr("dfs.namenode.edits.dir", "${dfs.namenode.name.dir}"),
	tStr("dfs.namenode.checkpoint.dir", "file://${hadoop.tmp.dir}/dfs/namesecondary"),
	tStr("dfs.namenode.checkpoint.edits.dir", "${dfs.namenode.checkpoint.dir}"),
	tStr("dfs.namenode.shared.edits.dir", ""),
	tStr("dfs.hosts", ""),
	tStr("dfs.hosts.exclude", ""),

	// NameNode liveness, safe mode, checkpoints
	tDur("dfs.heartbeat.interval", "3", sec),
	tDur("dfs.namenode.heartbeat.recheck-interval", "300000", ms),
	tDur("dfs.namenode.stale.datanode.interval", "30000", ms),
	tInt("dfs.namenode.stale.datanode.minimum.interval", "3"),
	tBool("dfs.namenode.avoid.read.stale.datanode", "false"),
	tBool("dfs.namenode.avoid.write.stale.datanode", "false"),
	tDur("dfs.blockreport.intervalMsec", "21600000", ms),
	tFloat("dfs.namenode.safemode.threshold-pct", "0.999"),
	tDur("dfs.namenode.safemode.extension", "30000", ms),
	tInt("dfs.namenode.safemode.min.datanodes", "0"),
	tDur("dfs.namenode.checkpoint.period", "3600", sec),
	tInt("dfs.namenode.checkpoint.txns", "1000000"),
	tDur("dfs.namenode.checkpoint.check.period", "60", sec),
	tInt("dfs.namenode.num.checkpoints.retained", "2"),
	tInt("dfs.namenode.num.extra.edits.retained", "1000000"),
	tDur("dfs.namenode.accesstime.precision", "3600000", ms),
	tDur("dfs.namenode.decommission.interval", "30", sec),
	tDur("dfs.namenode.redundancy.interval.seconds", "3", sec),
	tInt("dfs.namenode.replication.max-streams", "2"),
	tInt("dfs.namenode.replication.work.multiplier.per.iteration", "2"),
	tFloat("dfs.namenode.invalidate.work.pct.per.iteration", "0.32"),
	tDur("dfs.namenode.startup.delay.block.deletion.sec", "0", sec),
	tBool("dfs.namenode.datanode.registration.ip-hostname-check", "true"),
	tBool("dfs.namenode.reject-unresolved-dn-topology-mapping", "false"),

	// NameNode namespace limits and features
	tInt("dfs.ls.limit", "1000"),
	tBool("dfs.permissions.enabled", "true"),
	tStr("dfs.permissions.superusergroup", "supergroup"),
	tInt("dfs.namenode.handler.count", "10"),
	tInt("dfs.namenode.fs-limits.max-component-length", "255"),
	tInt("dfs.namenode.fs-limits.max-directory-items", "1048576"),
	tSize("dfs.namenode.fs-limits.min-block-size", "1048576"),
	tInt("dfs.namenode.fs-limits.max-blocks-per-file", "10000"),
	tInt("dfs.namenode.max.objects", "0"),
	tBool("dfs.namenode.xattrs.enabled", "true"),
	tInt("dfs.namenode.fs-limits.max-xattrs-per-inode", "32"),
	tInt("dfs.namenode.fs-limits.max-xattr-size", "16384"),
	tBool("dfs.namenode.enable.retrycache", "true"),
	tDur("dfs.namenode.retrycache.expirytime.millis", "600000", ms),
	tDur("dfs.namenode.lease-recheck-interval-ms", "2000", ms),
	tBool("dfs.storage.policy.enabled", "true"),
	tBool("dfs.namenode.caching.enabled", "true"),
	tDur("dfs.namenode.path.based.cache.refresh.interval.ms", "30000", ms),

	// DataNode
	tStr("dfs.datanode.data.dir", "file://${hadoop.tmp.dir}/dfs/data"),
	tStr("dfs.datanode.data.dir.perm", "700"),
	tStr("dfs.datanode.address", "0.0.0.0:9866"),
	tStr("dfs.datanode.http.address", "0.0.0.0:9864"),
	tStr("dfs.datanode.ipc.address", "0.0.0.0:9867"),
	tStr("dfs.datanode.hostname", ""),
	tInt("dfs.datanode.handler.count", "10"),
	tSize("dfs.datanode.du.reserved", "0"),
	tInt("dfs.datanode.failed.volumes.tolerated", "0"),
	tInt("dfs.datanode.max.transfer.threads", "4096"),
	tInt("dfs.datanode.scan.period.hours", "504"),
	tDur("dfs.datanode.directoryscan.interval", "21600", sec),
	tInt("dfs.datanode.directoryscan.threads", "1"),
	tInt("dfs.datanode.directoryscan.throttle.limit.ms.per.sec", "1000"),
	tSize("dfs.datanode.max.locked.memory", "0"),
	tSize("dfs.datanode.balance.bandwidthPerSec", "100m"),
	tDur("dfs.datanode.socket.write.timeout", "480000", ms),

	// client
	tDur("dfs.client.socket-timeout", "60000", ms),
	tBool("dfs.client.read.shortcircuit", "false"),
	tBool("dfs.client.read.shortcircuit.skip.checksum", "false"),
	tStr("dfs.domain.socket.path", ""),
	tInt("dfs.client.failover.max.attempts", "15"),
	tDur("dfs.client.failover.sleep.base.millis", "500", ms),
	tDur("dfs.client.failover.sleep.max.millis", "15000", ms),

	// HA
	tStr("dfs.nameservices", ""),
	tBool("dfs.ha.automatic-failover.enabled", "false"),
	tStr("dfs.ha.fencing.methods", ""),
	tDur("dfs.ha.tail-edits.period", "60", sec),
	tDur("dfs.ha.log-roll.period", "120", sec),
	tInt("dfs.ha.zkfc.port", "8019"),
}

// byKey indexes defaults.
var byKey = func() map[string]KeyInfo {
	m := make(map[string]KeyInfo, len(defaults))
	for _, d := range defaults {
		m[d.Key] = d
	}
	return m
}()

// Defaults returns a copy of the table of known keys, in table order.
func Defaults() []KeyInfo {
	return append([]KeyInfo(nil), defaults...)
}

// Lookup returns the table entry of a known key (deprecated names accepted).
func Lookup(key string) (KeyInfo, bool) {
	d, ok := byKey[canonicalKey(key)]
	return d, ok
}

// deprecated maps Hadoop 1 / hadoop-20 key names (as AvatarNode-era
// configurations still use them) to their current names.
var deprecated = map[string]string{
	"fs.default.name":                   "fs.defaultFS",
	"dfs.umaskmode":                     "fs.permissions.umask-mode",
	"dfs.block.size":                    "dfs.blocksize",
	"dfs.replication.min":               "dfs.namenode.replication.min",
	"dfs.name.dir":                      "dfs.namenode.name.dir",
	"dfs.name.edits.dir":                "dfs.namenode.edits.dir",
	"fs.checkpoint.dir":                 "dfs.namenode.checkpoint.dir",
	"fs.checkpoint.edits.dir":           "dfs.namenode.checkpoint.edits.dir",
	"fs.checkpoint.period":              "dfs.namenode.checkpoint.period",
	"dfs.data.dir":                      "dfs.datanode.data.dir",
	"dfs.http.address":                  "dfs.namenode.http-address",
	"dfs.secondary.http.address":        "dfs.namenode.secondary.http-address",
	"dfs.permissions":                   "dfs.permissions.enabled",
	"dfs.permissions.supergroup":        "dfs.permissions.superusergroup",
	"dfs.safemode.threshold.pct":        "dfs.namenode.safemode.threshold-pct",
	"dfs.safemode.extension":            "dfs.namenode.safemode.extension",
	"dfs.max.objects":                   "dfs.namenode.max.objects",
	"dfs.access.time.precision":         "dfs.namenode.accesstime.precision",
	"heartbeat.recheck.interval":        "dfs.namenode.heartbeat.recheck-interval",
	"dfs.replication.interval":          "dfs.namenode.redundancy.interval.seconds",
	"dfs.namenode.replication.interval": "dfs.namenode.redundancy.interval.seconds",
	"dfs.datanode.max.xcievers":         "dfs.datanode.max.transfer.threads",
	"dfs.balance.bandwidthPerSec":       "dfs.datanode.balance.bandwidthPerSec",
	"dfs.socket.timeout":                "dfs.client.socket-timeout",
	"dfs.write.packet.size":             "dfs.client-write-packet-size",
	"io.bytes.per.checksum":             "dfs.bytes-per-checksum",
	"topology.script.file.name":         "net.topology.script.file.name",
	"topology.script.number.args":       "net.topology.script.number.args",
	"topology.node.switch.mapping.impl": "net.topology.node.switch.mapping.impl",
}

// canonicalKey maps a deprecated key name to its current name.
func canonicalKey(key string) string {
	if n, ok := deprecated[key]; ok {
		return n
	}
	return key
}

// CanonicalKey returns the current name of key: itself, or the replacement
// of a deprecated Hadoop key (fs.default.name -> fs.defaultFS, ...).
func CanonicalKey(key string) string { return canonicalKey(key) }
