package conf

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParseInt parses an integer as Hadoop's getLong does: decimal with an
// optional sign, or hexadecimal with a 0x prefix ("0x1F", "-0x10").
func ParseInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	h := strings.TrimPrefix(s, "-")
	if strings.HasPrefix(h, "0x") || strings.HasPrefix(h, "0X") {
		if neg {
			h = "-" + h[2:]
		} else {
			h = h[2:]
		}
		if h == "" || h == "-" || strings.ContainsAny(h, "+_") {
			return 0, errors.New("not an integer")
		}
		return strconv.ParseInt(h, 16, 64)
	}
	if strings.Contains(s, "_") {
		return 0, errors.New("not an integer")
	}
	return strconv.ParseInt(s, 10, 64)
}

// ParseBool parses "true" or "false" in any case, as Hadoop's getBoolean.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// ParseFloat parses a decimal number as Java's Float.parseFloat does (a
// trailing f or d is allowed).
func ParseFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "_") {
		return 0, errors.New("not a number")
	}
	if n := len(s); n > 1 && strings.ContainsRune("fFdD", rune(s[n-1])) && !strings.ContainsAny(s, "xX") {
		s = s[:n-1]
	}
	return strconv.ParseFloat(s, 64)
}

// sizeSuffixes are Hadoop's binary prefixes, by lower-case letter.
var sizeSuffixes = map[byte]uint{'k': 10, 'm': 20, 'g': 30, 't': 40, 'p': 50, 'e': 60}

// ParseSize parses a byte count as Hadoop's getLongBytes does: an integer
// with an optional binary suffix k, m, g, t, p or e in any case ("128m" is
// 134217728). Fractions ("1.5g") and spaces before the suffix are refused,
// as in Hadoop.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty")
	}
	last := s[len(s)-1]
	if last >= '0' && last <= '9' {
		return strconv.ParseInt(s, 10, 64)
	}
	shift, ok := sizeSuffixes[last|0x20]
	if !ok {
		return 0, fmt.Errorf("unknown size suffix %q (want k, m, g, t, p or e)", last)
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64>>shift || n < math.MinInt64>>shift {
		return 0, errors.New("out of range")
	}
	return n << shift, nil
}

// durationUnits are Hadoop's time suffixes, longest match first.
var durationUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"ns", time.Nanosecond}, {"us", time.Microsecond}, {"ms", time.Millisecond},
	{"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour},
}

// ParseDuration parses a time as Hadoop's getTimeDuration does: an integer
// with an optional suffix ns, us, ms, s, m, h or d (any case); a plain
// number is in defaultUnit. Values beyond time.Duration's range saturate.
func ParseDuration(s string, defaultUnit time.Duration) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	unit := defaultUnit
	for _, u := range durationUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, unit = s[:len(s)-len(u.suffix)], u.unit
			break
		}
	}
	if unit <= 0 {
		unit = time.Millisecond
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	switch {
	case n > 0 && n > math.MaxInt64/int64(unit):
		return math.MaxInt64, nil
	case n < 0 && n < math.MinInt64/int64(unit):
		return math.MinInt64, nil
	}
	return time.Duration(n) * unit, nil
}

// what says what a type's values should be, for error messages.
func (t Type) what() string {
	switch t {
	case TypeInt:
		return "an integer"
	case TypeBool:
		return "a boolean (true or false)"
	case TypeFloat:
		return "a number"
	case TypeSize:
		return "a size (an integer with an optional k, m, g, t, p or e suffix)"
	case TypeDuration:
		return "a duration (an integer with an optional ns, us, ms, s, m, h or d suffix)"
	}
	return "valid"
}

// durationUnit returns the unit of a plain number for key: the table's, or
// milliseconds for keys the table does not declare as durations.
func durationUnit(key string) time.Duration {
	if d, ok := Lookup(key); ok && d.DurationUnit > 0 {
		return d.DurationUnit
	}
	return time.Millisecond
}

// parseAs parses v as type t, for key.
func parseAs(t Type, key, v string) (any, error) {
	switch t {
	case TypeInt:
		// An integer read of a known size or duration key understands its
		// suffixes (a duration comes back in the key's unit), so that
		// Int("dfs.blocksize") with "256m" is not silently wrong.
		if d, ok := Lookup(key); ok && d.Type == TypeSize {
			return ParseSize(v)
		} else if ok && d.Type == TypeDuration {
			x, err := ParseDuration(v, d.DurationUnit)
			return int64(x / d.DurationUnit), err
		}
		return ParseInt(v)
	case TypeBool:
		return ParseBool(v)
	case TypeFloat:
		return ParseFloat(v)
	case TypeSize:
		return ParseSize(v)
	case TypeDuration:
		return ParseDuration(v, durationUnit(key))
	}
	return v, nil
}

