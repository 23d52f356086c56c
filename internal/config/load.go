package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, completes and validates the configuration file at
// path. See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data (the contents of the file name, used in messages),
// fills in defaults and validates the result. Unknown keys, values of the
// wrong type and failed validation rules are all reported together, joined
// with errors.Join, each as an *Error: "NAME:LINE: KEY: message". A TOML
// syntax error stops decoding and is reported alone. On error the Config is
// nil.
func Parse(name string, data []byte) (*Config, error) {
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, joinErrors([]*Error{{File: name, Line: pe.Position.Line, Msg: "toml: " + pe.Message}})
		}
		return nil, joinErrors([]*Error{{File: name, Msg: err.Error()}})
	}
	src := &source{
		file:    name,
		lines:   locate(string(data)),
		written: map[string]string{},
		from:    map[string]string{},
		bad:     map[string]bool{},
	}
	c := &Config{src: src}
	c.SetDefaults()
	if _, ok := tree["sync"].(map[string]any); ok {
		c.Sync.Enabled = true
	}
	d := &decoder{src: src}
	d.table("", tree, reflect.ValueOf(c).Elem())
	c.complete()
	errs := append(d.errs, c.validate()...)
	if err := joinErrors(errs); err != nil {
		return nil, err
	}
	return c, nil
}

// Marshal encodes c as TOML. Every field is written, defaults included;
// Parse of the result gives a Config Equal to c.
func Marshal(c *Config) ([]byte, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b.Bytes(), nil
}

// source remembers where keys are in the text a Config was parsed from.
type source struct {
	file    string
	lines   map[string]int    // key path → line (see locate)
	written map[string]string // canonical key → the alias key the file used
	from    map[string]string // key filled in by Load → the key it was taken from
	bad     map[string]bool   // keys whose values failed to decode
}

// line returns the line of key, of the key it was written as or derived
// from, or of its closest ancestor present in the file; 0 if none is.
func (s *source) line(key string) int {
	if s == nil {
		return 0
	}
	for k := key; k != ""; k = parentKey(k) {
		if w, ok := s.written[k]; ok {
			return s.lines[w]
		}
		if f, ok := s.from[k]; ok {
			return s.lines[f]
		}
		if l, ok := s.lines[k]; ok {
			return l
		}
	}
	return 0
}

// has reports whether key was written in the file (under any alias).
func (s *source) has(key string) bool {
	if s == nil {
		return false
	}
	if _, ok := s.lines[key]; ok {
		return true
	}
	_, ok := s.written[key]
	return ok
}

// derived reports whether Load filled key in from another key.
func (s *source) derived(key string) bool {
	if s == nil {
		return false
	}
	_, ok := s.from[key]
	return ok
}

// display returns key as the file spelled it (an alias, if one was used).
func (s *source) display(key string) string {
	if s != nil {
		if w, ok := s.written[key]; ok {
			return w
		}
	}
	return key
}

// suppressed reports whether key or one of its ancestors failed to decode;
// validating such keys would only repeat the decode error.
func (s *source) suppressed(key string) bool {
	if s == nil || len(s.bad) == 0 {
		return false
	}
	for k := key; k != ""; k = parentKey(k) {
		if s.bad[k] {
			return true
		}
	}
	return false
}

// decoder maps the generic tree BurntSushi/toml produces onto the Config
// structs. Unlike toml.Decode it does not stop at the first problem, and it
// knows array indices, so every unknown key and type error is reported with
// its full path and line.
type decoder struct {
	src  *source
	errs []*Error
}

