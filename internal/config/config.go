// Package config is xlb's configuration: the TOML schema, its loader and its
// validator.
//
// The schema speaks keepalived: keyword names are keepalived's, blocks that
// keepalived repeats are TOML arrays of tables ([[virtual_server]],
// [[virtual_server.real_server]], [[virtual_server.real_server.http_get]], …),
// durations are strings ("30s", "100ms") or bare numbers of seconds (30,
// 0.1), and entries with a keepalived mini-syntax stay strings
// ("203.0.113.10/24 dev eth0", "chk_http weight -20", "200-299").
// docs/config.md lists every key.
//
// Load and Parse decode, fill defaults, and validate; every problem is
// reported at once as FILE:LINE: KEY: message (see Error). CheckHost adds the
// checks that need the running system.
//
// All types are plain values, so the daemon can compare the old and the new
// item of a reload with reflect.DeepEqual (or Config.Equal for the whole).
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Config is a whole xlb configuration file.
type Config struct {
	Global         Global          `toml:"global"`
	Dataplane      Dataplane       `toml:"dataplane"`
	Gateway        Gateway         `toml:"gateway"`
	Sync           Sync            `toml:"sync"`
	VRRPScripts    []VRRPScript    `toml:"vrrp_script"`
	TrackFiles     []TrackFile     `toml:"track_file"`
	VRRPSyncGroups []VRRPSyncGroup `toml:"vrrp_sync_group"`
	VRRPInstances  []VRRPInstance  `toml:"vrrp_instance"`
	VirtualServers []VirtualServer `toml:"virtual_server"`

	// src locates keys in the text this Config was parsed from, so that
	// Validate can report line numbers. Nil for a Config built in code.
	src *source
}

// SetDefaults sets every field that has a default to it. Call it on a zero
// Config before filling it in code; Load and Parse do it for you.
func (c *Config) SetDefaults() {
	c.Global.SetDefaults()
	c.Dataplane.SetDefaults()
	c.Gateway.SetDefaults()
	c.Sync.SetDefaults()
}

// Equal reports whether c and o describe the same configuration. It ignores
// where they were parsed from.
func (c *Config) Equal(o *Config) bool {
	if c == nil || o == nil {
		return c == o
	}
	a, b := *c, *o
	a.src, b.src = nil, nil
	return reflect.DeepEqual(a, b)
}

