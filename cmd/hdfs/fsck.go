package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/avatarfs/avatarfs/conf"
	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// fsckStats accumulates what Hadoop's fsck summary reports.
type fsckStats struct {
	dirs, files, blocks, size                   uint64
	minRepl, over, under, mis, missing, corrupt uint64
	totalRepl, missingReplicas, defaultRepl     uint64
	corruptFiles                                []string
}

type fsckOpts struct {
	files, blocks, locations, racks bool
}

// runFsck checks a subtree's block health from the client side (listing
// and block locations over ClientProtocol) and prints Hadoop's report.
func runFsck(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int {
	var o fsckOpts
	path := ""
	for _, a := range args {
		switch a {
		case "-files":
			o.files = true
		case "-blocks":
			o.blocks = true
		case "-locations":
			o.locations = true
		case "-racks":
			o.racks = true
		case "-openforwrite", "-move", "-delete", "-list-corruptfileblocks", "-includeSnapshots", "-storagepolicies", "-showprogress":
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintf(stderr, "fsck: Illegal option '%s'\nUsage: hdfs fsck <path> [-files [-blocks [-locations | -racks]]]\n", a)
				return 255
			}
			path = a
		}
	}
	if path == "" {
		fmt.Fprintln(stderr, "Usage: hdfs fsck <path> [-files [-blocks [-locations | -racks]]]")
		return 255
	}
	c, err := g.Load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cl, addr, err := dialNameNode(c)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer cl.Close()
	ctx := context.Background()
	start := time.Now()
	fmt.Fprintf(stdout, "Connecting to namenode via %s\n", addr)
	fmt.Fprintf(stdout, "FSCK started by %s (auth:SIMPLE) from /%s for path %s at %s\n", callerName(), hostName(), path, start.Format("Mon Jan 02 15:04:05 MST 2006"))
	dns := &pb.GetDatanodeReportResponseProto{}
	if err := cl.Call(ctx, "getDatanodeReport", &pb.GetDatanodeReportRequestProto{Type: pb.DatanodeReportTypeProto_LIVE.Enum()}, dns); err != nil {
		fmt.Fprintf(stderr, "fsck: %s\n", remoteMessage(err))
		return 1
	}
	racks := map[string]bool{}
	for _, d := range dns.GetDi() {
		racks[d.GetLocation()] = true
	}
	st := &fsckStats{defaultRepl: uint64(c.Int("dfs.replication"))}
	info := &pb.GetFileInfoResponseProto{}
	if err := cl.Call(ctx, "getFileInfo", &pb.GetFileInfoRequestProto{Src: proto.String(path)}, info); err != nil {
		fmt.Fprintf(stderr, "fsck: %s\n", remoteMessage(err))
		return 1
	}
	if info.GetFs() == nil {
		fmt.Fprintf(stdout, "\nFSCK ended at %s in %d milliseconds\nPath %s does not exist\n", time.Now().Format("Mon Jan 02 15:04:05 MST 2006"), time.Since(start).Milliseconds(), path)
		return 1
	}
	if err := fsckWalk(ctx, cl, path, info.GetFs(), o, st, len(racks), stdout); err != nil {
		fmt.Fprintf(stderr, "fsck: %s\n", remoteMessage(err))
		return 1
	}
	healthy := st.missing == 0 && st.corrupt == 0
	status := "HEALTHY"
	if !healthy {
		status = "CORRUPT"
	}
	pct := func(n uint64) string {
		if st.blocks == 0 {
			return "0.0 %"
		}
		return fmt.Sprintf("%.1f %%", float64(n)*100/float64(st.blocks))
	}
	avgBlock := uint64(0)
	avgRepl := 0.0
	if st.blocks > 0 {
		avgBlock = st.size / st.blocks
		avgRepl = float64(st.totalRepl) / float64(st.blocks)
	}
	fmt.Fprintf(stdout, "\n\nStatus: %s\n", status)
	fmt.Fprintf(stdout, " Number of data-nodes:\t%d\n Number of racks:\t\t%d\n Total dirs:\t\t\t%d\n Total symlinks:\t\t0\n\n", len(dns.GetDi()), len(racks), st.dirs)
	fmt.Fprintf(stdout, "Replicated Blocks:\n Total size:\t%d B\n Total files:\t%d\n Total blocks (validated):\t%d (avg. block size %d B)\n", st.size, st.files, st.blocks, avgBlock)
	if st.corrupt > 0 || st.missing > 0 {
		fmt.Fprintf(stdout, "  ********************************\n  UNDER MIN REPL'D BLOCKS:\t%d (%s)\n  MINIMAL BLOCK REPLICATION:\t1\n  CORRUPT FILES:\t%d\n  MISSING BLOCKS:\t%d\n  ********************************\n",
			st.missing+st.corrupt, pct(st.missing+st.corrupt), len(st.corruptFiles), st.missing)
	}
	fmt.Fprintf(stdout, " Minimally replicated blocks:\t%d (%s)\n Over-replicated blocks:\t%d (%s)\n Under-replicated blocks:\t%d (%s)\n Mis-replicated blocks:\t\t%d (%s)\n",
		st.minRepl, pct(st.minRepl), st.over, pct(st.over), st.under, pct(st.under), st.mis, pct(st.mis))
	missPct := "0.0 %"
	if st.totalRepl+st.missingReplicas > 0 {
		missPct = fmt.Sprintf("%.1f %%", float64(st.missingReplicas)*100/float64(st.totalRepl+st.missingReplicas))
	}
	fmt.Fprintf(stdout, " Default replication factor:\t%d\n Average block replication:\t%.1f\n Missing blocks:\t\t%d\n Corrupt blocks:\t\t%d\n Missing replicas:\t\t%d (%s)\n",
		st.defaultRepl, avgRepl, st.missing, st.corrupt, st.missingReplicas, missPct)
	fmt.Fprintf(stdout, "FSCK ended at %s in %d milliseconds\n\n\n", time.Now().Format("Mon Jan 02 15:04:05 MST 2006"), time.Since(start).Milliseconds())
	fmt.Fprintf(stdout, "The filesystem under path '%s' is %s\n", path, status)
	if !healthy {
		return 1
	}
	return 0
}

