package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/datanode"
)

// runDataNode runs a DataNode until SIGINT or SIGTERM. Generic options
// apply, so one configuration directory serves several DataNodes on one
// machine: hdfs datanode -D dfs.datanode.address=127.0.0.11:9866
// -D dfs.datanode.data.dir=/data/dn1.
func runDataNode(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "Unknown option: %s\nUsage: hdfs datanode\n", args[0])
		return 255
	}
	c, err := g.Load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := newLogger(stderr, "datanode")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if addr := os.Getenv("AVATARFS_PPROF"); addr != "" {
		if strings.HasPrefix(addr, ":") {
			// ":port": on this DataNode's own address, so that several
			// DataNodes of one machine can all be profiled.
			if v, ok := c.Get("dfs.datanode.address"); ok {
				h, _, _ := net.SplitHostPort(v)
				addr = h + addr
			}
		}
		go http.ListenAndServe(addr, nil) // pprof, for profiling only
	}
	defer signal.Stop(sig)
	// Errors of the datanode package already name it ("datanode: ...").
	dn, err := datanode.New(datanode.Options{Conf: c, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := dn.Start(); err != nil {
		dn.Close()
		fmt.Fprintln(stderr, err)
		return 1
	}
	select {
	case s := <-sig:
		log.WithField("signal", s.String()).Info("shutting down")
	case <-dn.Done():
	}
	if err := dn.Close(); err != nil {
		log.WithError(err).Error("DataNode did not shut down cleanly")
		return 1
	}
	if err := dn.Err(); err != nil {
		fmt.Fprintf(stderr, "datanode: stopped: %v\n", err)
		return 1
	}
	return 0
}