// Global is [global]: keepalived's global_defs plus xlb's own paths.
type Global struct {
	// RouterID names this director in notifications and logs. Default: the
	// host name.
	RouterID string `toml:"router_id"`
	// NotificationEmail lists who receives smtp_alert mails.
	NotificationEmail []string `toml:"notification_email"`
	// NotificationEmailFrom is the mails' From address.
	NotificationEmailFrom string `toml:"notification_email_from"`
	// SMTPServer is "HOST", "HOST:PORT" or keepalived's "HOST PORT"; the port
	// defaults to 25. Empty: no mail. See SMTPAddress.
	SMTPServer string `toml:"smtp_server"`
	// SMTPHeloName is the HELO/EHLO name; empty means the host name, as in
	// keepalived.
	SMTPHeloName string `toml:"smtp_helo_name"`
	// SMTPConnectTimeout bounds the SMTP connection. Default 30s.
	SMTPConnectTimeout Duration `toml:"smtp_connect_timeout"`
	// BPFFS is where maps and links are pinned. Default /sys/fs/bpf/xlb.
	BPFFS string `toml:"bpffs"`
	// ControlSocket is the unix socket of the control API. Default
	// /run/xlb/xlbd.sock.
	ControlSocket string `toml:"control_socket"`
	// MetricsListen is HOST:PORT for the Prometheus endpoint; empty = off.
	MetricsListen string `toml:"metrics_listen"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `toml:"log_level"`
}

// SetDefaults sets the defaults of [global] (router_id is filled from the
// host name by Load and Parse, not here).
func (g *Global) SetDefaults() {
	g.SMTPConnectTimeout = Duration{30 * time.Second}
	g.BPFFS = "/sys/fs/bpf/xlb"
	g.ControlSocket = "/run/xlb/xlbd.sock"
	g.LogLevel = "info"
}

// SMTPAddress returns smtp_server as "host:port" with the default port 25,
// or "" when no SMTP server is set or it does not parse (Validate reports
// that).
func (g Global) SMTPAddress() string {
	if g.SMTPServer == "" {
		return ""
	}
	h, p, err := splitHostPort(g.SMTPServer, 25)
	if err != nil {
		return ""
	}
	return netJoin(h, p)
}

// Dataplane is [dataplane]: where the XDP program runs and how big its
// tables are.
type Dataplane struct {
	// Interfaces get the XDP program. Required when any virtual_server
	// exists.
	Interfaces []string `toml:"interfaces"`
	// XDPMode is native (driver) or generic (skb). Default native.
	XDPMode string `toml:"xdp_mode"`
	// ConntrackMax sizes the connection table. Default 262144.
	ConntrackMax int `toml:"conntrack_max"`
	// PersistenceMax sizes the persistence table. Default 65536.
	PersistenceMax int `toml:"persistence_max"`
	// MaxServices sizes the service table. Default 1024.
	MaxServices int `toml:"max_services"`
	// MaxReals sizes the real server table. Default 16384.
	MaxReals int `toml:"max_reals"`
	// KeepOnExit leaves programs and maps in place when xlbd stops, so
	// forwarding continues across an upgrade. Default false.
	KeepOnExit bool `toml:"keep_on_exit"`
	// GCInterval is how often user space sweeps expired entries. Default 2s.
	GCInterval Duration `toml:"gc_interval"`
	// SchedulerTick is how often selection tables are recomputed from
	// connection counts (lc, wlc). Default 100ms.
	SchedulerTick Duration `toml:"scheduler_tick"`
	// Timeouts are the connection idle timeouts.
	Timeouts Timeouts `toml:"timeouts"`
}

// SetDefaults sets the defaults of [dataplane].
func (d *Dataplane) SetDefaults() {
	d.XDPMode = "native"
	d.ConntrackMax = 262144
	d.PersistenceMax = 65536
	d.MaxServices = 1024
	d.MaxReals = 16384
	d.GCInterval = Duration{2 * time.Second}
	d.SchedulerTick = Duration{100 * time.Millisecond}
	d.Timeouts.SetDefaults()
}

// Timeouts is [dataplane.timeouts], the idle timeouts of `ipvsadm --set tcp
// tcpfin udp`, plus one for half-open TCP connections.
type Timeouts struct {
	TCP    Duration `toml:"tcp"`     // established TCP; default 900s
	TCPFin Duration `toml:"tcp_fin"` // TCP after FIN; default 120s
	TCPSyn Duration `toml:"tcp_syn"` // TCP before the handshake completes; default 60s
	UDP    Duration `toml:"udp"`     // UDP; default 300s
}

// SetDefaults sets the defaults of [dataplane.timeouts].
func (t *Timeouts) SetDefaults() {
	t.TCP = Duration{900 * time.Second}
	t.TCPFin = Duration{120 * time.Second}
	t.TCPSyn = Duration{60 * time.Second}
	t.UDP = Duration{300 * time.Second}
}

// Gateway is [gateway]: the director as the farm's default gateway (the
// seed's iptables rules).
type Gateway struct {
	// Forwarding turns on IP forwarding for traffic that is not to a
	// virtual server (FORWARD ACCEPT). Default false.
	Forwarding bool `toml:"forwarding"`
	// Masquerade rules (iptables -t nat -A POSTROUTING [-s SOURCE] -o
	// OUT_INTERFACE -j MASQUERADE).
	Masquerade []Masquerade `toml:"masquerade"`
}

// SetDefaults sets the defaults of [gateway] (there are none beyond zero).
func (g *Gateway) SetDefaults() {}

// Masquerade is one [[gateway.masquerade]] rule.
type Masquerade struct {
	// Source limits the rule to these source addresses; zero = any.
	Source netip.Prefix `toml:"source"`
	// OutInterface is the interface whose address replaces the source.
	// Required.
	OutInterface string `toml:"out_interface"`
}

// DefaultSyncGroup is the multicast group of connection sync when no peers
// are given (the one IPVS's sync daemon uses).
var DefaultSyncGroup = netip.MustParseAddr("224.0.0.81")

// Sync is [sync]: connection synchronisation between directors, so a backup
// that takes over keeps the flows. The table being present turns it on.
type Sync struct {
	// Enabled is true when the [sync] table is present (or a vrrp_instance
	// names lvs_sync_daemon_interface); "enabled = false" keeps the table
	// but turns sync off.
	Enabled bool `toml:"enabled"`
	// Interface carries sync traffic. Required when enabled. Also accepted
	// as lvs_sync_daemon_interface.
	Interface string `toml:"interface" alias:"lvs_sync_daemon_interface"`
	// Peers are the other directors' addresses (unicast sync). Empty:
	// multicast to Group.
	Peers []netip.Addr `toml:"peers"`
	// Group is the multicast group. Default 224.0.0.81 when there are no
	// peers.
	Group netip.Addr `toml:"group"`
	// Port is the UDP port. Default 8848.
	Port int `toml:"port"`
	// Key is a shared secret authenticating sync messages; optional.
	Key string `toml:"key"`
	// KeyFile names a file holding the secret instead of Key.
	KeyFile string `toml:"key_file"`
	// MaxRate caps sent entries per second; 0 = unlimited.
	MaxRate int `toml:"max_rate"`
}

// SetDefaults sets the defaults of [sync] (Enabled stays false; the group
// default depends on peers and is filled by Load and Parse).
func (s *Sync) SetDefaults() {
	s.Port = 8848
}

// TrackFile is one [[track_file]]: keepalived's track_file block, a file
// holding a number that file_check health checks and vrrp_instance
// track_file entries follow.
type TrackFile struct {
	// Name is what file_check's and vrrp_instance's track_file refer to.
	// Required, unique.
	Name string `toml:"name"`
	// File is the file's absolute path. Required.
	File string `toml:"file"`
	// Weight multiplies the number for the file_checks that set no weight
	// of their own: -254..254, default 1. 0 means a non-zero number is a
	// failure.
	Weight int `toml:"weight"`
	// Reverse negates Weight (with weight 0: zero is the failure).
	Reverse bool `toml:"reverse"`
	// InitFile writes InitValue to the file at start when it does not
	// exist (keepalived's init_file).
	InitFile bool `toml:"init_file"`
	// InitValue is what InitFile writes. Default 0.
	InitValue int `toml:"init_value"`
	// InitOverwrite writes InitValue at start even when the file exists
	// (keepalived's init_file … overwrite); not on a reload.
	InitOverwrite bool `toml:"init_overwrite"`
}

// SetDefaults sets the defaults of a track_file.
func (f *TrackFile) SetDefaults() {
	f.Weight = 1
}

// VRRPScript is one [[vrrp_script]]: a command whose exit status is tracked
// by instances that name it in track_script.
type VRRPScript struct {
	// Name is what track_script refers to. Required, unique.
	Name string `toml:"name"`
	// Script is the command line (split into argv as a shell would, not run
	// by a shell). Required.
	Script string `toml:"script"`
	// Interval between runs. Default 1s.
	Interval Duration `toml:"interval"`
	// Timeout after which a run counts as failed. Default: Interval.
	Timeout Duration `toml:"timeout"`
	// Weight is added to the priority of tracking instances while the script
	// succeeds (positive) or fails (negative); 0 puts them in FAULT on
	// failure. -254..254, default 0.
	Weight int `toml:"weight"`
	// Rise successes in a row make the script OK. Default 1.
	Rise int `toml:"rise"`
	// Fall failures in a row make it KO. Default 1.
	Fall int `toml:"fall"`
	// User runs the script; empty = the daemon's user.
	User string `toml:"user"`
}

// SetDefaults sets the defaults of a vrrp_script.
func (s *VRRPScript) SetDefaults() {
	s.Interval = Duration{time.Second}
	s.Rise = 1
	s.Fall = 1
}

// NotifyScripts holds the notify scripts shared by vrrp_instance and
// vrrp_sync_group.
type NotifyScripts struct {
	NotifyMaster string `toml:"notify_master"` // run on becoming MASTER
	NotifyBackup string `toml:"notify_backup"` // run on becoming BACKUP
	NotifyFault  string `toml:"notify_fault"`  // run on entering FAULT
	NotifyStop   string `toml:"notify_stop"`   // run when stopping
	// Notify is run on every change with arguments TYPE NAME STATE PRIORITY,
	// as keepalived does.
	Notify string `toml:"notify"`
	// SMTPAlert mails global.notification_email on every change.
	SMTPAlert bool `toml:"smtp_alert"`
}

// VRRPSyncGroup is one [[vrrp_sync_group]]: instances that change state
// together.
type VRRPSyncGroup struct {
	// Name of the group. Required, unique.
	Name string `toml:"name"`
	// Group lists member vrrp_instance names. At least one.
	Group []string `toml:"group"`
	NotifyScripts
}

// Authentication is a vrrp_instance's authentication table (VRRPv2 only).
type Authentication struct {
	// AuthType is PASS. (AH is recognised but not supported.) Empty = no
	// authentication.
	AuthType string `toml:"auth_type"`
	// AuthPass is the password, at most 8 characters.
	AuthPass string `toml:"auth_pass"`
}

// VRRPInstance is one [[vrrp_instance]].
type VRRPInstance struct {
	// Name of the instance. Required, unique.
	Name string `toml:"name"`
	// State is the initial state: MASTER or BACKUP. Default BACKUP.
	State string `toml:"state"`
	// Interface the instance runs on. Required.
	Interface string `toml:"interface"`
	// VirtualRouterID is the VRID, 1..255. Required.
	VirtualRouterID int `toml:"virtual_router_id"`
	// Priority 1..255; 255 declares the address owner. Default 100.
	Priority int `toml:"priority"`
	// AdvertInt is the advertisement interval. Default 1s. VRRPv2: whole
	// seconds 1-255; VRRPv3: 10ms-40.95s in steps of 10ms.
	AdvertInt Duration `toml:"advert_int"`
	// Version is the VRRP version, 2 or 3. Default 2.
	Version int `toml:"version"`
	// Authentication (VRRPv2 only).
	Authentication Authentication `toml:"authentication"`
	// VirtualIPAddress are the addresses the master holds and advertises.
	VirtualIPAddress []VIP `toml:"virtual_ipaddress"`
	// VirtualIPAddressExcluded are held by the master but not advertised.
	VirtualIPAddressExcluded []VIP `toml:"virtual_ipaddress_excluded"`
	// UnicastSrcIP is the source of unicast adverts; zero = the interface's
	// primary address.
	UnicastSrcIP netip.Addr `toml:"unicast_src_ip"`
	// UnicastPeer switches to unicast adverts to these addresses.
	UnicastPeer []netip.Addr `toml:"unicast_peer"`
	// NoPreempt: a higher priority backup does not take over from a running
	// master. Requires state BACKUP.
	NoPreempt bool `toml:"nopreempt"`
	// PreemptDelay delays preemption after startup; 0..1000s.
	PreemptDelay Duration `toml:"preempt_delay"`
	// Accept makes a non-owner master accept packets to the addresses
	// (VRRPv3 Accept_Mode).
	Accept bool `toml:"accept"`
	// TrackInterface entries ("IF" or "IF weight N").
	TrackInterface []TrackInterface `toml:"track_interface"`
	// TrackScript entries ("NAME" or "NAME weight N") naming vrrp_scripts.
	TrackScript []TrackScript `toml:"track_script"`
	// TrackFile entries ("NAME", "NAME weight N [reverse]") naming
	// [[track_file]]s: the number in the file times the weight moves the
	// priority; -254 or less (or, with weight 0, any non-zero number) puts
	// the instance in FAULT.
	TrackFile []TrackFileRef `toml:"track_file"`
	NotifyScripts
	// GARPMasterDelay is the delay before the second set of gratuitous ARPs
	// after becoming master. Default 5s.
	GARPMasterDelay Duration `toml:"garp_master_delay"`
	// GARPMasterRepeat gratuitous ARPs are sent at a time. Default 5.
	GARPMasterRepeat int `toml:"garp_master_repeat"`
	// GARPMasterRefresh repeats gratuitous ARPs while master; 0 = off.
	GARPMasterRefresh Duration `toml:"garp_master_refresh"`
	// GARPMasterRefreshRepeat gratuitous ARPs per refresh. Default 1.
	GARPMasterRefreshRepeat int `toml:"garp_master_refresh_repeat"`
	// LVSSyncDaemonInterface is keepalived's per-instance way to turn on
	// connection sync; it means [sync] interface. With no [sync] table it
	// enables sync on this interface.
	LVSSyncDaemonInterface string `toml:"lvs_sync_daemon_interface"`
}

// SetDefaults sets the defaults of a vrrp_instance.
func (v *VRRPInstance) SetDefaults() {
	v.State = "BACKUP"
	v.Priority = 100
	v.AdvertInt = Duration{time.Second}
	v.Version = 2
	v.GARPMasterDelay = Duration{5 * time.Second}
	v.GARPMasterRepeat = 5
	v.GARPMasterRefreshRepeat = 1
}

// IPv6 reports whether the instance is an IPv6 one: its first virtual
// address is IPv6. Without addresses an instance is IPv4, as in keepalived.
func (v VRRPInstance) IPv6() bool {
	return len(v.VirtualIPAddress) > 0 && v.VirtualIPAddress[0].Addr().Is6()
}

// VirtualServer is one [[virtual_server]]: a service on address:port.
type VirtualServer struct {
	// Name is an optional display name.
	Name string `toml:"name"`
	// Address is the virtual address. Required.
	Address netip.Addr `toml:"address"`
	// Port 1..65535. Required.
	Port int `toml:"port"`
	// Protocol is TCP or UDP. Default TCP.
	Protocol string `toml:"protocol"`
	// LBAlgo is the scheduler: rr, wrr, lc, wlc, sh or mh. Default wlc.
	// Also accepted as lvs_sched.
	LBAlgo string `toml:"lb_algo" alias:"lvs_sched"`
	// LBKind is the forwarding method; only NAT is supported. Default NAT.
	// Also accepted as lvs_method.
	LBKind string `toml:"lb_kind" alias:"lvs_method"`
	// PersistenceTimeout keeps a client on the same real for this long
	// after its last connection; 0 = no persistence.
	PersistenceTimeout Duration `toml:"persistence_timeout"`
	// PersistenceGranularity groups clients for persistence by prefix
	// length; zero in TOML means the full address (Load fills in 32 or 128).
	PersistenceGranularity Granularity `toml:"persistence_granularity"`
	// DelayLoop is the interval between health checks. Default 60s.
	DelayLoop Duration `toml:"delay_loop"`
	// VirtualHost is the default Host header of HTTP checks.
	VirtualHost string `toml:"virtualhost"`
	// Quorum is the minimum total weight of live reals for the service to
	// be up. Default 1.
	Quorum int `toml:"quorum"`
	// Hysteresis around Quorum. Default 0.
	Hysteresis int `toml:"hysteresis"`
	// QuorumUp is run when the quorum is reached.
	QuorumUp string `toml:"quorum_up"`
	// QuorumDown is run when it is lost.
	QuorumDown string `toml:"quorum_down"`
	// Alpha starts reals as down until their first check passes.
	Alpha bool `toml:"alpha"`
	// Omega runs notify_down for every real when the service is removed.
	Omega bool `toml:"omega"`
	// InhibitOnFailure sets a failed real's weight to 0 instead of removing
	// it; default for every real of the service.
	InhibitOnFailure bool `toml:"inhibit_on_failure"`
	// SorryServer serves when no real is up: "IP:PORT", "[IPv6]:PORT" or
	// keepalived's "IP PORT". Zero = none.
	SorryServer netip.AddrPort `toml:"sorry_server"`
	// SorryServerInhibit keeps the sorry server with weight 0 while reals
	// are up.
	SorryServerInhibit bool `toml:"sorry_server_inhibit"`
	// SMTPAlert mails global.notification_email when the service gains or
	// loses its quorum, and when any of its reals goes up or down.
	SMTPAlert bool `toml:"smtp_alert"`
	// NATMask is accepted for keepalived compatibility and ignored.
	NATMask string `toml:"nat_mask,omitempty"`
	// HASuspend suspends health checks while the service's address is not
	// on this director (VRRP backup).
	HASuspend bool `toml:"ha_suspend"`
	// MHPort makes mh hash the source port too. Also accepted as mh-port.
	MHPort bool `toml:"mh_port" alias:"mh-port"`
	// MHFallback makes mh pick another real when the chosen one has weight
	// 0. Also accepted as mh-fallback.
	MHFallback bool `toml:"mh_fallback" alias:"mh-fallback"`
	// RealServers of the service.
	RealServers []RealServer `toml:"real_server"`
}

// SetDefaults sets the defaults of a virtual_server.
func (vs *VirtualServer) SetDefaults() {
	vs.Protocol = "TCP"
	vs.LBAlgo = "wlc"
	vs.LBKind = "NAT"
	vs.DelayLoop = Duration{60 * time.Second}
	vs.Quorum = 1
}

// ServiceKey identifies a virtual server: no two may share one.
type ServiceKey struct {
	Address  netip.Addr
	Port     uint16
	Protocol string // TCP or UDP
}

// ServiceKey returns the virtual server's identity.
func (vs VirtualServer) ServiceKey() ServiceKey {
	return ServiceKey{Address: vs.Address, Port: uint16(vs.Port), Protocol: vs.Protocol}
}

// String formats the key as "TCP 203.0.113.10:80".
func (k ServiceKey) String() string {
	return k.Protocol + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// RealServer is one [[virtual_server.real_server]].
type RealServer struct {
	// Address of the real server. Required.
	Address netip.Addr `toml:"address"`
	// Port; 0 in TOML means the service port (Load fills it in).
	Port int `toml:"port"`
	// Weight 0..65535. Default 1.
	Weight int `toml:"weight"`
	// InhibitOnFailure sets the weight to 0 on failure instead of removing
	// the real. Default: the service's inhibit_on_failure.
	InhibitOnFailure bool `toml:"inhibit_on_failure"`
	// NotifyUp is run when the real comes up.
	NotifyUp string `toml:"notify_up"`
	// NotifyDown is run when it goes down.
	NotifyDown string `toml:"notify_down"`
	// SMTPAlert mails global.notification_email when the real goes up or
	// down. Default: the service's smtp_alert.
	SMTPAlert bool `toml:"smtp_alert"`
	// Health checks; all must pass for the real to be up. No checks: always
	// up.
	HTTPGet   []HTTPGet   `toml:"http_get"`
	SSLGet    []SSLGet    `toml:"ssl_get"`
	TCPCheck  []TCPCheck  `toml:"tcp_check"`
	MiscCheck []MiscCheck `toml:"misc_check"`
	DNSCheck  []DNSCheck  `toml:"dns_check"`
	UDPCheck  []UDPCheck  `toml:"udp_check"`
	PingCheck []PingCheck `toml:"ping_check"`
	SMTPCheck []SMTPCheck `toml:"smtp_check"`
	FileCheck []FileCheck `toml:"file_check"`
}

// SetDefaults sets the defaults of a real_server.
func (rs *RealServer) SetDefaults() {
	rs.Weight = 1
}

// Key returns the real server's identity within its service.
func (rs RealServer) Key() netip.AddrPort {
	return netip.AddrPortFrom(rs.Address, uint16(rs.Port))
}

// CheckConnect holds the connection settings shared by http_get, ssl_get,
// tcp_check, dns_check, udp_check and smtp_check.
type CheckConnect struct {
	// ConnectIP is the address to check; zero = the real's address.
	ConnectIP netip.Addr `toml:"connect_ip"`
	// ConnectPort is the port to check; 0 in TOML means the real's port
	// (Load fills it in).
	ConnectPort int `toml:"connect_port"`
	// BindTo is the source address; zero = chosen by the kernel.
	BindTo netip.Addr `toml:"bindto"`
	// BindPort is the source port; 0 = any.
	BindPort int `toml:"bind_port"`
	// ConnectTimeout bounds one attempt. Default 5s.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// Retry is how many more attempts are made before the real is declared
	// down. Default 1. Also accepted as nb_get_retry.
	Retry int `toml:"retry" alias:"nb_get_retry"`
	// DelayBeforeRetry between attempts. Default 1s.
	DelayBeforeRetry Duration `toml:"delay_before_retry"`
	// Warmup delays the first check by a random time up to this; 0 means
	// up to delay_loop, as keepalived spreads its checkers.
	Warmup Duration `toml:"warmup"`
}

// SetDefaults sets the defaults of the connection settings.
func (c *CheckConnect) SetDefaults() {
	c.ConnectTimeout = Duration{5 * time.Second}
	c.Retry = 1
	c.DelayBeforeRetry = Duration{time.Second}
}

// TCPCheck is one [[…real_server.tcp_check]]: a TCP connect.
type TCPCheck struct {
	CheckConnect
}

// HTTPGet is one [[…real_server.http_get]]: GET each url and check the
// status code (and digest).
type HTTPGet struct {
	CheckConnect
	// URLs to fetch; at least one, all must pass.
	URLs []URL `toml:"url"`
	// VirtualHost is the Host header; empty = the service's virtualhost.
	VirtualHost string `toml:"virtualhost"`
	// HTTPProtocol is keepalived's http_protocol: "1.0", "1.0C" (1.0 with
	// Connection: close) or "1.1" (with Connection: close). Default 1.1.
	HTTPProtocol string `toml:"http_protocol"`
}

// SetDefaults sets the defaults of an http_get.
func (h *HTTPGet) SetDefaults() {
	h.CheckConnect.SetDefaults()
	h.HTTPProtocol = "1.1"
}

// SSLGet is one [[…real_server.ssl_get]]: an HTTPGet over TLS.
type SSLGet struct {
	HTTPGet
	// Verify the server certificate. Default false (as keepalived).
	Verify bool `toml:"verify"`
	// CAFile holds the CAs to verify against; empty = the system's.
	CAFile string `toml:"ca_file"`
	// EnableSNI sends the virtualhost as SNI. Default true.
	EnableSNI bool `toml:"enable_sni"`
}

// SetDefaults sets the defaults of an ssl_get.
func (s *SSLGet) SetDefaults() {
	s.HTTPGet.SetDefaults()
	s.EnableSNI = true
}

// URL is one url of an http_get or ssl_get.
type URL struct {
	// Path to GET, starting with '/'. Required.
	Path string `toml:"path"`
	// StatusCodes accepted. Default 200-299.
	StatusCodes StatusCodes `toml:"status_code"`
	// Digest is the hex MD5 the body must have; empty = not checked.
	Digest string `toml:"digest"`
	// VirtualHost overrides the check's Host header for this url.
	VirtualHost string `toml:"virtualhost"`
	// Regex must match the body (Go's RE2 syntax); empty = not checked.
	Regex string `toml:"regex"`
	// RegexNoMatch reverses Regex: the body must not match.
	RegexNoMatch bool `toml:"regex_no_match"`
}

// SetDefaults sets the defaults of a url.
func (u *URL) SetDefaults() {
	u.StatusCodes = StatusCodes{{200, 299}}
}

// MiscCheck is one [[…real_server.misc_check]]: run a program; exit 0 means
// up. With misc_dynamic, exit 2..255 sets the weight to code-2.
type MiscCheck struct {
	// MiscPath is the command line. Required.
	MiscPath string `toml:"misc_path"`
	// MiscTimeout kills the program after this long; 0 in TOML means the
	// service's delay_loop (Load fills it in).
	MiscTimeout Duration `toml:"misc_timeout"`
	// MiscDynamic lets the exit code set the weight.
	MiscDynamic bool `toml:"misc_dynamic"`
	// User runs the program; empty = the daemon's user.
	User string `toml:"user"`
	// Shell runs MiscPath with /bin/sh -c; false splits it into argv.
	Shell bool `toml:"shell"`
	// Warmup delays the first check by a random time up to this; 0 means
	// up to delay_loop.
	Warmup Duration `toml:"warmup"`
}

// DNSCheck is one [[…real_server.dns_check]]: a DNS query over UDP that
// must be answered with the query's id and RCODE NOERROR.
type DNSCheck struct {
	CheckConnect
	// Type is the query type: A, NS, CNAME, SOA, MX, TXT or AAAA. Default
	// SOA (keepalived's).
	Type string `toml:"type"`
	// Name is the name queried. Default "." (the root).
	Name string `toml:"name"`
}

// SetDefaults sets the defaults of a dns_check: keepalived's retry 3, and a
// delay_before_retry of the service's delay_loop (Load fills it in).
func (d *DNSCheck) SetDefaults() {
	d.CheckConnect.SetDefaults()
	d.Retry = 3
	d.DelayBeforeRetry = Duration{}
	d.Type = "SOA"
	d.Name = "."
}

// UDPCheck is one [[…real_server.udp_check]]: send a datagram; without
// require_reply the real is up unless an ICMP error comes back.
type UDPCheck struct {
	CheckConnect
	// Payload is the datagram, in keepalived's hex notation ("0a1b 2c");
	// empty = 32 bytes of filler.
	Payload string `toml:"payload"`
	// RequireReply: a reply must come (true), and start with these bytes
	// (a hex string, x for any nibble).
	RequireReply RequireReply `toml:"require_reply"`
	// MinReplyLength and MaxReplyLength bound the reply's length (with
	// require_reply). Defaults 0 and 255.
	MinReplyLength int `toml:"min_reply_length"`
	MaxReplyLength int `toml:"max_reply_length"`
}

// SetDefaults sets the defaults of a udp_check.
func (u *UDPCheck) SetDefaults() {
	u.CheckConnect.SetDefaults()
	u.MaxReplyLength = 255
}

// RequireReply is udp_check's require_reply: keepalived's flag with an
// optional hex string. In TOML it is a boolean or the hex string (which
// implies true).
type RequireReply struct {
	Required bool
	Data     string // hex, x for any nibble; empty = any content
}

// UnmarshalTOML implements toml.Unmarshaler.
func (r *RequireReply) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		*r = RequireReply{Required: v}
		return nil
	case string:
		if strings.TrimSpace(v) == "" {
			return errors.New(`expected true, false or the reply's first bytes in hex ("0a 1b xx"), got an empty string`)
		}
		*r = RequireReply{Required: true, Data: v}
		return nil
	}
	return fmt.Errorf(`expected true, false or the reply's first bytes in hex ("0a 1b xx"), got %s`, describe(v))
}

