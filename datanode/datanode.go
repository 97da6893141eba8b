// Package datanode is the DataNode: it serves Hadoop's DataTransferProtocol
// (reads, pipelined writes, block checksums, replica transfers) so stock
// HDFS clients read and write unchanged, reports to its NameNodes
// (registration, heartbeats, full and incremental block reports) and obeys
// their commands, and scans its replicas for corruption.
//
// It owns the network side of a replica's life. The bytes on disk, replica
// states and volumes belong to datanode/storage; placement decisions belong
// to the NameNode. A DataNode may report to several NameNodes (the Avatar
// pair): one actor goroutine each, commands obeyed only from the primary.
package datanode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/datanode/storage"
	"github.com/avatarfs/avatarfs/internal/ipc"
	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/avatarfs/avatarfs/internal/wire/dnpb"
	"github.com/sirupsen/logrus"
)

// SoftwareVersion is sent with registrations.
const SoftwareVersion = "avatarfs-0.1.0"

// Options configures a DataNode. Conf is required; everything else has a
// default.
type Options struct {
	// Conf supplies every setting, with Hadoop's key names (see Settings).
	Conf *conf.Config
	// Store is an opened replica store. When nil, New opens one on the
	// volumes of dfs.datanode.data.dir and Close closes it.
	Store *storage.Store
	// FS is the file system the store is opened on (default vfs.Default).
	FS vfs.FS
	// NameNodes overrides the NameNode RPC addresses taken from Conf.
	NameNodes []string
	// Listener, when set, is used instead of listening on
	// dfs.datanode.address; Close closes it.
	Listener net.Listener
	// Logger receives the DataNode's logs (default logrus.StandardLogger()).
	Logger logrus.FieldLogger
}

// Settings are the DataNode's configuration, read once from the Conf.
type Settings struct {
	// XferAddr is dfs.datanode.address, where DataTransferProtocol is served.
	XferAddr string
	// Hostname is dfs.datanode.hostname (advertised host name when set).
	Hostname string
	// InfoPort and IPCPort are the ports of dfs.datanode.http.address and
	// dfs.datanode.ipc.address, advertised to the NameNode (IPCPort is
	// the one bound, once New has bound it).
	InfoPort, IPCPort uint32
	// IPCAddr is dfs.datanode.ipc.address, where InterDatanodeProtocol
	// (block recovery) is served.
	IPCAddr string
	// DataDirs is dfs.datanode.data.dir.
	DataDirs string
	// HeartbeatInterval is dfs.heartbeat.interval.
	HeartbeatInterval time.Duration
	// BlockReportInterval is dfs.blockreport.intervalMsec.
	BlockReportInterval time.Duration
	// MaxTransferThreads is dfs.datanode.max.transfer.threads: connections
	// beyond it are refused with an ERROR reply.
	MaxTransferThreads int
	// SocketTimeout is dfs.client.socket-timeout: how long a read from a
	// peer may block.
	SocketTimeout time.Duration
	// WriteTimeout is dfs.datanode.socket.write.timeout: how long a write to
	// a peer may block.
	WriteTimeout time.Duration
	// ScanPeriod is how often every replica is verified:
	// dfs.datanode.scan.period.seconds when set (an AvatarFS key for tests),
	// else dfs.datanode.scan.period.hours; 0 or less turns the scanner off.
	ScanPeriod time.Duration
	// ScanBytesPerSec is dfs.block.scanner.volume.bytes.per.second.
	ScanBytesPerSec int64
	// DirScanInterval is dfs.datanode.directoryscan.interval (negative: no
	// directory scanner).
	DirScanInterval time.Duration
	// DirScanThreads is dfs.datanode.directoryscan.threads.
	DirScanThreads int
	// DirScanThrottleMsPerSec is
	// dfs.datanode.directoryscan.throttle.limit.ms.per.sec.
	DirScanThrottleMsPerSec int
	// Reserved is dfs.datanode.du.reserved.
	Reserved int64
	// SyncOnClose is dfs.datanode.synconclose.
	SyncOnClose bool
	// FailedVolumesTolerated is dfs.datanode.failed.volumes.tolerated.
	FailedVolumesTolerated int
	// BytesPerChecksum is dfs.bytes-per-checksum.
	BytesPerChecksum int
	// DomainSocketPath is dfs.domain.socket.path ("_PORT" not yet
	// replaced by the transfer port): where short-circuit reads are served.
	DomainSocketPath string
	// ShortCircuit is dfs.client.read.shortcircuit: whether the domain
	// socket hands out replica file descriptors.
	ShortCircuit bool
}

