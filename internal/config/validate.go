package config

import (
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xlb/xlb/healthd"
	"github.com/xlb/xlb/internal/notify"
)

// Limits of the dataplane table sizes.
const (
	maxTableEntries = 1 << 27 // conntrack_max, persistence_max
	maxServices     = 65535
	maxReals        = 1 << 20
)

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	xdpModes   = []string{"native", "generic"}
	states     = []string{"MASTER", "BACKUP"}
	protocols  = []string{"TCP", "UDP"}
	schedulers = []string{"rr", "wrr", "lc", "wlc", "sh", "mh"}
	scopes     = []string{"global", "site", "link", "host", "nowhere"}
)

// Validate checks c without looking at the host: ranges, enumerations,
// required keys, duplicates and references between sections. It returns
// every problem, joined with errors.Join, each an *Error. For a Config from
// Load or Parse the errors carry the file and line; Load and Parse already
// call Validate.
//
// Validate does not fill in defaults: build a Config in code by calling
// SetDefaults on each part, or fill in every field.
func (c *Config) Validate() error {
	return joinErrors(c.validate())
}

func (c *Config) validate() []*Error {
	v := &validator{c: c, src: c.src}
	v.global()
	v.dataplane()
	v.gateway()
	v.sync()
	v.scripts()
	v.trackFiles()
	v.instances()
	v.syncGroups()
	v.services()
	return v.errs
}

type validator struct {
	c    *Config
	src  *source
	errs []*Error
}

// errorf reports a problem with key, located at key (or its closest
// ancestor in the file).
func (v *validator) errorf(key, format string, args ...any) {
	v.errorAt(key, "", format, args...)
}

// errorAt reports a problem with key, located at lineKey when key is not in
// the file at all.
func (v *validator) errorAt(key, lineKey, format string, args ...any) {
	if v.src.suppressed(key) {
		return
	}
	e := &Error{Key: v.src.display(key), Msg: fmt.Sprintf(format, args...)}
	if v.src != nil {
		e.File = v.src.file
		e.Line = v.src.line(key)
		if e.Line == 0 && lineKey != "" {
			e.Line = v.src.line(lineKey)
		}
	}
	v.errs = append(v.errs, e)
}

// missing reports key as required when absent from the file, or as empty.
func (v *validator) missing(key string) {
	if v.src.has(key) {
		v.errorf(key, "must not be empty")
	} else {
		v.errorf(key, "is required")
	}
}

func (v *validator) intRange(key string, n, lo, hi int) bool {
	if n < lo || n > hi {
		v.errorf(key, "must be between %d and %d, got %d", lo, hi, n)
		return false
	}
	return true
}

// requiredInt checks a key that has no default and whose zero is invalid.
func (v *validator) requiredInt(key string, n, lo, hi int) {
	if n == 0 && !v.src.has(key) {
		v.errorf(key, "is required (%d-%d)", lo, hi)
		return
	}
	v.intRange(key, n, lo, hi)
}

func (v *validator) atLeast(key string, n, lo int) {
	if n < lo {
		v.errorf(key, "must be at least %d, got %d", lo, n)
	}
}

func (v *validator) positive(key string, d Duration) {
	if d.Duration <= 0 {
		v.errorf(key, "must be greater than 0, got %s", d.Duration)
	}
}

func (v *validator) nonNegative(key string, d Duration) {
	if d.Duration < 0 {
		v.errorf(key, "must not be negative, got %s", d.Duration)
	}
}

func (v *validator) oneOf(key, val string, allowed []string) bool {
	for _, a := range allowed {
		if val == a {
			return true
		}
	}
	v.errorf(key, "must be one of %s; got %q", strings.Join(allowed, ", "), val)
	return false
}

// ifName checks an interface name as the kernel does (dev_valid_name).
func (v *validator) ifName(key, name string) {
	if name == "" {
		v.missing(key)
		return
	}
	if err := checkIfName(name); err != nil {
		v.errorf(key, "%s", err)
	}
}

func checkIfName(name string) error {
	if len(name) > 15 {
		return fmt.Errorf("interface name %q is longer than 15 characters", name)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("invalid interface name %q", name)
	}
	return nil
}

// command checks that a script command line splits into words, by the
// rules it will run with (keepalived's, in internal/notify).
func (v *validator) command(key, cmd string) {
	if cmd == "" {
		return
	}
	args, err := notify.SplitCommandLine(cmd)
	if err != nil {
		v.errorf(key, "%s", err)
	} else if len(args) == 0 {
		v.errorf(key, "command line is blank")
	}
}

