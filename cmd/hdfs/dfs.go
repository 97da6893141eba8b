package main

// `hdfs dfs`: Hadoop's FsShell. The command table, option parsing, error
// reporting and path expansion live here; the commands are in the other
// dfs*.go files. Formats, messages and exit codes are Hadoop 3's: errors
// are "<cmd>: <message>" on stderr and make the exit code 1 (other paths
// are still processed); a usage error prints "-<cmd>: <message>", the
// usage, and exits 255 (Hadoop's -1).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/avatarfs/avatarfs/client"
	"github.com/avatarfs/avatarfs/conf"
)

const dfsUsagePrefix = "Usage: hadoop fs [generic options]"

// dfsCommand is one FsShell command.
type dfsCommand struct {
	name  string // without the dash
	usage string
	desc  string // help text, one paragraph per line
	run   func(s *shell, args []string) error
}

var dfsCommands []*dfsCommand

func dfsLookup(name string) *dfsCommand {
	for _, c := range dfsCommands {
		if "-"+c.name == name {
			return c
		}
	}
	return nil
}

// fileReader and fileWriter are the data-path streams the shell uses.
type fileReader interface {
	io.Reader
	io.Seeker
	io.Closer
}

type fileWriter interface {
	io.Writer
	io.Closer
}

// dfsFS is the file system as the shell uses it: *client.Client, or a fake
// in tests. Paths are absolute.
type dfsFS interface {
	User() string
	Home() string
	DefaultFS() string
	Qualify(p string) string
	Abs(p string) (string, error)
	FileMode() uint16
	DirMode() uint16
	Stat(p string) (*client.FileStatus, error)
	List(p string) ([]client.FileStatus, error)
	Mkdirs(p string, perm uint16, parents bool) error
	CreateEmpty(p string, o client.CreateOptions) error
	Delete(p string, recursive bool) (bool, error)
	Rename(src, dst string) (bool, error)
	Rename2(src, dst string, overwrite, toTrash bool) error
	SetPermission(p string, perm uint16) error
	SetOwner(p, owner, group string) error
	SetTimes(p string, mtime, atime int64) error
	SetReplication(p string, r int) (bool, error)
	Truncate(p string, n int64) (bool, error)
	ContentSummary(p string) (*client.ContentSummary, error)
	FsStats() (*client.FsStats, error)
	ServerDefaults() (*client.ServerDefaults, error)
	GetXAttrs(p string, names ...string) ([]client.XAttr, error)
	SetXAttr(p, name string, value []byte, flag uint32) error
	RemoveXAttr(p, name string) error
	BlockLocations(p string, offset, length int64) ([]client.Block, error)
	Checksum(p string) (*client.FileChecksum, error)
	OpenFile(p string) (fileReader, error)
	CreateFile(p string, o client.CreateOptions) (fileWriter, error)
	AppendFile(p string) (fileWriter, error)
	Close() error
}

// liveFS adapts *client.Client to dfsFS.
type liveFS struct{ *client.Client }