// SettingsFromConf reads the DataNode's settings.
func SettingsFromConf(c *conf.Config) Settings {
	s := Settings{
		XferAddr:                c.String("dfs.datanode.address"),
		Hostname:                c.String("dfs.datanode.hostname"),
		InfoPort:                portOf(c.String("dfs.datanode.http.address")),
		IPCPort:                 portOf(c.String("dfs.datanode.ipc.address")),
		IPCAddr:                 c.String("dfs.datanode.ipc.address"),
		DataDirs:                c.String("dfs.datanode.data.dir"),
		HeartbeatInterval:       c.Duration("dfs.heartbeat.interval"),
		BlockReportInterval:     c.Duration("dfs.blockreport.intervalMsec"),
		MaxTransferThreads:      int(c.Int("dfs.datanode.max.transfer.threads")),
		SocketTimeout:           c.Duration("dfs.client.socket-timeout"),
		WriteTimeout:            c.Duration("dfs.datanode.socket.write.timeout"),
		Reserved:                c.Size("dfs.datanode.du.reserved"),
		FailedVolumesTolerated:  int(c.Int("dfs.datanode.failed.volumes.tolerated")),
		BytesPerChecksum:        int(c.Int("dfs.bytes-per-checksum")),
		SyncOnClose:             c.Bool("dfs.datanode.synconclose"),
		ScanBytesPerSec:         1 << 20,
		DirScanInterval:         c.Duration("dfs.datanode.directoryscan.interval"),
		DirScanThreads:          int(c.Int("dfs.datanode.directoryscan.threads")),
		DirScanThrottleMsPerSec: int(c.Int("dfs.datanode.directoryscan.throttle.limit.ms.per.sec")),
		DomainSocketPath:        c.String("dfs.domain.socket.path"),
		ShortCircuit:            c.Bool("dfs.client.read.shortcircuit"),
	}
	if v, ok := c.Get("dfs.block.scanner.volume.bytes.per.second"); ok && v != "" {
		if n, err := conf.ParseSize(v); err == nil {
			s.ScanBytesPerSec = n
		}
	}
	if v, ok := c.Get("dfs.datanode.scan.period.seconds"); ok && v != "" {
		s.ScanPeriod = c.DurationIn("dfs.datanode.scan.period.seconds", time.Second)
	} else {
		s.ScanPeriod = time.Duration(c.Int("dfs.datanode.scan.period.hours")) * time.Hour
	}
	if s.HeartbeatInterval <= 0 {
		s.HeartbeatInterval = 3 * time.Second
	}
	if s.BlockReportInterval <= 0 {
		s.BlockReportInterval = 6 * time.Hour
	}
	if s.MaxTransferThreads <= 0 {
		s.MaxTransferThreads = 4096
	}
	if s.SocketTimeout <= 0 {
		s.SocketTimeout = 60 * time.Second
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 480 * time.Second
	}
	if s.BytesPerChecksum <= 0 {
		s.BytesPerChecksum = 512
	}
	return s
}

func portOf(addr string) uint32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// DataNode is one DataNode: a transfer server, NameNode actors and a block
// scanner around a replica store.
type DataNode struct {
	set       Settings
	store     *storage.Store
	ownsStore bool
	// opened is the store once New has it, for the store's own callbacks,
	// which may run before New returns.
	opened  atomic.Pointer[storage.Store]
	log     logrus.FieldLogger
	nnAddrs []string
	// streamBufs keeps packet stream buffers between writes.
	streamBufs bufFreeList

	ln       net.Listener
	domainLn *net.UnixListener // dfs.domain.socket.path, nil when not served
	ipcLn    net.Listener      // dfs.datanode.ipc.address
	ipcSrv   *ipc.Server       // InterDatanodeProtocol
	id       *dnpb.DatanodeID  // fixed by New
	actors   []*nnActor
	xceivers atomic.Int32 // active DataTransferProtocol connections and transfers

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	done     chan struct{}
	doneOnce sync.Once

	mu       sync.Mutex
	fatalErr error
	conns    map[net.Conn]struct{}
	writers  map[uint64]*activeWriter // replicas being received, by block id
	// recovering maps a block under recovery to the recovery's id.
	recovering map[uint64]uint64
	cluster    string // cluster id learned from a NameNode
	started    bool
	closed     bool
}