func fsckWalk(ctx context.Context, cl *ipc.Client, path string, fs *pb.HdfsFileStatusProto, o fsckOpts, st *fsckStats, numRacks int, w io.Writer) error {
	if fs.GetFileType() == pb.HdfsFileStatusProto_IS_DIR {
		st.dirs++
		if o.files {
			fmt.Fprintf(w, "%s <dir>\n", path)
		}
		after := []byte{}
		for {
			resp := &pb.GetListingResponseProto{}
			if err := cl.Call(ctx, "getListing", &pb.GetListingRequestProto{Src: proto.String(path), StartAfter: after, NeedLocation: proto.Bool(false)}, resp); err != nil {
				return err
			}
			l := resp.GetDirList()
			for _, e := range l.GetPartialListing() {
				child := strings.TrimSuffix(path, "/") + "/" + string(e.GetPath())
				if err := fsckWalk(ctx, cl, child, e, o, st, numRacks, w); err != nil {
					return err
				}
				after = e.GetPath()
			}
			if l == nil || l.GetRemainingEntries() == 0 {
				return nil
			}
		}
	}
	st.files++
	st.size += fs.GetLength()
	resp := &pb.GetBlockLocationsResponseProto{}
	if err := cl.Call(ctx, "getBlockLocations", &pb.GetBlockLocationsRequestProto{Src: proto.String(path), Offset: proto.Uint64(0), Length: proto.Uint64(1 << 62)}, resp); err != nil {
		return err
	}
	blocks := resp.GetLocations().GetBlocks()
	repl := uint64(fs.GetBlockReplication())
	var lines []string
	bad := false
	for i, b := range blocks {
		if resp.GetLocations().GetUnderConstruction() && i == len(blocks)-1 {
			continue // the block being written is not validated, as in Hadoop
		}
		st.blocks++
		live := uint64(len(b.GetLocs()))
		racksSeen := map[string]bool{}
		for _, l := range b.GetLocs() {
			racksSeen[l.GetLocation()] = true
		}
		state := ""
		switch {
		case live == 0:
			st.missing++
			bad = true
			state = " MISSING!"
		case b.GetCorrupt():
			st.corrupt++
			bad = true
			state = " CORRUPT!"
		default:
			st.minRepl++
		}
		st.totalRepl += live
		if live < repl {
			st.under++
			st.missingReplicas += repl - live
		} else if live > repl {
			st.over++
		}
		if live > 1 && numRacks > 1 && len(racksSeen) < 2 && repl > 1 {
			st.mis++
		}
		if o.blocks {
			line := fmt.Sprintf("%d. %s:blk_%d_%d len=%d Live_repl=%d%s", i, b.GetB().GetPoolId(), b.GetB().GetBlockId(), b.GetB().GetGenerationStamp(), b.GetB().GetNumBytes(), live, state)
			if o.racks || o.locations {
				var locs []string
				for k, l := range b.GetLocs() {
					addr := fmt.Sprintf("%s:%d", l.GetId().GetIpAddr(), l.GetId().GetXferPort())
					if o.racks {
						locs = append(locs, l.GetLocation()+"/"+addr)
					} else {
						sid, typ := "", "DISK"
						if k < len(b.GetStorageIDs()) {
							sid = b.GetStorageIDs()[k]
						}
						if k < len(b.GetStorageTypes()) {
							typ = b.GetStorageTypes()[k].String()
						}
						locs = append(locs, fmt.Sprintf("DatanodeInfoWithStorage[%s,%s,%s]", addr, sid, typ))
					}
				}
				line += " [" + strings.Join(locs, ", ") + "]"
			}
			lines = append(lines, line)
		}
	}
	if bad {
		st.corruptFiles = append(st.corruptFiles, path)
	}
	if o.files {
		status := " OK"
		if bad {
			status = ""
		}
		fmt.Fprintf(w, "%s %d bytes, replicated: replication=%d, %d block(s): %s\n", path, fs.GetLength(), repl, len(blocks), status)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		if len(lines) > 0 {
			fmt.Fprintln(w)
		}
	}
	return nil
}
