package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/internal/nnbench"
	"github.com/avatarfs/avatarfs/namenode"
	"github.com/spf13/pflag"
)

func runNNBench(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int {
	fl := pflag.NewFlagSet("nnbench", pflag.ContinueOnError)
	fl.SetOutput(stderr)
	threads := fl.Int("threads", 64, "workers, each with one call in flight")
	conns := fl.Int("conns", 0, "client connections shared by the workers (0: one per worker)")
	files := fl.Int("files", 100000, "files per phase")
	perDir := fl.Int("files-per-dir", 100, "files per directory")
	ops := fl.String("ops", strings.Join(nnbench.Ops, ","), "phases to run, in order")
	base := fl.String("base", "/nnbench", "base directory")
	if err := fl.Parse(args); err != nil {
		return 255
	}
	c, err := g.Load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	addrs, err := c.NameNodeRPCAddresses()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cfg := nnbench.Config{Addr: addrs[0], User: callerName(), Protocol: namenode.ClientProtocolName,
		Threads: *threads, Conns: *conns, Files: *files, FilesPerDir: *perDir, Base: *base, Ops: strings.Split(*ops, ",")}
	fmt.Fprintf(stdout, "nnbench: %s, %d workers, %d connections, %d files\n", cfg.Addr, cfg.Threads, max(*conns, 0), cfg.Files)
	_, err = nnbench.Run(context.Background(), cfg, func(r nnbench.Result) { fmt.Fprintln(stdout, r) })
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