// New binds the transfer address, opens the store (unless one is given)
// and prepares a DataNode; Start brings it up. Close releases what New
// took, started or not.
func New(opts Options) (*DataNode, error) {
	if opts.Conf == nil {
		return nil, errors.New("datanode: Options.Conf is required")
	}
	log := opts.Logger
	if log == nil {
		log = logrus.StandardLogger()
	}
	set := SettingsFromConf(opts.Conf)
	nns := opts.NameNodes
	if len(nns) == 0 {
		addrs, err := opts.Conf.NameNodeRPCAddresses()
		if err != nil {
			return nil, fmt.Errorf("datanode: NameNode addresses: %w", err)
		}
		nns = addrs
	}
	ln := opts.Listener
	if ln == nil {
		l, err := net.Listen("tcp", set.XferAddr)
		if err != nil {
			return nil, fmt.Errorf("datanode: listen on %s (dfs.datanode.address): %w", set.XferAddr, err)
		}
		ln = l
	}
	d := &DataNode{
		set:     set,
		store:   opts.Store,
		log:     log.WithField("dn", ln.Addr().String()),
		nnAddrs: nns,
		ln:      ln,
		conns:   map[net.Conn]struct{}{},
		writers: map[uint64]*activeWriter{},

		recovering: map[uint64]uint64{},
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.done = make(chan struct{})
	for _, addr := range nns {
		d.actors = append(d.actors, newNNActor(d, addr, len(nns) == 1))
	}
	if d.store == nil {
		vols, err := storage.ParseDataDirs(set.DataDirs)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("datanode: dfs.datanode.data.dir: %w", err)
		}
		fsys := opts.FS
		if fsys == nil {
			fsys = vfs.Default
		}
		policy := storage.PolicyRoundRobin
		if strings.Contains(strings.ToLower(opts.Conf.String("dfs.datanode.fsdataset.volume.choosing.policy")), "availablespace") {
			policy = storage.PolicyAvailableSpace
		}
		st, err := storage.Open(storage.Options{
			FS:                      fsys,
			Volumes:                 vols,
			Reserved:                set.Reserved,
			SyncOnClose:             set.SyncOnClose,
			FailedVolumesTolerated:  set.FailedVolumesTolerated,
			Policy:                  policy,
			BytesPerChecksum:        set.BytesPerChecksum,
			ChecksumType:            opts.Conf.String("dfs.checksum.type"),
			BlockSize:               opts.Conf.Size("dfs.blocksize"),
			Logger:                  log.WithField("component", "storage"),
			OnReplicaLost:           d.replicaLost,
			OnVolumeFailed:          d.volumeFailed,
			DirScanInterval:         set.DirScanInterval,
			DirScanThreads:          set.DirScanThreads,
			DirScanThrottleMsPerSec: set.DirScanThrottleMsPerSec,
		})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("datanode: open storage: %w", err)
		}
		d.store, d.ownsStore = st, true
	}
	d.opened.Store(d.store)
	err := d.listenIPC()
	var id *dnpb.DatanodeID
	if err == nil {
		id, err = d.datanodeID()
	}
	if err == nil {
		err = d.listenDomain()
	}
	if err != nil {
		if d.ipcLn != nil {
			d.ipcLn.Close()
		}
		d.closeStore()
		ln.Close()
		return nil, err
	}
	d.id = id
	return d, nil
}

// Start serves DataTransferProtocol connections and starts the NameNode
// actors and the block scanner. The NameNodes may still be unreachable:
// the actors keep trying.
func (d *DataNode) Start() error {
	d.mu.Lock()
	if d.started || d.closed {
		d.mu.Unlock()
		return errors.New("datanode: already started or closed")
	}
	d.started = true
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.serve(d.ln)
	}()
	if d.domainLn != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.serve(d.domainLn)
		}()
	}
	go d.ipcSrv.Serve(d.ipcLn) // returns when Close closes the server
	for _, a := range d.actors {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			a.run()
		}()
	}
	if d.set.ScanPeriod > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.runScanner()
		}()
	}
	d.log.WithFields(logrus.Fields{"uuid": d.id.GetUuid(), "ip": d.id.GetIp(), "namenodes": d.nnAddrs}).Info("DataNode started")
	return nil
}

// Close stops the DataNode: no new connections, transfers in flight are
// cut, the actors stop. It closes the store when New opened it.
func (d *DataNode) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		<-d.done // a Close in progress (the DataNode's own, say)
		return nil
	}
	d.closed = true
	conns := make([]net.Conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	d.cancel()
	if d.ln != nil {
		d.ln.Close()
	}
	if d.domainLn != nil {
		d.domainLn.Close() // and removes the socket file
	}
	if d.ipcSrv != nil {
		d.ipcSrv.Close()
	}
	if d.ipcLn != nil {
		d.ipcLn.Close() // New's, when Start never served it
	}
	for _, c := range conns {
		c.Close()
	}
	for _, a := range d.actors {
		a.close()
	}
	d.wg.Wait()
	err := d.closeStore()
	d.doneOnce.Do(func() { close(d.done) })
	return err
}

