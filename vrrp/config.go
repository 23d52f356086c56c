package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Defaults applied to zero fields of an InstanceConfig, as keepalived's.
const (
	DefaultPriority                = 100
	DefaultAdvertInt               = time.Second
	DefaultVersion                 = 2
	DefaultGARPMasterRepeat        = 5
	DefaultGARPMasterRefreshRepeat = 1
)

// PriorityOwner is the priority of the router that owns the virtual
// addresses; PriorityStop is advertised by a master that stops.
const (
	PriorityOwner = 255
	PriorityStop  = 0
)

// VIP is a virtual address with the netlink attributes keepalived allows
// on `virtual_ipaddress` entries.
type VIP struct {
	Prefix    netip.Prefix // address and prefix length, e.g. 203.0.113.10/24
	Dev       string       // interface; "" is the instance's interface
	Label     string       // IPv4 label, must start with the interface name ("eth0:vip")
	Scope     string       // "global" (default), "site", "link", "host", "nowhere" or a number
	Broadcast netip.Addr   // IPv4 broadcast; invalid (zero) for none
}

// Track is a tracked object (interface or script). Weight 0 puts the
// instance in FAULT while the object is down; a negative weight lowers the
// priority while it is down; a positive one raises it while it is up.
type Track struct {
	Name   string
	Weight int
}

// InstanceConfig is one VRRP instance (keepalived's vrrp_instance).
type InstanceConfig struct {
	Name      string
	Interface string
	VRID      uint8
	Priority  uint8         // 1-255; 0 means DefaultPriority
	AdvertInt time.Duration // v2: whole seconds; v3: centiseconds; 0 means DefaultAdvertInt
	Version   int           // 2 or 3; 0 means DefaultVersion
	// InitialState is StateBackup (default) or StateMaster. As in
	// keepalived, every instance but the address owner (priority 255,
	// master at once) starts as backup; StateMaster only shortens the
	// first wait for a master from 3 intervals + skew to 1 interval +
	// 1/256 of one.
	InitialState State
	AuthPass     string // v2 PASS password (at most 8 bytes); "" for none
	VIPs         []VIP  // advertised and installed on master
	ExcludedVIPs []VIP  // installed on master, not advertised
	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr // empty: multicast
	Preempt      bool         // false: nopreempt
	PreemptDelay time.Duration
	// Accept is VRRPv3's accept mode. The node only reports it: xlb's
	// dataplane, not the kernel, decides what traffic to a VIP is taken.
	Accept          bool
	TrackInterfaces []Track
	// GARPMasterDelay is the delay of the second gratuitous ARP burst after
	// becoming master (0: none). GARPMasterRepeat is the burst size
	// (0 means DefaultGARPMasterRepeat). GARPMasterRefresh is the period
	// of refresh bursts while master (0: none) of GARPMasterRefreshRepeat
	// messages (0 means DefaultGARPMasterRefreshRepeat).
	GARPMasterDelay         time.Duration
	GARPMasterRepeat        int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int
}

// SyncGroup is a set of instances that change state together
// (keepalived's vrrp_sync_group).
type SyncGroup struct {
	Name      string
	Instances []string
}

// withDefaults returns c with zero fields replaced by defaults.
func (c InstanceConfig) withDefaults() InstanceConfig {
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.AdvertInt == 0 {
		c.AdvertInt = DefaultAdvertInt
	}
	if c.Version == 0 {
		c.Version = DefaultVersion
	}
	if c.InitialState == StateInit {
		c.InitialState = StateBackup
	}
	if c.GARPMasterRepeat == 0 {
		c.GARPMasterRepeat = DefaultGARPMasterRepeat
	}
	if c.GARPMasterRefreshRepeat == 0 {
		c.GARPMasterRefreshRepeat = DefaultGARPMasterRefreshRepeat
	}
	return c
}

// family reports whether the instance runs over IPv6 (its first VIP is IPv6).
func (c *InstanceConfig) ipv6() bool {
	return len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6()
}

// advertised returns the addresses an advertisement carries.
func (c *InstanceConfig) advertised() []netip.Addr {
	as := make([]netip.Addr, len(c.VIPs))
	for i, v := range c.VIPs {
		as[i] = v.Prefix.Addr()
	}
	return as
}

// scopes keepalived accepts by name (iproute2's rt_scopes).
var scopes = map[string]uint8{"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}

func parseScope(s string) (uint8, error) {
	if s == "" {
		return 0, nil
	}
	if v, ok := scopes[s]; ok {
		return v, nil
	}
	var n uint8
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		return 0, fmt.Errorf("scope %q: not a name or 0-255", s)
	}
	return n, nil
}

