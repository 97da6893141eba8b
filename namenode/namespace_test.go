package namenode

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// memJournal is an in-memory edit log for namespace unit tests: it keeps
// every record so a test can replay them into a fresh namespace.
type memJournal struct {
	mu      sync.Mutex
	base    uint64 // txid before the first record
	recs    []memRec
	failAt  uint64 // Sync fails for txids >= failAt when non-zero
	syncErr error
}

type memRec struct {
	txid    uint64
	op      uint8
	payload []byte
}

func (j *memJournal) Append(op uint8, payload []byte) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	txid := j.base + uint64(len(j.recs)) + 1
	j.recs = append(j.recs, memRec{txid, op, append([]byte(nil), payload...)})
	return txid, nil
}

func (j *memJournal) Sync(txid uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failAt != 0 && txid >= j.failAt {
		return j.syncErr
	}
	return nil
}

func newTestNS(t testing.TB) (*Namespace, *memJournal) {
	t.Helper()
	set := DefaultSettings()
	set.Superuser = "hdfs"
	set.Groups = func(u string) []string {
		switch u {
		case "alice":
			return []string{"alice", "staff"}
		case "bob":
			return []string{"bob"}
		}
		return nil
	}
	ns := NewNamespace(set, nil)
	ns.root.mode = 0o777 // let test users create at the top
	j := &memJournal{}
	ns.SetJournal(j, nil)
	return ns, j
}

var (
	root  = &Caller{User: "hdfs"}
	alice = &Caller{User: "alice"}
	bob   = &Caller{User: "bob"}
)

func classOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	if err == nil {
		return ""
	}
	return "?" + err.Error()
}

