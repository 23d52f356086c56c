package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span written either as a Go duration string ("30s",
// "1m", "100ms", "1m30s") or, as keepalived writes it, a bare number of
// seconds: an integer (30) or a float (0.1).
type Duration struct{ time.Duration }

// Seconds returns s seconds as a Duration, a shorthand for code that
// builds a Config.
func Seconds(s float64) Duration { return Duration{time.Duration(s * float64(time.Second))} }

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	var dur time.Duration
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("must not be negative, got %d", v)
		}
		if v > math.MaxInt64/int64(time.Second) {
			return fmt.Errorf("%d seconds is too long", v)
		}
		dur = time.Duration(v) * time.Second
	case float64:
		var err error
		if dur, err = floatSeconds(v); err != nil {
			return err
		}
	case string:
		var err error
		if dur, err = parseDuration(v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("expected a duration (a number of seconds or a string like \"30s\"), got %s", describe(v))
	}
	d.Duration = dur
	return nil
}

// UnmarshalText accepts the string forms ("30s", or "30" meaning seconds).
func (d *Duration) UnmarshalText(b []byte) error {
	dur, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = dur
	return nil
}

// MarshalText writes the Go duration string ("1m30s"), which reads back the
// same.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

func floatSeconds(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid duration %v", f)
	}
	if f < 0 {
		return 0, fmt.Errorf("must not be negative, got %v", f)
	}
	if f > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("%v seconds is too long", f)
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil && t != "" && !strings.ContainsAny(t, "xXpPnN") {
		return floatSeconds(f)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use a number of seconds or a string like \"30s\", \"1m\", \"100ms\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %q", s)
	}
	return d, nil
}

// VIP is one entry of virtual_ipaddress or virtual_ipaddress_excluded,
// written as keepalived writes it:
//
//	ADDR[/PREFIX] [dev IFNAME] [brd ADDR|+|-] [label LABEL] [scope SCOPE]
//
// The prefix length defaults to the full address (/32 or /128). "brd +" and
// "brd -" are resolved to the prefix's broadcast and network address.
type VIP struct {
	Prefix    netip.Prefix // the address with its prefix length (host bits kept: 203.0.113.10/24)
	Dev       string       // interface to put the address on; empty = the instance's interface
	Broadcast netip.Addr   // IPv4 broadcast address; zero = none
	Label     string       // address label (at most 15 characters)
	Scope     string       // address scope: global, site, link, host, nowhere or a number 0-255; empty = global
}

// Addr returns the address itself.
func (v VIP) Addr() netip.Addr { return v.Prefix.Addr() }

// ParseVIP parses one virtual_ipaddress entry.
func ParseVIP(s string) (VIP, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return VIP{}, errors.New("empty address")
	}
	var v VIP
	p, err := parseAddrOrPrefix(f[0])
	if err != nil {
		return VIP{}, err
	}
	v.Prefix = p
	var brd string
	seen := map[string]bool{}
	for i := 1; i < len(f); i += 2 {
		opt := f[i]
		if opt == "broadcast" {
			opt = "brd"
		}
		switch opt {
		case "dev", "brd", "label", "scope":
		default:
			return VIP{}, fmt.Errorf("unsupported option %q in %q (supported: dev, brd, label, scope)", f[i], s)
		}
		if i+1 >= len(f) {
			return VIP{}, fmt.Errorf("%s needs a value in %q", f[i], s)
		}
		if seen[opt] {
			return VIP{}, fmt.Errorf("%s given twice in %q", opt, s)
		}
		seen[opt] = true
		val := f[i+1]
		switch opt {
		case "dev":
			v.Dev = val
		case "brd":
			brd = val
		case "label":
			v.Label = val
		case "scope":
			v.Scope = val
		}
	}
	switch brd {
	case "":
	case "+", "-":
		if !p.Addr().Is4() {
			return VIP{}, fmt.Errorf("brd is only valid for IPv4 addresses in %q", s)
		}
		if brd == "-" {
			v.Broadcast = p.Masked().Addr()
		} else {
			v.Broadcast = lastAddr(p)
		}
	default:
		a, err := netip.ParseAddr(brd)
		if err != nil {
			return VIP{}, fmt.Errorf("invalid broadcast address %q in %q", brd, s)
		}
		v.Broadcast = a
	}
	return v, nil
}

