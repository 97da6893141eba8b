package main

// The namespace commands of `hdfs dfs`: ls, mkdir, rm, rmdir, mv, count,
// du, df, stat, test, touchz, touch, chmod, chown, chgrp, setrep,
// getfattr, setfattr, find, truncate, checksum, help and usage.

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/avatarfs/avatarfs/client"
)

func init() {
	dfsCommands = []*dfsCommand{
		{"appendToFile", "<localsrc> ... <dst>", "Appends the contents of all the given local files to the given dst file. The dst file will be created if it does not exist. If <localSrc> is -, then the input is read from stdin.", cmdAppendToFile},
		{"cat", "[-ignoreCrc] <src> ...", "Fetch all files that match the file pattern <src> and display their content on stdout.", cmdCat},
		{"checksum", "<src> ...", "Dump checksum information for files that match the file pattern <src> to stdout. Note that this requires a round-trip to a datanode storing each block of the file, and thus is not efficient to run on a large number of files. The checksum of a file depends on its content, block size and the checksum algorithm and parameters used for creating the file.", cmdChecksum},
		{"chgrp", "[-R] GROUP PATH...", "This is equivalent to -chown ... :GROUP ...", cmdChgrp},
		{"chmod", "[-R] <MODE[,MODE]... | OCTALMODE> PATH...", "Changes permissions of a file. This works similar to the shell's chmod command with a few exceptions.\n-R  modifies the files recursively. This is the only option currently supported.\n<MODE>  Mode is the same as mode used for the shell's command. The only letters recognized are 'rwxXt', e.g. +t,a+r,g-w,+rwx,o=r.\n<OCTALMODE>  Mode specifed in 3 or 4 digits. If 4 digits, the first may be 1 or 0 to turn the sticky bit on or off, respectively. Unlike the shell command, it is not possible to specify only part of the mode, e.g. 754 is same as u=rwx,g=rx,o=r.\nIf none of 'augo' is specified, 'a' is assumed and unlike the shell command, no umask is applied.", cmdChmod},
		{"chown", "[-R] [OWNER][:[GROUP]] PATH...", "Changes owner and group of a file. This is similar to the shell's chown command with a few exceptions.\n-R  modifies the files recursively. This is the only option currently supported.\nIf only the owner or group is specified, then only the owner or group is modified. The owner and group names may only consist of digits, alphabet, and any of [-_./@a-zA-Z0-9]. The names are case sensitive.\nWARNING: Avoid using '.' to separate user name and group though Linux allows it. If user names have dots in them and you are using local file system, you might see surprising results since the shell command 'chown' is used for local files.", cmdChown},
		{"copyFromLocal", "[-f] [-p] [-d] <localsrc> ... <dst>", "Copy files from the local file system into fs. Identical to the -put command.", cmdPut},
		{"copyToLocal", "[-f] [-p] [-ignoreCrc] <src> ... <localdst>", "Identical to the -get command.", cmdGet},
		{"count", "[-q] [-h] [-v] [-u] <path> ...", "Count the number of directories, files and bytes under the paths that match the specified file pattern. The output columns are:\nDIR_COUNT FILE_COUNT CONTENT_SIZE PATHNAME\nor, with the -q option:\nQUOTA REM_QUOTA SPACE_QUOTA REM_SPACE_QUOTA DIR_COUNT FILE_COUNT CONTENT_SIZE PATHNAME\nThe -h option shows file sizes in human readable format.\nThe -v option displays a header line.\nThe -u option shows the quota and the usage against the quota without the detailed content summary.", cmdCount},
		{"cp", "[-f] [-p | -p[topax]] [-d] <src> ... <dst>", "Copy files that match the file pattern <src> to a destination. When copying multiple files, the destination must be a directory. Passing -p preserves status [topax] (timestamps, ownership, permission, ACLs, XAttr). If -p is specified with no <arg>, then preserves timestamps, ownership, permission. If -pa is specified, then preserves permission also because ACL is a super-set of permission. Passing -f overwrites the destination if it already exists. Passing -d will skip creation of temporary file(<dst>._COPYING_).", cmdCp},
		{"df", "[-h] [<path> ...]", "Shows the capacity, free and used space of the filesystem. If the filesystem has multiple partitions, and no path to a particular partition is specified, then the status of the root partitions will be shown.\n-h  Formats the sizes of files in a human-readable fashion rather than a number of bytes.", cmdDf},
		{"du", "[-s] [-h] [-v] [-x] <path> ...", "Show the amount of space, in bytes, used by the files that match the specified file pattern. The following flags are optional:\n-s  Rather than showing the size of each individual file that matches the pattern, shows the total (summary) size.\n-h  Formats the sizes of files in a human-readable fashion rather than a number of bytes.\n-v  option displays a header line.\n-x  Excludes snapshots from being counted.\nNote that, even without the -s option, this only shows size summaries one level deep into a directory.\nThe output is in the form\n    size    disk space consumed    name(full path)", cmdDu},
		{"find", "<path> ... <expression> ...", "Finds all files that match the specified expression and applies selected actions to them. If no <path> is specified then defaults to the current working directory. If no expression is specified then defaults to -print.\nThe following primary expressions are recognised:\n  -name pattern\n  -iname pattern\n    Evaluates as true if the basename of the file matches the pattern using standard file system globbing. If -iname is used then the match is case insensitive.\n  -print\n  -print0\n    Always evaluates to true. Causes the current pathname to be written to standard output followed by a newline. If the -print0 expression is used then an ASCII NULL character is appended rather than a newline.\nThe following operators are recognised:\n  expression -a expression\n  expression -and expression\n  expression expression\n    Logical AND operator for joining two expressions. Returns true if both child expressions return true. Implied by the juxtaposition of two expressions and so does not need to be explicitly specified. The second expression will not be applied if the first fails.", cmdFind},
		{"get", "[-f] [-p] [-ignoreCrc] <src> ... <localdst>", "Copy files that match the file pattern <src> to the local name. <src> is kept. When copying multiple files, the destination must be a directory. Passing -f overwrites the destination if it already exists and -p preserves access and modification times, ownership and the mode.", cmdGet},
		{"getfattr", "[-R] {-n name | -d} [-e en] <path>", "Displays the extended attribute names and values (if any) for a file or directory.\n-R  Recursively list the attributes for all files and directories.\n-n name  Dump the named extended attribute value.\n-d  Dump all extended attribute values associated with pathname.\n-e <encoding>  Encode values after retrieving them. Valid encodings are \"text\", \"hex\", and \"base64\". Values encoded as text strings are enclosed in double quotes (\"), and values encoded as hexadecimal and base64 are prefixed with 0x and 0s, respectively.\n<path>  The file or directory.", cmdGetfattr},
		{"getmerge", "[-nl] [-skip-empty-file] <src> <localdst>", "Get all the files in the directories that match the source file pattern and merge and sort them to only one file on local fs. <src> is kept.\n-nl  Add a newline character at the end of each file.\n-skip-empty-file  Do not add new line character for empty file.", cmdGetmerge},
		{"head", "<file>", "Show the first 1KB of the file.", cmdHead},
		{"help", "[cmd ...]", "Displays help for given command or all commands if none is specified.", cmdHelp},
		{"ls", "[-C] [-d] [-h] [-q] [-R] [-t] [-S] [-r] [-u] [<path> ...]", "List the contents that match the specified file pattern. If path is not specified, the contents of /user/<currentUser> will be listed. For a directory a list of its direct children is returned (unless -d option is specified).\nDirectory entries are of the form:\n    permissions - userId groupId sizeOfDirectory(in bytes) modificationDate(yyyy-MM-dd HH:mm) directoryName\nand file entries are of the form:\n    permissions numberOfReplicas userId groupId sizeOfFile(in bytes) modificationDate(yyyy-MM-dd HH:mm) fileName\n-C  Display the paths of files and directories only.\n-d  Directories are listed as plain files.\n-h  Formats the sizes of files in a human-readable fashion rather than a number of bytes.\n-q  Print ? instead of non-printable characters.\n-R  Recursively list the contents of directories.\n-t  Sort files by modification time (most recent first).\n-S  Sort files by size.\n-r  Reverse the order of the sort.\n-u  Use time of last access instead of modification for display and sorting.", cmdLs},
		{"mkdir", "[-p] <path> ...", "Create a directory in specified location.\n-p  Do not fail if the directory already exists", cmdMkdir},
		{"moveFromLocal", "[-f] [-p] [-d] <localsrc> ... <dst>", "Same as -put, except that the source is deleted after it's copied.", cmdMoveFromLocal},
		{"mv", "<src> ... <dst>", "Move files that match the specified file pattern <src> to a destination <dst>. When moving multiple files, the destination must be a directory.", cmdMv},
		{"put", "[-f] [-p] [-d] <localsrc> ... <dst>", "Copy files from the local file system into fs. Copying fails if the file already exists, unless the -f flag is given.\nFlags:\n-p  Preserves timestamps, ownership and the mode.\n-f  Overwrites the destination if it already exists.\n-d  Skip creation of temporary file(<dst>._COPYING_).\nIf <localsrc> is -, the data is read from stdin.", cmdPut},
		{"rm", "[-f] [-r|-R] [-skipTrash] <src> ...", "Delete all files that match the specified file pattern. Equivalent to the Unix command \"rm <src>\"\n-f  If the file does not exist, do not display a diagnostic message or modify the exit status to reflect an error.\n-[rR]  Recursively deletes directories.\n-skipTrash  option bypasses trash, if enabled, and immediately deletes <src>.", cmdRm},
		{"rmdir", "[--ignore-fail-on-non-empty] <dir> ...", "Removes the directory entry specified by each directory argument, provided it is empty.", cmdRmdir},
		{"setfattr", "{-n name [-v value] | -x name} <path>", "Sets an extended attribute name and value for a file or directory.\n-n name  The extended attribute name.\n-v value  The extended attribute value. There are three different encoding methods for the value. If the argument is enclosed in double quotes, then the value is the string inside the quotes. If the argument is prefixed with 0x or 0X, then it is taken as a hexadecimal number. If the argument begins with 0s or 0S, then it is taken as a base64 encoding.\n-x name  Remove the extended attribute.\n<path>  The file or directory.", cmdSetfattr},
		{"setrep", "[-R] [-w] <rep> <path> ...", "Set the replication level of a file. If <path> is a directory then the command recursively changes the replication factor of all files under the directory tree rooted at <path>. The EC files will be ignored here.\n-w  It requests that the command waits for the replication to complete. This can potentially take a very long time.\n-R  It is accepted for backwards compatibility. It has no effect.", cmdSetrep},
		{"stat", "[format] <path> ...", "Print statistics about the file/directory at <path> in the specified format. Format accepts permissions in octal (%a) and symbolic (%A), filesize in bytes (%b), type (%F), group name of owner (%g), name (%n), block size (%o), replication (%r), user name of owner (%u), access date (%x, %X), modification date (%y, %Y). %x and %y show UTC date as \"yyyy-MM-dd HH:mm:ss\" and %X and %Y show milliseconds since January 1, 1970 UTC. If the format is not specified, %y is used by default.", cmdStat},
		{"tail", "[-f] [-s <sleep interval>] <file>", "Show the last 1KB of the file.\n-f  Shows appended data as the file grows.\n-s  With -f, defines the sleep interval between iterations in milliseconds.", cmdTail},
		{"test", "-[defsz] <path>", "Answer various questions about <path>, with result via exit status.\n  -d  return 0 if <path> is a directory.\n  -e  return 0 if <path> exists.\n  -f  return 0 if <path> is a file.\n  -s  return 0 if file <path> is greater than zero bytes in size.\n  -z  return 0 if file <path> is zero bytes in size, else return 1.", cmdTest},
		{"text", "[-ignoreCrc] <src> ...", "Takes a source file and outputs the file in text format. The allowed formats are gzip, bzip2 and deflate (by their magic number or file extension).", cmdText},
		{"touch", "[-a] [-m] [-t TIMESTAMP (yyyyMMdd:HHmmss) ] [-c] <path> ...", "Updates the access and modification times of the file specified by the <path> to the current time. If the file does not exist, then a zero length file is created at <path> with current time as the timestamp of that <path>.\n-a  Change only the access time\n-m  Change only the modification time\n-t TIMESTAMP  Use specified timestamp instead of current time. TIMESTAMP format yyyyMMdd:HHmmss\n-c  Do not create any files", cmdTouch},
		{"touchz", "<path> ...", "Creates a file of zero length at <path> with current time as the timestamp of that <path>. An error is returned if the file exists with non-zero length", cmdTouchz},
		{"truncate", "[-w] <length> <path> ...", "Truncate all files that match the specified file pattern to the specified length.\n-w  Requests that the command wait for block recovery to complete, if necessary.", cmdTruncate},
		{"usage", "[cmd ...]", "Displays the usage for given command or all commands if none is specified.", cmdUsage},
	}
}