// unicast checks that a is a usable unicast address.
func (v *validator) unicast(key string, a netip.Addr) bool {
	if !a.IsValid() {
		v.missing(key)
		return false
	}
	if a.IsUnspecified() || a.IsMulticast() || (a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		v.errorf(key, "must be a unicast address, got %s", a)
		return false
	}
	if a.Is4In6() {
		v.errorf(key, "IPv4-mapped IPv6 address %s: write it as IPv4", a)
		return false
	}
	return true
}

func family(a netip.Addr) string {
	if a.Is6() {
		return "IPv6"
	}
	return "IPv4"
}

func (v *validator) global() {
	g := v.c.Global
	if g.RouterID == "" {
		v.errorf("global.router_id", "must not be empty")
	}
	for i, e := range g.NotificationEmail {
		if _, err := mail.ParseAddress(e); err != nil {
			v.errorf(indexKey("global.notification_email", i), "invalid email address %q", e)
		}
	}
	if g.NotificationEmailFrom != "" {
		if _, err := mail.ParseAddress(g.NotificationEmailFrom); err != nil {
			v.errorf("global.notification_email_from", "invalid email address %q", g.NotificationEmailFrom)
		}
	}
	if g.SMTPServer != "" {
		if _, _, err := splitHostPort(g.SMTPServer, 25); err != nil {
			v.errorf("global.smtp_server", "%s", err)
		}
	}
	v.positive("global.smtp_connect_timeout", g.SMTPConnectTimeout)
	if g.BPFFS == "" {
		v.missing("global.bpffs")
	} else if !filepath.IsAbs(g.BPFFS) {
		v.errorf("global.bpffs", "must be an absolute path, got %q", g.BPFFS)
	}
	switch {
	case g.ControlSocket == "":
		v.missing("global.control_socket")
	case !filepath.IsAbs(g.ControlSocket):
		v.errorf("global.control_socket", "must be an absolute path, got %q", g.ControlSocket)
	case len(g.ControlSocket) > 107:
		v.errorf("global.control_socket", "unix socket path is longer than 107 bytes")
	}
	if g.MetricsListen != "" {
		h, p, err := net.SplitHostPort(g.MetricsListen)
		if err == nil {
			_, err = parsePort(p)
		}
		if err != nil {
			v.errorf("global.metrics_listen", "must be HOST:PORT (like \"127.0.0.1:9100\" or \":9100\"), got %q", g.MetricsListen)
		} else if h != "" && strings.ContainsAny(h, " /") {
			v.errorf("global.metrics_listen", "invalid host %q", h)
		}
	}
	v.oneOf("global.log_level", g.LogLevel, logLevels)

	alert := ""
	for i, in := range v.c.VRRPInstances {
		if in.SMTPAlert {
			alert = joinKey(indexKey("vrrp_instance", i), "smtp_alert")
			break
		}
	}
	for i, sg := range v.c.VRRPSyncGroups {
		if alert == "" && sg.SMTPAlert {
			alert = joinKey(indexKey("vrrp_sync_group", i), "smtp_alert")
		}
	}
	for i, vs := range v.c.VirtualServers {
		if alert == "" && vs.SMTPAlert {
			alert = joinKey(indexKey("virtual_server", i), "smtp_alert")
		}
		for j, rs := range vs.RealServers {
			if alert == "" && rs.SMTPAlert {
				alert = joinKey(indexKey(joinKey(indexKey("virtual_server", i), "real_server"), j), "smtp_alert")
			}
		}
	}
	if alert != "" {
		if g.SMTPServer == "" {
			v.errorf(alert, "needs global.smtp_server")
		}
		if len(g.NotificationEmail) == 0 {
			v.errorf(alert, "needs global.notification_email")
		}
	}
}

