package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/avatarfs/avatarfs/namenode"
	"google.golang.org/protobuf/proto"
)

// callerName is the user under simple auth: HADOOP_USER_NAME, else the
// OS user.
func callerName() string {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "hdfs"
}

// dialNameNode connects to the first NameNode of the configuration that
// answers.
func dialNameNode(c *conf.Config) (*ipc.Client, string, error) {
	addrs, err := c.NameNodeRPCAddresses()
	if err != nil {
		return nil, "", err
	}
	var last error
	for _, a := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cl, err := ipc.Dial(ctx, a, ipc.ClientOptions{User: callerName(), Protocol: namenode.ClientProtocolName, DialTimeout: 5 * time.Second})
		cancel()
		if err == nil {
			return cl, a, nil
		}
		last = fmt.Errorf("Call From %s to %s failed on connection exception: %v", hostName(), a, err)
	}
	return nil, "", last
}

func hostName() string {
	h, _ := os.Hostname()
	return h
}

// remoteMessage renders an RPC failure as Hadoop's shell does: the
// exception's message, without the Go error chain.
func remoteMessage(err error) string {
	var ie *ipc.Error
	if errors.As(err, &ie) {
		msg := ie.Message
		if i := strings.Index(msg, "\n"); i >= 0 && ie.Class != namenode.ExSafeMode {
			msg = msg[:i]
		}
		return msg
	}
	return err.Error()
}

const dfsadminUsage = `Usage: hdfs dfsadmin
Note: Administrative commands can only be run as the HDFS superuser.
	[-report [-live] [-dead]]
	[-safemode <enter | leave | get | wait | forceExit>]
	[-saveNamespace]
	[-rollEdits]
	[-refreshNodes]
	[-printTopology]
`

func runDFSAdmin(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dfsadminUsage)
		return 255
	}
	c, err := g.Load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	call := func(method string, req, resp proto.Message) error {
		cl, _, err := dialNameNode(c)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		return cl.Call(ctx, method, req, resp)
	}
	cmd := args[0]
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %s\n", strings.TrimPrefix(cmd, "-"), remoteMessage(err))
		return 255
	}
	switch cmd {
	case "-safemode":
		if len(args) != 2 {
			fmt.Fprint(stderr, "Usage: hdfs dfsadmin [-safemode enter | leave | get | wait | forceExit]\n")
			return 255
		}
		actions := map[string]pb.SafeModeActionProto{"enter": pb.SafeModeActionProto_SAFEMODE_ENTER,
			"leave": pb.SafeModeActionProto_SAFEMODE_LEAVE, "get": pb.SafeModeActionProto_SAFEMODE_GET,
			"wait": pb.SafeModeActionProto_SAFEMODE_GET, "forceexit": pb.SafeModeActionProto_SAFEMODE_FORCE_EXIT}
		a, ok := actions[strings.ToLower(args[1])]
		if !ok {
			fmt.Fprint(stderr, "Usage: hdfs dfsadmin [-safemode enter | leave | get | wait | forceExit]\n")
			return 255
		}
		for {
			resp := &pb.SetSafeModeResponseProto{}
			if err := call("setSafeMode", &pb.SetSafeModeRequestProto{Action: a.Enum()}, resp); err != nil {
				return fail(err)
			}
			if strings.EqualFold(args[1], "wait") && resp.GetResult() {
				time.Sleep(5 * time.Second)
				continue
			}
			state := "OFF"
			if resp.GetResult() {
				state = "ON"
			}
			fmt.Fprintf(stdout, "Safe mode is %s\n", state)
			return 0
		}
	case "-saveNamespace":
		if err := call("saveNamespace", &pb.SaveNamespaceRequestProto{}, &pb.SaveNamespaceResponseProto{}); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, "Save namespace successful")
		return 0
	case "-report":
		st := &pb.GetFsStatsResponseProto{}
		if err := call("getFsStats", &pb.GetFsStatusRequestProto{}, st); err != nil {
			return fail(err)
		}
		report := func(kind pb.DatanodeReportTypeProto) ([]*pb.DatanodeInfoProto, error) {
			resp := &pb.GetDatanodeReportResponseProto{}
			err := call("getDatanodeReport", &pb.GetDatanodeReportRequestProto{Type: kind.Enum()}, resp)
			return resp.GetDi(), err
		}
		live, err := report(pb.DatanodeReportTypeProto_LIVE)
		if err != nil {
			return fail(err)
		}
		dead, err := report(pb.DatanodeReportTypeProto_DEAD)
		if err != nil {
			return fail(err)
		}
		for _, a := range args[1:] {
			switch a {
			case "-live":
				dead = nil
			case "-dead":
				live = nil
			}
		}
		writeReport(stdout, st, live, dead)
		return 0
	case "-printTopology":
		resp := &pb.GetDatanodeReportResponseProto{}
		if err := call("getDatanodeReport", &pb.GetDatanodeReportRequestProto{Type: pb.DatanodeReportTypeProto_LIVE.Enum()}, resp); err != nil {
			return fail(err)
		}
		writeTopology(stdout, resp.GetDi())
		return 0
	case "-refreshNodes":
		if err := call("refreshNodes", &pb.RefreshNodesRequestProto{}, &pb.RefreshNodesResponseProto{}); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, "Refresh nodes successful")
		return 0
	case "-rollEdits":
		resp := &pb.RollEditsResponseProto{}
		if err := call("rollEdits", &pb.RollEditsRequestProto{}, resp); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "Successfully rolled edit logs.\nNew segment starts at txid %d\n", resp.GetNewSegmentTxId())
		return 0
	}
	fmt.Fprintf(stderr, "%s: Unknown command\n", cmd)
	fmt.Fprint(stderr, dfsadminUsage)
	return 255
}
