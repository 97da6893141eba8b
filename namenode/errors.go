package namenode

import "fmt"

// Hadoop exception classes the namespace answers with. Hadoop clients
// react to the class name, so these are wire contract.
const (
	ExFileNotFound         = "java.io.FileNotFoundException"
	ExIO                   = "java.io.IOException"
	ExFileAlreadyExists    = "org.apache.hadoop.fs.FileAlreadyExistsException"
	ExAlreadyBeingCreated  = "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException"
	ExAccessControl        = "org.apache.hadoop.security.AccessControlException"
	ExPathIsNotEmptyDir    = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"
	ExParentNotDirectory   = "org.apache.hadoop.fs.ParentNotDirectoryException"
	ExIllegalArgument      = "org.apache.hadoop.HadoopIllegalArgumentException"
	ExInvalidPath          = "org.apache.hadoop.fs.InvalidPathException"
	ExSafeMode             = "org.apache.hadoop.hdfs.server.namenode.SafeModeException"
	ExLeaseExpired         = "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException"
	ExRetriable            = "org.apache.hadoop.ipc.RetriableException"
	ExNotReplicatedYet     = "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException"
	ExRecoveryInProgress   = "org.apache.hadoop.hdfs.protocol.RecoveryInProgressException"
	ExUnsupportedOperation = "java.lang.UnsupportedOperationException"
	ExStandby              = "org.apache.hadoop.ipc.StandbyException"
	ExXAttrLimit           = "java.io.IOException"
	ExFSLimit              = "org.apache.hadoop.hdfs.protocol.FSLimitException$PathComponentTooLongException"
	ExMaxDirItems          = "org.apache.hadoop.hdfs.protocol.FSLimitException$MaxDirectoryItemsExceededException"
)

// Error is a namespace failure carrying the Hadoop exception class a client
// should see. The RPC layer turns it into an IPC error reply.
type Error struct {
	Class string
	Msg   string
}

func (e *Error) Error() string { return e.Class + ": " + e.Msg }

func errorf(class, format string, args ...any) *Error {
	return &Error{Class: class, Msg: fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *Error {
	return errorf(ExFileNotFound, format, args...)
}