func (v *validator) dataplane() {
	d := v.c.Dataplane
	if len(v.c.VirtualServers) > 0 && len(d.Interfaces) == 0 {
		v.errorAt("dataplane.interfaces", "virtual_server[0]", "is required when a virtual_server is configured")
	}
	seen := map[string]int{}
	for i, name := range d.Interfaces {
		key := indexKey("dataplane.interfaces", i)
		v.ifName(key, name)
		if j, dup := seen[name]; dup {
			v.errorf(key, "duplicate interface %q (also dataplane.interfaces[%d])", name, j)
		} else {
			seen[name] = i
		}
	}
	v.oneOf("dataplane.xdp_mode", d.XDPMode, xdpModes)
	v.intRange("dataplane.conntrack_max", d.ConntrackMax, 1, maxTableEntries)
	v.intRange("dataplane.persistence_max", d.PersistenceMax, 1, maxTableEntries)
	if v.intRange("dataplane.max_services", d.MaxServices, 1, maxServices) && len(v.c.VirtualServers) > d.MaxServices {
		v.errorf("dataplane.max_services", "%d virtual_servers configured, more than max_services %d", len(v.c.VirtualServers), d.MaxServices)
	}
	reals := 0
	for _, vs := range v.c.VirtualServers {
		reals += len(vs.RealServers)
	}
	if v.intRange("dataplane.max_reals", d.MaxReals, 1, maxReals) && reals > d.MaxReals {
		v.errorf("dataplane.max_reals", "%d real_servers configured, more than max_reals %d", reals, d.MaxReals)
	}
	v.positive("dataplane.gc_interval", d.GCInterval)
	v.positive("dataplane.scheduler_tick", d.SchedulerTick)
	v.positive("dataplane.timeouts.tcp", d.Timeouts.TCP)
	v.positive("dataplane.timeouts.tcp_fin", d.Timeouts.TCPFin)
	v.positive("dataplane.timeouts.tcp_syn", d.Timeouts.TCPSyn)
	v.positive("dataplane.timeouts.udp", d.Timeouts.UDP)
}

func (v *validator) gateway() {
	type rule struct {
		src netip.Prefix
		out string
	}
	seen := map[rule]int{}
	for i, m := range v.c.Gateway.Masquerade {
		key := indexKey("gateway.masquerade", i)
		v.ifName(joinKey(key, "out_interface"), m.OutInterface)
		if m.Source.IsValid() && m.Source.Masked() != m.Source {
			v.errorf(joinKey(key, "source"), "%s is not a network address (host bits set); did you mean %s?", m.Source, m.Source.Masked())
		}
		r := rule{m.Source, m.OutInterface}
		if j, dup := seen[r]; dup {
			v.errorf(key, "duplicate masquerade rule (also gateway.masquerade[%d])", j)
		} else {
			seen[r] = i
		}
	}
}

func (v *validator) sync() {
	s := v.c.Sync
	if !s.Enabled {
		return
	}
	v.ifName("sync.interface", s.Interface)
	seen := map[netip.Addr]int{}
	for i, p := range s.Peers {
		key := indexKey("sync.peers", i)
		if !v.unicast(key, p) {
			continue
		}
		if j, dup := seen[p]; dup {
			v.errorf(key, "duplicate peer %s (also sync.peers[%d])", p, j)
		} else {
			seen[p] = i
		}
		if family(p) != family(s.Peers[0]) {
			v.errorf(key, "address family differs from sync.peers[0]")
		}
	}
	if s.Group.IsValid() {
		if len(s.Peers) > 0 {
			v.errorf("sync.group", "set either peers (unicast) or group (multicast), not both")
		} else if !s.Group.IsMulticast() {
			v.errorf("sync.group", "must be a multicast address, got %s", s.Group)
		}
	}
	v.intRange("sync.port", s.Port, 1, 65535)
	if s.Key != "" && s.KeyFile != "" {
		v.errorf("sync.key_file", "set either key or key_file, not both")
	}
	if s.KeyFile != "" && !filepath.IsAbs(s.KeyFile) {
		v.errorf("sync.key_file", "must be an absolute path, got %q", s.KeyFile)
	}
	v.atLeast("sync.max_rate", s.MaxRate, 0)
}

func (v *validator) scripts() {
	seen := map[string]int{}
	for i, s := range v.c.VRRPScripts {
		key := indexKey("vrrp_script", i)
		v.name(key, s.Name, "vrrp_script", seen, i)
		if s.Script == "" {
			v.missing(joinKey(key, "script"))
		} else {
			v.command(joinKey(key, "script"), s.Script)
		}
		v.positive(joinKey(key, "interval"), s.Interval)
		v.nonNegative(joinKey(key, "timeout"), s.Timeout)
		v.intRange(joinKey(key, "weight"), s.Weight, -254, 254)
		v.atLeast(joinKey(key, "rise"), s.Rise, 1)
		v.atLeast(joinKey(key, "fall"), s.Fall, 1)
	}
}

func (v *validator) trackFiles() {
	seen := map[string]int{}
	for i, f := range v.c.TrackFiles {
		key := indexKey("track_file", i)
		k := func(name string) string { return joinKey(key, name) }
		v.name(key, f.Name, "track_file", seen, i)
		switch {
		case f.File == "":
			v.missing(k("file"))
		case !filepath.IsAbs(f.File):
			v.errorf(k("file"), "must be an absolute path, got %q", f.File)
		}
		v.intRange(k("weight"), f.Weight, -254, 254)
		if !f.InitFile {
			if f.InitValue != 0 {
				v.errorf(k("init_value"), "has no effect without init_file = true")
			}
			if f.InitOverwrite {
				v.errorf(k("init_overwrite"), "has no effect without init_file = true")
			}
		}
		v.intRange(k("init_value"), f.InitValue, math.MinInt32, math.MaxInt32)
	}
}