func cmdHelp(s *shell, args []string) error {
	if len(args) == 0 {
		s.printInfo(s.out, true)
		return nil
	}
	for _, a := range args {
		c := dfsLookup("-" + strings.TrimPrefix(a, "-"))
		if c == nil {
			return usagef("`%s': Unknown command", a)
		}
		printCommandHelp(s.out, c)
	}
	return nil
}

func cmdUsage(s *shell, args []string) error {
	if len(args) == 0 {
		s.printUsage(s.out)
		return nil
	}
	for _, a := range args {
		c := dfsLookup("-" + strings.TrimPrefix(a, "-"))
		if c == nil {
			return usagef("`%s': Unknown command", a)
		}
		fmt.Fprintf(s.out, "%s -%s\n", dfsUsagePrefix, usageOf(c))
	}
	return nil
}

// -ls

type lister struct {
	s          *shell
	f          *lsFormat
	pathOnly   bool
	recursive  bool
	byTime     bool
	bySize     bool
	reverse    bool
	useAtime   bool
	dirRecurse bool
}

func cmdLs(s *shell, args []string) error {
	f := newFormat(0, unlimited, "C", "d", "h", "q", "R", "t", "S", "r", "u")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	l := &lister{s: s, f: newLsFormat(s.loc), pathOnly: f.opt("C"), dirRecurse: !f.opt("d"),
		byTime: f.opt("t"), reverse: f.opt("r"), useAtime: f.opt("u")}
	l.recursive = f.opt("R") && l.dirRecurse
	l.bySize = !l.byTime && f.opt("S")
	l.f.human, l.f.atime, l.f.hideNonPrintable = f.opt("h"), l.useAtime, f.opt("q")
	if len(args) == 0 {
		args = []string{"."}
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	for _, it := range s.expandArgs(args) {
		if !it.exists() {
			s.fail(perr(it.str, eNotFound))
			continue
		}
		if l.dirRecurse && it.st.IsDir {
			l.recurse(it)
		} else {
			l.paths(nil, []*pathData{it})
		}
	}
	return nil
}

func (l *lister) recurse(dir *pathData) {
	kids, err := l.s.list(dir)
	if err != nil {
		l.s.fail(err)
		return
	}
	l.paths(dir, kids)
}

func (l *lister) paths(parent *pathData, items []*pathData) {
	if parent != nil && !l.recursive && len(items) != 0 {
		if !l.pathOnly {
			fmt.Fprintf(l.s.out, "Found %d items\n", len(items))
		}
		l.sort(items)
	}
	if !l.pathOnly {
		sts := make([]*client.FileStatus, len(items))
		for i, it := range items {
			sts[i] = it.st
		}
		l.f.adjust(sts)
	}
	for _, it := range items {
		if l.pathOnly {
			fmt.Fprintln(l.s.out, it.str)
		} else {
			fmt.Fprintln(l.s.out, l.f.line(it.st, it.str))
		}
		if l.recursive && it.st.IsDir {
			l.recurse(it)
		}
	}
}

func (l *lister) sort(items []*pathData) {
	sign := 1
	if l.reverse {
		sign = -1
	}
	cmp := func(a, b *pathData) int {
		switch {
		case l.byTime:
			ta, tb := a.st.Mtime, b.st.Mtime
			if l.useAtime {
				ta, tb = a.st.Atime, b.st.Atime
			}
			return compareInt(tb, ta)
		case l.bySize:
			return compareInt(b.st.Length, a.st.Length)
		}
		return strings.Compare(a.abs, b.abs)
	}
	sort.SliceStable(items, func(i, j int) bool { return sign*cmp(items[i], items[j]) < 0 })
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// -mkdir

func cmdMkdir(s *shell, args []string) error {
	f := newFormat(1, unlimited, "p")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	parents := f.opt("p")
	for _, it := range s.expandArgs(args) {
		if err := mkdirItem(s, fs, it, parents); err != nil {
			s.fail(err)
		}
	}
	return nil
}

func mkdirItem(s *shell, fs dfsFS, it *pathData, parents bool) error {
	if it.exists() {
		if !it.st.IsDir {
			return perr(it.str, eNotDir)
		}
		if !parents {
			return perr(it.str, eExists)
		}
		return nil
	}
	if !parents {
		parent := path.Dir(it.abs)
		st, err := fs.Stat(parent)
		if err != nil && !isNotFound(err) {
			return err
		}
		if st == nil {
			return perr(fs.Qualify(parent), eNotFound)
		}
	}
	return fs.Mkdirs(it.abs, fs.DirMode(), true)
}

// -rm

func cmdRm(s *shell, args []string) error {
	f := newFormat(1, unlimited, "f", "r", "R", "skipTrash")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	ignoreFNF, recursive, skipTrash := f.opt("f"), f.opt("r") || f.opt("R"), f.opt("skipTrash")
	var items []*pathData
	for _, a := range args {
		its, err := s.expand(a)
		if err == nil && len(its) == 0 {
			if ignoreFNF {
				continue
			}
			err = perr(a, eNotFound)
		}
		if err != nil {
			s.fail(err)
			continue
		}
		items = append(items, its...)
	}
	for _, it := range items {
		if !it.exists() {
			if !ignoreFNF {
				s.fail(perr(it.str, eNotFound))
			}
			continue
		}
		if err := rmItem(s, fs, it, recursive, skipTrash); err != nil {
			s.fail(err)
		}
	}
	return nil
}

func rmItem(s *shell, fs dfsFS, it *pathData, recursive, skipTrash bool) error {
	if it.st.IsDir && !recursive {
		return perr(it.str, eIsDir)
	}
	if !skipTrash {
		moved, err := s.moveToTrash(it)
		if err != nil {
			return err
		}
		if moved {
			return nil
		}
	}
	ok, err := fs.Delete(it.abs, recursive)
	if err != nil {
		return err
	}
	if !ok {
		return perr(it.str, eIO)
	}
	fmt.Fprintf(s.out, "Deleted %s\n", it.str)
	return nil
}

// trashInterval is the trash interval in effect: the NameNode's
// fs.trash.interval when it has one, else the client's.
func (s *shell) trashInterval() (time.Duration, error) {
	d, err := s.fs.ServerDefaults()
	if err != nil {
		return 0, ioErrorf("Failed to get server trash configuration: %s. Consider using -skipTrash option", errMessage(err))
	}
	if d.TrashInterval != 0 {
		return d.TrashInterval, nil
	}
	return time.Duration(s.conf.Float("fs.trash.interval") * float64(time.Minute)), nil
}

// moveToTrash moves it to the user's trash as Hadoop's TrashPolicyDefault:
// to /user/<name>/.Trash/Current/<absolute path>, with the time in
// milliseconds appended when that name is taken. It reports false when the
// trash is disabled or it is already in the trash.
func (s *shell) moveToTrash(it *pathData) (bool, error) {
	fs := s.fs
	interval, err := s.trashInterval()
	if err != nil || interval <= 0 {
		return false, err
	}
	qpath := fs.Qualify(it.abs)
	root := path.Join(fs.Home(), ".Trash")
	if strings.HasPrefix(qpath, fs.Qualify(root)) {
		return false, nil
	}
	if strings.HasPrefix(fs.Qualify(path.Dir(root)), qpath) {
		return false, ioErrorf("Cannot move \"%s\" to the trash, as it contains the trash. Consider using -skipTrash option", qpath)
	}
	current := root + "/Current"
	trashPath := current + it.abs
	base := path.Dir(trashPath)
	var cause error
	for i, fixes := 0, 0; i < 2; i++ {
		if err := fs.Mkdirs(base, 0o700, true); err != nil {
			if (client.IsClass(err, client.ExFileAlreadyExists) || client.IsClass(err, client.ExParentNotDir)) && fixes < 8 {
				// A file is in the way: use a time-stamped directory name.
				existing := base
				for existing != current && existing != "/" {
					if st, _ := fs.Stat(existing); st != nil {
						break
					}
					existing = path.Dir(existing)
				}
				stamped := existing + strconv.FormatInt(s.now().UnixMilli(), 10)
				base = stamped + strings.TrimPrefix(base, existing)
				trashPath = base + "/" + path.Base(it.abs)
				i--
				fixes++
				continue
			}
			cause = err
			break
		}
		orig := trashPath
		for {
			st, err := fs.Stat(trashPath)
			if err != nil && !isNotFound(err) {
				return false, err
			}
			if st == nil {
				break
			}
			trashPath = orig + strconv.FormatInt(s.now().UnixMilli(), 10)
			if trashPath == orig {
				break
			}
			s.sleep(time.Millisecond)
		}
		err := fs.Rename2(it.abs, trashPath, false, true)
		if err == nil {
			fmt.Fprintf(s.out, "Moved: '%s' to trash at: %s\n", qpath, fs.Qualify(trashPath))
			return true, nil
		}
		cause = err
	}
	return false, ioErrorf("Failed to move to trash: %s: %s. Consider using -skipTrash option", qpath, errMessage(cause))
}

// -rmdir

func cmdRmdir(s *shell, args []string) error {
	f := newFormat(1, unlimited, "-ignore-fail-on-non-empty")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	ignore := f.opt("-ignore-fail-on-non-empty")
	s.forEachPath(args, false, func(it *pathData, _ int) error {
		if !it.st.IsDir {
			return perr(it.str, eNotDir)
		}
		kids, err := fs.List(it.abs)
		if err != nil {
			return err
		}
		if len(kids) == 0 {
			ok, err := fs.Delete(it.abs, false)
			if err != nil {
				return err
			}
			if !ok {
				return perr(it.str, eIO)
			}
		} else if !ignore {
			return perr(it.str, eNotEmpty)
		}
		return nil
	})
	return nil
}

// -mv

func cmdMv(s *shell, args []string) error {
	f := newFormat(2, unlimited)
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	dst, err := s.remoteDestination(args)
	if err != nil {
		return err
	}
	srcs := s.expandArgs(args[:len(args)-1])
	if err := checkDestination(s, dst, len(srcs), false); err != nil {
		return err
	}
	for _, src := range srcs {
		if !src.exists() {
			s.fail(perr(src.str, eNotFound))
			continue
		}
		if err := mvItem(s, fs, src, dst); err != nil {
			s.fail(err)
		}
	}
	return nil
}

func mvItem(s *shell, fs dfsFS, src, dst *pathData) error {
	target, err := s.targetPath(src, dst, 0)
	if err != nil {
		return err
	}
	if src.st.IsDir {
		if err := checkNotSelf(s, src, target); err != nil {
			return err
		}
	}
	if target.exists() {
		return perr(target.str, eExists)
	}
	ok, err := fs.Rename(src.abs, target.abs)
	if err != nil {
		return err
	}
	if !ok {
		return perr(src.str, eIO)
	}
	return nil
}

// remoteDestination is CommandWithDestination.getRemoteDestination: the
// last argument, which must match at most one path ("." when only one
// argument is given).
func (s *shell) remoteDestination(args []string) (*pathData, error) {
	if len(args) < 2 {
		return s.remotePath(".")
	}
	last := args[len(args)-1]
	items, err := s.expand(last)
	if err != nil {
		return nil, err
	}
	switch len(items) {
	case 0:
		return nil, perr(last, eNotFound)
	case 1:
		return items[0], nil
	}
	return nil, perr(last, "Too many matches")
}

// checkDestination is CommandWithDestination.processArguments' check:
// several sources need an existing directory; one source needs a
// directory, a new path in an existing directory, or (with overwrite) a
// file.
func checkDestination(s *shell, dst *pathData, nsrc int, overwrite bool) error {
	if nsrc > 1 {
		if !dst.exists() {
			return perr(dst.str, eNotFound)
		}
		if !dst.st.IsDir {
			return perr(dst.str, eNotDir)
		}
		return nil
	}
	if dst.exists() {
		if !dst.st.IsDir && !overwrite {
			return perr(dst.str, eExists)
		}
		return nil
	}
	ok, err := s.parentExists(dst)
	if err != nil {
		return err
	}
	if !ok {
		return perr(dst.str, eNotFound)
	}
	return nil
}

// parentExists is PathData.parentExists.
func (s *shell) parentExists(p *pathData) (bool, error) {
	name := p.str[strings.LastIndex(p.str, "/")+1:]
	target := p
	if !(name == "" || name == "." || name == "..") {
		parent := path.Dir(p.abs)
		if p.local {
			parent = localDir(p.abs)
		}
		target = &pathData{abs: parent, local: p.local}
	}
	st, err := s.statPath(target)
	return st != nil, err
}

// representsDirectory is PathData.representsDirectory: the path as typed
// ends in a slash, "." or "..".
func representsDirectory(p *pathData) bool {
	name := p.str[strings.LastIndex(p.str, "/")+1:]
	return name == "" || name == "." || name == ".."
}

// targetPath is CommandWithDestination.getTargetPath: inside dst when dst
// is (or looks like) a directory, else dst itself.
func (s *shell) targetPath(src, dst *pathData, depth int) (*pathData, error) {
	if depth > 0 || (dst.exists() && dst.st.IsDir) || representsDirectory(dst) {
		name := path.Base(src.abs)
		if src.local {
			name = localBase(src.abs)
		}
		t := dst.childNamed(name)
		st, err := s.statPath(t)
		if err != nil {
			return nil, err
		}
		t.st = st
		return t, nil
	}
	return dst, nil
}

// checkNotSelf refuses to copy or move a directory onto or into itself.
func checkNotSelf(s *shell, src, target *pathData) error {
	if src.local != target.local {
		return nil
	}
	sq, dq := s.fs.Qualify(src.abs), s.fs.Qualify(target.abs)
	if sq == dq {
		return &pathError{path: src.str, target: dq, msg: "are identical"}
	}
	if strings.HasPrefix(dq, sq+"/") {
		return &pathError{path: src.str, target: target.str, msg: "is a subdirectory of itself"}
	}
	return nil
}

// -count

func cmdCount(s *shell, args []string) error {
	f := newFormat(1, unlimited, "q", "h", "v", "u")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	quotas, human, usageOnly := f.opt("q"), f.opt("h"), f.opt("u")
	if f.opt("v") {
		if usageOnly {
			fmt.Fprintln(s.out, quotaHeader()+"PATHNAME")
		} else {
			fmt.Fprintln(s.out, countHeader(quotas)+"PATHNAME")
		}
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	s.forEachPath(args, false, func(it *pathData, _ int) error {
		cs, err := fs.ContentSummary(it.abs)
		if err != nil {
			return err
		}
		if usageOnly {
			fmt.Fprintln(s.out, quotaColumns(cs, human)+it.str)
		} else {
			fmt.Fprintln(s.out, countLine(cs, quotas, human, it.str))
		}
		return nil
	})
	return nil
}

// -du

func cmdDu(s *shell, args []string) error {
	f := newFormat(0, unlimited, "h", "s", "v", "x")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		args = []string{"."}
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	human, summary, noSnap := f.opt("h"), f.opt("s"), f.opt("x")
	t := newTable(3)
	if f.opt("v") {
		t = newTable(3, "SIZE", "DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS", "FULL_PATH_NAME")
	}
	row := func(it *pathData) error {
		cs, err := fs.ContentSummary(it.abs)
		if err != nil {
			return err
		}
		length, consumed := cs.Length, cs.SpaceConsumed
		if noSnap {
			length -= cs.SnapshotLength
			consumed -= cs.SnapshotSpaceConsumed
		}
		t.add(formatSize(length, human), formatSize(consumed, human), it.str)
		return nil
	}
	for _, it := range s.expandArgs(args) {
		if !it.exists() {
			s.fail(perr(it.str, eNotFound))
			continue
		}
		if !summary && it.st.IsDir {
			kids, err := s.list(it)
			if err != nil {
				s.fail(err)
				continue
			}
			for _, k := range kids {
				if err := row(k); err != nil {
					s.fail(err)
				}
			}
			continue
		}
		if err := row(it); err != nil {
			s.fail(err)
		}
	}
	fmt.Fprint(s.out, t.String())
	return nil
}

// -df

func cmdDf(s *shell, args []string) error {
	f := newFormat(0, unlimited, "h")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		args = []string{"/"}
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	human := f.opt("h")
	t := newTable(6, "Filesystem", "Size", "Used", "Available", "Use%", "Mounted on")
	t.right[1], t.right[2], t.right[3], t.right[4] = true, true, true, true
	s.forEachPath(args, false, func(it *pathData, _ int) error {
		t.hide[5] = true
		st, err := fs.FsStats()
		if err != nil {
			return err
		}
		t.add(fs.DefaultFS(), formatSize(st.Capacity, human), formatSize(st.Used, human),
			formatSize(st.Remaining, human), percent(st.Used, st.Capacity), "/")
		return nil
	})
	fmt.Fprint(s.out, t.String())
	return nil
}

// -stat

func cmdStat(s *shell, args []string) error {
	f := newFormat(1, unlimited, "R")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	format := "%y"
	if strings.Contains(args[0], "%") {
		format, args = args[0], args[1:]
	}
	if args, err = newFormat(1, unlimited, "R").parse(args); err != nil {
		return err
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	s.forEachPath(args, f.opt("R"), func(it *pathData, _ int) error {
		name := ""
		if it.abs != "/" {
			name = path.Base(it.abs)
		}
		fmt.Fprintln(s.out, statFormat(format, it.st, name))
		return nil
	})
	return nil
}

// -test

func cmdTest(s *shell, args []string) error {
	f := newFormat(1, 1, "e", "d", "f", "s", "z")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	var flag string
	n := 0
	for _, o := range []string{"e", "d", "f", "s", "z"} {
		if f.opt(o) {
			flag, n = o, n+1
		}
	}
	switch {
	case n == 0:
		return usagef("No test flag given")
	case n > 1:
		return usagef("Only one test flag is allowed")
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	for _, it := range s.expandArgs(args) {
		if !it.exists() {
			s.exit = 1
			continue
		}
		ok := false
		switch flag {
		case "e":
			ok = true
		case "d":
			ok = it.st.IsDir
		case "f":
			ok = !it.st.IsDir && !it.st.IsSymlink
		case "s":
			ok = it.st.Length > 0
		case "z":
			ok = it.st.Length == 0
		}
		if !ok {
			s.exit = 1
		}
	}
	return nil
}

// -touchz and -touch

func cmdTouchz(s *shell, args []string) error {
	args, err := newFormat(1, unlimited).parse(args)
	if err != nil {
		return err
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	for _, it := range s.expandArgs(args) {
		if err := touchzItem(s, fs, it); err != nil {
			s.fail(err)
		}
	}
	return nil
}

func touchzItem(s *shell, fs dfsFS, it *pathData) error {
	if it.exists() {
		if it.st.IsDir {
			return perr(it.str, eIsDir)
		}
		if it.st.Length != 0 {
			return perr(it.str, "Not a zero-length file")
		}
	} else if err := s.checkParent(it); err != nil {
		return err
	}
	return fs.CreateEmpty(it.abs, client.CreateOptions{Overwrite: true})
}

// checkParent fails as Touch does when a new path's parent is missing.
func (s *shell) checkParent(it *pathData) error {
	ok, err := s.parentExists(it)
	if err != nil {
		return err
	}
	if !ok {
		return &pathError{path: it.str, msg: eNotFound, fq: s.qualified(it)}
	}
	return nil
}

func cmdTouch(s *shell, args []string) error {
	ts, err := popOption("-t", &args)
	if err != nil {
		return err
	}
	f := newFormat(1, unlimited, "t", "a", "m", "c")
	args, err = f.parse(args)
	if err != nil {
		return err
	}
	var when int64 = -2
	if ts != nil {
		t, err := time.ParseInLocation("20060102:150405", *ts, s.loc)
		if err != nil {
			return usagef("Unable to parse the specified timestamp %s", *ts)
		}
		when = t.UnixMilli()
	}
	onlyM, onlyA, noCreate := f.opt("m"), f.opt("a"), f.opt("c")
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	update := func(it *pathData) error {
		t := when
		if t == -2 {
			t = s.now().UnixMilli()
		}
		if onlyM != onlyA {
			mtime, atime := t, t
			if onlyM {
				atime = -1
			} else {
				mtime = -1
			}
			return fs.SetTimes(it.abs, mtime, atime)
		}
		return fs.SetTimes(it.abs, t, t)
	}
	for _, it := range s.expandArgs(args) {
		err := func() error {
			if it.exists() {
				if it.st.IsDir {
					return perr(it.str, eIsDir)
				}
				return update(it)
			}
			if err := s.checkParent(it); err != nil {
				return err
			}
			if noCreate {
				return nil
			}
			if err := fs.CreateEmpty(it.abs, client.CreateOptions{Overwrite: true}); err != nil {
				return err
			}
			if ts != nil {
				return update(it)
			}
			return nil
		}()
		if err != nil {
			s.fail(err)
		}
	}
	return nil
}

// -chmod, -chown, -chgrp

func cmdChmod(s *shell, args []string) error {
	f := newFormat(2, unlimited, "R")
	f.ignoreUnknown = true
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	mode, err := client.ParseChmod(args[0])
	if err != nil {
		return usagef("chmod : mode '%s' does not match the expected pattern.", args[0])
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	s.forEachPath(args[1:], f.opt("R"), func(it *pathData, _ int) error {
		perm := mode.Apply(it.st.Perm, it.st.IsDir)
		if perm == it.st.Perm {
			return nil
		}
		if err := fs.SetPermission(it.abs, perm); err != nil {
			return ioErrorf("changing permissions of '%s': %s", it.str, errMessage(err))
		}
		return nil
	})
	return nil
}

const ownerChars = `[-_./@a-zA-Z0-9]`

var (
	chownPattern = regexp.MustCompile(`^\s*(` + ownerChars + `+)?([:](` + ownerChars + `*))?\s*$`)
	chgrpPattern = regexp.MustCompile(`^\s*(` + ownerChars + `+)\s*$`)
)

func cmdChown(s *shell, args []string) error {
	f := newFormat(2, unlimited, "R")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	m := chownPattern.FindStringSubmatch(args[0])
	if m == nil {
		return usagef("'%s' does not match expected pattern for [owner][:group].", args[0])
	}
	owner, group := m[1], m[3]
	if owner == "" && group == "" {
		return usagef("'%s' does not specify owner or group.", args[0])
	}
	return chown(s, f.opt("R"), owner, group, args[1:])
}

func cmdChgrp(s *shell, args []string) error {
	f := newFormat(2, unlimited, "R")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	m := chgrpPattern.FindStringSubmatch(args[0])
	if m == nil {
		return usagef("'%s' does not match expected pattern for group", args[0])
	}
	return chown(s, f.opt("R"), "", m[1], args[1:])
}

func chown(s *shell, recursive bool, owner, group string, paths []string) error {
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	s.forEachPath(paths, recursive, func(it *pathData, _ int) error {
		o, g := owner, group
		if o == it.st.Owner {
			o = ""
		}
		if g == it.st.Group {
			g = ""
		}
		if o == "" && g == "" {
			return nil
		}
		if err := fs.SetOwner(it.abs, o, g); err != nil {
			return ioErrorf("changing ownership of '%s': %s", it.str, errMessage(err))
		}
		return nil
	})
	return nil
}

// -setrep

func cmdSetrep(s *shell, args []string) error {
	f := newFormat(2, unlimited, "R", "w")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	rep, err := strconv.ParseInt(args[0], 10, 16)
	if err != nil {
		s.warn("Illegal replication, a positive integer expected")
		return usagef("%s", javaNumberError(args[0], err))
	}
	if rep < 1 {
		return usagef("replication must be >= 1")
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	var wait []*pathData
	s.forEachPath(args[1:], true, func(it *pathData, _ int) error {
		if it.st.IsSymlink {
			return perr(it.str, "Symlinks unsupported")
		}
		if it.st.IsDir {
			return nil
		}
		if it.st.IsEC {
			fmt.Fprintf(s.out, "Did not set replication for: %s, because it's an erasure coded file.\n", it.str)
			return nil
		}
		ok, err := fs.SetReplication(it.abs, int(rep))
		if err != nil {
			return err
		}
		if !ok {
			return ioErrorf("Could not set replication for: %s", it.str)
		}
		fmt.Fprintf(s.out, "Replication %d set: %s\n", rep, it.str)
		if f.opt("w") {
			wait = append(wait, it)
		}
		return nil
	})
	for _, it := range wait {
		if err := waitReplication(s, fs, it, int(rep)); err != nil {
			s.fail(err)
		}
	}
	return nil
}

// javaNumberError is the message of Java's NumberFormatException.
func javaNumberError(v string, err error) string {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return fmt.Sprintf("Value out of range. Value:\"%s\" Radix:10", v)
	}
	return fmt.Sprintf("For input string: \"%s\"", v)
}

func waitReplication(s *shell, fs dfsFS, it *pathData, rep int) error {
	fmt.Fprintf(s.out, "Waiting for %s ...", it.str)
	s.out.Flush()
	warned := false
	for {
		blocks, err := fs.BlockLocations(it.abs, 0, 1<<62)
		if err != nil {
			return err
		}
		done := true
		for _, b := range blocks {
			if b.Locations != rep {
				if !warned && b.Locations > rep {
					fmt.Fprintf(s.out, "\nWARNING: the waiting time may be long for DECREASING the number of replications.\n")
					warned = true
				}
				done = false
				break
			}
		}
		if done {
			break
		}
		fmt.Fprint(s.out, ".")
		s.out.Flush()
		s.sleep(time.Second)
	}
	fmt.Fprintln(s.out, " done")
	return nil
}

// -truncate

func cmdTruncate(s *shell, args []string) error {
	f := newFormat(2, unlimited, "w")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		s.warn("Illegal length, a non-negative integer expected")
		return usagef("%s", javaNumberError(args[0], err))
	}
	if n < 0 {
		return usagef("length must be >= 0")
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	var wait []*pathData
	var tooLong error
	for _, it := range s.expandArgs(args[1:]) {
		if !it.exists() {
			s.fail(perr(it.str, eNotFound))
			continue
		}
		if it.st.IsDir {
			s.fail(perr(it.str, eIsDir))
			continue
		}
		if n > it.st.Length {
			tooLong = usagef("Cannot truncate to a larger file size. Current size: %d, truncate size: %d.", it.st.Length, n)
			break
		}
		ready, err := fs.Truncate(it.abs, n)
		switch {
		case err != nil:
			s.fail(err)
		case ready:
			fmt.Fprintf(s.out, "Truncated %s to length: %d\n", it.str, n)
		case f.opt("w"):
			wait = append(wait, it)
		default:
			fmt.Fprintf(s.out, "Truncating %s to length: %d. Wait for block recovery to complete before further updating this file.\n", it.str, n)
		}
	}
	if tooLong != nil {
		return tooLong
	}
	for _, it := range wait {
		fmt.Fprintf(s.out, "Waiting for %s ...\n", it.str)
		s.out.Flush()
		for {
			st, err := fs.Stat(it.abs)
			if err != nil {
				s.fail(err)
				break
			}
			if st.Length == n {
				fmt.Fprintf(s.out, "Truncated %s to length: %d\n", it.str, n)
				break
			}
			s.sleep(time.Second)
		}
	}
	return nil
}

// -getfattr and -setfattr

func cmdGetfattr(s *shell, args []string) error {
	name, err := popOption("-n", &args)
	if err != nil {
		return err
	}
	en, err := popOption("-e", &args)
	if err != nil {
		return err
	}
	encoding := "TEXT"
	if en != nil {
		encoding = strings.ToUpper(*en)
		if encoding != "TEXT" && encoding != "HEX" && encoding != "BASE64" {
			return usagef("Invalid/unsupported encoding option specified: %s", *en)
		}
	}
	f := newFormat(0, unlimited, "d", "R")
	args, err = f.parse(args)
	if err != nil {
		return err
	}
	dump := f.opt("d")
	switch {
	case !dump && name == nil:
		return usagef("Must specify '-n name' or '-d' option.")
	case len(args) == 0:
		return usagef("<path> is missing")
	case len(args) > 1:
		return usagef("Too many arguments")
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	print := func(n string, v []byte) {
		if len(v) == 0 {
			fmt.Fprintln(s.out, n)
			return
		}
		fmt.Fprintln(s.out, n+"="+encodeXAttr(v, encoding))
	}
	var argErr error
	s.forEachPath(args, f.opt("R"), func(it *pathData, _ int) error {
		if argErr != nil {
			return nil
		}
		fmt.Fprintf(s.out, "# file: %s\n", it.str)
		if dump {
			xs, err := fs.GetXAttrs(it.abs)
			if err != nil {
				return err
			}
			for _, x := range xs {
				print(x.Name, x.Value)
			}
			return nil
		}
		xs, err := fs.GetXAttrs(it.abs, *name)
		if ae, ok := err.(*client.ArgumentError); ok {
			argErr = usagef("%s", ae.Message)
			return nil
		}
		if err != nil {
			return err
		}
		if len(xs) > 0 {
			print(*name, xs[0].Value)
		}
		return nil
	})
	return argErr
}

// encodeXAttr is Hadoop's XAttrCodec.encodeValue.
func encodeXAttr(v []byte, encoding string) string {
	switch encoding {
	case "HEX":
		return "0x" + hex.EncodeToString(v)
	case "BASE64":
		return "0s" + base64.StdEncoding.EncodeToString(v)
	}
	return "\"" + javaString(v) + "\""
}

// javaString decodes UTF-8 as Java's new String(bytes, "utf-8"): each
// malformed byte becomes U+FFFD.
func javaString(v []byte) string {
	var b strings.Builder
	for len(v) > 0 {
		r, n := utf8.DecodeRune(v)
		b.WriteRune(r)
		v = v[n:]
	}
	return b.String()
}

// decodeXAttr is Hadoop's XAttrCodec.decodeValue: "quoted" text, 0x hex,
// 0s base64, else the bytes of the string.
func decodeXAttr(v string) ([]byte, error) {
	if len(v) >= 2 {
		switch p := strings.ToLower(v[:2]); {
		case v[0] == '"' && v[len(v)-1] == '"':
			return []byte(v[1 : len(v)-1]), nil
		case p == "0x":
			b, err := hex.DecodeString(v[2:])
			if err != nil {
				return nil, ioErrorf("org.apache.commons.codec.DecoderException: %s", hexError(v[2:]))
			}
			return b, nil
		case p == "0s":
			b, err := base64.StdEncoding.DecodeString(v[2:])
			if err != nil {
				b, _ = base64.RawStdEncoding.DecodeString(strings.TrimRight(v[2:], "="))
			}
			return b, nil
		}
	}
	return []byte(v), nil
}

func hexError(h string) string {
	if len(h)%2 != 0 {
		return "Odd number of characters."
	}
	for i, c := range h {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return fmt.Sprintf("Illegal hexadecimal character %c at index %d", c, i)
		}
	}
	return "Illegal hexadecimal string"
}

func cmdSetfattr(s *shell, args []string) error {
	name, err := popOption("-n", &args)
	if err != nil {
		return err
	}
	v, err := popOption("-v", &args)
	if err != nil {
		return err
	}
	var value []byte
	if v != nil {
		if value, err = decodeXAttr(*v); err != nil {
			return err
		}
	}
	xname, err := popOption("-x", &args)
	if err != nil {
		return err
	}
	switch {
	case name != nil && xname != nil:
		return usagef("Can not specify both '-n name' and '-x name' option.")
	case name == nil && xname == nil:
		return usagef("Must specify '-n name' or '-x name' option.")
	case len(args) == 0:
		return usagef("<path> is missing")
	case len(args) > 1:
		return usagef("Too many arguments")
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	var argErr error
	s.forEachPath(args, false, func(it *pathData, _ int) error {
		var err error
		if name != nil {
			err = fs.SetXAttr(it.abs, *name, value, client.XAttrCreate|client.XAttrReplace)
		} else {
			err = fs.RemoveXAttr(it.abs, *xname)
		}
		if ae, ok := err.(*client.ArgumentError); ok {
			argErr = usagef("%s", ae.Message)
			return nil
		}
		return err
	})
	return argErr
}

// -find

type findExpr struct {
	kind    string // name, iname, print, print0
	pattern *globPattern
}

func cmdFind(s *shell, args []string) error {
	f := newFormat(1, unlimited, "L", "H")
	f.ignoreUnknown = true
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	var paths, exprArgs []string
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			exprArgs = args[i:]
			break
		}
		paths = append(paths, a)
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var exprs []findExpr
	hasAction := false
	for i := 0; i < len(exprArgs); i++ {
		switch a := exprArgs[i]; a {
		case "(", ")", "-a", "-and":
		case "-print", "-print0":
			exprs = append(exprs, findExpr{kind: a[1:]})
			hasAction = true
		case "-name", "-iname":
			if i+1 >= len(exprArgs) {
				return ioErrorf("Not enough arguments: expected 1 but got 0")
			}
			i++
			pat := exprArgs[i]
			if a == "-iname" {
				pat = strings.ToLower(pat)
			}
			g, err := compileGlob(pat)
			if err != nil {
				return err
			}
			exprs = append(exprs, findExpr{kind: a[1:], pattern: g})
		default:
			return ioErrorf("Unexpected argument: %s", a)
		}
	}
	if !hasAction {
		exprs = append(exprs, findExpr{kind: "print"})
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	s.forEachPath(paths, true, func(it *pathData, _ int) error {
		name := path.Base(it.abs)
		if it.abs == "/" {
			name = ""
		}
		for _, e := range exprs {
			switch e.kind {
			case "name":
				if !e.pattern.re.MatchString(name) {
					return nil
				}
			case "iname":
				if !e.pattern.re.MatchString(strings.ToLower(name)) {
					return nil
				}
			case "print":
				fmt.Fprintln(s.out, it.str)
			case "print0":
				fmt.Fprint(s.out, it.str+"\x00")
			}
		}
		return nil
	})
	return nil
}

// -checksum

func cmdChecksum(s *shell, args []string) error {
	args, err := newFormat(1, unlimited).parse(args)
	if err != nil {
		return err
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	s.forEachPath(args, false, func(it *pathData, _ int) error {
		if it.st.IsDir {
			return perr(it.str, eIsDir)
		}
		sum, err := fs.Checksum(it.abs)
		if err != nil {
			return err
		}
		fmt.Fprintf(s.out, "%s\t%s\t%s\n", it.str, sum.Algorithm(), hex.EncodeToString(sum.Bytes()))
		return nil
	})
	return nil
}
