package ipc

import (
	"errors"
	"fmt"

	"github.com/avatarfs/avatarfs/internal/wire/hadooppb"
)

// Java exception class names that the IPC layer itself sends or that
// handlers commonly return. Clients (Java Hadoop, colinmarc/hdfs, hdfs-native)
// react to the class name, so it must be spelled exactly as in Hadoop.
const (
	// ClassIOException is the class used for handler errors that are not an *Error.
	ClassIOException = "java.io.IOException"
	// ClassRetriable tells the client to retry the call later (e.g. a full call queue).
	ClassRetriable = "org.apache.hadoop.ipc.RetriableException"
	// ClassStandby tells the client that this NameNode is not active and to fail over.
	ClassStandby = "org.apache.hadoop.ipc.StandbyException"
	// ClassNoSuchMethod is sent for a method the protocol does not have.
	ClassNoSuchMethod = "org.apache.hadoop.ipc.RpcNoSuchMethodException"
	// ClassNoSuchProtocol is sent for a protocol the server does not serve.
	ClassNoSuchProtocol = "org.apache.hadoop.ipc.RpcNoSuchProtocolException"
	// ClassRPCServer is the class of Hadoop's FATAL connection-level errors.
	ClassRPCServer = "org.apache.hadoop.ipc.RpcServerException"
	// ClassVersionMismatch is sent when the client speaks another IPC version.
	ClassVersionMismatch = "org.apache.hadoop.ipc.RPC$VersionMismatch"
	// ClassIPCException is sent for an unknown auth protocol in the preamble.
	ClassIPCException = "org.apache.hadoop.ipc.IpcException"
	// ClassAccessControl is Hadoop's permission / authentication failure.
	ClassAccessControl = "org.apache.hadoop.security.AccessControlException"
	// ClassInvalidProtobuf is what a Hadoop server answers when a request
	// message cannot be parsed (shaded protobuf in Hadoop 3).
	ClassInvalidProtobuf = "org.apache.hadoop.thirdparty.protobuf.InvalidProtocolBufferException"
)

// Error is a Hadoop exception carried by an RPC response: a handler returns
// one to choose the exception class the client sees, and Client.Call returns
// one for every ERROR or FATAL response.
type Error struct {
	// Class is the Java exception class name, e.g. "java.io.FileNotFoundException".
	Class string
	// Message is the exception message.
	Message string
	// Code is the RpcErrorCodeProto of the response. A handler may leave it
	// zero (ERROR_APPLICATION is sent); the client fills it from errorDetail.
	Code hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto
	// Fatal is set by the client when the server answered FATAL and closed
	// the connection. The server ignores it.
	Fatal bool
}

// Error returns "Class: Message", as Java prints a remote exception.
func (e *Error) Error() string {
	return e.Class + ": " + e.Message
}

// Errorf returns an *Error of the given Java exception class with a
// fmt-formatted message.
func Errorf(class, format string, args ...any) *Error {
	return &Error{Class: class, Message: fmt.Sprintf(format, args...)}
}

// IsClass reports whether err is, or wraps, an *Error of the given class.
func IsClass(err error, class string) bool {
	var e *Error
	return errors.As(err, &e) && e.Class == class
}

// errorFor converts a handler error to the class, message and code sent back.
func errorFor(err error) (class, msg string, code hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto) {
	var e *Error
	if errors.As(err, &e) {
		code = e.Code
		if code == 0 {
			code = hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION
		}
		class = e.Class
		if class == "" {
			class = ClassIOException
		}
		return class, e.Message, code
	}
	return ClassIOException, err.Error(), hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION
}

// fatalError is a connection-level failure: it is answered with a FATAL
// response and the connection is closed.
type fatalError struct {
	callID int32
	class  string
	msg    string
	code   hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto
}

func (e *fatalError) Error() string { return e.class + ": " + e.msg }

func fatalf(callID int32, code hadooppb.RpcResponseHeaderProto_RpcErrorCodeProto, format string, args ...any) *fatalError {
	return &fatalError{callID: callID, class: ClassRPCServer, msg: fmt.Sprintf(format, args...), code: code}
}