// name checks the name of element i of a named section (vrrp_script,
// track_file, vrrp_instance, vrrp_sync_group): present, one word, unique.
func (v *validator) name(key, name, section string, seen map[string]int, i int) {
	nk := joinKey(key, "name")
	switch {
	case name == "":
		v.missing(nk)
	case strings.ContainsAny(name, " \t\n\r"):
		v.errorf(nk, "must not contain blanks, got %q", name)
	default:
		if j, dup := seen[name]; dup {
			v.errorf(nk, "duplicate %s name %q (also %s[%d])", section, name, section, j)
		} else {
			seen[name] = i
		}
	}
}

func (v *validator) notify(key string, n NotifyScripts) {
	v.command(joinKey(key, "notify_master"), n.NotifyMaster)
	v.command(joinKey(key, "notify_backup"), n.NotifyBackup)
	v.command(joinKey(key, "notify_fault"), n.NotifyFault)
	v.command(joinKey(key, "notify_stop"), n.NotifyStop)
	v.command(joinKey(key, "notify"), n.Notify)
}

func (v *validator) syncGroups() {
	instances := map[string]bool{}
	for _, in := range v.c.VRRPInstances {
		instances[in.Name] = true
	}
	seen := map[string]int{}
	member := map[string]string{} // instance → key of its first group entry
	for i, g := range v.c.VRRPSyncGroups {
		key := indexKey("vrrp_sync_group", i)
		v.name(key, g.Name, "vrrp_sync_group", seen, i)
		gk := joinKey(key, "group")
		if len(g.Group) == 0 {
			v.errorAt(gk, key, "must list at least one vrrp_instance")
		}
		for j, name := range g.Group {
			mk := indexKey(gk, j)
			switch prev, dup := member[name]; {
			case !instances[name]:
				v.errorf(mk, "unknown vrrp_instance %q", name)
			case dup:
				v.errorf(mk, "vrrp_instance %q is already in %s", name, prev)
			default:
				member[name] = mk
			}
		}
		v.notify(key, g.NotifyScripts)
	}
}

type vrid struct {
	ifname string
	id     int
	v6     bool
}

