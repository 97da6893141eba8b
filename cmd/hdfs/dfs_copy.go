package main

// The data commands of `hdfs dfs`: put, copyFromLocal, moveFromLocal, get,
// copyToLocal, cp, appendToFile, getmerge, cat, text, head and tail, with
// Hadoop's CommandWithDestination rules (destination checks, "._COPYING_"
// temporary files renamed into place, -f, -p[topax], -d).

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/avatarfs/avatarfs/client"
)

// Local files.

func localStat(p string) (*client.FileStatus, error) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	return localStatus(p, fi), nil
}

var (
	userNames  = map[uint32]string{}
	groupNames = map[uint32]string{}
)

func localStatus(p string, fi os.FileInfo) *client.FileStatus {
	st := &client.FileStatus{Path: p, IsDir: fi.IsDir(), Length: fi.Size(), Perm: uint16(fi.Mode().Perm()),
		Mtime: fi.ModTime().UnixMilli(), Atime: fi.ModTime().UnixMilli(), Replication: 1, BlockSize: 32 << 20}
	if fi.Mode()&os.ModeSticky != 0 {
		st.Perm |= 0o1000
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid := uint32(sys.Uid), uint32(sys.Gid)
		if _, ok := userNames[uid]; !ok {
			userNames[uid] = strconv.Itoa(int(uid))
			if u, err := user.LookupId(userNames[uid]); err == nil {
				userNames[uid] = u.Username
			}
		}
		if _, ok := groupNames[gid]; !ok {
			groupNames[gid] = strconv.Itoa(int(gid))
			if g, err := user.LookupGroupId(groupNames[gid]); err == nil {
				groupNames[gid] = g.Name
			}
		}
		st.Owner, st.Group = userNames[uid], groupNames[gid]
	}
	return st
}

func localList(p *pathData) ([]*pathData, error) {
	entries, err := os.ReadDir(p.abs)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []*pathData
	for _, e := range entries {
		c := p.childNamed(e.Name())
		st, err := localStat(c.abs)
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue // a dangling link
		}
		c.st = st
		out = append(out, c)
	}
	return out, nil
}

func localDir(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return filepath.Dir(p)
	}
	return filepath.Dir(a)
}

func localBase(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	return filepath.Base(p)
}

func (s *shell) localPath(arg string) (*pathData, error) {
	p := &pathData{str: arg, abs: arg, local: true}
	st, err := localStat(arg)
	if err != nil {
		return nil, err
	}
	p.st = st
	return p, nil
}

// copier is CommandWithDestination's copy engine between the local file
// system and this one, in either direction, or within this one.
type copier struct {
	s         *shell
	overwrite bool
	direct    bool
	preserve  string // any of "topax"
	move      bool   // moveFromLocal: delete each source once copied
}

// copyArg copies one source argument into dst (processPathArgument).
func (c *copier) copyArg(src, dst *pathData) {
	if src.st.IsDir && src.local == dst.local {
		target, err := c.s.targetPath(src, dst, 0)
		if err == nil {
			err = checkNotSelf(c.s, src, target)
		}
		if err != nil {
			c.s.fail(err)
			return
		}
	}
	c.copyPath(src, dst, 0)
}

// copyPath copies src (and, for a directory, everything below it) to its
// target in dst; failures are reported and skip the subtree.
func (c *copier) copyPath(src, dst *pathData, depth int) {
	err := func() error {
		target, err := c.s.targetPath(src, dst, depth)
		if err != nil {
			return err
		}
		if c.move && target.exists() && target.st.IsDir {
			return perr(target.str, eExists)
		}
		if !src.st.IsDir {
			if err := c.copyFile(src, target); err != nil {
				return err
			}
		} else if err := c.copyDir(src, target, depth); err != nil {
			return err
		}
		if c.move {
			if err := os.Remove(src.abs); err != nil {
				return &pathError{op: "remove", path: src.str, msg: eIO}
			}
		}
		return nil
	}()
	if err != nil {
		c.s.fail(err)
	}
}

