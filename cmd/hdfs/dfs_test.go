package main

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatarfs/avatarfs/client"
	"github.com/avatarfs/avatarfs/conf"
)

// Golden tests of the shell's output formats (Hadoop 3's, byte for byte).

func TestPermString(t *testing.T) {
	for perm, want := range map[uint16]string{
		0o755: "rwxr-xr-x", 0o644: "rw-r--r--", 0: "---------", 0o1777: "rwxrwxrwt",
		0o1776: "rwxrwxrwT", 0o700: "rwx------", 0o4755: "rwxr-xr-x",
	} {
		if got := permString(perm); got != want {
			t.Errorf("permString(%o) = %q, want %q", perm, got, want)
		}
	}
	for perm, want := range map[uint16]string{0o755: "755", 0o1777: "1777", 0o644: "644", 0: "0", 0o44: "44", 0o7: "7"} {
		if got := permOctal(perm); got != want {
			t.Errorf("permOctal(%o) = %q, want %q", perm, got, want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1: "1", 1023: "1023", 1024: "1 K", 1536: "1.5 K", 1234567: "1.2 M",
		1048575: "1.0 M", 128 << 20: "128 M", 5<<30 + 1: "5.0 G", 3 << 40: "3 T",
		-2048: "-2 K", 1<<40 + 5<<30: "1.0 T", 1<<62 + 1: "4.0 E", 1125899906842624: "1 P",
		1181116006: "1.1 G",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestJavaFixed(t *testing.T) {
	for _, c := range []struct {
		f    float64
		d    int
		want string
	}{
		{0.25, 1, "0.3"}, {1.005, 2, "1.01"}, {2.5, 0, "3"}, {9.96, 1, "10.0"}, {0.05, 1, "0.1"},
		{1.17737, 1, "1.2"}, {33.49609375, 0, "33"}, {99.5, 0, "100"}, {0, 0, "0"}, {12, 1, "12.0"},
	} {
		if got := javaFixed(c.f, c.d); got != c.want {
			t.Errorf("javaFixed(%v, %d) = %q, want %q", c.f, c.d, got, c.want)
		}
	}
	if got := percent(0, 0); got != "NaN%" {
		t.Errorf("percent(0, 0) = %q", got)
	}
	if got := percent(1, 3); got != "33%" {
		t.Errorf("percent(1, 3) = %q", got)
	}
}

var at1405 = time.Date(2026, 11, 25, 14, 5, 0, 0, time.UTC).UnixMilli()

func TestLsLine(t *testing.T) {
	dir := &client.FileStatus{IsDir: true, Perm: 0o755, Owner: "alice", Group: "supergroup", Mtime: at1405}
	file := &client.FileStatus{Perm: 0o644, Owner: "alice", Group: "supergroup", Mtime: at1405, Length: 1234567, Replication: 3}
	f := newLsFormat(time.UTC)
	f.adjust([]*client.FileStatus{dir, file})
	if got, want := f.line(dir, "/user/alice/dir"), "drwxr-xr-x   - alice supergroup          0 2026-11-25 14:05 /user/alice/dir"; got != want {
		t.Errorf("dir:\n got %q\nwant %q", got, want)
	}
	if got, want := f.line(file, "/user/alice/f"), "-rw-r--r--   3 alice supergroup    1234567 2026-11-25 14:05 /user/alice/f"; got != want {
		t.Errorf("file:\n got %q\nwant %q", got, want)
	}
	f.human = true
	if got, want := f.line(file, "f"), "-rw-r--r--   3 alice supergroup      1.2 M 2026-11-25 14:05 f"; got != want {
		t.Errorf("-h:\n got %q\nwant %q", got, want)
	}
	// Widths grow with longer values and never shrink.
	big := &client.FileStatus{Perm: 0o1777, IsDir: true, Owner: "hdfs", Group: "g", Mtime: at1405, HasACL: true}
	huge := &client.FileStatus{Perm: 0o600, Owner: "bob", Group: "g", Mtime: at1405, Length: 12345678901234, Replication: 1024}
	f = newLsFormat(time.UTC)
	f.adjust([]*client.FileStatus{huge})
	f.adjust([]*client.FileStatus{big})
	if got, want := f.line(big, "/tmp"), "drwxrwxrwt+   - hdfs g              0 2026-11-25 14:05 /tmp"; got != want {
		t.Errorf("wide:\n got %q\nwant %q", got, want)
	}
	if got, want := f.line(huge, "/x"), "-rw------- 1024 bob  g 12345678901234 2026-11-25 14:05 /x"; got != want {
		t.Errorf("wide:\n got %q\nwant %q", got, want)
	}
	// Local time zone of the shell.
	f = newLsFormat(time.FixedZone("X", -5*3600))
	f.adjust([]*client.FileStatus{dir})
	if got := f.line(dir, "d"); !strings.Contains(got, " 2026-11-25 09:05 d") {
		t.Errorf("time zone: %q", got)
	}
}

func TestTable(t *testing.T) {
	tb := newTable(3)
	tb.add("0", "0", "/user/alice/a")
	tb.add("1234567", "3703701", "/user/alice/f")
	want := "0        0        /user/alice/a\n1234567  3703701  /user/alice/f\n"
	if got := tb.String(); got != want {
		t.Errorf("du table:\n%q\nwant\n%q", got, want)
	}
	if newTable(2, "A", "B").String() != "" {
		t.Error("a table with only headers prints nothing")
	}
}

func TestCountFormat(t *testing.T) {
	cs := &client.ContentSummary{DirectoryCount: 2, FileCount: 1, Length: 1234567, Quota: -1, SpaceQuota: -1, SpaceConsumed: 3703701}
	if got, want := countHeader(false)+"PATHNAME", "   DIR_COUNT   FILE_COUNT       CONTENT_SIZE PATHNAME"; got != want {
		t.Errorf("header:\n%q\n%q", got, want)
	}
	if got, want := countHeader(true)+"PATHNAME", "       QUOTA       REM_QUOTA     SPACE_QUOTA REM_SPACE_QUOTA    DIR_COUNT   FILE_COUNT       CONTENT_SIZE PATHNAME"; got != want {
		t.Errorf("-q header:\n%q\n%q", got, want)
	}
	if got, want := countLine(cs, false, false, "/d"), "           2            1            1234567 /d"; got != want {
		t.Errorf("count:\n%q\n%q", got, want)
	}
	if got, want := countLine(cs, true, true, "/d"), "        none             inf            none             inf            2            1              1.2 M /d"; got != want {
		t.Errorf("count -q -h:\n%q\n%q", got, want)
	}
	cs.Quota, cs.SpaceQuota = 100, 10<<20
	if got, want := quotaColumns(cs, false), "         100              97        10485760         6782059 "; got != want {
		t.Errorf("quotas:\n%q\n%q", got, want)
	}
}

func TestStatFormat(t *testing.T) {
	st := &client.FileStatus{Perm: 0o644, Owner: "alice", Group: "supergroup", Mtime: at1405, Atime: at1405 + 61000,
		Length: 1234567, Replication: 3, BlockSize: 128 << 20}
	ms := strconv.FormatInt(at1405, 10)
	got := statFormat("%a %A %b %F %g %n %o %r %u %x %X %y %Y %% %q %", st, "f")
	want := "644 rw-r--r-- 1234567 regular file supergroup f 134217728 3 alice 2026-11-25 14:06:01 " +
		strconv.FormatInt(at1405+61000, 10) + " 2026-11-25 14:05:00 " + ms + " % q "
	if got != want {
		t.Errorf("stat:\n%q\n%q", got, want)
	}
	dir := &client.FileStatus{IsDir: true, Perm: 0o1777, Mtime: at1405}
	if got := statFormat("%F %a %A %r %o", dir, "tmp"); got != "directory 1777 rwxrwxrwt 0 0" {
		t.Errorf("dir: %q", got)
	}
}

func TestXAttrCodec(t *testing.T) {
	for _, c := range []struct{ in, text, hex, b64 string }{
		{`"red"`, `"red"`, "0x726564", "0scmVk"},
		{"0x0102ff", "\"\x01\x02\ufffd\"", "0x0102ff", "0sAQL/"},
		{"0sAQL/", "\"\x01\x02\ufffd\"", "0x0102ff", "0sAQL/"},
		{"plain", `"plain"`, "0x706c61696e", "0scGxhaW4="},
	} {
		v, err := decodeXAttr(c.in)
		if err != nil {
			t.Errorf("decode %q: %v", c.in, err)
			continue
		}
		if got := encodeXAttr(v, "TEXT"); got != c.text {
			t.Errorf("%q text = %q, want %q", c.in, got, c.text)
		}
		if got := encodeXAttr(v, "HEX"); got != c.hex {
			t.Errorf("%q hex = %q, want %q", c.in, got, c.hex)
		}
		if got := encodeXAttr(v, "BASE64"); got != c.b64 {
			t.Errorf("%q base64 = %q, want %q", c.in, got, c.b64)
		}
	}
}

func TestGlobPattern(t *testing.T) {
	for _, c := range []struct {
		glob     string
		match    []string
		nomatch  []string
		wildcard bool
	}{
		{"*.txt", []string{"a.txt", ".txt", ".hidden.txt"}, []string{"a.txt2", "atxt"}, true},
		{"?", []string{"a"}, []string{"", "ab"}, true},
		{"[abc]x", []string{"ax", "cx"}, []string{"dx"}, true},
		{"[!abc]x", []string{"dx"}, []string{"ax"}, true},
		{"[^a]", []string{"b"}, []string{"a"}, true},
		{"[a-c]*", []string{"b1"}, []string{"d"}, true},
		{"{foo,ba*}", []string{"foo", "bar", "ba"}, []string{"fo", "xbar"}, true},
		{"a{b,c{d,e}}", []string{"ab", "acd", "ace"}, []string{"ac"}, true},
		{"a.b", []string{"a.b"}, []string{"axb"}, false},
		{`\*`, []string{"*"}, []string{"x"}, false},
		{"a+b(c)|$^", []string{"a+b(c)|$^"}, nil, false},
	} {
		g, err := compileGlob(c.glob)
		if err != nil {
			t.Errorf("compile %q: %v", c.glob, err)
			continue
		}
		if g.wildcard != c.wildcard {
			t.Errorf("%q wildcard = %v", c.glob, g.wildcard)
		}
		for _, m := range c.match {
			if !g.re.MatchString(m) {
				t.Errorf("%q does not match %q", c.glob, m)
			}
		}
		for _, m := range c.nomatch {
			if g.re.MatchString(m) {
				t.Errorf("%q matches %q", c.glob, m)
			}
		}
	}
	for glob, want := range map[string]string{
		"[ab":  "Illegal file pattern: Unclosed character class near index 3",
		"{a,b": "Illegal file pattern: Unclosed group near index 4",
		`ab\`:  "Illegal file pattern: Missing escaped character near index 3",
	} {
		if _, err := compileGlob(glob); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", glob, err, want)
		}
	}
	got, err := expandBraces("/a/{b/c,d}/e{f,g}")
	if err != nil || strings.Join(got, " ") != "/a/b/c/e{f,g} /a/d/e{f,g}" {
		t.Errorf("expandBraces = %v, %v", got, err)
	}
}

func TestRelativize(t *testing.T) {
	for _, c := range []struct {
		p     string
		dir   bool
		want  string
		where string
	}{
		{"/user/alice", true, ".", "/user/alice"},
		{"/user/alice/x", false, "x", "/user/alice"},
		{"/user/alice/d/x", false, "d/x", "/user/alice"},
		{"/user/bob", true, "../bob", "/user/alice"},
		{"/user/bob/f", false, "../bob/f", "/user/alice"},
		{"/", true, "../..", "/user/alice"},
		{"/tmp/x", false, "../../tmp/x", "/user/alice"},
		{"/user", true, "..", "/user/alice"},
	} {
		if got := relativize(c.where, c.p, c.dir); got != c.want {
			t.Errorf("relativize(%q, %q) = %q, want %q", c.where, c.p, got, c.want)
		}
	}
}

func TestOptionParsing(t *testing.T) {
	f := newFormat(1, 2, "R", "skipTrash")
	args, err := f.parse([]string{"-R", "-skipTrash", "a", "-b"})
	if err != nil || !f.opt("R") || !f.opt("skipTrash") || strings.Join(args, ",") != "a,-b" {
		t.Errorf("parse = %v %v", args, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-x", "a"}, "Illegal option -x"},
		{[]string{"-Rx", "a"}, "Illegal option -Rx"},
		{[]string{"-R"}, "Not enough arguments: expected 1 but got 0"},
		{[]string{"a", "b", "c"}, "Too many arguments: expected 2 but got 3"},
	} {
		if _, err := newFormat(1, 2, "R").parse(c.args); err == nil || err.Error() != c.want {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	args, err = newFormat(0, 9, "f").parse([]string{"--", "-f"})
	if err != nil || len(args) != 1 || args[0] != "-f" {
		t.Errorf("after --: %v %v", args, err)
	}
	args, err = newFormat(0, 9, "f").parse([]string{"-", "x"})
	if err != nil || len(args) != 2 {
		t.Errorf("stdin -: %v %v", args, err)
	}
	a := []string{"-n", "user.a", "-d", "/x"}
	v, err := popOption("-n", &a)
	if err != nil || v == nil || *v != "user.a" || strings.Join(a, " ") != "-d /x" {
		t.Errorf("popOption: %v %v %v", v, a, err)
	}
	a = []string{"/x", "-n"}
	if _, err := popOption("-n", &a); err == nil || err.Error() != "option -n requires 1 argument." {
		t.Errorf("popOption without value: %v", err)
	}
}

// Whole commands against the in-memory file system.

func fakeTree() *fakeFS {
	fs := newFakeFS("alice")
	fs.add("/user/alice/dir", true, 0)
	fs.add("/user/alice/dir/sub", true, 0)
	fs.add("/user/alice/f", false, 1234567)
	fs.add("/user/alice/dir/a.txt", false, 10)
	fs.add("/user/alice/dir/b.txt", false, 0)
	fs.add("/user/alice/dir/sub/c.txt", false, 5)
	fs.add("/tmp", true, 0).Perm = 0o1777
	return fs
}

func TestLsCommand(t *testing.T) {
	fs := fakeTree()
	out, errOut, code := runFake(t, fs, "-ls")
	want := "Found 2 items\n" +
		"drwxr-xr-x   - alice supergroup          0 2026-11-25 14:05 dir\n" +
		"-rw-r--r--   3 alice supergroup    1234567 2026-11-25 14:05 f\n"
	if out != want || errOut != "" || code != 0 {
		t.Errorf("-ls: %d\n%s%s\nwant\n%s", code, out, errOut, want)
	}
	out, _, _ = runFake(t, fs, "-ls", "/user/alice/", "/tmp")
	want = "Found 2 items\n" +
		"drwxr-xr-x   - alice supergroup          0 2026-11-25 14:05 /user/alice/dir\n" +
		"-rw-r--r--   3 alice supergroup    1234567 2026-11-25 14:05 /user/alice/f\n"
	if out != want {
		t.Errorf("-ls /user/alice/ /tmp (empty):\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runFake(t, fs, "-ls", "-R", "dir")
	want = "-rw-r--r--   3 alice supergroup         10 2026-11-25 14:05 dir/a.txt\n" +
		"-rw-r--r--   3 alice supergroup          0 2026-11-25 14:05 dir/b.txt\n" +
		"drwxr-xr-x   - alice supergroup          0 2026-11-25 14:05 dir/sub\n" +
		"-rw-r--r--   3 alice supergroup          5 2026-11-25 14:05 dir/sub/c.txt\n"
	if out != want {
		t.Errorf("-ls -R dir:\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runFake(t, fs, "-ls", "-d", "-h", "/", "f", "/tmp")
	want = "drwxr-xr-x   - alice supergroup          0 2026-11-25 14:05 /\n" +
		"-rw-r--r--   3 alice supergroup      1.2 M 2026-11-25 14:05 f\n" +
		"drwxrwxrwt   - alice supergroup          0 2026-11-25 14:05 /tmp\n"
	if out != want {
		t.Errorf("-ls -d -h:\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runFake(t, fs, "-ls", "-C", "-S", "dir")
	if out != "dir/a.txt\ndir/b.txt\ndir/sub\n" {
		t.Errorf("-ls -C -S:\n%s", out)
	}
	out, _, _ = runFake(t, fs, "-ls", "-C", "-r", "dir")
	if out != "dir/sub\ndir/b.txt\ndir/a.txt\n" {
		t.Errorf("-ls -C -r:\n%s", out)
	}
	out, errOut, code = runFake(t, fs, "-ls", "/nope", "/x*", "dir/*.txt")
	if errOut != "ls: `/x*': No such file or directory\nls: `/nope': No such file or directory\n" || code != 1 {
		t.Errorf("missing paths: %d %q", code, errOut)
	}
	if !strings.Contains(out, " dir/a.txt\n") || !strings.Contains(out, " dir/b.txt\n") || strings.Contains(out, "Found") {
		t.Errorf("glob of files:\n%s", out)
	}
}

func TestGlobExpansion(t *testing.T) {
	fs := fakeTree()
	fs.add("/user/bob/x.txt", false, 1)
	s := func(args ...string) string {
		out, errOut, _ := runFake(t, fs, append([]string{"-ls", "-C", "-d"}, args...)...)
		return strings.TrimSpace(out + errOut)
	}
	for pat, want := range map[string]string{
		"/user/*/*.txt":          "/user/bob/x.txt",
		"/user/*/dir/*.txt":      "/user/alice/dir/a.txt\n/user/alice/dir/b.txt",
		"d?r/[ab].txt":           "dir/a.txt\ndir/b.txt",
		"{dir/sub,f}":            "dir/sub\nf",
		"/user/{alice/f,bob}":    "/user/alice/f\n/user/bob",
		"../bob/*":               "../bob/x.txt",
		"hdfs://nn:8020/user/b*": "hdfs://nn:8020/user/bob",
		"/user/alice/f/*":        "ls: `/user/alice/f/*': No such file or directory",
		"dir/[ab":                "ls: Illegal file pattern: Unclosed character class near index 3",
		"/":                      "/",
		"*":                      "dir\nf",
	} {
		if got := s(pat); got != want {
			t.Errorf("%s:\n got %q\nwant %q", pat, got, want)
		}
	}
}

func TestCountDuDfStat(t *testing.T) {
	fs := fakeTree()
	out, _, code := runFake(t, fs, "-count", "-v", "dir", "/user/alice/f")
	want := "   DIR_COUNT   FILE_COUNT       CONTENT_SIZE PATHNAME\n" +
		"           2            3                 15 dir\n" +
		"           0            1            1234567 /user/alice/f\n"
	if out != want || code != 0 {
		t.Errorf("-count:\n%s\nwant\n%s", out, want)
	}
	out, _, _ = runFake(t, fs, "-du", "dir")
	want = "10  30  dir/a.txt\n0   0   dir/b.txt\n5   15  dir/sub\n"
	if out != want {
		t.Errorf("-du:\n%q\nwant\n%q", out, want)
	}
	out, _, _ = runFake(t, fs, "-du", "-s", "-h", "-v", "/user/alice", "f")
	want = "SIZE   DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS  FULL_PATH_NAME\n" +
		"1.2 M  3.5 M                                  /user/alice\n" +
		"1.2 M  3.5 M                                  f\n"
	if out != want {
		t.Errorf("-du -s -h -v:\n%q\nwant\n%q", out, want)
	}
	out, _, _ = runFake(t, fs, "-df")
	want = "Filesystem               Size           Used      Available  Use%\n" +
		"hdfs://nn:8020  3298534883328  1104880336896  1099511627776   33%\n"
	if out != want {
		t.Errorf("-df:\n%q\nwant\n%q", out, want)
	}
	out, _, _ = runFake(t, fs, "-df", "-h", "/", "dir")
	want = "Filesystem      Size   Used  Available  Use%\n" +
		"hdfs://nn:8020   3 T  1.0 T        1 T   33%\n" +
		"hdfs://nn:8020   3 T  1.0 T        1 T   33%\n"
	if out != want {
		t.Errorf("-df -h:\n%q\nwant\n%q", out, want)
	}
	out, _, _ = runFake(t, fs, "-stat", "%F %n %b %u:%g %a", "/", "f", "dir/*.txt")
	want = "directory  0 alice:supergroup 755\nregular file f 1234567 alice:supergroup 644\n" +
		"regular file a.txt 10 alice:supergroup 644\nregular file b.txt 0 alice:supergroup 644\n"
	if out != want {
		t.Errorf("-stat:\n%q\nwant\n%q", out, want)
	}
	out, _, _ = runFake(t, fs, "-stat", "f")
	if out != "2026-11-25 14:05:00\n" {
		t.Errorf("-stat default: %q", out)
	}
}

func TestMkdirRmTrash(t *testing.T) {
	fs := fakeTree()
	_, errOut, code := runFake(t, fs, "-mkdir", "dir", "a/b", "f")
	want := "mkdir: `dir': File exists\nmkdir: `hdfs://nn:8020/user/alice/a': No such file or directory\nmkdir: `f': Is not a directory\n"
	if errOut != want || code != 1 {
		t.Errorf("mkdir: %d\n%s\nwant\n%s", code, errOut, want)
	}
	if _, errOut, code = runFake(t, fs, "-mkdir", "-p", "a/b", "dir"); errOut != "" || code != 0 {
		t.Errorf("mkdir -p: %d %s", code, errOut)
	}
	out, errOut, code := runFake(t, fs, "-rm", "dir", "f", "nope")
	if out != "Deleted f\n" || errOut != "rm: `dir': Is a directory\nrm: `nope': No such file or directory\n" || code != 1 {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
	if out, errOut, code = runFake(t, fs, "-rm", "-f", "nope", "nope*"); out != "" || errOut != "" || code != 0 {
		t.Errorf("rm -f: %d %q %q", code, out, errOut)
	}
	_, errOut, _ = runFake(t, fs, "-rmdir", "dir")
	if errOut != "rmdir: `dir': Directory is not empty\n" {
		t.Errorf("rmdir: %q", errOut)
	}
	// The trash.
	fs.trash = time.Hour
	out, errOut, code = runFake(t, fs, "-rm", "-r", "dir/sub")
	if want := "Moved: 'hdfs://nn:8020/user/alice/dir/sub' to trash at: hdfs://nn:8020/user/alice/.Trash/Current/user/alice/dir/sub\n"; out != want || errOut != "" || code != 0 {
		t.Errorf("rm to trash: %d %q %q", code, out, errOut)
	}
	if st, _ := fs.Stat("/user/alice/.Trash/Current/user/alice/dir/sub/c.txt"); st == nil {
		t.Error("not in the trash")
	}
	if st, _ := fs.Stat("/user/alice/.Trash/Current/user/alice/dir"); st == nil || st.Perm != 0o700 {
		t.Errorf("trash directory: %+v", st)
	}
	fs.add("/user/alice/dir/sub", true, 0)
	out, _, _ = runFake(t, fs, "-rm", "-r", "dir/sub")
	stamp := strconv.FormatInt(fs.now, 10)
	if want := "Moved: 'hdfs://nn:8020/user/alice/dir/sub' to trash at: hdfs://nn:8020/user/alice/.Trash/Current/user/alice/dir/sub" + stamp + "\n"; out != want {
		t.Errorf("second move to trash: %q, want %q", out, want)
	}
	out, _, _ = runFake(t, fs, "-rm", "-r", ".Trash/Current/user/alice/dir/sub")
	if out != "Deleted .Trash/Current/user/alice/dir/sub\n" {
		t.Errorf("rm in the trash: %q", out)
	}
	_, errOut, code = runFake(t, fs, "-rm", "-r", "/user")
	if errOut != "rm: Cannot move \"hdfs://nn:8020/user\" to the trash, as it contains the trash. Consider using -skipTrash option\n" || code != 1 {
		t.Errorf("rm of the trash's parent: %d %q", code, errOut)
	}
	out, _, _ = runFake(t, fs, "-rm", "-r", "-skipTrash", "dir")
	if out != "Deleted dir\n" {
		t.Errorf("-skipTrash: %q", out)
	}
}

func TestUsageErrors(t *testing.T) {
	fs := fakeTree()
	_, errOut, code := runFake(t, fs, "-foo")
	if code != 255 || !strings.HasPrefix(errOut, "-foo: Unknown command\nUsage: hadoop fs [generic options]\n\t[-appendToFile <localsrc> ... <dst>]\n") ||
		!strings.HasSuffix(errOut, "command [genericOptions] [commandOptions]\n\n") {
		t.Errorf("unknown command: %d\n%s", code, errOut)
	}
	_, errOut, code = runFake(t, fs, "-ls", "-x")
	if code != 255 || !strings.HasPrefix(errOut, "-ls: Illegal option -x\nUsage: hadoop fs [generic options]\n") ||
		!strings.HasSuffix(errOut, "\nUsage: hadoop fs [generic options] -ls [-C] [-d] [-h] [-q] [-R] [-t] [-S] [-r] [-u] [<path> ...]\n") {
		t.Errorf("bad option: %d\n%s", code, errOut)
	}
	_, errOut, code = runFake(t, fs, "ls")
	if code != 255 || !strings.HasPrefix(errOut, "ls: Unknown command\nDid you mean -ls?  This command begins with a dash.\n") {
		t.Errorf("no dash: %d\n%s", code, errOut)
	}
	_, errOut, code = runFake(t, fs)
	if code != 255 || !strings.HasPrefix(errOut, "Usage: hadoop fs [generic options]\n") {
		t.Errorf("no command: %d\n%s", code, errOut)
	}
	_, errOut, code = runFake(t, fs, "-setrep", "x", "f")
	if code != 255 || !strings.HasPrefix(errOut, "setrep: Illegal replication, a positive integer expected\n-setrep: For input string: \"x\"\n") {
		t.Errorf("setrep x: %d\n%s", code, errOut)
	}
	_, errOut, code = runFake(t, fs, "-test", "-d", "-e", "f")
	if code != 255 || !strings.HasPrefix(errOut, "-test: Only one test flag is allowed\n") {
		t.Errorf("test: %d\n%s", code, errOut)
	}
	out, _, code := runFake(t, fs, "-usage", "mkdir", "-rm")
	if code != 0 || out != "Usage: hadoop fs [generic options] -mkdir [-p] <path> ...\nUsage: hadoop fs [generic options] -rm [-f] [-r|-R] [-skipTrash] <src> ...\n" {
		t.Errorf("usage: %d %q", code, out)
	}
	out, _, code = runFake(t, fs, "-help", "mkdir")
	if code != 0 || out != "-mkdir [-p] <path> ... :\n  Create a directory in specified location.\n  -p  Do not fail if the directory already exists\n" {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestTestCommand(t *testing.T) {
	fs := fakeTree()
	for _, c := range []struct {
		flag, path string
		want       int
	}{
		{"-e", "f", 0}, {"-e", "nope", 1}, {"-d", "dir", 0}, {"-d", "f", 1}, {"-f", "f", 0}, {"-f", "dir", 1},
		{"-s", "f", 0}, {"-s", "dir/b.txt", 1}, {"-z", "dir/b.txt", 0}, {"-z", "f", 1}, {"-e", "/", 0},
	} {
		if _, _, code := runFake(t, fs, "-test", c.flag, c.path); code != c.want {
			t.Errorf("-test %s %s = %d, want %d", c.flag, c.path, code, c.want)
		}
	}
}

func TestMvAndChmod(t *testing.T) {
	fs := fakeTree()
	_, errOut, code := runFake(t, fs, "-mv", "dir", "dir/sub")
	if errOut != "mv: `dir' to `dir/sub/dir': is a subdirectory of itself\n" || code != 1 {
		t.Errorf("mv into itself: %d %q", code, errOut)
	}
	_, errOut, _ = runFake(t, fs, "-mv", "dir/a.txt", "dir/b.txt")
	if errOut != "mv: `dir/b.txt': File exists\n" {
		t.Errorf("mv onto a file: %q", errOut)
	}
	_, errOut, _ = runFake(t, fs, "-mv", "dir/a.txt", "f", "dir/b.txt")
	if errOut != "mv: `dir/b.txt': Is not a directory\n" {
		t.Errorf("mv of two onto a file: %q", errOut)
	}
	if _, errOut, code = runFake(t, fs, "-mv", "dir/*.txt", "/tmp"); code != 0 || errOut != "" {
		t.Errorf("mv glob: %d %q", code, errOut)
	}
	if st, _ := fs.Stat("/tmp/b.txt"); st == nil {
		t.Error("mv did not move")
	}
	if _, errOut, code = runFake(t, fs, "-chmod", "-R", "go-rx", "dir"); code != 0 || errOut != "" {
		t.Errorf("chmod: %d %q", code, errOut)
	}
	if st, _ := fs.Stat("/user/alice/dir/sub/c.txt"); st.Perm != 0o600 {
		t.Errorf("chmod -R: %o", st.Perm)
	}
	_, errOut, code = runFake(t, fs, "-chmod", "-w", "f")
	if st, _ := fs.Stat("/user/alice/f"); code != 0 || st.Perm != 0o444 {
		t.Errorf("chmod -w: %d %q %o", code, errOut, st.Perm)
	}
	_, errOut, code = runFake(t, fs, "-chmod", "9", "f")
	if code != 255 || !strings.HasPrefix(errOut, "-chmod: chmod : mode '9' does not match the expected pattern.\n") {
		t.Errorf("bad mode: %d %q", code, errOut)
	}
}

func TestProgress(t *testing.T) {
	var errb strings.Builder
	s := newShell(conf.GenericOptions{}, io.Discard, &errb)
	if r := s.progress(strings.NewReader("x"), "f", 1); r == nil || errb.Len() != 0 {
		t.Fatal("progress without a terminal")
	}
	if _, ok := s.progress(strings.NewReader("x"), "f", 1).(*progressReader); ok {
		t.Error("progress shown without a terminal")
	}
	s.tty = true
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	r := s.progress(strings.NewReader(strings.Repeat("x", 3<<20)), "big", 3<<20)
	buf := make([]byte, 1<<20)
	r.Read(buf) // before a second: nothing
	if errb.Len() != 0 {
		t.Errorf("progress before a second: %q", errb.String())
	}
	now = now.Add(2 * time.Second)
	r.Read(buf)
	if got := errb.String(); got != "\r\033[Kbig: 2 M / 3 M (66%) 1 M/s" {
		t.Errorf("progress line %q", got)
	}
	io.Copy(io.Discard, r)
	if got := errb.String(); !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("progress not cleared: %q", got)
	}
}