func (v *validator) instances() {
	scripts := map[string]bool{}
	for _, s := range v.c.VRRPScripts {
		scripts[s.Name] = true
	}
	seen := map[string]int{}
	vrids := map[vrid]int{}
	vips := map[netip.Addr]string{}
	for i, in := range v.c.VRRPInstances {
		key := indexKey("vrrp_instance", i)
		k := func(name string) string { return joinKey(key, name) }
		v.name(key, in.Name, "vrrp_instance", seen, i)
		v.oneOf(k("state"), in.State, states)
		v.ifName(k("interface"), in.Interface)
		v.requiredInt(k("virtual_router_id"), in.VirtualRouterID, 1, 255)
		v.intRange(k("priority"), in.Priority, 1, 255)
		if in.Priority == 255 {
			if in.State != "MASTER" {
				v.errorf(k("priority"), "255 makes this instance the address owner, which starts as MASTER: set state = \"MASTER\" or a priority below 255")
			}
			if in.NoPreempt {
				v.errorf(k("nopreempt"), "is incompatible with priority 255 (address owner)")
			}
		}
		if in.NoPreempt && in.State == "MASTER" {
			v.errorf(k("nopreempt"), "needs state = \"BACKUP\"")
		}
		versionOK := v.oneOf(k("version"), strconv.Itoa(in.Version), []string{"2", "3"})
		if versionOK {
			v.advertInt(k("advert_int"), in.Version, in.AdvertInt.Duration)
		}
		v.auth(key, in)
		if in.Accept && in.Version == 2 {
			v.errorf(k("accept"), "needs version = 3")
		}

		v6 := in.IPv6()
		for j, vip := range in.VirtualIPAddress {
			vk := indexKey(k("virtual_ipaddress"), j)
			if !v.vip(vk, vip) {
				continue
			}
			if vip.Addr().Is6() && in.Version != 3 && versionOK {
				v.errorf(vk, "IPv6 address %s needs version = 3", vip.Addr())
			}
			if vip.Addr().Is6() != v6 {
				v.errorf(vk, "address family differs from virtual_ipaddress[0]: one vrrp_instance is either IPv4 or IPv6")
			}
		}
		for j, vip := range in.VirtualIPAddressExcluded {
			v.vip(indexKey(k("virtual_ipaddress_excluded"), j), vip)
		}
		v.dupVIPs(vips, k("virtual_ipaddress"), in.VirtualIPAddress)
		v.dupVIPs(vips, k("virtual_ipaddress_excluded"), in.VirtualIPAddressExcluded)

		if in.UnicastSrcIP.IsValid() && v.unicast(k("unicast_src_ip"), in.UnicastSrcIP) && in.UnicastSrcIP.Is6() != v6 {
			v.errorf(k("unicast_src_ip"), "address family differs from the instance's (%s)", familyOf(v6))
		}
		peers := map[netip.Addr]int{}
		for j, p := range in.UnicastPeer {
			pk := indexKey(k("unicast_peer"), j)
			if !v.unicast(pk, p) {
				continue
			}
			switch prev, dup := peers[p]; {
			case dup:
				v.errorf(pk, "duplicate peer %s (also unicast_peer[%d])", p, prev)
			case p.Is6() != v6:
				v.errorf(pk, "address family differs from the instance's (%s)", familyOf(v6))
			case p == in.UnicastSrcIP:
				v.errorf(pk, "%s is this router's own unicast_src_ip", p)
			}
			peers[p] = j
		}

		if in.PreemptDelay.Duration < 0 || in.PreemptDelay.Duration > 1000*time.Second {
			v.errorf(k("preempt_delay"), "must be between 0s and 1000s, got %s", in.PreemptDelay.Duration)
		}
		tracked := map[string]int{}
		for j, t := range in.TrackInterface {
			tk := indexKey(k("track_interface"), j)
			if err := checkIfName(t.Name); err != nil {
				v.errorf(tk, "%s", err)
			}
			v.intRange(tk, t.Weight, -254, 254)
			if prev, dup := tracked[t.Name]; dup {
				v.errorf(tk, "interface %q is already tracked by track_interface[%d]", t.Name, prev)
			}
			tracked[t.Name] = j
		}
		trackedScripts := map[string]int{}
		for j, t := range in.TrackScript {
			tk := indexKey(k("track_script"), j)
			if !scripts[t.Name] {
				v.errorf(tk, "unknown vrrp_script %q", t.Name)
			}
			v.intRange(tk, t.Weight, -254, 254)
			if prev, dup := trackedScripts[t.Name]; dup {
				v.errorf(tk, "vrrp_script %q is already tracked by track_script[%d]", t.Name, prev)
			}
			trackedScripts[t.Name] = j
		}
		trackedFiles := map[string]int{}
		for j, t := range in.TrackFile {
			tk := indexKey(k("track_file"), j)
			if !slices.ContainsFunc(v.c.TrackFiles, func(f TrackFile) bool { return f.Name == t.Name }) {
				v.errorf(tk, "unknown track_file %q", t.Name)
			}
			if t.Weight < -254 || t.Weight > 254 {
				v.errorf(tk, "weight %d out of -254..254 (a VRRP priority moves by at most that)", t.Weight)
			}
			if prev, dup := trackedFiles[t.Name]; dup {
				v.errorf(tk, "track_file %q is already tracked by track_file[%d]", t.Name, prev)
			}
			trackedFiles[t.Name] = j
		}
		v.notify(key, in.NotifyScripts)
		v.nonNegative(k("garp_master_delay"), in.GARPMasterDelay)
		v.atLeast(k("garp_master_repeat"), in.GARPMasterRepeat, 1)
		v.nonNegative(k("garp_master_refresh"), in.GARPMasterRefresh)
		v.atLeast(k("garp_master_refresh_repeat"), in.GARPMasterRefreshRepeat, 1)

		if name := in.LVSSyncDaemonInterface; name != "" {
			lk := k("lvs_sync_daemon_interface")
			switch s := v.c.Sync; {
			case !s.Enabled:
				v.errorf(lk, "asks for connection sync, but [sync] has enabled = false")
			case name != s.Interface:
				v.errorf(lk, "%q contradicts sync.interface %q", name, s.Interface)
			}
		}

		if in.Interface != "" && in.VirtualRouterID != 0 {
			id := vrid{in.Interface, in.VirtualRouterID, v6}
			if j, dup := vrids[id]; dup {
				v.errorf(k("virtual_router_id"), "%d is already used on %s (%s) by vrrp_instance[%d]", id.id, id.ifname, familyOf(v6), j)
			} else {
				vrids[id] = i
			}
		}
	}
}

