package main

// Output formats of the shell, byte for byte Hadoop 3's; pure functions so
// the golden tests can reach them.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/avatarfs/avatarfs/client"
)

// permString is Hadoop's FsPermission.toString: "rwxr-xr-x", with t or T
// in the last place for the sticky bit.
func permString(perm uint16) string {
	const sym = "rwxrwxrwx"
	b := []byte("---------")
	for i := 0; i < 9; i++ {
		if perm&(1<<(8-i)) != 0 {
			b[i] = sym[i]
		}
	}
	if perm&0o1000 != 0 {
		if perm&1 != 0 {
			b[8] = 't'
		} else {
			b[8] = 'T'
		}
	}
	return string(b)
}

// permOctal is Hadoop's FsPermission.toOctal as printed by -stat %a: 755,
// 1777, 644.
func permOctal(perm uint16) string {
	n := int(perm>>9&1)*1000 + int(perm>>6&7)*100 + int(perm>>3&7)*10 + int(perm&7)
	return strconv.Itoa(n)
}

// javaFixed formats f with the given number of decimals as Java's
// String.format("%.Nf"): the shortest decimal representation of f rounded
// half up (Go's fmt rounds the exact binary value, half to even).
func javaFixed(f float64, decimals int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	neg := f < 0
	if neg {
		f = -f
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) <= decimals {
		frac += strings.Repeat("0", decimals-len(frac))
	} else {
		roundUp := frac[decimals] >= '5'
		frac = frac[:decimals]
		if roundUp {
			digits := []byte(intPart + frac)
			i := len(digits) - 1
			for ; i >= 0; i-- {
				if digits[i] == '9' {
					digits[i] = '0'
					continue
				}
				digits[i]++
				break
			}
			if i < 0 {
				digits = append([]byte{'1'}, digits...)
			}
			intPart = string(digits[:len(digits)-decimals])
			frac = string(digits[len(digits)-decimals:])
		}
	}
	out := intPart
	if decimals > 0 {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

var binaryPrefixes = []struct {
	sym   string
	shift uint
}{{"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}, {"P", 50}, {"E", 60}}

// humanSize is Hadoop's TraditionalBinaryPrefix.long2String(n, "", 1):
// 1023, "1 K", "1.5 M", "128 M".
func humanSize(n int64) string {
	var b strings.Builder
	if n < 0 {
		if n == -1<<63 {
			return "-8 E"
		}
		b.WriteByte('-')
		n = -n
	}
	if n < 1024 {
		b.WriteString(strconv.FormatInt(n, 10))
		return b.String()
	}
	i := 0
	for i < len(binaryPrefixes) && n >= int64(1)<<binaryPrefixes[i].shift {
		i++
	}
	p := binaryPrefixes[i-1]
	if n&(int64(1)<<p.shift-1) == 0 {
		b.WriteString(strconv.FormatInt(n>>p.shift, 10))
	} else {
		s := javaFixed(float64(n)/float64(int64(1)<<p.shift), 1)
		if strings.HasPrefix(s, "1024") && i < len(binaryPrefixes) {
			p = binaryPrefixes[i]
			s = javaFixed(float64(n)/float64(int64(1)<<p.shift), 1)
		}
		b.WriteString(s)
	}
	b.WriteString(" " + p.sym)
	return b.String()
}

func formatSize(n int64, human bool) string {
	if human {
		return humanSize(n)
	}
	return strconv.FormatInt(n, 10)
}

// lsFormat carries -ls's column widths, which only grow during one
// command, as in Hadoop's Ls.
type lsFormat struct {
	repl, length, owner, group     int
	human, atime, hideNonPrintable bool
	loc                            *time.Location
}

func newLsFormat(loc *time.Location) *lsFormat {
	return &lsFormat{repl: 3, length: 10, loc: loc}
}

// adjust widens the columns for the given entries.
func (f *lsFormat) adjust(sts []*client.FileStatus) {
	for _, st := range sts {
		f.repl = max(f.repl, len(strconv.Itoa(st.Replication)))
		f.length = max(f.length, len(strconv.FormatInt(st.Length, 10)))
		f.owner = max(f.owner, len([]rune(st.Owner)))
		f.group = max(f.group, len([]rune(st.Group)))
	}
}

// line is one -ls line:
// "drwxr-xr-x   - alice supergroup          0 2026-11-25 14:05 /user/alice/dir".
func (f *lsFormat) line(st *client.FileStatus, name string) string {
	var b strings.Builder
	if st.IsDir {
		b.WriteByte('d')
	} else {
		b.WriteByte('-')
	}
	b.WriteString(permString(st.Perm))
	if st.HasACL {
		b.WriteByte('+')
	} else {
		b.WriteByte(' ')
	}
	repl := "-"
	if !st.IsDir && !st.IsSymlink {
		repl = strconv.Itoa(st.Replication)
	}
	fmt.Fprintf(&b, "%*s ", f.repl, repl)
	if f.owner > 0 {
		fmt.Fprintf(&b, "%-*s ", f.owner, st.Owner)
	} else {
		b.WriteString(st.Owner)
	}
	if f.group > 0 {
		fmt.Fprintf(&b, "%-*s ", f.group, st.Group)
	} else {
		b.WriteString(st.Group)
	}
	fmt.Fprintf(&b, "%*s ", f.length, formatSize(st.Length, f.human))
	t := st.Mtime
	if f.atime {
		t = st.Atime
	}
	b.WriteString(time.UnixMilli(t).In(f.loc).Format("2006-01-02 15:04"))
	b.WriteByte(' ')
	if f.hideNonPrintable {
		name = printable(name)
	}
	b.WriteString(name)
	return b.String()
}

// printable replaces non-printable characters with '?', as Hadoop's
// PrintableString.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd {
			return '?'
		}
		return r
	}, s)
}