func (c *copier) copyDir(src, target *pathData, depth int) error {
	s := c.s
	if target.exists() {
		if !target.st.IsDir {
			return perr(target.str, eNotDir)
		}
	} else {
		if err := c.mkdir(target); err != nil {
			return err
		}
		if err := s.refresh(target); err != nil {
			return err
		}
	}
	kids, err := s.list(src)
	if err != nil {
		return err
	}
	for _, k := range kids {
		c.copyPath(k, target, depth+1)
	}
	if target.st != nil && target.st.IsDir {
		return c.preserveAttrs(src, target)
	}
	return nil
}

func (c *copier) mkdir(p *pathData) error {
	if p.local {
		if err := os.MkdirAll(p.abs, 0o777); err != nil {
			return &pathError{op: "mkdir", path: p.str, msg: eIO}
		}
		return nil
	}
	return c.s.fs.Mkdirs(p.abs, c.s.fs.DirMode(), true)
}

func (c *copier) copyFile(src, target *pathData) error {
	in, err := c.s.open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := c.copyStream(in, src.st.Length, target); err != nil {
		return err
	}
	return c.preserveAttrs(src, target)
}

// open opens a local or remote file for reading.
func (s *shell) open(p *pathData) (io.ReadCloser, error) {
	if p.local {
		return os.Open(p.abs)
	}
	return s.fs.OpenFile(p.abs)
}

// copyStream is copyStreamToTarget: write to "<target>._COPYING_" (unless
// -d), then rename it over the target.
func (c *copier) copyStream(in io.Reader, size int64, target *pathData) error {
	if target.exists() && (target.st.IsDir || !c.overwrite) {
		return perr(target.str, eExists)
	}
	tmp := target
	if !c.direct {
		tmp = target.suffix("._COPYING_")
	}
	in = c.s.progress(in, target.str, size)
	if err := c.s.writeFile(tmp, in, true); err != nil {
		c.s.removeQuietly(tmp)
		return err
	}
	if c.direct {
		return nil
	}
	if target.exists() {
		ok, err := c.s.deletePath(target)
		if err != nil {
			c.s.removeQuietly(tmp)
			return err
		}
		if !ok {
			c.s.removeQuietly(tmp)
			return &pathError{op: "delete", path: target.str, msg: eIO}
		}
	}
	ok, err := c.s.renamePath(tmp, target)
	if err == nil && !ok {
		err = &pathError{op: "rename", path: tmp.str, target: target.str, msg: eIO}
	}
	if err != nil {
		c.s.removeQuietly(tmp)
	}
	return err
}

