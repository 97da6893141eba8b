package client

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/avatarfs/avatarfs/conf"
)

// Permission strings as Hadoop parses them for chmod and for the umask
// (fs.permissions.umask-mode): octal ("755", "1777"; umasks "022") or
// symbolic ("u+x,g-w", "a=rX", "+t"; umasks "u=rwx,g=rx,o=").
var (
	chmodOctal    = regexp.MustCompile(`^\s*[+]?([01]?)([0-7]{3})\s*$`)
	chmodSymbolic = regexp.MustCompile(`^\s*([ugoa]*)([+=-]+)([rwxXt]+)([,\s]*)\s*`)
	umaskOctal    = regexp.MustCompile(`^\s*[+]?(0*)([0-7]{3})\s*$`)
	umaskSymbolic = regexp.MustCompile(`^\s*([ugoa]*)([+=-]+)([rwx]*)([,\s]*)\s*`)
)

// ModeChange is a parsed chmod mode: per class (sticky, user, group,
// other) an operation ('+', '-' or '=') and the bits (r=4 w=2 x=1, X=8).
type ModeChange struct {
	symbolic bool
	op       [4]byte // sticky, user, group, other
	bits     [4]int
}

// ParseChmod parses a chmod mode as Hadoop's ChmodParser does.
func ParseChmod(s string) (*ModeChange, error) {
	return parseMode(s, chmodSymbolic, chmodOctal)
}

func parseMode(s string, symbolic, octal *regexp.Regexp) (*ModeChange, error) {
	m := &ModeChange{op: [4]byte{'+', '+', '+', '+'}}
	if loc := symbolic.FindStringSubmatchIndex(s); loc != nil {
		if err := m.parseSymbolic(s, symbolic); err != nil {
			return nil, err
		}
		return m, nil
	}
	g := octal.FindStringSubmatch(s)
	if g == nil {
		return nil, fmt.Errorf("%s", s)
	}
	m.op = [4]byte{'=', '=', '=', '='}
	if g[1] != "" {
		m.bits[0] = int(g[1][0] - '0')
	}
	for i := 0; i < 3; i++ {
		m.bits[i+1] = int(g[2][i] - '0')
	}
	return m, nil
}

func (m *ModeChange) parseSymbolic(s string, re *regexp.Regexp) error {
	rest := s
	for first := true; first || rest != ""; first = false {
		g := re.FindStringSubmatch(rest)
		if g == nil || len(g[0]) == 0 {
			return fmt.Errorf("%s", s)
		}
		rest = rest[len(g[0]):]
		op := g[2][len(g[2])-1]
		user, group, other := false, false, false
		for _, c := range g[1] {
			switch c {
			case 'u':
				user = true
			case 'g':
				group = true
			case 'o':
				other = true
			}
		}
		if !user && !group && !other {
			user, group, other = true, true, true
		}
		bits, sticky := 0, false
		for _, c := range g[3] {
			switch c {
			case 'r':
				bits |= 4
			case 'w':
				bits |= 2
			case 'x':
				bits |= 1
			case 'X':
				bits |= 8
			case 't':
				sticky = true
			}
		}
		if user {
			m.op[1], m.bits[1] = op, bits
		}
		if group {
			m.op[2], m.bits[2] = op, bits
		}
		if other {
			m.op[3], m.bits[3] = op, bits
			m.op[0] = op
			m.bits[0] = 0
			if sticky {
				m.bits[0] = 1
			}
		}
		if rest != "" && !strings.Contains(g[4], ",") {
			return fmt.Errorf("%s", s)
		}
	}
	m.symbolic = true
	return nil
}

// Apply returns the permission that results from applying m to existing;
// X adds execute only for directories or when someone may execute already.
func (m *ModeChange) Apply(existing uint16, isDir bool) uint16 {
	exeOK := isDir || existing&0o111 != 0
	e := int(existing)
	return uint16(segment(m.op[0], m.bits[0], e>>9&1, false)<<9 |
		segment(m.op[1], m.bits[1], e>>6&7, exeOK)<<6 |
		segment(m.op[2], m.bits[2], e>>3&7, exeOK)<<3 |
		segment(m.op[3], m.bits[3], e&7, exeOK))
}

func segment(op byte, mode, existing int, exeOK bool) int {
	capX := false
	if mode&8 != 0 {
		capX = true
		mode = mode&^8 | 1
	}
	switch op {
	case '+':
		mode |= existing
	case '-':
		mode = ^mode & existing
	}
	if capX && !exeOK && mode&1 != 0 && existing&1 == 0 {
		mode &^= 1
	}
	return mode
}

// ParseUmask parses a umask as Hadoop's UmaskParser: octal is the mask
// itself; symbolic names the permissions to keep, so "u=rwx,g=rx,o=" is
// 027.
func ParseUmask(s string) (uint16, error) {
	m, err := parseMode(s, umaskSymbolic, umaskOctal)
	if err != nil {
		return 0, err
	}
	mode := m.Apply(0, false)
	if m.symbolic {
		return ^mode & 0o777, nil
	}
	return mode, nil
}

// Umask returns the umask configured in fs.permissions.umask-mode (022 by
// default), with Hadoop's message for a value that does not parse.
func Umask(c *conf.Config) (uint16, error) {
	v, ok := c.Get("fs.permissions.umask-mode")
	if !ok || v == "" {
		return 0o022, nil
	}
	m, err := ParseUmask(v)
	if err != nil {
		return 0, fmt.Errorf("Unable to parse configuration fs.permissions.umask-mode with value %s as octal or symbolic umask.", v)
	}
	return m, nil
}
