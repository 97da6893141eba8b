package integration

import (
	"context"
	"testing"

	"github.com/avatarfs/avatarfs/internal/ipc"
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// TestRetryCacheSurvivesRestart resends a create with the same clientId
// and callId, as a client does after losing a reply: the NameNode answers
// with the original success, also after a kill -9 and restart, while a new
// call id gets FileAlreadyExistsException.
func TestRetryCacheSurvivesRestart(t *testing.T) {
	c := NewCluster(t, nil)
	c.Start()
	clientID := []byte("retry-cache-test")
	dial := func() *ipc.Client {
		cl, err := ipc.Dial(context.Background(), c.NNAddr, ipc.ClientOptions{User: currentUserName(),
			Protocol: "org.apache.hadoop.hdfs.protocol.ClientProtocol", ClientID: clientID})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	create := func(cl *ipc.Client, callID int32) (*pb.CreateResponseProto, error) {
		resp := &pb.CreateResponseProto{}
		err := cl.CallWith(context.Background(), "create", ipc.CallOpts{CallID: callID, RetryCount: 1},
			&pb.CreateRequestProto{Src: proto.String("/once"), Masked: &pb.FsPermissionProto{Perm: proto.Uint32(0o644)},
				ClientName: proto.String("retrier"), CreateFlag: proto.Uint32(1), CreateParent: proto.Bool(true),
				Replication: proto.Uint32(1), BlockSize: proto.Uint64(1 << 20)}, resp)
		return resp, err
	}
	cl := dial()
	first, err := create(cl, 100)
	if err != nil {
		t.Fatal(err)
	}
	again, err := create(cl, 100)
	if err != nil || again.GetFs().GetFileId() != first.GetFs().GetFileId() {
		t.Fatalf("resent create: %v (file id %d, first %d)", err, again.GetFs().GetFileId(), first.GetFs().GetFileId())
	}
	if _, err := create(cl, 101); !ipc.IsClass(err, "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException") {
		t.Fatalf("a new create of the open file: %v", err)
	}
	c.Kill()
	c.Start()
	cl = dial()
	again, err = create(cl, 100)
	if err != nil || again.GetFs().GetFileId() != first.GetFs().GetFileId() {
		t.Fatalf("resent create after restart: %v", err)
	}
}