// typedE reads key as type t. A key with no value, or only white space,
// gives its default (the zero value when it has none); a value that does
// not parse gives an error naming the key, the value and its source.
func typedE[T any](c *Config, key string, t Type) (T, error) {
	var zero T
	key = strings.TrimSpace(key)
	v, ok := c.Get(key)
	if !ok || v == "" {
		return defaultOf[T](key, t), nil
	}
	x, err := parseAs(t, key, v)
	if err != nil {
		return zero, fmt.Errorf("conf: %s: %s: %q is not %s", c.Source(key), canonicalKey(key), v, t.what())
	}
	return x.(T), nil
}

// typed is typedE that falls back to the default on a bad value.
func typed[T any](c *Config, key string, t Type) T {
	x, err := typedE[T](c, key, t)
	if err != nil {
		return defaultOf[T](key, t)
	}
	return x
}

// defaultOf parses key's built-in default as type t.
func defaultOf[T any](key string, t Type) T {
	var zero T
	if d, ok := Lookup(strings.TrimSpace(key)); ok && d.Default != "" {
		if x, err := parseAs(t, key, d.Default); err == nil {
			return x.(T)
		}
	}
	return zero
}

// IntE returns key as an integer; see Int.
func (c *Config) IntE(key string) (int64, error) { return typedE[int64](c, key, TypeInt) }

// Int returns key as an integer (decimal or 0x hex): its default when unset
// or blank, and also when the value does not parse (use IntE to see that).
// For a key the defaults table declares as a size or a duration, it accepts
// their suffixes and returns bytes, or a count of the key's unit.
func (c *Config) Int(key string) int64 { return typed[int64](c, key, TypeInt) }

// BoolE returns key as a boolean; see Bool.
func (c *Config) BoolE(key string) (bool, error) { return typedE[bool](c, key, TypeBool) }

// Bool returns key as a boolean ("true"/"false", any case), or its default
// when unset, blank or malformed.
func (c *Config) Bool(key string) bool { return typed[bool](c, key, TypeBool) }

// FloatE returns key as a number; see Float.
func (c *Config) FloatE(key string) (float64, error) { return typedE[float64](c, key, TypeFloat) }

// Float returns key as a number, or its default when unset, blank or
// malformed.
func (c *Config) Float(key string) float64 { return typed[float64](c, key, TypeFloat) }

// SizeE returns key as a byte count; see Size.
func (c *Config) SizeE(key string) (int64, error) { return typedE[int64](c, key, TypeSize) }

// Size returns key as a byte count, as Hadoop's getLongBytes: a plain
// integer or one with a binary suffix k, m, g, t, p or e (128m = 134217728).
// It returns the default when unset, blank or malformed.
func (c *Config) Size(key string) int64 { return typed[int64](c, key, TypeSize) }

// DurationE returns key as a duration; see Duration.
func (c *Config) DurationE(key string) (time.Duration, error) {
	return typedE[time.Duration](c, key, TypeDuration)
}

// Duration returns key as a duration, as Hadoop's getTimeDuration: an
// integer with an optional unit suffix ns, us, ms, s, m, h or d; a plain
// number is in the key's unit from the defaults table (milliseconds for
// keys not in it). It returns the default when unset, blank or malformed.
func (c *Config) Duration(key string) time.Duration {
	return typed[time.Duration](c, key, TypeDuration)
}

// DurationIn is Duration for a key not in the defaults table whose plain
// numbers are in unit; it returns 0 when unset or malformed.
func (c *Config) DurationIn(key string, unit time.Duration) time.Duration {
	v, _ := c.Get(key)
	d, err := ParseDuration(v, unit)
	if err != nil {
		return 0
	}
	return d
}

// Validate checks that every explicitly set key with a typed default parses
// as its type. It returns all failures joined, in key order, each like
// `conf: hdfs-site.xml: dfs.replication: "abc" is not an integer`. Load
// calls it.
func (c *Config) Validate() error {
	c.mu.RLock()
	keys := make([]string, 0, len(c.props))
	for k := range c.props {
		if d, ok := byKey[k]; ok && d.Type != TypeString {
			keys = append(keys, k)
		}
	}
	c.mu.RUnlock()
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		t := byKey[k].Type
		if _, err := typedE[any](c, k, t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