func (d *decoder) fail(key, format string, args ...any) {
	d.src.bad[key] = true
	d.errs = append(d.errs, &Error{File: d.src.file, Line: d.src.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// field describes one settable struct field, by TOML name.
type field struct {
	index     []int
	canonical string // for an alias: the name it stands for; else ""
}

var fieldCache sync.Map // reflect.Type → map[string]field

// fieldsOf returns the TOML keys of struct type t: tagged exported fields,
// fields of embedded structs, and aliases.
func fieldsOf(t reflect.Type) map[string]field {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]field)
	}
	fields := map[string]field{}
	var add func(t reflect.Type, index []int)
	add = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			idx := append(slices.Clone(index), i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if f.Anonymous && f.Type.Kind() == reflect.Struct && name == "" {
				add(f.Type, idx)
				continue
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[name] = field{index: idx}
			if alias := f.Tag.Get("alias"); alias != "" {
				fields[alias] = field{index: idx, canonical: name}
			}
		}
	}
	add(t, nil)
	fieldCache.Store(t, fields)
	return fields
}

// table decodes the TOML table m at key into the struct rv.
func (d *decoder) table(key string, m map[string]any, rv reflect.Value) {
	fields := fieldsOf(rv.Type())
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	// Report in document order.
	slices.SortFunc(names, func(a, b string) int {
		la, lb := d.src.lines[joinKey(key, a)], d.src.lines[joinKey(key, b)]
		if la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		k := joinKey(key, name)
		f, ok := fields[name]
		if !ok {
			d.fail(k, "unknown key")
			continue
		}
		if f.canonical != "" {
			if _, both := m[f.canonical]; both {
				d.fail(k, "is another name for %s; set only one of them", f.canonical)
				continue
			}
			d.src.written[joinKey(key, f.canonical)] = k
		}
		d.value(k, m[name], rv.FieldByIndex(f.index))
	}
}

var (
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
)

// value decodes v at key into rv.
func (d *decoder) value(key string, v any, rv reflect.Value) {
	if u, ok := rv.Addr().Interface().(toml.Unmarshaler); ok {
		if err := u.UnmarshalTOML(v); err != nil {
			d.fail(key, "%s", err)
		}
		return
	}
	// An empty string leaves an optional address unset (Marshal writes
	// unset addresses that way).
	if s, ok := v.(string); ok && s == "" {
		switch rv.Type() {
		case addrType, prefixType, addrPortType:
			rv.SetZero()
			return
		}
	}
	switch rv.Type() {
	case addrType:
		s, ok := v.(string)
		a, err := netip.ParseAddr(s)
		if !ok || err != nil || a.Zone() != "" {
			d.fail(key, "expected an IP address, got %s", describe(v))
			return
		}
		rv.Set(reflect.ValueOf(a))
		return
	case prefixType:
		s, ok := v.(string)
		p, err := netip.ParsePrefix(s)
		if !ok || err != nil {
			d.fail(key, "expected a CIDR prefix like \"192.0.2.0/24\", got %s", describe(v))
			return
		}
		rv.Set(reflect.ValueOf(p))
		return
	case addrPortType:
		s, ok := v.(string)
		if !ok {
			d.fail(key, "expected \"IP:PORT\" or \"IP PORT\", got %s", describe(v))
			return
		}
		ap, err := parseAddrPort(s)
		if err != nil {
			d.fail(key, "%s", err)
			return
		}
		rv.Set(reflect.ValueOf(ap))
		return
	}
	if u, ok := rv.Addr().Interface().(encoding.TextUnmarshaler); ok {
		s, isStr := v.(string)
		if !isStr {
			d.fail(key, "expected a string, got %s", describe(v))
			return
		}
		if err := u.UnmarshalText([]byte(s)); err != nil {
			d.fail(key, "%s", err)
		}
		return
	}
	switch rv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.fail(key, "expected a string, got %s", describe(v))
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.fail(key, "expected true or false, got %s", describe(v))
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := v.(int64)
		if !ok {
			d.fail(key, "expected an integer, got %s", describe(v))
			return
		}
		if rv.OverflowInt(i) {
			d.fail(key, "integer %d is out of range", i)
			return
		}
		rv.SetInt(i)
	case reflect.Float32, reflect.Float64:
		switch f := v.(type) {
		case float64:
			rv.SetFloat(f)
		case int64:
			rv.SetFloat(float64(f))
		default:
			d.fail(key, "expected a number, got %s", describe(v))
		}
	case reflect.Slice:
		var elems []any
		switch a := v.(type) {
		case []any:
			elems = a
		case []map[string]any:
			elems = make([]any, len(a))
			for i := range a {
				elems[i] = a[i]
			}
		default:
			if rv.Type().Elem().Kind() == reflect.Struct && !isLeafType(rv.Type().Elem()) {
				d.fail(key, "expected an array of tables ([[%s]]), got %s", tableName(key), describe(v))
			} else {
				d.fail(key, "expected an array, got %s", describe(v))
			}
			return
		}
		if len(elems) == 0 {
			rv.SetZero()
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(elems), len(elems))
		for i, e := range elems {
			ev := s.Index(i)
			if def, ok := ev.Addr().Interface().(interface{ SetDefaults() }); ok {
				def.SetDefaults()
			}
			d.value(indexKey(key, i), e, ev)
		}
		rv.Set(s)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.fail(key, "expected a table, got %s", describe(v))
			return
		}
		d.table(key, m, rv)
	default:
		// Every field type of Config is handled above.
		d.fail(key, "cannot decode into %s", rv.Type())
	}
}

