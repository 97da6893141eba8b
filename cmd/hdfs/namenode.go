package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when AVATARFS_PPROF names an address
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/namenode"
	"github.com/avatarfs/avatarfs/namenode/editlog"
	"github.com/sirupsen/logrus"
)

var stdin io.Reader = os.Stdin

func newLogger(stderr io.Writer, role string) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(stderr)
	l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02 15:04:05,000"})
	if lvl, err := logrus.ParseLevel(os.Getenv("AVATARFS_LOG_LEVEL")); err == nil {
		l.SetLevel(lvl)
	}
	return l.WithField("role", role)
}

func runNameNode(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int {
	var format, force, nonInteractive, recover bool
	clusterID := ""
	for i := 0; i < len(args); i++ {
		switch strings.ToLower(args[i]) {
		case "-format":
			format = true
		case "-force":
			force = true
		case "-noninteractive":
			nonInteractive = true
		case "-recover":
			recover = true
		case "-clusterid":
			if i+1 >= len(args) {
				fmt.Fprintln(stderr, "-clusterid requires an argument")
				return 255
			}
			i++
			clusterID = args[i]
		default:
			fmt.Fprintf(stderr, "Unknown option: %s\nUsage: hdfs namenode [-format [-clusterid cid] [-force] [-nonInteractive]] | [-recover [-force]]\n", args[i])
			return 255
		}
	}
	c, err := g.Load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := newLogger(stderr, "namenode")
	if format {
		return formatNameNode(c, clusterID, force, nonInteractive, stdout, stderr)
	}
	opts := namenode.Options{Conf: c, Logger: log}
	if recover {
		opts.OnCorruption = recoveryPrompt(force, stdout)
	}
	nn, err := namenode.New(opts)
	if err != nil {
		log.WithError(err).Error("NameNode failed to start")
		fmt.Fprintf(stderr, "namenode: %v\n", err)
		return 1
	}
	if recover {
		defer nn.Close()
		if err := nn.Checkpoint("recovery"); err != nil {
			fmt.Fprintf(stderr, "namenode -recover: saving the recovered namespace: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "Recovery complete: the namespace was saved to a new fsimage.")
		return 0
	}
	addr, err := rpcAddress(c)
	if err != nil {
		nn.Close()
		fmt.Fprintf(stderr, "namenode: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		nn.Close()
		fmt.Fprintf(stderr, "namenode: cannot listen on %s: %v\n", addr, err)
		return 1
	}
	if addr := os.Getenv("AVATARFS_PPROF"); addr != "" {
		if strings.HasPrefix(addr, ":") {
			addr = ln.Addr().(*net.TCPAddr).IP.String() + addr // beside the DataNodes' own
		}
		go func() { log.WithError(http.ListenAndServe(addr, nil)).Warn("pprof server stopped") }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		log.WithField("signal", s.String()).Info("shutting down")
		nn.Close()
	}()
	if err := nn.Serve(ln); err != nil {
		log.WithError(err).Info("RPC server stopped")
	}
	nn.Close()
	return 0
}

// rpcAddress is where the NameNode listens: dfs.namenode.rpc-bind-host
// with the port of dfs.namenode.rpc-address or fs.defaultFS.
func rpcAddress(c *conf.Config) (string, error) {
	addr, ok := c.Get("dfs.namenode.rpc-address")
	if !ok || addr == "" {
		addrs, err := c.NameNodeRPCAddresses()
		if err != nil {
			return "", err
		}
		addr = addrs[0]
	}
	addr = conf.WithDefaultPort(addr, conf.DefaultNameNodePort)
	if bind, ok := c.Get("dfs.namenode.rpc-bind-host"); ok && bind != "" {
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(bind, port)
	}
	return addr, nil
}

func formatNameNode(c *conf.Config, clusterID string, force, nonInteractive bool, stdout, stderr io.Writer) int {
	st, err := namenode.StorageFromConf(c, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if st.IsFormatted() && !force {
		dirs := strings.Join(st.NameDirs, ",")
		if nonInteractive {
			fmt.Fprintf(stderr, "Running in non-interactive mode, and data appears to exist in Storage Directory root= %s. Not formatting.\n", dirs)
			return 1
		}
		fmt.Fprintf(stdout, "Re-format filesystem in Storage Directory root= %s ? (Y or N) ", dirs)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.TrimSpace(line); a != "Y" && a != "y" {
			fmt.Fprintln(stderr, "Format aborted")
			return 1
		}
	}
	info, err := namenode.Format(c, nil, clusterID, true)
	if err != nil {
		fmt.Fprintf(stderr, "namenode -format: %v\n", err)
		return 1
	}
	for _, d := range st.NameDirs {
		fmt.Fprintf(stdout, "Storage directory %s has been successfully formatted.\n", d)
	}
	fmt.Fprintf(stdout, "clusterID=%s namespaceID=%d blockpoolID=%s\n", info.ClusterID, info.NamespaceID, info.BlockPoolID)
	return 0
}

// recoveryPrompt asks the operator about each corrupt edit, as Hadoop's
// recovery mode does; with -force it always takes the first choice
// (continue, skipping the bad record).
func recoveryPrompt(force bool, stdout io.Writer) func(*editlog.CorruptionError) editlog.Action {
	in := bufio.NewReader(stdin)
	always := force
	return func(e *editlog.CorruptionError) editlog.Action {
		fmt.Fprintf(stdout, "Encountered exception on operation at txid %d in %s: %s\n", e.TxID, e.Path, e.Reason)
		if always {
			fmt.Fprintln(stdout, "automatically choosing first option: continue (skip the bad record)")
			return editlog.ActionSkip
		}
		for {
			fmt.Fprint(stdout, "Enter 'c' to continue, skipping the bad section in the log\nEnter 's' to stop reading the edit log here, abandoning any later edits\nEnter 'q' to quit without saving\nEnter 'a' to always select the first choice in the future without prompting. (c/s/q/a)\n")
			line, err := in.ReadString('\n')
			if err != nil && line == "" {
				return editlog.ActionStop
			}
			switch strings.TrimSpace(line) {
			case "c":
				return editlog.ActionSkip
			case "s":
				return editlog.ActionTruncate
			case "q":
				return editlog.ActionStop
			case "a":
				always = true
				return editlog.ActionSkip
			}
		}
	}
}