func (l liveFS) OpenFile(p string) (fileReader, error) {
	r, err := l.Client.Open(p)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (l liveFS) CreateFile(p string, o client.CreateOptions) (fileWriter, error) {
	w, err := l.Client.Create(p, o)
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (l liveFS) AppendFile(p string) (fileWriter, error) {
	w, err := l.Client.Append(p)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// shell is one run of `hdfs dfs`.
type shell struct {
	g          conf.GenericOptions
	conf       *conf.Config
	out        *bufio.Writer
	errw       io.Writer
	stdin      io.Reader
	tty        bool // stderr is a terminal: show progress of long copies
	loc        *time.Location
	now        func() time.Time
	sleep      func(time.Duration)
	dial       func(c *conf.Config) (dfsFS, error)
	fs         dfsFS
	cmd        *dfsCommand
	errors     int
	exit       int
	connFailed bool
}

func newShell(g conf.GenericOptions, stdout, stderr io.Writer) *shell {
	s := &shell{
		g:     g,
		out:   bufio.NewWriterSize(stdout, 64<<10),
		errw:  stderr,
		stdin: os.Stdin,
		loc:   time.Local,
		now:   time.Now,
		sleep: time.Sleep,
		dial: func(c *conf.Config) (dfsFS, error) {
			cl, err := client.New(c)
			if err != nil {
				return nil, err
			}
			return liveFS{cl}, nil
		},
	}
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			s.tty = true
		}
	}
	return s
}

func runDFS(g conf.GenericOptions, args []string, stdout, stderr io.Writer) int {
	s := newShell(g, stdout, stderr)
	defer s.close()
	return s.run(args)
}

func (s *shell) close() {
	s.out.Flush()
	if s.fs != nil {
		s.fs.Close()
	}
}

// run runs one command line (without "dfs") and returns the exit code.
func (s *shell) run(argv []string) int {
	defer s.out.Flush()
	if len(argv) == 0 {
		s.printUsage(s.errw)
		return 255
	}
	name := argv[0]
	c := dfsLookup(name)
	if c == nil {
		s.usageFailure(name, nil, "Unknown command")
		return 255
	}
	s.cmd = c
	err := c.run(s, argv[1:])
	s.out.Flush()
	var ue *usageError
	if errors.As(err, &ue) {
		s.usageFailure(name, c, ue.msg)
		return 255
	}
	if err != nil {
		s.fail(err)
	}
	if s.errors > 0 {
		return 1
	}
	return s.exit
}

// usageFailure is FsShell's answer to an IllegalArgumentException: the
// message, the usage of every command, and the command's own usage.
func (s *shell) usageFailure(name string, c *dfsCommand, msg string) {
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(s.errw, "%s: %s\n", name, line)
		if !strings.HasPrefix(name, "-") && dfsLookup("-"+name) != nil {
			fmt.Fprintf(s.errw, "Did you mean -%s?  This command begins with a dash.\n", name)
		}
	}
	s.printUsage(s.errw)
	if c != nil {
		fmt.Fprintf(s.errw, "%s -%s\n", dfsUsagePrefix, usageOf(c))
	}
}

func usageOf(c *dfsCommand) string {
	if c.usage == "" {
		return c.name
	}
	return c.name + " " + c.usage
}

const genericUsage = `Generic options supported are:
-conf <configuration file>        specify an application configuration file
-D <property=value>               define a value for a given property
-fs <file:///|hdfs://namenode:port> specify default filesystem URL to use, overrides 'fs.defaultFS' property from configurations.
-jt <local|resourcemanager:port>  specify a ResourceManager
-files <file1,...>                specify a comma-separated list of files to be copied to the map reduce cluster
-libjars <jar1,...>               specify a comma-separated list of jar files to be included in the classpath
-archives <archive1,...>          specify a comma-separated list of archives to be unarchived on the compute machines

The general command line syntax is:
command [genericOptions] [commandOptions]

`

func (s *shell) printUsage(w io.Writer) {
	s.printInfo(w, false)
}