// dump renders the whole tree, one line per inode, for comparisons.
func dump(ns *Namespace) string {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	var lines []string
	var walk func(n *INode)
	walk = func(n *INode) {
		x := ""
		for _, a := range n.getXAttrs() {
			x += fmt.Sprintf(" %s=%q", a.PrefixedName(), a.Value)
		}
		uc := ""
		if n.uc != nil {
			uc = " uc:" + n.uc.clientName
		}
		lines = append(lines, fmt.Sprintf("%s id=%d dir=%v %s:%s %o r=%d bs=%d len=%d blocks=%d m=%d a=%d p=%d%s%s",
			n.fullPath(), n.id, n.isDir, ns.names.str(n.owner), ns.names.str(n.group), n.mode,
			n.replication, n.blockSize, n.length(), len(n.blocks), n.mtime, n.atime, n.policy, uc, x))
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(ns.root)
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func replayInto(t testing.TB, j *memJournal) *Namespace {
	t.Helper()
	ns2, _ := newTestNS(t)
	for _, r := range j.recs {
		if err := ns2.ApplyRecord(r.txid, r.op, r.payload); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	return ns2
}

func mustCreate(t testing.TB, ns *Namespace, c *Caller, path string) *FileStatus {
	t.Helper()
	st, err := ns.Create(c, CreateArgs{Src: path, Mode: 0o644, ClientName: "cl-" + c.User, Flags: CreateFlagCreate,
		CreateParent: true, Replication: 3, BlockSize: 128 << 20})
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	return st
}

func TestMkdirsCreatesParentsAndIsIdempotent(t *testing.T) {
	ns, _ := newTestNS(t)
	if err := ns.Mkdirs(root, "/a/b/c", 0o750, true); err != nil {
		t.Fatal(err)
	}
	if err := ns.Mkdirs(root, "/a/b/c", 0o750, true); err != nil {
		t.Fatalf("second mkdirs: %v", err)
	}
	st, _ := ns.GetFileInfo(root, "/a")
	if st == nil || !st.IsDir || st.Mode != 0o750|0o300 {
		t.Fatalf("parent /a: %+v, want dir with u+wx added", st)
	}
	st, _ = ns.GetFileInfo(root, "/a/b/c")
	if st.Mode != 0o750 {
		t.Fatalf("/a/b/c mode %o", st.Mode)
	}
	if err := ns.Mkdirs(root, "/x/y", 0o755, false); classOf(err) != ExFileNotFound {
		t.Fatalf("mkdirs without parent: %v", err)
	}
}

func TestErrorsAsHadoop(t *testing.T) {
	ns, _ := newTestNS(t)
	ns.Mkdirs(root, "/d/sub", 0o755, true)
	mustCreate(t, ns, root, "/f")
	ns.Complete(root, "/f", 0, "cl-hdfs", nil)
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"mkdir over file", ns.Mkdirs(root, "/f", 0o755, true), ExFileAlreadyExists},
		{"mkdir under file", ns.Mkdirs(root, "/f/x", 0o755, true), ExParentNotDirectory},
		{"relative path", ns.Mkdirs(root, "rel", 0o755, true), ExInvalidPath},
		{"dot component", ns.Mkdirs(root, "/a/../b", 0o755, true), ExInvalidPath},
		{"colon", ns.Mkdirs(root, "/a:b", 0o755, true), ExInvalidPath},
		{"double slash", ns.Mkdirs(root, "/a//b", 0o755, true), ExInvalidPath},
		{"delete non-empty", second(ns.Delete(root, "/d", false)), ExPathIsNotEmptyDir},
		{"create existing", second(ns.Create(root, CreateArgs{Src: "/f", Mode: 0o644, ClientName: "c2", Flags: CreateFlagCreate, Replication: 3, BlockSize: 1 << 20})), ExFileAlreadyExists},
		{"create over dir", second(ns.Create(root, CreateArgs{Src: "/d", Mode: 0o644, ClientName: "c2", Flags: CreateFlagCreate | CreateFlagOverwrite, Replication: 3, BlockSize: 1 << 20})), ExFileAlreadyExists},
		{"tiny block size", second(ns.Create(root, CreateArgs{Src: "/g", Mode: 0o644, ClientName: "c2", Flags: CreateFlagCreate, Replication: 3, BlockSize: 1024})), ExIO},
		{"rename2 missing", ns.Rename2(root, "/nope", "/x", false), ExFileNotFound},
		{"rename2 exists", ns.Rename2(root, "/f", "/d", false), ExFileAlreadyExists},
		{"rename2 into self", ns.Rename2(root, "/d", "/d/sub/x", false), ExIO},
		{"rename2 parent missing", ns.Rename2(root, "/f", "/no/x", false), ExFileNotFound},
		{"rename2 parent file", ns.Rename2(root, "/d", "/f/x", false), ExParentNotDirectory},
		{"content summary missing", second(ns.GetContentSummary(root, "/nope")), ExFileNotFound},
		{"setPermission missing", ns.SetPermission(root, "/nope", 0o700), ExFileNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := classOf(c.err); got != c.want {
				t.Fatalf("got %q (%v), want %s", got, c.err, c.want)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestDeleteAndRenameAnswers(t *testing.T) {
	ns, _ := newTestNS(t)
	ns.Mkdirs(root, "/a/b", 0o755, true)
	if ok, err := ns.Delete(root, "/missing", true); ok || err != nil {
		t.Fatalf("delete missing: %v %v", ok, err)
	}
	if ok, err := ns.Delete(root, "/", true); ok || err != nil {
		t.Fatalf("delete root: %v %v", ok, err)
	}
	if ok, _ := ns.Rename(root, "/missing", "/x"); ok {
		t.Fatal("old rename of missing source answered true")
	}
	ns.Mkdirs(root, "/dst", 0o755, true)
	if ok, err := ns.Rename(root, "/a", "/dst"); !ok || err != nil {
		t.Fatalf("rename into dir: %v %v", ok, err)
	}
	if st, _ := ns.GetFileInfo(root, "/dst/a/b"); st == nil {
		t.Fatal("/dst/a/b missing after move into directory")
	}
	mustCreate(t, ns, root, "/f1")
	mustCreate(t, ns, root, "/f2")
	if err := ns.Rename2(root, "/f1", "/f2", true); err != nil {
		t.Fatalf("rename2 overwrite: %v", err)
	}
	if st, _ := ns.GetFileInfo(root, "/f1"); st != nil {
		t.Fatal("/f1 still there")
	}
	if ok, err := ns.Delete(root, "/dst", true); !ok || err != nil {
		t.Fatalf("recursive delete: %v %v", ok, err)
	}
	if n := ns.NumInodes(); n != 2 {
		t.Fatalf("inodes after deletes = %d, want 2 (root and /f2)", n)
	}
}

func TestPermissionsForNonOwner(t *testing.T) {
	ns, _ := newTestNS(t)
	ns.Mkdirs(root, "/home/alice", 0o755, true)
	ns.SetOwner(root, "/home/alice", "alice", "staff")
	mustCreate(t, ns, alice, "/home/alice/f")
	checks := []struct {
		name string
		err  error
		want string
	}{
		{"bob creates in alice's dir", second(ns.Create(bob, CreateArgs{Src: "/home/alice/g", Mode: 0o644, ClientName: "b", Flags: CreateFlagCreate, Replication: 1, BlockSize: 1 << 20})), ExAccessControl},
		{"bob chmods alice's file", ns.SetPermission(bob, "/home/alice/f", 0o777), ExAccessControl},
		{"bob chowns", ns.SetOwner(bob, "/home/alice/f", "bob", ""), ExAccessControl},
		{"alice chowns to bob", ns.SetOwner(alice, "/home/alice/f", "bob", ""), ExAccessControl},
		{"alice chgrps to a group she is not in", ns.SetOwner(alice, "/home/alice/f", "", "wheel"), ExAccessControl},
		{"alice chgrps to her group", ns.SetOwner(alice, "/home/alice/f", "", "staff"), ""},
		{"bob sets times", ns.SetTimes(bob, "/home/alice/f", 5, 5), ExAccessControl},
		{"bob deletes", second(ns.Delete(bob, "/home/alice/f", false)), ExAccessControl},
		{"alice chmods", ns.SetPermission(alice, "/home/alice/f", 0o600), ""},
		{"bob reads listing", second(ns.GetListing(bob, "/home/alice", nil)), ""},
		{"superuser does anything", ns.SetOwner(root, "/home/alice/f", "bob", "bob"), ""},
	}
	for _, c := range checks {
		if got := classOf(c.err); got != c.want {
			t.Errorf("%s: got %q (%v), want %q", c.name, got, c.err, c.want)
		}
	}
	ns.SetPermission(root, "/home/alice", 0o700)
	_, err := ns.GetListing(bob, "/home/alice", nil)
	if classOf(err) != ExAccessControl || !strings.Contains(err.Error(), `user=bob, access=READ_EXECUTE, inode="/home/alice":alice:staff:drwx------`) {
		t.Fatalf("listing a 700 dir: %v", err)
	}
}

func TestListingPagesInByteOrder(t *testing.T) {
	ns, _ := newTestNS(t)
	ns.Mkdirs(root, "/big", 0o755, true)
	const n = 2345
	for i := 0; i < n; i++ {
		ns.Mkdirs(root, fmt.Sprintf("/big/e%05d", i), 0o755, false)
	}
	var got []string
	var after []byte
	for {
		l, err := ns.GetListing(root, "/big", after)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range l.Entries {
			got = append(got, e.Name)
		}
		if l.Remaining == 0 {
			break
		}
		if len(l.Entries) != 1000 {
			t.Fatalf("page of %d entries with %d remaining", len(l.Entries), l.Remaining)
		}
		after = []byte(l.Entries[len(l.Entries)-1].Name)
	}
	if len(got) != n || !sort.StringsAreSorted(got) {
		t.Fatalf("listed %d entries (sorted %v)", len(got), sort.StringsAreSorted(got))
	}
	// startAfter naming a deleted entry continues after where it was.
	l, _ := ns.GetListing(root, "/big", []byte("e00010x"))
	if l.Entries[0].Name != "e00011" {
		t.Fatalf("after a missing name: first %s", l.Entries[0].Name)
	}
}

func TestXAttrRules(t *testing.T) {
	ns, _ := newTestNS(t)
	mustCreate(t, ns, alice, "/x")
	u := func(name string) XAttr { return XAttr{NS: XAttrUser, Name: name, Value: []byte("v")} }
	if err := ns.SetXAttr(alice, "/x", u("a"), XAttrCreate); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetXAttr(alice, "/x", u("a"), XAttrCreate); classOf(err) != ExIO || !strings.Contains(err.Error(), "REPLACE flag") {
		t.Fatalf("create existing: %v", err)
	}
	if err := ns.SetXAttr(alice, "/x", u("b"), XAttrReplace); classOf(err) != ExIO || !strings.Contains(err.Error(), "CREATE flag") {
		t.Fatalf("replace missing: %v", err)
	}
	if err := ns.SetXAttr(alice, "/x", XAttr{NS: XAttrTrusted, Name: "t"}, XAttrCreate); classOf(err) != ExAccessControl {
		t.Fatalf("trusted by non-superuser: %v", err)
	}
	if err := ns.SetXAttr(root, "/x", XAttr{NS: XAttrTrusted, Name: "t", Value: []byte("1")}, XAttrCreate); err != nil {
		t.Fatalf("trusted by superuser: %v", err)
	}
	if err := ns.SetXAttr(root, "/x", XAttr{NS: XAttrSystem, Name: "s"}, XAttrCreate); classOf(err) != ExAccessControl {
		t.Fatalf("system namespace: %v", err)
	}
	big := XAttr{NS: XAttrUser, Name: "big", Value: make([]byte, 20000)}
	if err := ns.SetXAttr(alice, "/x", big, XAttrCreate); classOf(err) != ExIllegalArgument {
		t.Fatalf("too big: %v", err)
	}
	list, _ := ns.ListXAttrs(alice, "/x")
	if len(list) != 1 || list[0].Name != "a" {
		t.Fatalf("alice sees %v, want only user.a", list)
	}
	list, _ = ns.ListXAttrs(root, "/x")
	if len(list) != 2 {
		t.Fatalf("superuser sees %v", list)
	}
	if _, err := ns.GetXAttrs(alice, "/x", []XAttr{u("zz")}); classOf(err) != ExIO {
		t.Fatalf("get missing: %v", err)
	}
	if err := ns.RemoveXAttr(alice, "/x", u("zz")); classOf(err) != ExIO {
		t.Fatalf("remove missing: %v", err)
	}
	for i := 0; i < 30; i++ {
		if err := ns.SetXAttr(root, "/x", u(fmt.Sprint("n", i)), XAttrCreate); err != nil {
			t.Fatalf("xattr %d: %v", i, err)
		}
	}
	if err := ns.SetXAttr(root, "/x", u("over"), XAttrCreate); classOf(err) != ExIO || !strings.Contains(err.Error(), "limit of 32") {
		t.Fatalf("33rd xattr: %v", err)
	}
}

func TestEmptyFileCreateComplete(t *testing.T) {
	ns, _ := newTestNS(t)
	st := mustCreate(t, ns, alice, "/tmp/empty")
	if closed, _ := ns.IsFileClosed(alice, "/tmp/empty"); closed {
		t.Fatal("file closed before complete")
	}
	if _, err := ns.Create(bob, CreateArgs{Src: "/tmp/empty", Mode: 0o644, ClientName: "other", Flags: CreateFlagCreate | CreateFlagOverwrite, Replication: 3, BlockSize: 1 << 20}); classOf(err) != ExAlreadyBeingCreated && classOf(err) != ExAccessControl {
		t.Fatalf("overwrite of an open file by another client: %v", err)
	}
	ok, err := ns.Complete(alice, "/tmp/empty", st.FileID, "cl-alice", nil)
	if !ok || err != nil {
		t.Fatalf("complete: %v %v", ok, err)
	}
	if closed, _ := ns.IsFileClosed(alice, "/tmp/empty"); !closed {
		t.Fatal("not closed after complete")
	}
	if ok, err := ns.Complete(alice, "/tmp/empty", st.FileID, "cl-alice", nil); !ok || err != nil {
		t.Fatalf("retried complete: %v %v", ok, err)
	}
	if _, err := ns.AddBlock(alice, AddBlockArgs{Src: "/tmp/empty", ClientName: "cl-alice"}); classOf(err) != ExLeaseExpired {
		t.Fatalf("addBlock on a closed file: %v", err)
	}
}

func TestAddBlockWithoutDatanodes(t *testing.T) {
	ns, _ := newTestNS(t)
	mustCreate(t, ns, alice, "/f")
	_, err := ns.AddBlock(alice, AddBlockArgs{Src: "/f", ClientName: "cl-alice"})
	if classOf(err) != ExIO || !strings.Contains(err.Error(), "could only be written to 0 of the 1 minReplication nodes. There are 0 datanode(s) running") {
		t.Fatalf("addBlock with no DataNodes: %v", err)
	}
}

// fakeSite gives every block three made-up replicas.
type fakeSite struct{ NoDatanodes }

func (fakeSite) ChooseTargets(src string, n int, _ string, _, _ []string, _ int64) []DatanodeRef {
	var out []DatanodeRef
	for i := 0; i < n; i++ {
		out = append(out, DatanodeRef{UUID: fmt.Sprint("dn", i), IP: fmt.Sprintf("127.0.0.%d", 10+i), XferPort: 9866})
	}
	return out
}
func (fakeSite) MinReplicated(*BlockInfo, int) bool { return true }
func (fakeSite) LiveDatanodes() int                 { return 3 }

func TestBlocksLifecycleReplays(t *testing.T) {
	ns, j := newTestNS(t)
	ns.SetBlockSite(fakeSite{})
	st := mustCreate(t, ns, alice, "/data/f")
	lb1, err := ns.AddBlock(alice, AddBlockArgs{Src: "/data/f", FileID: st.FileID, ClientName: "cl-alice"})
	if err != nil || len(lb1.Replicas) != 3 {
		t.Fatalf("addBlock: %v %+v", err, lb1)
	}
	// A retried addBlock returns the same block.
	again, err := ns.AddBlock(alice, AddBlockArgs{Src: "/data/f", FileID: st.FileID, ClientName: "cl-alice"})
	if err != nil || again.Block.ID != lb1.Block.ID {
		t.Fatalf("retried addBlock: %v %+v", err, again)
	}
	prev := lb1.Block
	prev.NumBytes = 128 << 20
	lb2, err := ns.AddBlock(alice, AddBlockArgs{Src: "/data/f", FileID: st.FileID, ClientName: "cl-alice", Previous: &prev})
	if err != nil || lb2.Offset != 128<<20 {
		t.Fatalf("second block: %v %+v", err, lb2)
	}
	if _, err := ns.UpdateBlockForPipeline(alice, lb2.Block.ID, "cl-alice"); err != nil {
		t.Fatal(err)
	}
	last := lb2.Block
	last.NumBytes = 5
	ok, err := ns.Complete(alice, "/data/f", st.FileID, "cl-alice", &last)
	if !ok || err != nil {
		t.Fatalf("complete: %v %v", ok, err)
	}
	lbs, _ := ns.GetBlockLocations(alice, "/data/f", 0, 1<<40)
	if lbs.FileLength != 128<<20+5 || len(lbs.Blocks) != 2 || !lbs.LastBlockComplete {
		t.Fatalf("locations: %+v", lbs)
	}
	ok, err = ns.Truncate(alice, "/data/f", 128<<20, "cl-alice")
	if !ok || err != nil {
		t.Fatalf("truncate on a block boundary: %v %v", ok, err)
	}
	if d1, d2 := dump(ns), dump(replayInto(t, j)); d1 != d2 {
		t.Fatalf("replay differs:\n%s\n---\n%s", d1, d2)
	}
}

func TestRetryCacheAnswersResentCalls(t *testing.T) {
	ns, j := newTestNS(t)
	c := &Caller{User: "alice", ClientID: []byte("0123456789abcdef"), CallID: 7}
	mustCreate(t, ns, c, "/r")
	n := len(j.recs)
	// The same clientId/callId again: the original answer, nothing logged.
	if _, err := ns.Create(c, CreateArgs{Src: "/r", Mode: 0o644, ClientName: "cl-alice", Flags: CreateFlagCreate, Replication: 3, BlockSize: 1 << 20}); err != nil {
		t.Fatalf("retried create: %v", err)
	}
	if len(j.recs) != n {
		t.Fatal("retry was logged again")
	}
	d := &Caller{User: "alice", ClientID: c.ClientID, CallID: 8}
	if ok, err := ns.Delete(d, "/r", false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := ns.Delete(d, "/r", false); !ok || err != nil {
		t.Fatalf("retried delete answered %v %v, want the original true", ok, err)
	}
	// After a restart (replay), the cache is rebuilt from the log.
	ns2 := replayInto(t, j)
	if ok, err := ns2.Delete(d, "/r", false); !ok || err != nil {
		t.Fatalf("retried delete after replay: %v %v", ok, err)
	}
	other := &Caller{User: "alice", ClientID: c.ClientID, CallID: 9}
	if ok, _ := ns2.Delete(other, "/r", false); ok {
		t.Fatal("a new call was answered from the cache")
	}
}

func TestSafeModeRefusesWrites(t *testing.T) {
	ns, _ := newTestNS(t)
	if _, err := ns.SetSafeMode(alice, SafeModeEnter); classOf(err) != ExAccessControl {
		t.Fatalf("non-superuser enters safe mode: %v", err)
	}
	on, _ := ns.SetSafeMode(root, SafeModeEnter)
	if !on {
		t.Fatal("not on")
	}
	err := ns.Mkdirs(root, "/x", 0o755, true)
	if classOf(err) != ExSafeMode || !strings.Contains(err.Error(), "Name node is in safe mode") {
		t.Fatalf("mkdirs in safe mode: %v", err)
	}
	if st, err := ns.GetFileInfo(root, "/"); st == nil || err != nil {
		t.Fatal("reads must work in safe mode")
	}
	ns.SetSafeMode(root, SafeModeLeave)
	if err := ns.Mkdirs(root, "/x", 0o755, true); err != nil {
		t.Fatal(err)
	}
}

func TestSyncFailureReportsAndCallsBack(t *testing.T) {
	ns, j := newTestNS(t)
	var called error
	ns.SetJournal(j, func(err error) { called = err })
	j.failAt, j.syncErr = 1, errors.New("no space left on device")
	if err := ns.Mkdirs(root, "/x", 0o755, true); err == nil || !strings.Contains(err.Error(), "safe mode") {
		t.Fatalf("mkdirs with failing sync: %v", err)
	}
	if called == nil {
		t.Fatal("sync failure not reported")
	}
}

func TestLeaseHardLimitRecovery(t *testing.T) {
	ns, _ := newTestNS(t)
	now := time.Now()
	ns.now = func() time.Time { return now }
	mustCreate(t, ns, alice, "/open")
	now = now.Add(2 * time.Hour)
	ns.CheckLeases()
	if closed, _ := ns.IsFileClosed(root, "/open"); !closed {
		t.Fatal("file whose lease passed the hard limit is still open")
	}
}

func TestImageRoundTrip(t *testing.T) {
	ns, _ := newTestNS(t)
	ns.SetBlockSite(fakeSite{})
	ns.Mkdirs(root, "/a", 0o777, true)
	ns.Mkdirs(root, "/a/b", 0o700, true)
	st := mustCreate(t, ns, alice, "/a/f")
	ns.SetXAttr(alice, "/a/f", XAttr{NS: XAttrUser, Name: "k", Value: []byte("v")}, XAttrCreate)
	ns.AddBlock(alice, AddBlockArgs{Src: "/a/f", FileID: st.FileID, ClientName: "cl-alice"})
	for i := 0; i < 50; i++ {
		ns.Mkdirs(root, fmt.Sprintf("/a/b/%d", 49-i), 0o755, false)
	}
	dir := t.TempDir()
	if err := ns.SaveImage(osFS(), dir, ImageMeta{TxID: ns.LastAppliedTxID(), ClusterID: "c"}); err != nil {
		t.Fatal(err)
	}
	ns2, j2 := newTestNS(t)
	j2.base = ns.LastAppliedTxID()
	meta, err := ns2.LoadImage(osFS(), dir+"/"+ImageName(ns.LastAppliedTxID()))
	if err != nil {
		t.Fatal(err)
	}
	if meta.ClusterID != "c" || ns2.LastAppliedTxID() != ns.LastAppliedTxID() {
		t.Fatalf("meta %+v", meta)
	}
	if d1, d2 := dump(ns), dump(ns2); d1 != d2 {
		t.Fatalf("image round trip differs:\n%s\n---\n%s", d1, d2)
	}
	// A new inode after load must not reuse an id.
	st2 := mustCreate(t, ns2, alice, "/a/g")
	if st2.FileID <= st.FileID {
		t.Fatalf("inode id reused: %d <= %d", st2.FileID, st.FileID)
	}
}

func TestLeaseSoftLimitLetsAnotherWriterIn(t *testing.T) {
	ns, _ := newTestNS(t)
	now := time.Now()
	ns.now = func() time.Time { return now }
	mustCreate(t, ns, alice, "/soft")
	args := CreateArgs{Src: "/soft", Mode: 0o644, ClientName: "cl-hdfs", Flags: CreateFlagCreate | CreateFlagOverwrite, Replication: 3, BlockSize: 1 << 20}
	if _, err := ns.Create(root, args); classOf(err) != ExAlreadyBeingCreated {
		t.Fatalf("overwrite while the lease is fresh: %v", err)
	}
	now = now.Add(61 * time.Second)
	if _, err := ns.Create(root, args); err != nil {
		t.Fatalf("overwrite after the soft limit: %v", err)
	}
}
