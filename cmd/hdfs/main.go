// Command hdfs is the one binary of the file system, with Hadoop's
// subcommands: namenode, dfsadmin, getconf, version, nnbench (and, as they
// land, datanode, dfs, fsck, haadmin). Generic options (-D, -conf, -fs,
// --config) work on every subcommand, daemons included.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/avatarfs/avatarfs/conf"
)

// Version is the release printed by `hdfs version`.
const Version = "0.1.0"

type command struct {
	name  string
	brief string
	run   func(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	commands = []command{
		{"namenode", "run the NameNode (-format [-force] [-nonInteractive] [-clusterid ID] | -recover [-force])", runNameNode},
		{"datanode", "run a DataNode", runDataNode},
		{"dfs", "run a filesystem command (hdfs dfs -help)", runDFS},
		{"dfsadmin", "administer the file system (-safemode, -saveNamespace, -rollEdits)", runDFSAdmin},
		{"fsck", "check block health (<path> [-files [-blocks [-locations | -racks]]])", runFsck},
		{"getconf", "read configuration values (-namenodes, -confKey KEY)", runGetConf},
		{"nnbench", "NameNode throughput benchmark over real RPC", runNNBench},
		{"version", "print the version", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: hdfs [--config confdir] [generic options] COMMAND [command options]")
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, "  Generic options: -D key=value, -conf file, -fs hdfs://host:port")
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, "  COMMAND is one of:")
	for _, c := range commands {
		fmt.Fprintf(w, "    %-10s %s\n", c.name, c.brief)
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line; it returns the process exit code (255 is
// Hadoop's -1 for usage errors).
func run(args []string, stdout, stderr io.Writer) int {
	g, err := conf.ParseGenericOptions(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 255
	}
	if len(g.Rest) == 0 {
		usage(stderr)
		return 255
	}
	name, rest := g.Rest[0], g.Rest[1:]
	if name == "-h" || name == "--help" || name == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			// Generic options may also follow the subcommand.
			g2, err := conf.ParseGenericOptions(rest)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return 255
			}
			merge(&g, g2)
			return c.run(g, g2.Rest, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "Error: Could not find or load main class %s\n", name)
	usage(stderr)
	return 255
}

func merge(g *conf.GenericOptions, more conf.GenericOptions) {
	if more.ConfDir != "" {
		g.ConfDir = more.ConfDir
	}
	g.ConfFiles = append(g.ConfFiles, more.ConfFiles...)
	for k, v := range more.Overrides {
		g.Overrides[k] = v
	}
}

func runVersion(_ conf.GenericOptions, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "AvatarFS %s (Hadoop 3 compatible: ClientProtocol v1, IPC v9)\n", Version)
	return 0
}

func runGetConf(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int {
	c, err := g.Load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "hdfs getconf is utility for getting configuration information from the config file.\n\nhadoop getconf\n\t[-namenodes]\t\t\tgets list of namenodes in the cluster.\n\t[-confKey [key]]\t\t\tgets a specific key from the configuration")
		return 255
	}
	switch args[0] {
	case "-namenodes":
		addrs, err := c.NameNodeRPCAddresses()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		var hosts []string
		for _, a := range addrs {
			h := a
			if i := strings.LastIndex(a, ":"); i > 0 {
				h = a[:i]
			}
			hosts = append(hosts, h)
		}
		fmt.Fprintln(stdout, strings.Join(hosts, " "))
		return 0
	case "-confKey":
		if len(args) < 2 {
			fmt.Fprintln(stderr, "-confKey requires a key")
			return 255
		}
		v, ok := c.Get(args[1])
		if !ok {
			fmt.Fprintf(stderr, "Configuration %s is missing.\n", args[1])
			return 1
		}
		fmt.Fprintln(stdout, v)
		return 0
	}
	fmt.Fprintf(stderr, "getconf: unknown option %s\n", args[0])
	return 255
}