func familyOf(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

func (v *validator) advertInt(key string, version int, d time.Duration) {
	switch version {
	case 2:
		if d < time.Second || d > 255*time.Second || d%time.Second != 0 {
			v.errorf(key, "VRRPv2 needs whole seconds between 1s and 255s, got %s", d)
		}
	case 3:
		if d < 10*time.Millisecond || d > 40950*time.Millisecond {
			v.errorf(key, "VRRPv3 needs between 10ms and 40.95s, got %s", d)
		} else if d%(10*time.Millisecond) != 0 {
			v.errorf(key, "VRRPv3 counts in centiseconds: must be a multiple of 10ms, got %s", d)
		}
	}
}

func (v *validator) auth(key string, in VRRPInstance) {
	a := in.Authentication
	ak := joinKey(key, "authentication")
	switch {
	case a.AuthType == "" && a.AuthPass == "":
		return
	case a.AuthType == "":
		v.errorf(joinKey(ak, "auth_type"), "is required when auth_pass is set")
		return
	case in.Version == 3:
		v.errorf(ak, "VRRPv3 has no authentication: remove it or use version = 2")
		return
	case a.AuthType == "AH":
		v.errorf(joinKey(ak, "auth_type"), "AH is not supported: use \"PASS\" or no authentication")
		return
	case a.AuthType != "PASS":
		v.errorf(joinKey(ak, "auth_type"), "must be \"PASS\"; got %q", a.AuthType)
		return
	}
	pk := joinKey(ak, "auth_pass")
	switch {
	case a.AuthPass == "":
		v.missing(pk)
	case len(a.AuthPass) > 8:
		v.errorf(pk, "must be at most 8 characters (VRRPv2 carries 8), got %d", len(a.AuthPass))
	}
}

// vip checks one virtual_ipaddress entry on its own.
func (v *validator) vip(key string, vip VIP) bool {
	ok := true
	a := vip.Addr()
	switch {
	case !vip.Prefix.IsValid():
		v.errorf(key, "address is required")
		return false
	case a.IsUnspecified() || a.IsMulticast() || a.Is4In6():
		v.errorf(key, "%s is not a unicast address", a)
		ok = false
	}
	if vip.Dev != "" {
		if err := checkIfName(vip.Dev); err != nil {
			v.errorf(key, "dev: %s", err)
			ok = false
		}
	}
	if vip.Broadcast.IsValid() && (!a.Is4() || !vip.Broadcast.Is4()) {
		v.errorf(key, "brd is only valid for IPv4 addresses")
		ok = false
	}
	if len(vip.Label) > 15 {
		v.errorf(key, "label %q is longer than 15 characters", vip.Label)
		ok = false
	}
	if vip.Scope != "" && !validScope(vip.Scope) {
		v.errorf(key, "scope must be one of %s or a number 0-255; got %q", strings.Join(scopes, ", "), vip.Scope)
		ok = false
	}
	return ok
}

func validScope(s string) bool {
	for _, sc := range scopes {
		if s == sc {
			return true
		}
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 255
}

func (v *validator) dupVIPs(seen map[netip.Addr]string, key string, list []VIP) {
	for j, vip := range list {
		vk := indexKey(key, j)
		a := vip.Addr()
		if !a.IsValid() {
			continue
		}
		if prev, dup := seen[a]; dup {
			v.errorf(vk, "address %s is also %s", a, prev)
			continue
		}
		seen[a] = vk
	}
}

func (v *validator) services() {
	seen := map[ServiceKey]int{}
	for i, vs := range v.c.VirtualServers {
		key := indexKey("virtual_server", i)
		k := func(name string) string { return joinKey(key, name) }
		addrOK := v.unicast(k("address"), vs.Address)
		v.requiredInt(k("port"), vs.Port, 1, 65535)
		v.oneOf(k("protocol"), vs.Protocol, protocols)
		v.oneOf(k("lb_algo"), vs.LBAlgo, schedulers)
		switch vs.LBKind {
		case "NAT":
		case "DR", "TUN":
			v.errorf(k("lb_kind"), "%s is not supported yet: only NAT", vs.LBKind)
		default:
			v.errorf(k("lb_kind"), "must be NAT; got %q", vs.LBKind)
		}
		v.nonNegative(k("persistence_timeout"), vs.PersistenceTimeout)
		if addrOK && vs.Address.Is4() && vs.PersistenceGranularity > 32 {
			v.errorf(k("persistence_granularity"), "must be at most 32 for an IPv4 service, got %d", vs.PersistenceGranularity)
		}
		if vs.PersistenceGranularity < 0 || vs.PersistenceGranularity > 128 {
			v.errorf(k("persistence_granularity"), "must be between 1 and 128, got %d", vs.PersistenceGranularity)
		}
		v.positive(k("delay_loop"), vs.DelayLoop)
		v.atLeast(k("quorum"), vs.Quorum, 1)
		v.atLeast(k("hysteresis"), vs.Hysteresis, 0)
		v.command(k("quorum_up"), vs.QuorumUp)
		v.command(k("quorum_down"), vs.QuorumDown)
		if ss := vs.SorryServer; ss.IsValid() || ss.Addr().IsValid() {
			sk := k("sorry_server")
			switch {
			case ss.Port() == 0:
				v.errorf(sk, "port must be between 1 and 65535, got 0")
			case !v.unicast(sk, ss.Addr()):
			case addrOK && ss.Addr().Is6() != vs.Address.Is6():
				v.errorf(sk, "address family mix: sorry_server is %s, the service is %s", family(ss.Addr()), family(vs.Address))
			}
		}
		if vs.LBAlgo != "mh" {
			if vs.MHPort {
				v.errorf(k("mh_port"), "only applies to lb_algo = \"mh\"")
			}
			if vs.MHFallback {
				v.errorf(k("mh_fallback"), "only applies to lb_algo = \"mh\"")
			}
		}
		if addrOK && vs.Port != 0 {
			sk := vs.ServiceKey()
			if j, dup := seen[sk]; dup {
				v.errorf(key, "duplicate service %s (also virtual_server[%d])", sk, j)
			} else {
				seen[sk] = i
			}
		}
		v.reals(key, vs, addrOK)
	}
}

func (v *validator) reals(key string, vs VirtualServer, addrOK bool) {
	seen := map[netip.AddrPort]int{}
	for j, rs := range vs.RealServers {
		rk := indexKey(joinKey(key, "real_server"), j)
		k := func(name string) string { return joinKey(rk, name) }
		ok := v.unicast(k("address"), rs.Address)
		if ok && addrOK && rs.Address.Is6() != vs.Address.Is6() {
			v.errorf(k("address"), "address family mix: real_server is %s, the service is %s", family(rs.Address), family(vs.Address))
		}
		portOK := v.intRange(k("port"), rs.Port, 0, 65535)
		v.intRange(k("weight"), rs.Weight, 0, 65535)
		if ok && portOK {
			if prev, dup := seen[rs.Key()]; dup {
				v.errorf(rk, "duplicate real_server %s (also real_server[%d])", rs.Key(), prev)
			} else {
				seen[rs.Key()] = j
			}
		}
		v.command(k("notify_up"), rs.NotifyUp)
		v.command(k("notify_down"), rs.NotifyDown)
		for c, h := range rs.HTTPGet {
			v.httpGet(indexKey(k("http_get"), c), h)
		}
		for c, s := range rs.SSLGet {
			sk := indexKey(k("ssl_get"), c)
			v.httpGet(sk, s.HTTPGet)
			if s.CAFile != "" && !s.Verify {
				v.errorf(joinKey(sk, "ca_file"), "has no effect without verify = true")
			}
		}
		for c, t := range rs.TCPCheck {
			v.connect(indexKey(k("tcp_check"), c), t.CheckConnect)
		}
		for c, d := range rs.DNSCheck {
			dk := indexKey(k("dns_check"), c)
			v.connect(dk, d.CheckConnect)
			if _, err := healthd.ParseDNSName(d.Name); err != nil {
				v.errorf(joinKey(dk, "name"), "%s", err)
			}
			v.oneOf(joinKey(dk, "type"), d.Type, dnsTypes)
		}
		for c, u := range rs.UDPCheck {
			v.udpCheck(indexKey(k("udp_check"), c), u)
		}
		for c, p := range rs.PingCheck {
			v.connect(indexKey(k("ping_check"), c), p.Connect())
		}
		for c, m := range rs.SMTPCheck {
			mk := indexKey(k("smtp_check"), c)
			v.connect(mk, m.CheckConnect)
			if m.HeloName == "" || strings.ContainsAny(m.HeloName, " \t\r\n") {
				v.errorf(joinKey(mk, "helo_name"), "must be one word, got %q", m.HeloName)
			}
		}
		for c, f := range rs.FileCheck {
			v.fileCheck(indexKey(k("file_check"), c), f)
		}
		for c, m := range rs.MiscCheck {
			mk := indexKey(k("misc_check"), c)
			pk := joinKey(mk, "misc_path")
			switch {
			case m.MiscPath == "":
				v.missing(pk)
			case !m.Shell:
				v.command(pk, m.MiscPath)
			}
			v.nonNegative(joinKey(mk, "misc_timeout"), m.MiscTimeout)
			v.nonNegative(joinKey(mk, "warmup"), m.Warmup)
		}
	}
}

func (v *validator) connect(key string, c CheckConnect) {
	k := func(name string) string { return joinKey(key, name) }
	if c.ConnectIP.IsValid() {
		v.unicast(k("connect_ip"), c.ConnectIP)
		if c.BindTo.IsValid() && c.BindTo.Is6() != c.ConnectIP.Is6() {
			v.errorf(k("bindto"), "address family differs from connect_ip")
		}
	}
	v.intRange(k("connect_port"), c.ConnectPort, 0, 65535)
	v.intRange(k("bind_port"), c.BindPort, 0, 65535)
	v.positive(k("connect_timeout"), c.ConnectTimeout)
	v.atLeast(k("retry"), c.Retry, 0)
	v.nonNegative(k("delay_before_retry"), c.DelayBeforeRetry)
	v.nonNegative(k("warmup"), c.Warmup)
}

var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}

func (v *validator) udpCheck(key string, u UDPCheck) {
	k := func(name string) string { return joinKey(key, name) }
	v.connect(key, u.CheckConnect)
	if u.Payload != "" {
		if _, _, err := healthd.ParseHex(u.Payload, false); err != nil {
			v.errorf(k("payload"), "must be hex (\"0a 1b2c\"): %s", err)
		}
	}
	if u.RequireReply.Data != "" {
		if _, _, err := healthd.ParseHex(u.RequireReply.Data, true); err != nil {
			v.errorf(k("require_reply"), "must be true, false or hex with x for any nibble (\"0a 1b xx\"): %s", err)
		}
	}
	minOK := v.intRange(k("min_reply_length"), u.MinReplyLength, 0, 65535)
	maxOK := v.intRange(k("max_reply_length"), u.MaxReplyLength, 1, 65535)
	if minOK && maxOK && u.MinReplyLength > u.MaxReplyLength {
		v.errorf(k("min_reply_length"), "%d is more than max_reply_length %d: no reply could pass", u.MinReplyLength, u.MaxReplyLength)
	}
	if !u.RequireReply.Required {
		if minOK && u.MinReplyLength != 0 {
			v.errorf(k("min_reply_length"), "has no effect without require_reply")
		}
		if maxOK && u.MaxReplyLength != 255 {
			v.errorf(k("max_reply_length"), "has no effect without require_reply")
		}
	}
}

func (v *validator) fileCheck(key string, f FileCheck) {
	k := func(name string) string { return joinKey(key, name) }
	switch {
	case f.TrackFile == "":
		v.missing(k("track_file"))
	case !slices.ContainsFunc(v.c.TrackFiles, func(t TrackFile) bool { return t.Name == f.TrackFile }):
		v.errorf(k("track_file"), "unknown track_file %q", f.TrackFile)
	}
	v.intRange(k("weight"), f.Weight, -math.MaxInt32, math.MaxInt32)
	if v.src.has(k("reverse")) && !v.src.has(k("weight")) {
		v.errorf(k("reverse"), "needs weight in this file_check (without weight, weight and reverse come from the track_file)")
	}
}

func (v *validator) httpGet(key string, h HTTPGet) {
	v.connect(key, h.CheckConnect)
	v.oneOf(joinKey(key, "http_protocol"), h.HTTPProtocol, []string{"1.0", "1.0C", "1.1"})
	uk := joinKey(key, "url")
	if len(h.URLs) == 0 {
		v.errorAt(uk, key, "at least one url is required")
	}
	for i, u := range h.URLs {
		k := indexKey(uk, i)
		pk := joinKey(k, "path")
		switch {
		case u.Path == "":
			v.missing(pk)
		case !strings.HasPrefix(u.Path, "/"):
			v.errorf(pk, "must start with '/', got %q", u.Path)
		}
		sk := joinKey(k, "status_code")
		if len(u.StatusCodes) == 0 {
			v.errorf(sk, "must list at least one status code")
		}
		for _, r := range u.StatusCodes {
			switch {
			case r.Min == r.Max && (r.Min < 100 || r.Min > 599):
				v.errorf(sk, "invalid status code %d: codes are 100-599", r.Min)
			case r.Min < 100 || r.Max > 599 || r.Min > r.Max:
				v.errorf(sk, "invalid status code range %d-%d: codes are 100-599, low to high", r.Min, r.Max)
			}
		}
		if u.Digest != "" && !isMD5Hex(u.Digest) {
			v.errorf(joinKey(k, "digest"), "must be an MD5 digest (32 hex digits), got %q", u.Digest)
		}
		if u.Regex != "" {
			if _, err := healthd.CompileRegex(u.Regex); err != nil {
				v.errorf(joinKey(k, "regex"), "%s", err)
			}
		} else if u.RegexNoMatch {
			v.errorf(joinKey(k, "regex_no_match"), "has no effect without regex")
		}
	}
}

func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