// Validate checks one instance (with defaults applied) and returns all
// problems joined.
func (c InstanceConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vrrp instance %q: "+format, append([]any{c.Name}, args...)...))
	}
	if c.Name == "" {
		bad("no name")
	}
	if c.Interface == "" {
		bad("no interface")
	}
	if c.VRID == 0 {
		bad("virtual_router_id must be 1-255")
	}
	switch c.Version {
	case 2:
		if c.AdvertInt%time.Second != 0 || c.AdvertInt < time.Second || c.AdvertInt > 255*time.Second {
			bad("advert_int %v: VRRPv2 needs 1-255 whole seconds", c.AdvertInt)
		}
		if len(c.AuthPass) > authLen {
			bad("auth_pass longer than %d bytes", authLen)
		}
	case 3:
		if c.AdvertInt%(10*time.Millisecond) != 0 || c.AdvertInt < 10*time.Millisecond || c.AdvertInt > maxV3Centi*10*time.Millisecond {
			bad("advert_int %v: VRRPv3 needs 10ms-40.95s in centiseconds", c.AdvertInt)
		}
		if c.AuthPass != "" {
			bad("authentication is VRRPv2 only")
		}
	default:
		bad("version %d: want 2 or 3", c.Version)
	}
	if c.InitialState != StateBackup && c.InitialState != StateMaster {
		bad("initial state %v: want BACKUP or MASTER", c.InitialState)
	}
	if len(c.VIPs) == 0 {
		bad("no virtual_ipaddress")
	}
	if len(c.VIPs) > 255 {
		bad("%d virtual addresses, at most 255", len(c.VIPs))
	}
	v6 := c.ipv6()
	if v6 && c.Version == 2 {
		bad("IPv6 virtual addresses need VRRP version 3")
	}
	seen := map[netip.Addr]bool{}
	check := func(kind string, v VIP, advertised bool) {
		a := v.Prefix.Addr()
		switch {
		case !v.Prefix.IsValid():
			bad("%s: invalid prefix", kind)
			return
		case a.Is4In6() || a.Zone() != "":
			bad("%s %v: want a plain IPv4 or IPv6 address", kind, v.Prefix)
		case advertised && a.Is6() != v6:
			bad("%s %v: all virtual_ipaddress entries must be of one family (use excluded for the other)", kind, v.Prefix)
		}
		if seen[a] {
			bad("%s %v: duplicate address", kind, a)
		}
		seen[a] = true
		dev := v.Dev
		if dev == "" {
			dev = c.Interface
		}
		if v.Label != "" && (a.Is6() || !strings.HasPrefix(v.Label, dev) || len(v.Label) > 15) {
			bad("%s %v: label %q must be IPv4, start with the interface name %q and have at most 15 characters", kind, v.Prefix, v.Label, dev)
		}
		if _, err := parseScope(v.Scope); err != nil {
			bad("%s %v: %v", kind, v.Prefix, err)
		}
		if v.Broadcast.IsValid() && (!a.Is4() || !v.Broadcast.Is4()) {
			bad("%s %v: broadcast %v needs IPv4", kind, v.Prefix, v.Broadcast)
		}
	}
	for _, v := range c.VIPs {
		check("virtual_ipaddress", v, true)
	}
	for _, v := range c.ExcludedVIPs {
		check("virtual_ipaddress_excluded", v, false)
	}
	if c.UnicastSrc.IsValid() && c.UnicastSrc.Is6() != v6 {
		bad("unicast_src_ip %v: family differs from the virtual addresses", c.UnicastSrc)
	}
	for _, p := range c.UnicastPeers {
		if !p.IsValid() || p.Is6() != v6 || p.IsMulticast() {
			bad("unicast_peer %v: want a unicast address of the instance's family", p)
		}
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > 1000*time.Second {
		bad("preempt_delay %v: want 0-1000s", c.PreemptDelay)
	}
	for _, t := range c.TrackInterfaces {
		if t.Name == "" || t.Weight < -254 || t.Weight > 254 {
			bad("track_interface %q weight %d: want a name and -254..254", t.Name, t.Weight)
		}
	}
	if c.GARPMasterDelay < 0 || c.GARPMasterRefresh < 0 || c.GARPMasterRepeat < 0 || c.GARPMasterRefreshRepeat < 0 {
		bad("garp_master_* must not be negative")
	}
	return errors.Join(errs...)
}

// validate checks the instances and sync groups together.
func validate(instances []InstanceConfig, groups []SyncGroup) error {
	var errs []error
	names := map[string]bool{}
	type key struct {
		ifname string
		vrid   uint8
		v6     bool
	}
	vrids := map[key]string{}
	for _, c := range instances {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[c.Name] {
			errs = append(errs, fmt.Errorf("vrrp instance %q: duplicate name", c.Name))
		}
		names[c.Name] = true
		k := key{c.Interface, c.VRID, c.ipv6()}
		if other, ok := vrids[k]; ok {
			errs = append(errs, fmt.Errorf("vrrp instance %q: vrid %d on %s already used by %q", c.Name, c.VRID, c.Interface, other))
		}
		vrids[k] = c.Name
	}
	member := map[string]string{}
	for _, g := range groups {
		if g.Name == "" {
			errs = append(errs, errors.New("vrrp sync group without a name"))
		}
		for _, in := range g.Instances {
			if !names[in] {
				errs = append(errs, fmt.Errorf("vrrp sync group %q: no instance %q", g.Name, in))
			}
			if other, ok := member[in]; ok {
				errs = append(errs, fmt.Errorf("vrrp sync group %q: instance %q is already in group %q", g.Name, in, other))
			}
			member[in] = g.Name
		}
	}
	return errors.Join(errs...)
}
