package main

// Glob expansion as Hadoop's Globber: braces containing a slash are
// expanded into several patterns first (GlobExpander); each pattern is then
// matched one path component at a time, listing a directory only for a
// component with a wildcard (*, ?, [...], {...}); a plain last component is
// looked up. Matches are sorted by path. A pattern without any wildcard
// that matches nothing is returned as the one (missing) path, so commands
// can create it or report it.

import (
	"regexp"
	"sort"
	"strings"

	"github.com/avatarfs/avatarfs/client"
)

// globPattern is one path component compiled as Hadoop's GlobPattern.
type globPattern struct {
	re       *regexp.Regexp
	wildcard bool
}

// compileGlob converts a glob component to an anchored regular expression.
func compileGlob(glob string) (*globPattern, error) {
	var re strings.Builder
	setOpen, curlyOpen := 0, 0
	wildcard := false
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch c {
		case '\\':
			i++
			if i >= len(glob) {
				return nil, globError("Missing escaped character", glob, i)
			}
			re.WriteString(regexp.QuoteMeta(string(glob[i])))
			continue
		case '.', '$', '(', ')', '|', '+':
			re.WriteByte('\\')
		case '*':
			re.WriteString(".*")
			wildcard = true
			continue
		case '?':
			re.WriteByte('.')
			wildcard = true
			continue
		case '{':
			re.WriteString("(?:")
			curlyOpen++
			wildcard = true
			continue
		case ',':
			if curlyOpen > 0 {
				re.WriteByte('|')
			} else {
				re.WriteByte(',')
			}
			continue
		case '}':
			if curlyOpen > 0 {
				curlyOpen--
				re.WriteByte(')')
				continue
			}
			re.WriteByte('\\')
		case '[':
			if setOpen > 0 {
				return nil, globError("Unclosed character class", glob, i)
			}
			setOpen++
			wildcard = true
		case '^':
			if setOpen == 0 {
				re.WriteByte('\\')
			}
		case '!':
			if setOpen > 0 && i > 0 && glob[i-1] == '[' {
				re.WriteByte('^')
			} else {
				re.WriteByte('!')
			}
			continue
		case ']':
			setOpen = 0
		}
		re.WriteByte(c)
	}
	if setOpen > 0 {
		return nil, globError("Unclosed character class", glob, len(glob))
	}
	if curlyOpen > 0 {
		return nil, globError("Unclosed group", glob, len(glob))
	}
	r, err := regexp.Compile(`(?s)^(?:` + re.String() + `)$`)
	if err != nil {
		return nil, ioErrorf("Illegal file pattern: %s", err)
	}
	return &globPattern{re: r, wildcard: wildcard}, nil
}

func globError(msg, _ string, pos int) error {
	return ioErrorf("Illegal file pattern: %s near index %d", msg, pos)
}

// unescapeGlob removes the backslashes of a component without wildcards.
func unescapeGlob(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// expandBraces expands, left to right, every outer {...} that contains a
// slash, as Hadoop's GlobExpander.
func expandBraces(pattern string) ([]string, error) {
	var out []string
	todo := []string{pattern}
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		alts, ok, err := expandLeftmost(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, p)
			continue
		}
		todo = append(alts, todo...)
	}
	return out, nil
}

func expandLeftmost(p string) ([]string, bool, error) {
	start := -1
	depth := 0
	hasSlash := false
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				start, hasSlash = i, false
			}
			depth++
		case '}':
			if depth > 0 {
				depth--
				if depth == 0 && hasSlash {
					return splitBraces(p, start, i)
				}
			}
		case '/':
			if depth > 0 {
				hasSlash = true
			}
		}
	}
	return nil, false, nil
}