func (s *shell) printInfo(w io.Writer, help bool) {
	fmt.Fprintln(w, dfsUsagePrefix)
	for _, c := range sortedCommands() {
		fmt.Fprintf(w, "\t[-%s]\n", usageOf(c))
	}
	if help {
		for _, c := range sortedCommands() {
			fmt.Fprintln(w)
			printCommandHelp(w, c)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, genericUsage)
}

func sortedCommands() []*dfsCommand {
	out := append([]*dfsCommand{}, dfsCommands...)
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// printCommandHelp prints "-usage :" and the description indented, with
// option lines ("-x  text") as an aligned two-column table, as Hadoop 3's
// help does.
func printCommandHelp(w io.Writer, c *dfsCommand) {
	fmt.Fprintf(w, "-%s :\n", usageOf(c))
	lines := strings.Split(strings.TrimRight(c.desc, "\n"), "\n")
	for i := 0; i < len(lines); {
		if _, _, ok := helpOption(lines[i]); ok {
			j, width := i, 0
			for ; j < len(lines); j++ {
				o, _, ok := helpOption(lines[j])
				if !ok {
					break
				}
				width = max(width, len(o))
			}
			for _, l := range lines[i:j] {
				o, text, _ := helpOption(l)
				for k, t := range wrapWords(text, 76-width) {
					if k == 0 {
						fmt.Fprintf(w, "  %-*s  %s\n", width, o, t)
					} else {
						fmt.Fprintf(w, "  %-*s  %s\n", width, "", t)
					}
				}
			}
			i = j
			continue
		}
		for _, l := range wrapWords(lines[i], 78) {
			fmt.Fprintf(w, "  %s\n", l)
		}
		i++
	}
}

// helpOption splits an option line of a description: "-x  text" or
// "<arg>  text".
func helpOption(line string) (opt, text string, ok bool) {
	t := strings.TrimLeft(line, " ")
	if !strings.HasPrefix(t, "-") && !strings.HasPrefix(t, "<") {
		return "", "", false
	}
	opt, text, ok = strings.Cut(t, "  ")
	return opt, strings.TrimSpace(text), ok
}

// wrapWords wraps text at width, keeping its leading indentation.
func wrapWords(text string, width int) []string {
	indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
	var lines []string
	cur := indent
	for _, w := range strings.Fields(text) {
		if cur != indent && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = indent
		}
		if cur == indent {
			cur += w
		} else {
			cur += " " + w
		}
	}
	return append(lines, cur)
}

// Errors.

// usageError is Hadoop's IllegalArgumentException in the shell: bad
// options or arguments. It ends the command with exit code 255.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Hadoop's PathIOException messages.
const (
	eNotFound = "No such file or directory"
	eExists   = "File exists"
	eIsDir    = "Is a directory"
	eNotDir   = "Is not a directory"
	eNotEmpty = "Directory is not empty"
	eIO       = "Input/output error"
)

// pathError is Hadoop's PathIOException:
// "[op ]`path'[ to `target']: msg[: `fully qualified path']".
type pathError struct {
	op, path, target, msg, fq string
}

func (e *pathError) Error() string {
	var b strings.Builder
	if e.op != "" {
		b.WriteString(e.op + " ")
	}
	b.WriteString("`" + e.path + "'")
	if e.target != "" {
		b.WriteString(" to `" + e.target + "'")
	}
	b.WriteString(": " + e.msg)
	if e.fq != "" && e.fq != e.path {
		b.WriteString(": `" + e.fq + "'")
	}
	return b.String()
}

func perr(p, msg string) error { return &pathError{path: p, msg: msg} }

// ioError is an error whose message is printed as is.
type ioError struct{ msg string }

func (e *ioError) Error() string { return e.msg }

func ioErrorf(format string, args ...any) error { return &ioError{fmt.Sprintf(format, args...)} }

// fail reports err as Hadoop's Command.displayError does: "<cmd>: " and the
// first line of the message. A connection failure is reported only once.
func (s *shell) fail(err error) {
	s.errors++
	var ce *client.ConnectError
	if errors.As(err, &ce) {
		if s.connFailed {
			return
		}
		s.connFailed = true
	}
	s.warn(errMessage(err))
}

// warn prints "<cmd>: msg" without counting an error.
func (s *shell) warn(msg string) {
	s.out.Flush()
	fmt.Fprintf(s.errw, "%s: %s\n", s.cmd.name, msg)
}

func errMessage(err error) string {
	msg := err.Error()
	var pe *os.PathError
	var re *client.RemoteError
	switch {
	case errors.As(err, &re):
		msg = re.Message
	case errors.As(err, &pe):
		msg = localError(pe)
	}
	if i := strings.Index(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// localError renders a local file error as Java does: "path (Reason)".
func localError(pe *os.PathError) string {
	reason := pe.Err.Error()
	if reason != "" {
		reason = strings.ToUpper(reason[:1]) + reason[1:]
	}
	return fmt.Sprintf("%s (%s)", pe.Path, reason)
}

// Option parsing, as Hadoop's CommandFormat: options are whole words after
// a dash ("-R", "-skipTrash"); parsing stops at the first non-option, at
// "-" (stdin) and after "--".
type cmdFormat struct {
	min, max      int
	flags         map[string]bool
	values        map[string]*string
	ignoreUnknown bool
}

func newFormat(min, max int, flags ...string) *cmdFormat {
	f := &cmdFormat{min: min, max: max, flags: map[string]bool{}, values: map[string]*string{}}
	for _, o := range flags {
		f.flags[o] = false
	}
	return f
}

const unlimited = int(^uint(0) >> 1)

func (f *cmdFormat) withValue(opt string) *cmdFormat {
	f.values[opt] = nil
	return f
}

func (f *cmdFormat) parse(args []string) ([]string, error) {
	args = append([]string{}, args...)
	pos := 0
	for pos < len(args) {
		a := args[pos]
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if a == "--" {
			args = append(args[:pos], args[pos+1:]...)
			break
		}
		opt := a[1:]
		if _, ok := f.flags[opt]; ok {
			args = append(args[:pos], args[pos+1:]...)
			f.flags[opt] = true
		} else if _, ok := f.values[opt]; ok {
			args = append(args[:pos], args[pos+1:]...)
			v := ""
			if pos < len(args) && len(args) > f.min && !strings.HasPrefix(args[pos], "-") {
				v = args[pos]
				args = append(args[:pos], args[pos+1:]...)
			}
			f.values[opt] = &v
		} else if f.ignoreUnknown {
			pos++
		} else {
			return nil, usagef("Illegal option %s", a)
		}
	}
	if len(args) < f.min {
		return nil, usagef("Not enough arguments: expected %d but got %d", f.min, len(args))
	}
	if len(args) > f.max {
		return nil, usagef("Too many arguments: expected %d but got %d", f.max, len(args))
	}
	return args, nil
}

func (f *cmdFormat) opt(o string) bool { return f.flags[o] }

// popOption removes "name value" from args (Hadoop's
// StringUtils.popOptionWithArgument) and returns the value, or nil.
func popOption(name string, args *[]string) (*string, error) {
	a := *args
	for i := 0; i < len(a); i++ {
		if a[i] == "--" {
			break
		}
		if a[i] == name {
			if i+1 >= len(a) {
				return nil, usagef("option %s requires 1 argument.", name)
			}
			v := a[i+1]
			*args = append(append([]string{}, a[:i]...), a[i+2:]...)
			return &v, nil
		}
	}
	return nil, nil
}

// fsys connects to the file system (once).
func (s *shell) fsys() (dfsFS, error) {
	if s.fs != nil {
		return s.fs, nil
	}
	if s.conf == nil {
		c, err := s.g.Load()
		if err != nil {
			return nil, err
		}
		s.conf = c
	}
	fs, err := s.dial(s.conf)
	if err != nil {
		return nil, err
	}
	s.fs = fs
	return fs, nil
}

// Paths.

// pathData is Hadoop's PathData: a path as displayed (the argument as
// typed, or derived from it), where it is, and its status (nil when it
// does not exist).
type pathData struct {
	str   string
	abs   string // absolute path on the file system, or local path
	st    *client.FileStatus
	local bool
}

func (p *pathData) String() string { return p.str }

func (p *pathData) exists() bool { return p.st != nil }

// childString is Hadoop's PathData.getStringForChildPath.
func childString(parent, name string) string {
	if parent == "." {
		return name
	}
	if strings.HasSuffix(parent, "/") {
		return parent + name
	}
	return parent + "/" + name
}

// child returns the pathData of a directory entry.
func (p *pathData) child(st client.FileStatus) *pathData {
	name := path.Base(st.Path)
	return &pathData{str: childString(p.str, name), abs: st.Path, st: &st, local: p.local}
}

// childNamed returns the pathData of entry name of directory p (not
// looked up).
func (p *pathData) childNamed(name string) *pathData {
	abs := p.abs
	if p.local {
		abs = localJoin(abs, name)
	} else {
		abs = path.Join(abs, name)
	}
	return &pathData{str: childString(p.str, name), abs: abs, local: p.local}
}

func localJoin(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// suffix returns p with a suffix on its name (for "._COPYING_").
func (p *pathData) suffix(sfx string) *pathData {
	return &pathData{str: p.str + sfx, abs: p.abs + sfx, local: p.local}
}

// refresh looks p up again.
func (s *shell) refresh(p *pathData) error {
	st, err := s.statPath(p)
	if err != nil {
		return err
	}
	p.st = st
	return nil
}

// statPath returns p's status, nil when it does not exist.
func (s *shell) statPath(p *pathData) (*client.FileStatus, error) {
	if p.local {
		return localStat(p.abs)
	}
	st, err := s.fs.Stat(p.abs)
	if isNotFound(err) {
		return nil, nil
	}
	return st, err
}

func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, os.ErrNotExist) || client.IsClass(err, client.ExFileNotFound))
}

// remotePath returns the pathData of a single remote path, not globbed.
func (s *shell) remotePath(arg string) (*pathData, error) {
	abs, err := s.fs.Abs(arg)
	if err != nil {
		return nil, err
	}
	p := &pathData{str: arg, abs: abs}
	st, err := s.statPath(p)
	if err != nil {
		return nil, err
	}
	p.st = st
	return p, nil
}

// expand expands one argument as Hadoop's PathData.expandAsGlob: a glob
// gives its matches (none: an empty list), a plain path gives itself,
// existing or not.
func (s *shell) expand(arg string) ([]*pathData, error) {
	return s.globPaths(arg)
}

// expandArgs expands every argument as Hadoop's Command.expandArguments:
// a glob that matches nothing is reported ("`pat': No such file or
// directory") and the others are kept.
func (s *shell) expandArgs(args []string) []*pathData {
	var out []*pathData
	for _, a := range args {
		items, err := s.expand(a)
		if err == nil && len(items) == 0 {
			err = perr(a, eNotFound)
		}
		if err != nil {
			s.fail(err)
			continue
		}
		out = append(out, items...)
	}
	return out
}

// list returns the entries of directory p as pathData.
func (s *shell) list(p *pathData) ([]*pathData, error) {
	if p.st == nil {
		return nil, perr(p.str, eNotFound)
	}
	if !p.st.IsDir {
		return nil, perr(p.str, eNotDir)
	}
	if p.local {
		return localList(p)
	}
	entries, err := s.fs.List(p.abs)
	if err != nil {
		return nil, err
	}
	out := make([]*pathData, len(entries))
	for i := range entries {
		out[i] = p.child(entries[i])
	}
	return out, nil
}

// walk calls fn for p and, when recursive, for everything below it, as
// Hadoop's processPaths: fn first, then the directory's entries; an error
// is reported and skips the subtree.
func (s *shell) walk(p *pathData, recursive bool, fn func(p *pathData, depth int) error) {
	s.walkDepth(p, 0, recursive, fn)
}

func (s *shell) walkDepth(p *pathData, depth int, recursive bool, fn func(p *pathData, depth int) error) {
	if err := fn(p, depth); err != nil {
		s.fail(err)
		return
	}
	if recursive && p.st != nil && p.st.IsDir {
		kids, err := s.list(p)
		if err != nil {
			s.fail(err)
			return
		}
		for _, k := range kids {
			s.walkDepth(k, depth+1, recursive, fn)
		}
	}
}

// forEachPath expands args and calls fn for each item that exists
// (recursively when asked); missing paths are "No such file or
// directory".
func (s *shell) forEachPath(args []string, recursive bool, fn func(p *pathData, depth int) error) {
	for _, it := range s.expandArgs(args) {
		if !it.exists() {
			s.fail(perr(it.str, eNotFound))
			continue
		}
		s.walk(it, recursive, fn)
	}
}

// qualified returns the fully qualified form of a remote pathData.
func (s *shell) qualified(p *pathData) string { return s.fs.Qualify(p.abs) }