// isLeafType reports whether values of type t are written as
// strings (VIP, TrackScript, netip types …) rather than tables.
func isLeafType(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(reflect.TypeFor[toml.Unmarshaler]()) ||
		p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// complete fills in what defaults to other settings, resolves references and
// brings enumerations to their canonical case. Parse calls it after decoding.
func (c *Config) complete() {
	if c.Global.RouterID == "" {
		if h, err := os.Hostname(); err == nil {
			c.Global.RouterID = h
		}
	}
	c.Global.LogLevel = strings.ToLower(c.Global.LogLevel)
	c.Dataplane.XDPMode = strings.ToLower(c.Dataplane.XDPMode)

	// keepalived's vrrp_instance lvs_sync_daemon_interface turns on sync
	// when there is no [sync] table; the first one wins.
	if !c.src.has("sync") {
		for i, v := range c.VRRPInstances {
			if v.LVSSyncDaemonInterface != "" {
				c.Sync.Enabled = true
				c.Sync.Interface = v.LVSSyncDaemonInterface
				c.src.from["sync.interface"] = joinKey(indexKey("vrrp_instance", i), "lvs_sync_daemon_interface")
				c.src.from["sync"] = c.src.from["sync.interface"]
				break
			}
		}
	}
	if len(c.Sync.Peers) == 0 && !c.Sync.Group.IsValid() {
		c.Sync.Group = DefaultSyncGroup
	}

	scripts := map[string]VRRPScript{}
	for i := range c.VRRPScripts {
		s := &c.VRRPScripts[i]
		if s.Timeout.Duration == 0 {
			s.Timeout = s.Interval
		}
		if _, dup := scripts[s.Name]; !dup {
			scripts[s.Name] = *s
		}
	}
	for i := range c.VRRPInstances {
		v := &c.VRRPInstances[i]
		v.State = strings.ToUpper(v.State)
		v.Authentication.AuthType = strings.ToUpper(v.Authentication.AuthType)
		for j := range v.TrackScript {
			t := &v.TrackScript[j]
			if s, ok := scripts[t.Name]; ok && !t.WeightSet {
				t.Weight = s.Weight
			}
		}
	}
	trackFiles := map[string]TrackFile{}
	for _, f := range c.TrackFiles {
		if _, dup := trackFiles[f.Name]; !dup {
			trackFiles[f.Name] = f
		}
	}
	for i := range c.VRRPInstances {
		for j := range c.VRRPInstances[i].TrackFile {
			t := &c.VRRPInstances[i].TrackFile[j]
			if tf, ok := trackFiles[t.Name]; ok && !t.WeightSet {
				t.Weight, t.Reverse = tf.Weight, tf.Reverse
			}
		}
	}
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		vs.Protocol = strings.ToUpper(vs.Protocol)
		vs.LBAlgo = strings.ToLower(vs.LBAlgo)
		vs.LBKind = strings.ToUpper(vs.LBKind)
		if vs.PersistenceGranularity == 0 && vs.Address.IsValid() {
			vs.PersistenceGranularity = Granularity(vs.Address.BitLen())
		}
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			// Ports are inherited only when valid, so that a bad port is
			// reported once, where it is written.
			if rs.Port == 0 && vs.Port > 0 && vs.Port <= 65535 {
				rs.Port = vs.Port
			}
			port := 0
			if rs.Port > 0 && rs.Port <= 65535 {
				port = rs.Port
			}
			rsKey := indexKey(joinKey(indexKey("virtual_server", i), "real_server"), j)
			if !c.src.has(joinKey(rsKey, "inhibit_on_failure")) {
				rs.InhibitOnFailure = vs.InhibitOnFailure
			}
			if !c.src.has(joinKey(rsKey, "smtp_alert")) {
				rs.SMTPAlert = vs.SMTPAlert
			}
			for k := range rs.HTTPGet {
				if rs.HTTPGet[k].ConnectPort == 0 {
					rs.HTTPGet[k].ConnectPort = port
				}
				rs.HTTPGet[k].HTTPProtocol = strings.ToUpper(rs.HTTPGet[k].HTTPProtocol)
			}
			for k := range rs.SSLGet {
				if rs.SSLGet[k].ConnectPort == 0 {
					rs.SSLGet[k].ConnectPort = port
				}
				rs.SSLGet[k].HTTPProtocol = strings.ToUpper(rs.SSLGet[k].HTTPProtocol)
			}
			for k := range rs.DNSCheck {
				d := &rs.DNSCheck[k]
				if d.ConnectPort == 0 {
					d.ConnectPort = port
				}
				d.Type = strings.ToUpper(d.Type)
				// keepalived retries a DNS_CHECK after its delay_loop.
				if d.DelayBeforeRetry.Duration == 0 && !c.src.has(joinKey(indexKey(joinKey(rsKey, "dns_check"), k), "delay_before_retry")) {
					d.DelayBeforeRetry = vs.DelayLoop
				}
			}
			for k := range rs.UDPCheck {
				if rs.UDPCheck[k].ConnectPort == 0 {
					rs.UDPCheck[k].ConnectPort = port
				}
			}
			for k := range rs.SMTPCheck {
				if rs.SMTPCheck[k].ConnectPort == 0 {
					rs.SMTPCheck[k].ConnectPort = port
				}
			}
			for k := range rs.FileCheck {
				f := &rs.FileCheck[k]
				fk := indexKey(joinKey(rsKey, "file_check"), k)
				if tf, ok := trackFiles[f.TrackFile]; ok && c.src != nil && !c.src.has(joinKey(fk, "weight")) {
					f.Weight, f.Reverse = tf.Weight, tf.Reverse
				}
			}
			for k := range rs.TCPCheck {
				if rs.TCPCheck[k].ConnectPort == 0 {
					rs.TCPCheck[k].ConnectPort = port
				}
			}
			for k := range rs.MiscCheck {
				if rs.MiscCheck[k].MiscTimeout.Duration == 0 {
					rs.MiscCheck[k].MiscTimeout = vs.DelayLoop
				}
			}
		}
	}
}

// tableName strips the array indices off a key path, giving the name of its
// table header: virtual_server[0].real_server → virtual_server.real_server.
func tableName(key string) string {
	var b strings.Builder
	skip := false
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '[' && !skip:
			skip = true
		case c == ']' && skip:
			skip = false
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}
