package namenode

import (
	"context"
	"errors"
	"net"

	"github.com/avatarfs/avatarfs/internal/ipc"
	"google.golang.org/protobuf/proto"
)

// toIPC turns a namespace error into the IPC error reply a Hadoop client
// expects; anything else becomes java.io.IOException.
func toIPC(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return &ipc.Error{Class: e.Class, Message: e.Msg}
	}
	var ie *ipc.Error
	if errors.As(err, &ie) {
		return ie
	}
	return &ipc.Error{Class: ExIO, Message: err.Error()}
}

// callerOf identifies the caller of an RPC. Only at-most-once methods
// carry the retry-cache key; idempotent ones are simply re-executed.
func callerOf(call *ipc.Call, atMostOnce bool) *Caller {
	c := &Caller{User: call.User, CallID: -1, Detach: call.Detach}
	if call.RemoteAddr != nil {
		if host, _, err := net.SplitHostPort(call.RemoteAddr.String()); err == nil {
			c.Machine = host
		}
	}
	if atMostOnce {
		c.ClientID, c.CallID = call.ClientID, call.CallID
	}
	return c
}

// handler adapts a typed function to an ipc.Method.
func handler[Req any, PReq interface {
	*Req
	proto.Message
}, Resp proto.Message](atMostOnce bool, fn func(ctx context.Context, c *Caller, req PReq) (Resp, error)) ipc.Method {
	return ipc.Method{
		NewRequest: func() proto.Message { return PReq(new(Req)) },
		Handle: func(ctx context.Context, call *ipc.Call, req proto.Message) (proto.Message, error) {
			resp, err := fn(ctx, callerOf(call, atMostOnce), req.(PReq))
			if err != nil {
				return nil, toIPC(err)
			}
			return resp, nil
		},
	}
}