// MarshalTOML implements toml.Marshaler.
func (r RequireReply) MarshalTOML() ([]byte, error) {
	if r.Data != "" {
		return []byte(strconv.Quote(r.Data)), nil
	}
	return []byte(strconv.FormatBool(r.Required)), nil
}

// PingCheck is one [[…real_server.ping_check]]: an ICMP echo. It has the
// connection settings of the other checks but no ports.
type PingCheck struct {
	// ConnectIP is the address to ping; zero = the real's address.
	ConnectIP netip.Addr `toml:"connect_ip"`
	// BindTo is the source address; zero = chosen by the kernel.
	BindTo netip.Addr `toml:"bindto"`
	// ConnectTimeout bounds the wait for the reply. Default 5s.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// Retry, DelayBeforeRetry and Warmup as in CheckConnect.
	Retry            int      `toml:"retry" alias:"nb_get_retry"`
	DelayBeforeRetry Duration `toml:"delay_before_retry"`
	Warmup           Duration `toml:"warmup"`
}

// SetDefaults sets the defaults of a ping_check.
func (p *PingCheck) SetDefaults() {
	var c CheckConnect
	c.SetDefaults()
	p.ConnectTimeout, p.Retry, p.DelayBeforeRetry = c.ConnectTimeout, c.Retry, c.DelayBeforeRetry
}

