package vfs

import (
	"errors"
	"io/fs"
	"sync"
	"syscall"
)

// ErrInjected is the error an InjectFS returns for an injected fault when
// the rule names none.
var ErrInjected = errors.New("vfs: injected fault")

// Op names an operation an InjectFS can fail.
type Op int

// The operations an InjectFS can fail.
const (
	OpWrite Op = iota
	OpSync
	OpCreate
	OpRename
	OpRemove
	OpSyncDir
)

// Rule decides whether one operation on one path fails, and how. It returns
// nil to let the operation through.
type Rule func(op Op, path string) error

// InjectFS wraps an FS and fails operations chosen by a Rule, for fault
// tests: a full disk (syscall.ENOSPC on writes), a failing fsync, a rename
// that never happens.
type InjectFS struct {
	FS
	mu   sync.Mutex
	rule Rule
}

// NewInjectFS wraps fsys with no faults.
func NewInjectFS(fsys FS) *InjectFS { return &InjectFS{FS: fsys} }

// SetRule installs the rule deciding faults; nil removes it.
func (e *InjectFS) SetRule(r Rule) {
	e.mu.Lock()
	e.rule = r
	e.mu.Unlock()
}

// DiskFull is a Rule failing every write and create under the whole FS with
// ENOSPC, like a full disk.
func DiskFull(op Op, path string) error {
	if op == OpWrite || op == OpCreate || op == OpSync {
		return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	}
	return nil
}

func (e *InjectFS) check(op Op, path string) error {
	e.mu.Lock()
	r := e.rule
	e.mu.Unlock()
	if r == nil {
		return nil
	}
	return r(op, path)
}

// Create fails when the rule says so.
func (e *InjectFS) Create(name string) (File, error) {
	if err := e.check(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &injectFile{File: f, fs: e}, nil
}

// OpenFile wraps the file so its writes and syncs can fail.
func (e *InjectFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := e.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectFile{File: f, fs: e}, nil
}

// Rename fails when the rule says so.
func (e *InjectFS) Rename(o, n string) error {
	if err := e.check(OpRename, n); err != nil {
		return err
	}
	return e.FS.Rename(o, n)
}

// Remove fails when the rule says so.
func (e *InjectFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.FS.Remove(name)
}

// SyncDir fails when the rule says so.
func (e *InjectFS) SyncDir(name string) error {
	if err := e.check(OpSyncDir, name); err != nil {
		return err
	}
	return e.FS.SyncDir(name)
}

type injectFile struct {
	File
	fs *InjectFS
}

func (f *injectFile) Write(p []byte) (int, error) {
	if err := f.fs.check(OpWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

// WriteAt fails like Write: both are writes to the rule.
func (f *injectFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *injectFile) Sync() error {
	if err := f.fs.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

// WriteVectorAt fails like WriteAt (OpWrite), else writes through.
func (f *injectFile) WriteVectorAt(bufs [][]byte, off int64) (int, error) {
	if err := f.fs.check(OpWrite, f.Name()); err != nil {
		return 0, err
	}
	return WriteVectorAt(f.File, bufs, off)
}