// lastAddr returns the highest address in p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	if p.Bits() == 0 {
		host = math.MaxUint32
	}
	for i := range 4 {
		b[3-i] |= byte(host >> (8 * i))
	}
	return netip.AddrFrom4(b)
}

// parseAddrOrPrefix parses "ADDR" (full-length prefix) or "ADDR/LEN",
// keeping the host bits.
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid address %q (want ADDR or ADDR/PREFIX)", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid address %q (want ADDR or ADDR/PREFIX)", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// String returns the keepalived form, e.g. "203.0.113.10/24 dev eth0".
func (v VIP) String() string {
	var b strings.Builder
	b.WriteString(v.Prefix.String())
	if v.Dev != "" {
		b.WriteString(" dev " + v.Dev)
	}
	if v.Broadcast.IsValid() {
		b.WriteString(" brd " + v.Broadcast.String())
	}
	if v.Label != "" {
		b.WriteString(" label " + v.Label)
	}
	if v.Scope != "" {
		b.WriteString(" scope " + v.Scope)
	}
	return b.String()
}

// UnmarshalTOML implements toml.Unmarshaler.
func (v *VIP) UnmarshalTOML(data any) error {
	s, ok := data.(string)
	if !ok {
		return fmt.Errorf("expected a string like \"203.0.113.10/24 dev eth0\", got %s", describe(data))
	}
	p, err := ParseVIP(s)
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (v VIP) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// StatusCodes is the set of HTTP status codes a url check accepts. In TOML it
// is an integer (200), a string of codes and ranges separated by spaces or
// commas ("200-299 302", as keepalived's status_code), or an array of
// integers and such strings ([200, "300-399"]).
type StatusCodes []StatusRange

// Contains reports whether code is one of the accepted codes.
func (s StatusCodes) Contains(code int) bool {
	for _, r := range s {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// String returns the keepalived form, e.g. "200-299 302".
func (s StatusCodes) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		if r.Min == r.Max {
			parts[i] = strconv.Itoa(r.Min)
		} else {
			parts[i] = strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
		}
	}
	return strings.Join(parts, " ")
}

// MarshalText implements encoding.TextMarshaler.
func (s StatusCodes) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalTOML implements toml.Unmarshaler.
func (s *StatusCodes) UnmarshalTOML(data any) error {
	var out StatusCodes
	var add func(v any) error
	add = func(v any) error {
		switch v := v.(type) {
		case int64:
			if v < 0 || v > math.MaxInt32 {
				return fmt.Errorf("invalid status code %d", v)
			}
			out = append(out, StatusRange{int(v), int(v)})
		case string:
			rs, err := parseStatusCodes(v)
			if err != nil {
				return err
			}
			out = append(out, rs...)
		default:
			return fmt.Errorf("expected a status code (200), a range (\"200-299\") or an array of them, got %s", describe(v))
		}
		return nil
	}
	switch v := data.(type) {
	case []any:
		for _, e := range v {
			if err := add(e); err != nil {
				return err
			}
		}
	default:
		if err := add(v); err != nil {
			return err
		}
	}
	*s = out
	return nil
}

func parseStatusCodes(s string) (StatusCodes, error) {
	var out StatusCodes
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	if len(f) == 0 {
		return nil, fmt.Errorf("invalid status code %q", s)
	}
	for _, tok := range f {
		lo, hi, isRange := strings.Cut(tok, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < 0 {
			return nil, fmt.Errorf("invalid status code %q (want CODE or MIN-MAX)", tok)
		}
		out = append(out, StatusRange{a, b})
	}
	return out, nil
}

// TrackInterface is one track_interface entry: "IFNAME" or "IFNAME weight N".
// With weight 0 (the default) the instance goes to FAULT while the interface
// is down; otherwise the weight is added to its priority while the interface
// is up (positive) or down (negative), as keepalived does.
type TrackInterface struct {
	Name   string
	Weight int
}

// UnmarshalTOML implements toml.Unmarshaler.
func (t *TrackInterface) UnmarshalTOML(data any) error {
	name, w, _, err := parseTracked(data, "eth0 weight -10")
	if err != nil {
		return err
	}
	*t = TrackInterface{Name: name, Weight: w}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (t TrackInterface) MarshalText() ([]byte, error) {
	if t.Weight == 0 {
		return []byte(t.Name), nil
	}
	return []byte(t.Name + " weight " + strconv.Itoa(t.Weight)), nil
}

// TrackScript is one track_script entry: "NAME" or "NAME weight N". Weight
// is the effective weight: the one given here, or else the vrrp_script's own
// weight (filled in by Load and Parse). Weight 0 means the instance goes to
// FAULT while the script fails.
type TrackScript struct {
	Name      string
	Weight    int
	WeightSet bool // "weight N" was given on the track_script line
}

// UnmarshalTOML implements toml.Unmarshaler.
func (t *TrackScript) UnmarshalTOML(data any) error {
	name, w, set, err := parseTracked(data, "chk_http weight -20")
	if err != nil {
		return err
	}
	*t = TrackScript{Name: name, Weight: w, WeightSet: set}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (t TrackScript) MarshalText() ([]byte, error) {
	if !t.WeightSet {
		return []byte(t.Name), nil
	}
	return []byte(t.Name + " weight " + strconv.Itoa(t.Weight)), nil
}

// TrackFileRef is one vrrp_instance track_file entry: "NAME", "NAME
// weight N" or "NAME weight N reverse" naming a [[track_file]]. Without a
// weight, Weight and Reverse are the track_file's (filled in by Load).
type TrackFileRef struct {
	Name      string
	Weight    int
	Reverse   bool
	WeightSet bool // "weight N" was given on the entry
}

// UnmarshalTOML implements toml.Unmarshaler.
func (t *TrackFileRef) UnmarshalTOML(data any) error {
	s, ok := data.(string)
	if !ok {
		return fmt.Errorf("expected a string like %q, got %s", "maint weight -10 reverse", describe(data))
	}
	f := strings.Fields(s)
	rev := false
	if n := len(f); n == 4 && (f[3] == "reverse" || f[3] == "noreverse") {
		rev, f = f[3] == "reverse", f[:3]
	}
	name, w, set, err := parseTracked(strings.Join(f, " "), "maint weight -10 reverse")
	if err != nil {
		return fmt.Errorf("invalid entry %q (want NAME, NAME weight N or NAME weight N reverse)", s)
	}
	*t = TrackFileRef{Name: name, Weight: w, Reverse: rev, WeightSet: set}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (t TrackFileRef) MarshalText() ([]byte, error) {
	if !t.WeightSet {
		return []byte(t.Name), nil
	}
	s := t.Name + " weight " + strconv.Itoa(t.Weight)
	if t.Reverse {
		s += " reverse"
	}
	return []byte(s), nil
}

func parseTracked(data any, example string) (name string, weight int, set bool, err error) {
	s, ok := data.(string)
	if !ok {
		return "", 0, false, fmt.Errorf("expected a string like %q, got %s", example, describe(data))
	}
	f := strings.Fields(s)
	switch {
	case len(f) == 1:
		return f[0], 0, false, nil
	case len(f) == 3 && f[1] == "weight":
		w, err := strconv.Atoi(f[2])
		if err != nil {
			return "", 0, false, fmt.Errorf("invalid weight %q in %q", f[2], s)
		}
		return f[0], w, true, nil
	default:
		return "", 0, false, fmt.Errorf("invalid entry %q (want NAME or NAME weight N)", s)
	}
}

// Granularity is persistence_granularity as a prefix length: clients whose
// addresses share this many leading bits stick to the same real server. In
// TOML it is an IPv4 netmask ("255.255.255.0"), a prefix length (24) or a
// prefix length string ("/24" or "24"). Zero means the full address; Load
// fills in 32 or 128 from the service address.
type Granularity int

// Bits returns the prefix length for a service address a: g itself, or the
// full length of a when g is zero.
func (g Granularity) Bits(a netip.Addr) int {
	if g == 0 {
		return a.BitLen()
	}
	return int(g)
}

// UnmarshalTOML implements toml.Unmarshaler.
func (g *Granularity) UnmarshalTOML(data any) error {
	switch v := data.(type) {
	case int64:
		if v < 1 || v > 128 {
			return fmt.Errorf("must be a prefix length between 1 and 128, got %d", v)
		}
		*g = Granularity(v)
		return nil
	case string:
		s := strings.TrimPrefix(strings.TrimSpace(v), "/")
		if n, err := strconv.Atoi(s); err == nil {
			if n < 1 || n > 128 {
				return fmt.Errorf("must be a prefix length between 1 and 128, got %q", v)
			}
			*g = Granularity(n)
			return nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return fmt.Errorf("invalid granularity %q (want a netmask like \"255.255.255.0\" or a prefix length like 24)", v)
		}
		m := a.As4()
		bits := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
		ones := 0
		for bits&(1<<31) != 0 {
			ones++
			bits <<= 1
		}
		if bits != 0 {
			return fmt.Errorf("netmask %q is not contiguous", v)
		}
		if ones == 0 {
			return fmt.Errorf("netmask %q selects no bits", v)
		}
		*g = Granularity(ones)
		return nil
	}
	return fmt.Errorf("expected a netmask or prefix length, got %s", describe(data))
}

// splitHostPort parses "HOST", "HOST:PORT", "HOST PORT", "[V6]:PORT" or a
// bare IPv6 address; port is defPort when not given.
func splitHostPort(s string, defPort int) (host string, port int, err error) {
	bad := fmt.Errorf("invalid address %q (want HOST, HOST:PORT or HOST PORT)", s)
	f := strings.Fields(s)
	switch len(f) {
	case 1:
	case 2:
		p, err := parsePort(f[1])
		if err != nil {
			return "", 0, err
		}
		h := unbracket(f[0])
		if strings.ContainsAny(h, "[]") {
			return "", 0, bad
		}
		return h, p, nil
	default:
		return "", 0, bad
	}
	if a, err := netip.ParseAddr(unbracket(f[0])); err == nil {
		return a.String(), defPort, nil
	}
	if h, p, err := net.SplitHostPort(f[0]); err == nil {
		port, err := parsePort(p)
		if err != nil {
			return "", 0, err
		}
		if h == "" {
			return "", 0, bad
		}
		return h, port, nil
	}
	if strings.ContainsAny(f[0], ":[]") {
		return "", 0, bad
	}
	return f[0], defPort, nil
}

// unbracket strips the brackets of "[2001:db8::1]".
func unbracket(s string) string {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("invalid port %q (want 1-65535)", s)
	}
	return p, nil
}

// parseAddrPort parses "IP:PORT", "[V6]:PORT" or keepalived's "IP PORT".
func parseAddrPort(s string) (netip.AddrPort, error) {
	if f := strings.Fields(s); len(f) == 2 {
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("invalid address %q", f[0])
		}
		p, err := parsePort(f[1])
		if err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(a, uint16(p)), nil
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid address %q (want IP:PORT, [IPv6]:PORT or \"IP PORT\")", s)
	}
	return ap, nil
}

// describe names a decoded TOML value for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	case nil:
		return "nothing"
	default:
		return "datetime"
	}
}

func netJoin(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