// writeFile creates p with the data of in. A remote file with no data is
// created without a write pipeline (no DataNode needed).
func (s *shell) writeFile(p *pathData, in io.Reader, overwrite bool) error {
	if p.local {
		f, err := os.OpenFile(p.abs, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	br := bufio.NewReaderSize(in, 64<<10)
	if _, err := br.Peek(1); err == io.EOF {
		return s.fs.CreateEmpty(p.abs, client.CreateOptions{Overwrite: overwrite})
	} else if err != nil {
		return err
	}
	w, err := s.fs.CreateFile(p.abs, client.CreateOptions{Overwrite: overwrite})
	if err != nil {
		return err
	}
	if _, err := br.WriteTo(w); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func (s *shell) deletePath(p *pathData) (bool, error) {
	if p.local {
		if err := os.Remove(p.abs); err != nil {
			return false, nil
		}
		return true, nil
	}
	return s.fs.Delete(p.abs, false)
}

func (s *shell) renamePath(from, to *pathData) (bool, error) {
	if from.local {
		return os.Rename(from.abs, to.abs) == nil, nil
	}
	return s.fs.Rename(from.abs, to.abs)
}

func (s *shell) removeQuietly(p *pathData) {
	if p.local {
		os.Remove(p.abs)
		return
	}
	s.fs.Delete(p.abs, false)
}

// preserveAttrs copies the attributes -p asked for from src to target.
func (c *copier) preserveAttrs(src, target *pathData) error {
	if c.preserve == "" {
		return nil
	}
	s, st := c.s, src.st
	has := func(a byte) bool { return strings.IndexByte(c.preserve, a) >= 0 }
	if target.local {
		if has('t') {
			if err := os.Chtimes(target.abs, time.UnixMilli(st.Atime), time.UnixMilli(st.Mtime)); err != nil {
				return err
			}
		}
		if has('o') {
			uid, gid := -1, -1
			if u, err := user.Lookup(st.Owner); err == nil {
				uid, _ = strconv.Atoi(u.Uid)
			}
			if g, err := user.LookupGroup(st.Group); err == nil {
				gid, _ = strconv.Atoi(g.Gid)
			}
			if err := os.Lchown(target.abs, uid, gid); err != nil {
				return err
			}
		}
		if has('p') || has('a') {
			mode := os.FileMode(st.Perm & 0o777)
			if st.Perm&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			return os.Chmod(target.abs, mode)
		}
		return nil
	}
	fs := s.fs
	if has('t') {
		if err := fs.SetTimes(target.abs, st.Mtime, st.Atime); err != nil {
			return err
		}
	}
	if has('o') {
		if err := fs.SetOwner(target.abs, st.Owner, st.Group); err != nil {
			return err
		}
	}
	if has('p') || has('a') {
		if err := fs.SetPermission(target.abs, st.Perm); err != nil {
			return err
		}
	}
	if has('x') && !src.local {
		xs, err := fs.GetXAttrs(src.abs)
		if err != nil {
			return err
		}
		for _, x := range xs {
			if err := fs.SetXAttr(target.abs, x.Name, x.Value, client.XAttrCreate|client.XAttrReplace); err != nil {
				return err
			}
		}
	}
	return nil
}

// -put, -copyFromLocal, -moveFromLocal

func cmdPut(s *shell, args []string) error { return put(s, args, false) }

func cmdMoveFromLocal(s *shell, args []string) error { return put(s, args, true) }

func put(s *shell, args []string, move bool) error {
	f := newFormat(1, unlimited, "f", "p", "d")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	c := &copier{s: s, overwrite: f.opt("f"), direct: f.opt("d"), move: move}
	if f.opt("p") {
		c.preserve = "top"
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	dst, err := s.remoteDestination(args)
	if err != nil {
		return err
	}
	if len(args) >= 2 {
		args = args[:len(args)-1]
	}
	var srcs []*pathData
	for _, a := range args {
		p, err := s.localPath(a)
		if err != nil {
			s.fail(err)
			continue
		}
		srcs = append(srcs, p)
	}
	if len(srcs) == 1 && srcs[0].str == "-" {
		target, err := s.targetPath(srcs[0], dst, 0)
		if err != nil {
			return err
		}
		return c.copyStream(s.stdin, -1, target)
	}
	if err := checkDestination(s, dst, len(srcs), c.overwrite); err != nil {
		return err
	}
	for _, src := range srcs {
		if !src.exists() {
			s.fail(perr(src.str, eNotFound))
			continue
		}
		c.copyArg(src, dst)
	}
	return nil
}

// -get, -copyToLocal

func cmdGet(s *shell, args []string) error {
	f := newFormat(1, unlimited, "ignoreCrc", "p", "f")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	c := &copier{s: s, overwrite: f.opt("f")}
	if f.opt("p") {
		c.preserve = "top"
	}
	dstArg := "."
	if len(args) >= 2 {
		dstArg, args = args[len(args)-1], args[:len(args)-1]
	}
	dst, err := s.localPath(dstArg)
	if err != nil {
		return err
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	srcs := s.expandArgs(args)
	if err := checkDestination(s, dst, len(srcs), c.overwrite); err != nil {
		return err
	}
	for _, src := range srcs {
		if !src.exists() {
			s.fail(perr(src.str, eNotFound))
			continue
		}
		c.copyArg(src, dst)
	}
	return nil
}

// -cp

func cmdCp(s *shell, args []string) error {
	preserve := ""
	for i, a := range args {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-p") {
			args = append(append([]string{}, args[:i]...), args[i+1:]...)
			if a == "-p" {
				preserve = "top"
			} else {
				for _, ch := range a[2:] {
					if !strings.ContainsRune("topax", ch) {
						return usagef("No attribute for %c", ch)
					}
				}
				preserve = a[2:]
			}
			break
		}
	}
	f := newFormat(2, unlimited, "f", "d")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	c := &copier{s: s, overwrite: f.opt("f"), direct: f.opt("d"), preserve: preserve}
	dst, err := s.remoteDestination(args)
	if err != nil {
		return err
	}
	srcs := s.expandArgs(args[:len(args)-1])
	if err := checkDestination(s, dst, len(srcs), c.overwrite); err != nil {
		return err
	}
	for _, src := range srcs {
		if !src.exists() {
			s.fail(perr(src.str, eNotFound))
			continue
		}
		c.copyArg(src, dst)
	}
	return nil
}

// -appendToFile

// lazyAppender opens the remote file for append at the first byte, so
// appending nothing needs no DataNode.
type lazyAppender struct {
	s    *shell
	path string
	w    fileWriter
}

func (a *lazyAppender) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if a.w == nil {
		w, err := a.s.fs.AppendFile(a.path)
		if err != nil {
			return 0, err
		}
		a.w = w
	}
	return a.w.Write(b)
}

func (a *lazyAppender) Close() error {
	if a.w == nil {
		return nil
	}
	return a.w.Close()
}

func cmdAppendToFile(s *shell, args []string) error {
	if len(args) < 2 {
		return ioErrorf("missing destination argument")
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	dst, err := s.remoteDestination(args)
	if err != nil {
		return err
	}
	stdin := false
	var srcs []string
	for _, a := range args[:len(args)-1] {
		if a == "-" {
			stdin = true
		} else {
			srcs = append(srcs, a)
		}
	}
	if !dst.exists() {
		if err := fs.CreateEmpty(dst.abs, client.CreateOptions{}); err != nil {
			return err
		}
	}
	w := &lazyAppender{s: s, path: dst.abs}
	if dst.exists() && dst.st.IsDir {
		// Let the NameNode refuse it.
		if w.w, err = fs.AppendFile(dst.abs); err != nil {
			return err
		}
	}
	err = func() error {
		if stdin {
			if len(srcs) != 0 {
				return ioErrorf("stdin (-) must be the sole input argument when present")
			}
			_, err := io.Copy(w, s.stdin)
			return err
		}
		for _, src := range srcs {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// -getmerge

func cmdGetmerge(s *shell, args []string) error {
	f := newFormat(2, unlimited, "nl", "skip-empty-file")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	dst, err := s.localPath(args[len(args)-1])
	if err != nil {
		return err
	}
	if dst.exists() && dst.st.IsDir {
		return perr(dst.str, eIsDir)
	}
	if _, err := s.fsys(); err != nil {
		return err
	}
	var srcs []*pathData
	missing := false
	for _, it := range s.expandArgs(args[:len(args)-1]) {
		switch {
		case !it.exists():
			missing = true
			s.fail(perr(it.str, eNotFound))
		case it.st.IsDir:
			kids, err := s.list(it)
			if err != nil {
				s.fail(err)
				continue
			}
			for _, k := range kids {
				if !k.st.IsDir {
					srcs = append(srcs, k)
				}
			}
		default:
			srcs = append(srcs, it)
		}
	}
	if missing {
		return nil
	}
	out, err := os.OpenFile(dst.abs, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	defer out.Close()
	for _, src := range srcs {
		if src.st.Length != 0 {
			in, err := s.fs.OpenFile(src.abs)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, in)
			in.Close()
			if err != nil {
				return err
			}
		} else if f.opt("skip-empty-file") {
			continue
		}
		if f.opt("nl") {
			if _, err := out.WriteString("\n"); err != nil {
				return err
			}
		}
	}
	return out.Close()
}

// -cat, -text

func cmdCat(s *shell, args []string) error { return cat(s, args, false) }

func cmdText(s *shell, args []string) error { return cat(s, args, true) }

func cat(s *shell, args []string, text bool) error {
	args, err := newFormat(1, unlimited, "ignoreCrc").parse(args)
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
		r, err := fs.OpenFile(it.abs)
		if err != nil {
			return err
		}
		defer r.Close()
		var in io.Reader = r
		if text {
			if in, err = decoded(r, it); err != nil {
				return err
			}
		}
		_, err = io.Copy(s.out, in)
		return err
	})
	return nil
}

// decoded is -text's detection: gzip by its magic number, SequenceFiles by
// theirs, else the codec of the file extension (.gz, .bz2, .deflate).
func decoded(r fileReader, it *pathData) (io.Reader, error) {
	var magic [3]byte
	n, _ := io.ReadFull(r, magic[:])
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return gzip.NewReader(r)
	case n == 3 && string(magic[:]) == "SEQ":
		return nil, perr(it.str, "SequenceFile is not supported")
	}
	switch path.Ext(it.abs) {
	case ".gz":
		return gzip.NewReader(r)
	case ".bz2":
		return bzip2.NewReader(r), nil
	case ".deflate":
		return zlib.NewReader(r)
	}
	return r, nil
}

// -head, -tail

func cmdHead(s *shell, args []string) error {
	args, err := newFormat(1, 1).parse(args)
	if err != nil {
		return err
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	it, err := s.remotePath(args[0])
	if err != nil {
		return err
	}
	if !it.exists() {
		return perr(it.str, eNotFound)
	}
	if it.st.IsDir {
		return perr(it.str, eIsDir)
	}
	r, err := fs.OpenFile(it.abs)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.CopyN(s.out, r, 1024)
	if err == io.EOF {
		err = nil
	}
	return err
}

func cmdTail(s *shell, args []string) error {
	f := newFormat(1, 1, "f").withValue("s")
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	delay := 5 * time.Second
	if f.opt("f") {
		if v := f.values["s"]; v != nil && *v != "" {
			ms, err := strconv.ParseInt(*v, 10, 64)
			if err != nil {
				return usagef("%s", javaNumberError(*v, err))
			}
			if ms > 0 {
				delay = time.Duration(ms) * time.Millisecond
			}
		}
	}
	fs, err := s.fsys()
	if err != nil {
		return err
	}
	it, err := s.remotePath(args[0])
	if err != nil {
		return err
	}
	if !it.exists() {
		return perr(it.str, eNotFound)
	}
	if it.st.IsDir {
		return perr(it.str, eIsDir)
	}
	offset := int64(-1024)
	for {
		st, err := fs.Stat(it.abs)
		if err != nil {
			if isNotFound(err) {
				return perr(it.str, eNotFound)
			}
			return err
		}
		if offset < 0 {
			offset = max(st.Length+offset, 0)
		}
		if offset < st.Length {
			r, err := fs.OpenFile(it.abs)
			if err != nil {
				return err
			}
			if _, err := r.Seek(offset, io.SeekStart); err != nil {
				r.Close()
				return err
			}
			n, err := io.Copy(s.out, r)
			r.Close()
			offset += n
			if err != nil {
				return err
			}
		} else {
			offset = st.Length
		}
		s.out.Flush()
		if !f.opt("f") {
			return nil
		}
		s.sleep(delay)
	}
}

// Progress of long copies, on stderr when it is a terminal.

type progressReader struct {
	r       io.Reader
	s       *shell
	name    string
	total   int64
	done    int64
	start   time.Time
	last    time.Time
	visible bool
}

// progress wraps in so that a copy lasting more than a second shows its
// progress on a terminal stderr; otherwise it returns in.
func (s *shell) progress(in io.Reader, name string, total int64) io.Reader {
	if !s.tty {
		return in
	}
	return &progressReader{r: in, s: s, name: name, total: total, start: s.now()}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	now := p.s.now()
	if err != nil {
		if p.visible {
			fmt.Fprint(p.s.errw, "\r\033[K")
		}
		return n, err
	}
	if now.Sub(p.start) >= time.Second && now.Sub(p.last) >= 200*time.Millisecond {
		p.last, p.visible = now, true
		line := fmt.Sprintf("%s: %s", p.name, humanSize(p.done))
		if p.total > 0 {
			line += fmt.Sprintf(" / %s (%d%%)", humanSize(p.total), p.done*100/p.total)
		}
		rate := float64(p.done) / now.Sub(p.start).Seconds()
		line += fmt.Sprintf(" %s/s", humanSize(int64(rate)))
		fmt.Fprintf(p.s.errw, "\r\033[K%s", line)
	}
	return n, nil
}