// splitBraces expands the group p[start..end] into its alternatives.
func splitBraces(p string, start, end int) ([]string, bool, error) {
	prefix, suffix := p[:start], p[end+1:]
	var alts []string
	var cur strings.Builder
	depth := 0
	for i := start + 1; i < end; i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 >= len(p) {
				return nil, false, ioErrorf("Illegal file pattern: An escaped character does not present for glob %s at %d", p, i+1)
			}
			cur.WriteByte(c)
			i++
			cur.WriteByte(p[i])
			continue
		case c == '{':
			depth++
		case c == '}':
			depth--
		case c == ',' && depth == 0:
			alts = append(alts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	alts = append(alts, cur.String())
	out := make([]string, len(alts))
	for i, a := range alts {
		out[i] = prefix + a + suffix
	}
	return out, true, nil
}

type globCandidate struct {
	path string
	st   *client.FileStatus // nil: not looked up yet
}

// glob returns the statuses matching absolute pattern pat, sorted by path,
// and whether the pattern had wildcards.
func (s *shell) glob(pat string) ([]client.FileStatus, bool, error) {
	flat, err := expandBraces(pat)
	if err != nil {
		return nil, false, err
	}
	sawWildcard := len(flat) > 1
	var results []client.FileStatus
	for _, fp := range flat {
		var comps []string
		for _, c := range strings.Split(fp, "/") {
			if c != "" {
				comps = append(comps, c)
			}
		}
		cands := []globCandidate{{path: "/"}}
		for i, comp := range comps {
			last := i == len(comps)-1
			g, err := compileGlob(comp)
			if err != nil {
				return nil, false, err
			}
			var next []globCandidate
			if !g.wildcard {
				name := unescapeGlob(comp)
				for _, c := range cands {
					p := joinPath(c.path, name)
					if !last {
						next = append(next, globCandidate{path: p})
						continue
					}
					st, err := s.fs.Stat(p)
					if isNotFound(err) || client.IsClass(err, client.ExParentNotDir) {
						continue
					}
					if err != nil {
						return nil, false, err
					}
					next = append(next, globCandidate{path: p, st: st})
				}
				cands = next
				continue
			}
			sawWildcard = true
			for _, c := range cands {
				kids, err := s.fs.List(c.path)
				if isNotFound(err) {
					continue
				}
				if err != nil {
					return nil, false, err
				}
				if len(kids) == 1 && kids[0].Path == c.path {
					continue // c is a file
				}
				for _, k := range kids {
					if !last && !k.IsDir {
						continue
					}
					if g.re.MatchString(k.Name()) {
						k := k
						next = append(next, globCandidate{path: k.Path, st: &k})
					}
				}
			}
			cands = next
		}
		for _, c := range cands {
			if c.st == nil {
				st, err := s.fs.Stat(c.path)
				if isNotFound(err) {
					continue
				}
				if err != nil {
					return nil, false, err
				}
				c.st = st
			}
			results = append(results, *c.st)
		}
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Path < results[j].Path })
	return results, sawWildcard, nil
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// globPaths is Hadoop's PathData.expandAsGlob for a remote argument.
func (s *shell) globPaths(arg string) ([]*pathData, error) {
	fs, err := s.fsys()
	if err != nil {
		return nil, err
	}
	absPat, err := fs.Abs(arg)
	if err != nil {
		return nil, err
	}
	stats, wildcard, err := s.glob(absPat)
	if err != nil {
		return nil, err
	}
	if len(stats) == 0 && !wildcard {
		return []*pathData{{str: arg, abs: unescapeGlob(absPat)}}, nil
	}
	scheme, rest, hasScheme := splitURI(arg)
	out := make([]*pathData, 0, len(stats))
	for i := range stats {
		st := &stats[i]
		var str string
		switch {
		case hasScheme:
			auth := ""
			if strings.HasPrefix(rest, "//") {
				auth, _, _ = strings.Cut(rest[2:], "/")
			}
			str = scheme + "://" + auth + st.Path
		case strings.HasPrefix(arg, "/"):
			str = st.Path
		default:
			str = relativize(fs.Home(), st.Path, st.IsDir)
		}
		out = append(out, &pathData{str: str, abs: st.Path, st: st})
	}
	return out, nil
}

// splitURI splits "scheme:rest" when arg starts with a URI scheme and a
// slash.
func splitURI(arg string) (string, string, bool) {
	i := strings.Index(arg, ":")
	if i <= 0 || i+1 >= len(arg) || arg[i+1] != '/' || strings.ContainsAny(arg[:i], "/{}[]*?") {
		return "", "", false
	}
	return arg[:i], arg[i+1:], true
}

// relativize is Hadoop's PathData.relativize: the path of a match written
// relative to the working directory.
func relativize(cwd, p string, isDir bool) string {
	if cwd == p {
		return "."
	}
	c, q := cwd, p
	if !strings.HasSuffix(c, "/") {
		c += "/"
	}
	if isDir && !strings.HasSuffix(q, "/") {
		q += "/"
	}
	lastSep := -1
	for i := 0; i < len(c) && i < len(q); i++ {
		if c[i] != q[i] {
			break
		}
		if c[i] == '/' {
			lastSep = i
		}
	}
	var rel string
	if lastSep < len(p) {
		rel = p[lastSep+1:]
	}
	if lastSep < len(cwd) {
		for lastSep != -1 {
			if rel != "" {
				rel = "/" + rel
			}
			rel = ".." + rel
			next := strings.Index(cwd[lastSep+1:], "/")
			if next < 0 {
				lastSep = -1
			} else {
				lastSep += next + 1
			}
		}
	}
	return rel
}
