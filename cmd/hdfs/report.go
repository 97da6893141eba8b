package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
)

// byteDesc renders a byte count as Hadoop's StringUtils.byteDesc: "0 B",
// "24 KB", "41.34 GB".
func byteDesc(n uint64) string {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB", "EB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[i])
	}
	return fmt.Sprintf("%.2f %s", v, units[i])
}

func usedPercent(part, whole uint64) string {
	if whole == 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", float64(part)*100/float64(whole))
}

// hadoopDate is java.util.Date's toString, as dfsadmin prints it.
func hadoopDate(ms uint64) string {
	return time.UnixMilli(int64(ms)).Format("Mon Jan 02 15:04:05 MST 2006")
}

// writeReport prints dfsadmin -report in Hadoop 3's layout.
func writeReport(w io.Writer, st *pb.GetFsStatsResponseProto, live, dead []*pb.DatanodeInfoProto) {
	capacity, used, remaining := st.GetCapacity(), st.GetUsed(), st.GetRemaining()
	present := used + remaining
	fmt.Fprintf(w, "Configured Capacity: %d (%s)\n", capacity, byteDesc(capacity))
	fmt.Fprintf(w, "Present Capacity: %d (%s)\n", present, byteDesc(present))
	fmt.Fprintf(w, "DFS Remaining: %d (%s)\n", remaining, byteDesc(remaining))
	fmt.Fprintf(w, "DFS Used: %d (%s)\n", used, byteDesc(used))
	fmt.Fprintf(w, "DFS Used%%: %s\n", usedPercent(used, present))
	fmt.Fprintf(w, "Replicated Blocks:\n")
	fmt.Fprintf(w, "\tUnder replicated blocks: %d\n", st.GetUnderReplicated())
	fmt.Fprintf(w, "\tBlocks with corrupt replicas: %d\n", st.GetCorruptBlocks())
	fmt.Fprintf(w, "\tMissing blocks: %d\n", st.GetMissingBlocks())
	fmt.Fprintf(w, "\tMissing blocks (with replication factor 1): %d\n", st.GetMissingReplOneBlocks())
	fmt.Fprintf(w, "\tPending deletion blocks: %d\n", st.GetPendingDeletionBlocks())
	fmt.Fprintf(w, "\n-------------------------------------------------\n")
	section := func(title string, nodes []*pb.DatanodeInfoProto) {
		fmt.Fprintf(w, "%s datanodes (%d):\n\n", title, len(nodes))
		sort.Slice(nodes, func(i, j int) bool { return nodeName(nodes[i]) < nodeName(nodes[j]) })
		for _, d := range nodes {
			writeNode(w, d)
		}
	}
	section("Live", live)
	if len(dead) > 0 {
		section("Dead", dead)
	}
}

func nodeName(d *pb.DatanodeInfoProto) string {
	return d.GetId().GetIpAddr() + ":" + strconv.Itoa(int(d.GetId().GetXferPort()))
}

func writeNode(w io.Writer, d *pb.DatanodeInfoProto) {
	c, u, r, non := d.GetCapacity(), d.GetDfsUsed(), d.GetRemaining(), d.GetNonDfsUsed()
	fmt.Fprintf(w, "Name: %s (%s)\n", nodeName(d), d.GetId().GetHostName())
	fmt.Fprintf(w, "Hostname: %s\n", d.GetId().GetHostName())
	if loc := d.GetLocation(); loc != "" && loc != "/default-rack" {
		fmt.Fprintf(w, "Rack: %s\n", loc)
	}
	status := "Normal"
	switch d.GetAdminState() {
	case pb.DatanodeInfoProto_DECOMMISSION_INPROGRESS:
		status = "Decommission in progress"
	case pb.DatanodeInfoProto_DECOMMISSIONED:
		status = "Decommissioned"
	case pb.DatanodeInfoProto_ENTERING_MAINTENANCE:
		status = "Entering Maintenance"
	case pb.DatanodeInfoProto_IN_MAINTENANCE:
		status = "In Maintenance"
	}
	fmt.Fprintf(w, "Decommission Status : %s\n", status)
	fmt.Fprintf(w, "Configured Capacity: %d (%s)\n", c, byteDesc(c))
	fmt.Fprintf(w, "DFS Used: %d (%s)\n", u, byteDesc(u))
	fmt.Fprintf(w, "Non DFS Used: %d (%s)\n", non, byteDesc(non))
	fmt.Fprintf(w, "DFS Remaining: %d (%s)\n", r, byteDesc(r))
	fmt.Fprintf(w, "DFS Used%%: %s\n", usedPercent(u, c))
	fmt.Fprintf(w, "DFS Remaining%%: %s\n", usedPercent(r, c))
	fmt.Fprintf(w, "Configured Cache Capacity: %d (%s)\n", d.GetCacheCapacity(), byteDesc(d.GetCacheCapacity()))
	fmt.Fprintf(w, "Cache Used: %d (%s)\n", d.GetCacheUsed(), byteDesc(d.GetCacheUsed()))
	cr := d.GetCacheCapacity() - min(d.GetCacheUsed(), d.GetCacheCapacity())
	fmt.Fprintf(w, "Cache Remaining: %d (%s)\n", cr, byteDesc(cr))
	usedPct, remPct := "100.00%", "0.00%"
	if d.GetCacheCapacity() > 0 {
		usedPct, remPct = usedPercent(d.GetCacheUsed(), d.GetCacheCapacity()), usedPercent(cr, d.GetCacheCapacity())
	}
	fmt.Fprintf(w, "Cache Used%%: %s\n", usedPct)
	fmt.Fprintf(w, "Cache Remaining%%: %s\n", remPct)
	fmt.Fprintf(w, "Xceivers: %d\n", d.GetXceiverCount())
	fmt.Fprintf(w, "Last contact: %s\n", hadoopDate(d.GetLastUpdate()))
	fmt.Fprintf(w, "Num of Blocks: %d\n", d.GetNumBlocks())
	fmt.Fprintf(w, "\n\n")
}

// writeTopology prints dfsadmin -printTopology: racks in order, nodes
// under each.
func writeTopology(w io.Writer, nodes []*pb.DatanodeInfoProto) {
	byRack := map[string][]*pb.DatanodeInfoProto{}
	for _, d := range nodes {
		loc := d.GetLocation()
		if loc == "" {
			loc = "/default-rack"
		}
		byRack[loc] = append(byRack[loc], d)
	}
	racks := make([]string, 0, len(byRack))
	for r := range byRack {
		racks = append(racks, r)
	}
	sort.Strings(racks)
	for _, r := range racks {
		fmt.Fprintf(w, "Rack: %s\n", r)
		ds := byRack[r]
		sort.Slice(ds, func(i, j int) bool { return nodeName(ds[i]) < nodeName(ds[j]) })
		for _, d := range ds {
			fmt.Fprintf(w, "   %s (%s)\n", nodeName(d), d.GetId().GetHostName())
		}
		fmt.Fprintln(w)
	}
}
