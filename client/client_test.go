package client

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/avatarfs/avatarfs/conf"
)

func TestResolvePath(t *testing.T) {
	const fs = "hdfs://nn:8020"
	for _, c := range []struct{ in, want, err string }{
		{"/a/b", "/a/b", ""},
		{"/a//b/", "/a/b", ""},
		{"/", "/", ""},
		{"x", "/user/alice/x", ""},
		{".", "/user/alice", ""},
		{"./x/../y", "/user/alice/y", ""},
		{"../bob", "/user/bob", ""},
		{"../../..", "/", ""},
		{"hdfs://nn:8020/a/b", "/a/b", ""},
		{"hdfs://nn:8020", "/", ""},
		{"hdfs:///a", "/a", ""},
		{"hdfs://other:8020/a", "", "Wrong FS: hdfs://other:8020/a, expected: hdfs://nn:8020"},
		{"file:/tmp", "", "Wrong FS: file:/tmp, expected: hdfs://nn:8020"},
		{"a:b", "/user/alice/a:b", ""},
	} {
		got, err := ResolvePath(fs, "/user/alice", c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ResolvePath(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ResolvePath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestUmask(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint16
		bad  bool
	}{
		{"022", 0o022, false},
		{"0022", 0o022, false},
		{"077", 0o077, false},
		{"u=rwx,g=rx,o=", 0o027, false},
		{"u=rwx,g=rwx,o=rx", 0o002, false},
		{"a=r", 0o333, false},
		{"1022", 0, true},
		{"rwx", 0, true},
		{"", 0o022, false},
	} {
		cf := conf.New()
		cf.Set("fs.permissions.umask-mode", c.in)
		got, err := Umask(cf)
		if c.bad {
			if err == nil || err.Error() != fmt.Sprintf("Unable to parse configuration fs.permissions.umask-mode with value %s as octal or symbolic umask.", c.in) {
				t.Errorf("Umask(%q) error = %v", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Umask(%q) = %o, %v; want %o", c.in, got, err, c.want)
		}
	}
}

func TestChmod(t *testing.T) {
	for _, c := range []struct {
		mode     string
		existing uint16
		dir      bool
		want     uint16
	}{
		{"755", 0o644, false, 0o755},
		{"1777", 0o755, true, 0o1777},
		{"0644", 0o1777, true, 0o644},
		{"u+x", 0o644, false, 0o744},
		{"go-w", 0o777, false, 0o755},
		{"a=r", 0o777, false, 0o444},
		{"+t", 0o755, true, 0o1755},
		{"-t", 0o1755, true, 0o755},
		{"o=rwt", 0o700, true, 0o1706},
		{"a+X", 0o644, false, 0o644},
		{"a+X", 0o744, false, 0o755},
		{"a+X", 0o600, true, 0o711},
		{"u=rwx,g=rx,o=r", 0o777, false, 0o754},
		{"g+w,o+rX,+t", 0o755, true, 0o1755}, // the last clause (all classes) replaces the others, as in Hadoop
		{"ug+rw", 0o400, false, 0o660},
		{"=", 0o777, false, 0},
	} {
		m, err := ParseChmod(c.mode)
		if c.mode == "=" {
			if err == nil {
				t.Errorf("ParseChmod(%q) accepted", c.mode)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseChmod(%q): %v", c.mode, err)
			continue
		}
		if got := m.Apply(c.existing, c.dir); got != c.want {
			t.Errorf("chmod %s on %o = %o, want %o", c.mode, c.existing, got, c.want)
		}
	}
	for _, bad := range []string{"8", "77", "u+q", "u+x g+w", "2755", "abc", "", "u=rwx,o="} {
		if _, err := ParseChmod(bad); err == nil {
			t.Errorf("ParseChmod(%q) accepted", bad)
		}
	}
	if _, err := ParseChmod("u+x, g+w"); err != nil {
		t.Errorf("comma and space separated clauses: %v", err)
	}
}

func TestConnectErrorMessage(t *testing.T) {
	host, _ := os.Hostname()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	e := &ConnectError{Addr: "127.0.0.1:9", Err: fmt.Errorf("ipc: dial 127.0.0.1:9: %w", refused)}
	want := "Call From " + host + " to 127.0.0.1:9 failed on connection exception: java.net.ConnectException: Connection refused; For more details see:  http://wiki.apache.org/hadoop/ConnectionRefused"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
	if strings.Contains(e.Error(), "\n") {
		t.Error("message has more than one line")
	}
	dns := &ConnectError{Addr: "nohost:8020", Err: &net.DNSError{Name: "nohost", Err: "no such host"}}
	if dns.Error() != "java.net.UnknownHostException: nohost" {
		t.Errorf("unknown host: %q", dns.Error())
	}
}

func TestRemoteErrorIs(t *testing.T) {
	nf := &RemoteError{Class: ExFileNotFound, Message: "File does not exist: /x"}
	if !errors.Is(nf, os.ErrNotExist) || errors.Is(nf, os.ErrExist) {
		t.Error("FileNotFoundException is not os.ErrNotExist")
	}
	if !errors.Is(&RemoteError{Class: ExAccessControl}, os.ErrPermission) {
		t.Error("AccessControlException is not os.ErrPermission")
	}
	if !IsClass(fmt.Errorf("wrapped: %w", nf), ExFileNotFound) {
		t.Error("IsClass does not unwrap")
	}
}

func TestEmptyFileChecksum(t *testing.T) {
	// Hadoop's answer for a file without blocks.
	fc := &FileChecksum{CRCType: "CRC32"}
	copy(fc.MD5[:], mustHex("70bc8f4b72a86921468bf8e8441dce51"))
	if fc.Algorithm() != "MD5-of-0MD5-of-0CRC32" {
		t.Errorf("algorithm %q", fc.Algorithm())
	}
	if got := hex.EncodeToString(fc.Bytes()); got != "00000000000000000000000070bc8f4b72a86921468bf8e8441dce51" {
		t.Errorf("bytes %s", got)
	}
	fc = &FileChecksum{BytesPerCRC: 512, CRCPerBlock: 262144, CRCType: "CRC32C"}
	if fc.Algorithm() != "MD5-of-262144MD5-of-512CRC32C" {
		t.Errorf("algorithm %q", fc.Algorithm())
	}
	if got := hex.EncodeToString(fc.Bytes()[:12]); got != "000002000000000000040000" {
		t.Errorf("header %s", got)
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestXAttrNames(t *testing.T) {
	x, err := xattrPB("USER.color", []byte("x"))
	if err != nil || xattrName(x) != "user.color" {
		t.Errorf("USER.color: %v %v", x, err)
	}
	for name, want := range map[string]string{
		"color":    "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'",
		"us.color": "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'",
		"foo.bar":  "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'",
		"user.":    "XAttr name cannot be empty.",
	} {
		if _, err := xattrPB(name, nil); err == nil || err.Error() != want {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNewRefusesOtherSchemes(t *testing.T) {
	cf := conf.New()
	cf.Set("fs.defaultFS", "file:///")
	if _, err := New(cf); err == nil || err.Error() != `No FileSystem for scheme "file"` {
		t.Errorf("file:/// gave %v", err)
	}
}

func TestNewUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cf := conf.New()
	cf.Set("fs.defaultFS", "hdfs://"+addr)
	_, err = New(cf)
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Addr != addr || !strings.Contains(err.Error(), "to "+addr+" failed on connection exception: java.net.ConnectException: Connection refused") {
		t.Errorf("unreachable NameNode: %v", err)
	}
}
