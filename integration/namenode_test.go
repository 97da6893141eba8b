package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	hdfs "github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"
)

func exceptionOf(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if e, ok := err.(hdfs.Error); ok {
		return e.Exception()
	}
	return ""
}

func TestNamespaceWithHadoopClient(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	me := c.Client(currentUserName())
	if err := me.MkdirAll("/a/b/c", 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := me.Stat("/a/b")
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("stat /a/b: %v %v", fi, err)
	}
	if _, err := me.Stat("/nope"); !os.IsNotExist(err) {
		t.Fatalf("stat of a missing path: %v", err)
	}
	// Empty files: create and complete with no blocks.
	if err := me.CreateEmptyFile("/a/empty"); err != nil {
		t.Fatalf("CreateEmptyFile: %v", err)
	}
	fi, err = me.Stat("/a/empty")
	if err != nil || fi.IsDir() || fi.Size() != 0 {
		t.Fatalf("stat empty file: %v %v", fi, err)
	}
	if err := me.CreateEmptyFile("/a/empty"); !os.IsExist(err) {
		t.Fatalf("create over an existing file: %v", err)
	}
	// Renames, with and without overwrite.
	if err := me.Rename("/a/empty", "/a/moved"); err != nil {
		t.Fatal(err)
	}
	me.CreateEmptyFile("/a/other")
	if err := me.Rename("/a/other", "/a/moved"); err != nil {
		t.Fatalf("rename2 with overwrite: %v", err)
	}
	cl, err := ipc.Dial(context.Background(), c.NNAddr, ipc.ClientOptions{User: currentUserName(), Protocol: "org.apache.hadoop.hdfs.protocol.ClientProtocol"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	me.CreateEmptyFile("/a/third")
	err = cl.Call(context.Background(), "rename2", &pb.Rename2RequestProto{Src: proto.String("/a/third"), Dst: proto.String("/a/moved"), OverwriteDest: proto.Bool(false)}, &pb.Rename2ResponseProto{})
	if !ipc.IsClass(err, "org.apache.hadoop.fs.FileAlreadyExistsException") {
		t.Fatalf("rename2 without overwrite onto a file: %v", err)
	}
	// Unknown method: an error, and the connection still works.
	err = cl.Call(context.Background(), "noSuchMethod", &pb.GetFileInfoRequestProto{Src: proto.String("/")}, &pb.GetFileInfoResponseProto{})
	if !ipc.IsClass(err, "org.apache.hadoop.ipc.RpcNoSuchMethodException") {
		t.Fatalf("unknown method: %v", err)
	}
	resp := &pb.GetFileInfoResponseProto{}
	if err := cl.Call(context.Background(), "getFileInfo", &pb.GetFileInfoRequestProto{Src: proto.String("/a/moved")}, resp); err != nil || resp.Fs == nil {
		t.Fatalf("call after an unknown method: %v", err)
	}
	// Deletes.
	if err := me.Remove("/a/b"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove of a non-empty dir: %v", err)
	}
	if err := me.RemoveAll("/a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := me.Stat("/a/b/c"); !os.IsNotExist(err) {
		t.Fatalf("/a/b/c after recursive delete: %v", err)
	}
	// Content summary and fs stats.
	me.MkdirAll("/cs/x", 0o755)
	me.CreateEmptyFile("/cs/x/f1")
	me.CreateEmptyFile("/cs/f2")
	cs, err := me.GetContentSummary("/cs")
	if err != nil || cs.FileCount() != 2 || cs.DirectoryCount() != 2 || cs.Size() != 0 {
		t.Fatalf("content summary: %+v %v", cs, err)
	}
	if _, err := me.StatFs(); err != nil {
		t.Fatalf("statfs: %v", err)
	}
	if _, err := me.ServerDefaults(); err != nil {
		t.Fatalf("server defaults: %v", err)
	}
}

func TestListingOverOneThousandEntries(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	me := c.Client(currentUserName())
	me.MkdirAll("/many", 0o755)
	const n = 2500
	for i := 0; i < n; i++ {
		if err := me.Mkdir(fmt.Sprintf("/many/d%04d", i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	list, err := me.ReadDir("/many")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("listed %d of %d entries", len(list), n)
	}
	names := make([]string, len(list))
	for i, fi := range list {
		names[i] = fi.Name()
	}
	if !sort.StringsAreSorted(names) || names[0] != "d0000" || names[n-1] != fmt.Sprintf("d%04d", n-1) {
		t.Fatalf("listing order: %s ... %s", names[0], names[n-1])
	}
}

func TestPermissionsAndAttributesOverRPC(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	su := c.Client(currentUserName())
	su.MkdirAll("/home/alice", 0o755)
	if err := su.Chown("/home/alice", "alice", "users"); err != nil {
		t.Fatal(err)
	}
	alice := c.Client("alice")
	bob := c.Client("bob")
	if err := alice.CreateEmptyFile("/home/alice/f"); err != nil {
		t.Fatal(err)
	}
	if err := bob.CreateEmptyFile("/home/alice/g"); !os.IsPermission(err) {
		t.Fatalf("bob creating in alice's dir: %v", err)
	}
	if err := bob.Chmod("/home/alice/f", 0o777); !os.IsPermission(err) {
		t.Fatalf("bob chmod: %v", err)
	}
	if err := bob.Chown("/home/alice/f", "bob", ""); !os.IsPermission(err) {
		t.Fatalf("bob chown: %v", err)
	}
	if err := bob.Chtimes("/home/alice/f", time.Unix(1, 0), time.Unix(1, 0)); !os.IsPermission(err) {
		t.Fatalf("bob setTimes: %v", err)
	}
	if err := alice.Chmod("/home/alice/f", 0o600); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := alice.Chtimes("/home/alice/f", mt, mt); err != nil {
		t.Fatal(err)
	}
	fi, _ := alice.Stat("/home/alice/f")
	if fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mt) {
		t.Fatalf("after chmod/chtimes: %v %v", fi.Mode(), fi.ModTime())
	}
	// xattrs
	if err := alice.SetXAttr("/home/alice/f", "user.color", "blue"); err != nil {
		t.Fatal(err)
	}
	got, err := alice.GetXAttrs("/home/alice/f", "user.color")
	if err != nil || got["user.color"] != "blue" {
		t.Fatalf("getxattr: %v %v", got, err)
	}
	all, err := alice.ListXAttrs("/home/alice/f")
	if err != nil || len(all) != 1 {
		t.Fatalf("listxattrs: %v %v", all, err)
	}
	if err := alice.SetXAttr("/home/alice/f", "trusted.x", "1"); !os.IsPermission(err) {
		t.Fatalf("trusted xattr by a user: %v", err)
	}
	if err := alice.RemoveXAttr("/home/alice/f", "user.color"); err != nil {
		t.Fatal(err)
	}
	if all, _ := alice.ListXAttrs("/home/alice/f"); len(all) != 0 {
		t.Fatalf("xattrs after remove: %v", all)
	}
}

func currentUserName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// fullListing walks the namespace and renders every entry, to compare
// namespaces across restarts.
func fullListing(t *testing.T, cl *hdfs.Client) string {
	t.Helper()
	var lines []string
	err := cl.Walk("/", func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %v %d %v %s", p, fi.Mode(), fi.Size(), fi.ModTime().UnixMilli(), fi.Sys().(*hdfs.FileStatus).GetOwner()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