// table is Hadoop's FsUsage.TableBuilder: columns padded to their widest
// cell, separated by two spaces, left-aligned unless marked right-aligned;
// the last column is not padded.
type table struct {
	rows    [][]string
	widths  []int
	right   []bool
	hide    []bool
	headers bool
}

func newTable(cols int, headers ...string) *table {
	t := &table{widths: make([]int, cols), right: make([]bool, cols), hide: make([]bool, cols)}
	if len(headers) > 0 {
		t.add(headers...)
		t.headers = true
	}
	return t
}

func (t *table) add(cells ...string) {
	row := make([]string, len(t.widths))
	for i := range t.widths {
		row[i] = cells[i]
		t.widths[i] = max(t.widths[i], len([]rune(cells[i])))
	}
	t.rows = append(t.rows, row)
}

func (t *table) empty() bool {
	n := len(t.rows)
	if t.headers {
		n--
	}
	return n == 0
}

func (t *table) String() string {
	if t.empty() {
		return ""
	}
	var b strings.Builder
	for _, row := range t.rows {
		first := true
		for i, cell := range row {
			if t.hide[i] {
				continue
			}
			if !first {
				b.WriteString("  ")
			}
			first = false
			switch {
			case t.right[i]:
				fmt.Fprintf(&b, "%*s", t.widths[i], cell)
			case i != len(row)-1:
				fmt.Fprintf(&b, "%-*s", t.widths[i], cell)
			default:
				b.WriteString(cell)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Content summary columns of -count, as Hadoop's ContentSummary and
// QuotaUsage.
const (
	summaryFormat = "%12s %12s %18s "
	quotaFormat   = "%12s %15s %15s %15s "
)

func countHeader(quotas bool) string {
	h := fmt.Sprintf(summaryFormat, "DIR_COUNT", "FILE_COUNT", "CONTENT_SIZE")
	if quotas {
		h = quotaHeader() + h
	}
	return h
}

func quotaHeader() string {
	return fmt.Sprintf(quotaFormat, "QUOTA", "REM_QUOTA", "SPACE_QUOTA", "REM_SPACE_QUOTA")
}

// quotaColumns is QuotaUsage.getQuotaUsage: "none"/"inf" when no quota.
func quotaColumns(cs *client.ContentSummary, human bool) string {
	q, qr, sq, sqr := "none", "inf", "none", "inf"
	if cs.Quota > 0 {
		q = formatSize(cs.Quota, human)
		qr = formatSize(cs.Quota-(cs.FileCount+cs.DirectoryCount), human)
	}
	if cs.SpaceQuota >= 0 {
		sq = formatSize(cs.SpaceQuota, human)
		sqr = formatSize(cs.SpaceQuota-cs.SpaceConsumed, human)
	}
	return fmt.Sprintf(quotaFormat, q, qr, sq, sqr)
}

// countLine is ContentSummary.toString(quotas, human) followed by the path.
func countLine(cs *client.ContentSummary, quotas, human bool, name string) string {
	s := fmt.Sprintf(summaryFormat, formatSize(cs.DirectoryCount, human), formatSize(cs.FileCount, human), formatSize(cs.Length, human))
	if quotas {
		s = quotaColumns(cs, human) + s
	}
	return s + name
}

// statFormat renders -stat's format for one path.
func statFormat(format string, st *client.FileStatus, name string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(format) {
			break
		}
		i++
		switch format[i] {
		case 'a':
			b.WriteString(permOctal(st.Perm))
		case 'A':
			b.WriteString(permString(st.Perm))
		case 'b':
			b.WriteString(strconv.FormatInt(st.Length, 10))
		case 'F':
			switch {
			case st.IsDir:
				b.WriteString("directory")
			case st.IsSymlink:
				b.WriteString("symlink")
			default:
				b.WriteString("regular file")
			}
		case 'g':
			b.WriteString(st.Group)
		case 'n':
			b.WriteString(name)
		case 'o':
			b.WriteString(strconv.FormatInt(st.BlockSize, 10))
		case 'r':
			b.WriteString(strconv.Itoa(st.Replication))
		case 'u':
			b.WriteString(st.Owner)
		case 'x':
			b.WriteString(utcTime(st.Atime))
		case 'X':
			b.WriteString(strconv.FormatInt(st.Atime, 10))
		case 'y':
			b.WriteString(utcTime(st.Mtime))
		case 'Y':
			b.WriteString(strconv.FormatInt(st.Mtime, 10))
		default:
			b.WriteByte(format[i])
		}
	}
	return b.String()
}

func utcTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
}

// percent is StringUtils.formatPercent(fraction, 0): "0%", "NaN%".
func percent(used, size int64) string {
	return javaFixed(float64(used)/float64(size)*100, 0) + "%"
}
