package ipc

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"
)

// TestColinmarcClient serves the real github.com/colinmarc/hdfs/v2 client,
// one of the clients the NameNode must answer unchanged.
func TestColinmarcClient(t *testing.T) {
	methods := map[string]Method{
		"getFileInfo": {
			NewRequest: newGetFileInfo,
			Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
				src := req.(*hadooppb.GetFileInfoRequestProto).GetSrc()
				switch {
				case src == "/missing":
					return &hadooppb.GetFileInfoResponseProto{}, nil // no fs: not found
				case strings.HasPrefix(src, "/secret"):
					return nil, Errorf(ClassAccessControl, "Permission denied: user=%s, access=READ, inode=%q", call.User, src)
				}
				st := fileStatus(src)
				st.Owner = proto.String(call.User)
				return &hadooppb.GetFileInfoResponseProto{Fs: st}, nil
			},
		},
		"renewLease": {
			NewRequest: func() proto.Message { return new(hadooppb.RenewLeaseRequestProto) },
			Handle: func(ctx context.Context, call *Call, req proto.Message) (proto.Message, error) {
				return new(hadooppb.RenewLeaseResponseProto), nil
			},
		},
	}
	_, addr := startServer(t, Options{}, methods)
	c, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{addr}, User: "gopher"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	tests := []struct {
		name    string
		path    string
		wantErr error
	}{
		{"stat", "/user/gopher/file", nil},
		{"missing", "/missing", os.ErrNotExist},
		{"permission denied", "/secret/x", os.ErrPermission},
		{"after errors", "/user/gopher/other", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fi, err := c.Stat(tc.path)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != 1234 || fi.(*hdfs.FileInfo).Owner() != "gopher" {
				t.Fatalf("got size %d owner %q", fi.Size(), fi.(*hdfs.FileInfo).Owner())
			}
		})
	}
}