// Connect returns the ping_check's settings as a CheckConnect without
// ports.
func (p PingCheck) Connect() CheckConnect {
	return CheckConnect{ConnectIP: p.ConnectIP, BindTo: p.BindTo, ConnectTimeout: p.ConnectTimeout,
		Retry: p.Retry, DelayBeforeRetry: p.DelayBeforeRetry, Warmup: p.Warmup}
}

// SMTPCheck is one [[…real_server.smtp_check]]: an SMTP greeting, HELO and
// QUIT.
type SMTPCheck struct {
	CheckConnect
	// HeloName is sent with HELO. Default keepalived's
	// "smtpchecker.keepalived.org".
	HeloName string `toml:"helo_name"`
}

// SetDefaults sets the defaults of an smtp_check.
func (s *SMTPCheck) SetDefaults() {
	s.CheckConnect.SetDefaults()
	s.HeloName = "smtpchecker.keepalived.org"
}

// FileCheck is one [[…real_server.file_check]]: the real follows the
// number in a [[track_file]].
type FileCheck struct {
	// TrackFile names the [[track_file]]. Required.
	TrackFile string `toml:"track_file"`
	// Weight multiplies the number (-2147483647..2147483647); Reverse
	// negates it. When the file_check sets no weight, both come from the
	// track_file (Load fills them in; a Config built in code sets them).
	Weight  int  `toml:"weight"`
	Reverse bool `toml:"reverse"`
}
