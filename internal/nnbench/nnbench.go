// Package nnbench drives a NameNode over real Hadoop RPC with many client
// connections and reports operations per second, in the manner of
// Hadoop's NNThroughputBenchmark: mkdirs, create, getFileInfo,
// getListing, rename and delete, each phase working on what the previous
// one made.
package nnbench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// Ops is the order in which phases run.
var Ops = []string{"mkdirs", "create", "getFileInfo", "getListing", "rename", "delete"}

// Config sets up a run.
type Config struct {
	Addr        string
	User        string
	Protocol    string
	Threads     int    // workers, each one call at a time
	Conns       int    // client connections the workers share (Hadoop's client multiplexes calls on one connection)
	Files       int    // files (and listings / lookups) per phase, in all
	FilesPerDir int    // files per directory
	Base        string // base directory, e.g. /nnbench
	Ops         []string
}

// Result is one phase's measurement.
type Result struct {
	Op      string
	Ops     int64
	Errors  int64
	Elapsed time.Duration
}

// OpsPerSec is the phase's throughput.
func (r Result) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	return fmt.Sprintf("%-12s %9d ops %6d errors %8.2fs %10.0f ops/s", r.Op, r.Ops, r.Errors, r.Elapsed.Seconds(), r.OpsPerSec())
}

func (c *Config) fill() {
	if c.Threads <= 0 {
		c.Threads = 64
	}
	if c.Conns <= 0 || c.Conns > c.Threads {
		c.Conns = c.Threads
	}
	if c.Files <= 0 {
		c.Files = 100000
	}
	if c.FilesPerDir <= 0 {
		c.FilesPerDir = 100
	}
	if c.Base == "" {
		c.Base = "/nnbench"
	}
	if len(c.Ops) == 0 {
		c.Ops = Ops
	}
}

func (c *Config) dir(i int) string  { return fmt.Sprintf("%s/d%d", c.Base, i/c.FilesPerDir) }
func (c *Config) file(i int) string { return fmt.Sprintf("%s/f%d", c.dir(i), i) }

// Run runs the phases and returns one result per phase.
func Run(ctx context.Context, cfg Config, progress func(Result)) ([]Result, error) {
	cfg.fill()
	conns := make([]*ipc.Client, cfg.Conns)
	for i := range conns {
		cl, err := ipc.Dial(ctx, cfg.Addr, ipc.ClientOptions{User: cfg.User, Protocol: cfg.Protocol})
		if err != nil {
			return nil, fmt.Errorf("nnbench: connect %s: %w", cfg.Addr, err)
		}
		defer cl.Close()
		conns[i] = cl
	}
	clients := make([]*ipc.Client, cfg.Threads)
	for i := range clients {
		clients[i] = conns[i%len(conns)]
	}
	ndirs := (cfg.Files + cfg.FilesPerDir - 1) / cfg.FilesPerDir
	var out []Result
	for _, op := range cfg.Ops {
		var n int
		var fn func(cl *ipc.Client, i int) error
		perm := &pb.FsPermissionProto{Perm: proto.Uint32(0o755)}
		switch op {
		case "mkdirs":
			n = ndirs
			fn = func(cl *ipc.Client, i int) error {
				return cl.Call(ctx, "mkdirs", &pb.MkdirsRequestProto{Src: proto.String(fmt.Sprintf("%s/d%d", cfg.Base, i)), Masked: perm, CreateParent: proto.Bool(true)}, &pb.MkdirsResponseProto{})
			}
		case "create":
			n = cfg.Files
			fn = func(cl *ipc.Client, i int) error {
				return cl.Call(ctx, "create", &pb.CreateRequestProto{Src: proto.String(cfg.file(i)), Masked: &pb.FsPermissionProto{Perm: proto.Uint32(0o644)},
					ClientName: proto.String("nnbench"), CreateFlag: proto.Uint32(1), CreateParent: proto.Bool(true),
					Replication: proto.Uint32(3), BlockSize: proto.Uint64(128 << 20)}, &pb.CreateResponseProto{})
			}
		case "getFileInfo":
			n = cfg.Files
			fn = func(cl *ipc.Client, i int) error {
				resp := &pb.GetFileInfoResponseProto{}
				if err := cl.Call(ctx, "getFileInfo", &pb.GetFileInfoRequestProto{Src: proto.String(cfg.file(i))}, resp); err != nil {
					return err
				}
				if resp.Fs == nil {
					return fmt.Errorf("%s missing", cfg.file(i))
				}
				return nil
			}
		case "getListing":
			n = cfg.Files
			fn = func(cl *ipc.Client, i int) error {
				return cl.Call(ctx, "getListing", &pb.GetListingRequestProto{Src: proto.String(cfg.dir(i)), StartAfter: []byte{}, NeedLocation: proto.Bool(false)}, &pb.GetListingResponseProto{})
			}
		case "rename":
			n = cfg.Files
			fn = func(cl *ipc.Client, i int) error {
				return cl.Call(ctx, "rename", &pb.RenameRequestProto{Src: proto.String(cfg.file(i)), Dst: proto.String(cfg.file(i) + ".r")}, &pb.RenameResponseProto{})
			}
		case "delete":
			n = cfg.Files
			fn = func(cl *ipc.Client, i int) error {
				return cl.Call(ctx, "delete", &pb.DeleteRequestProto{Src: proto.String(cfg.file(i) + ".r"), Recursive: proto.Bool(false)}, &pb.DeleteResponseProto{})
			}
		default:
			return out, fmt.Errorf("nnbench: unknown op %q (know %v)", op, Ops)
		}
		r := runPhase(op, n, clients, fn)
		if progress != nil {
			progress(r)
		}
		out = append(out, r)
	}
	return out, nil
}

func runPhase(op string, n int, clients []*ipc.Client, fn func(*ipc.Client, int) error) Result {
	var next, errs atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for _, cl := range clients {
		wg.Add(1)
		go func(cl *ipc.Client) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(cl, i); err != nil {
					errs.Add(1)
					firstErr.Do(func() { fmt.Printf("nnbench: %s: first error: %v\n", op, err) })
				}
			}
		}(cl)
	}
	wg.Wait()
	return Result{Op: op, Ops: int64(n), Errors: errs.Load(), Elapsed: time.Since(start)}
}