func (d *DataNode) closeStore() error {
	if !d.ownsStore {
		return nil
	}
	if err := d.store.Close(); err != nil {
		return fmt.Errorf("datanode: close storage: %w", err)
	}
	return nil
}

// Done is closed when the DataNode has stopped: after Close, or when it
// shut itself down (too many failed volumes; see Err).
func (d *DataNode) Done() <-chan struct{} { return d.done }

// Err is why the DataNode shut itself down, nil otherwise.
func (d *DataNode) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fatalErr
}

// fatal shuts the DataNode down on its own, as Hadoop's does when more
// volumes failed than tolerated.
func (d *DataNode) fatal(err error) {
	d.mu.Lock()
	if d.fatalErr == nil {
		d.fatalErr = err
	}
	d.mu.Unlock()
	d.log.WithError(err).Error("DataNode shutting down")
	go d.Close()
}

// replicaLost is told by the store about replicas whose files vanished.
func (d *DataNode) replicaLost(r storage.Replica, err error) {
	d.log.WithFields(logrus.Fields{"block": r.BlockID, "gs": r.GenStamp}).WithError(err).Warn("replica lost")
	d.notifyReplica(r, dnpb.ReceivedDeleted_DELETED, "")
}

// volumeFailed is told by the store about a volume taken out of service:
// the NameNodes hear of it at once (storage report and a full block
// report), and the DataNode stops when the store is no longer healthy.
func (d *DataNode) volumeFailed(v storage.VolumeInfo) {
	d.log.WithFields(logrus.Fields{"volume": v.Path, "storage": v.StorageID, "cause": v.FailureCause}).Error("volume failed")
	for _, a := range d.actors {
		a.reportSoon()
	}
	st := d.opened.Load()
	if st == nil {
		return // still opening: Open itself fails when too many volumes did
	}
	if err := st.Healthy(); err != nil {
		d.fatal(fmt.Errorf("too many failed volumes: %w", err))
	}
}

// XferAddr is the address DataTransferProtocol is served on.
func (d *DataNode) XferAddr() string { return d.ln.Addr().String() }

// ID returns the DataNode's identity as sent to the NameNodes.
func (d *DataNode) ID() *dnpb.DatanodeID { return d.id }

// Store returns the replica store.
func (d *DataNode) Store() *storage.Store { return d.store }

// Settings returns the settings in force.
func (d *DataNode) Settings() Settings { return d.set }

// XceiverCount is the number of active transfers, as sent in heartbeats.
func (d *DataNode) XceiverCount() int { return int(d.xceivers.Load()) }

// datanodeID builds the identity sent to the NameNodes: the uuid kept by
// the store, the advertised IP (the listen host unless it is a wildcard,
// else the first non-loopback address) and host name, and the ports.
func (d *DataNode) datanodeID() (*dnpb.DatanodeID, error) {
	host, port, err := net.SplitHostPort(d.ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("datanode: listen address %s: %w", d.ln.Addr(), err)
	}
	xfer, _ := strconv.Atoi(port)
	ip := host
	if a := net.ParseIP(host); a == nil || a.IsUnspecified() {
		ip = ""
		if d.set.Hostname != "" {
			if addrs, err := net.LookupHost(d.set.Hostname); err == nil && len(addrs) > 0 {
				ip = addrs[0]
			}
		}
		if ip == "" {
			ip = firstNonLoopback()
		}
	}
	name := d.set.Hostname
	if name == "" {
		if a := net.ParseIP(host); a != nil && !a.IsUnspecified() {
			name = ip // bound to one address: the name must lead there
		} else if h, err := os.Hostname(); err == nil {
			name = h
		} else {
			name = ip
		}
	}
	return &dnpb.DatanodeID{
		Uuid:     d.store.DatanodeUUID(),
		Ip:       ip,
		HostName: name,
		XferPort: uint32(xfer),
		InfoPort: d.set.InfoPort,
		IpcPort:  d.set.IPCPort,
	}, nil
}

// firstNonLoopback returns the first IPv4 (else IPv6) address of an
// interface that is up and not loopback, or 127.0.0.1.
func firstNonLoopback() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	var v6 string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"
}

// closing reports whether Close has begun.
func (d *DataNode) closing() bool { return d.ctx.Err() != nil }
