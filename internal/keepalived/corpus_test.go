package keepalived

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/config"
	"github.com/xlb/xlb/internal/notify"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus/*/expected.toml and findings.txt from the current output")

// importCorpus imports testdata/corpus/NAME: keepalived.conf, with
// iptables.rules when there is one, for the instance named in the file
// instance when there is one.
func importCorpus(t *testing.T, dir string) *Result {
	t.Helper()
	var opts ImportOptions
	if b, err := os.ReadFile(filepath.Join(dir, "instance")); err == nil {
		opts.Instance = strings.TrimSpace(string(b))
	}
	if _, err := os.Stat(filepath.Join(dir, "iptables.rules")); err == nil {
		opts.IPTables = filepath.Join(dir, "iptables.rules")
	}
	res, err := Import(filepath.Join(dir, "keepalived.conf"), opts)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

// TestCorpus imports every configuration of testdata/corpus and compares
// the TOML and the findings with expected.toml and findings.txt; every
// output must pass config.Parse.
func TestCorpus(t *testing.T) {
	dirs, err := filepath.Glob("testdata/corpus/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res := importCorpus(t, dir)
			if _, err := config.Parse("xlb.toml", res.TOML); err != nil {
				t.Errorf("config.Parse of the output: %v", err)
			}
			golden(t, filepath.Join(dir, "expected.toml"), string(res.TOML))
			golden(t, filepath.Join(dir, "findings.txt"), findingsText(res.Findings))
		})
	}
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read golden file (go test -update writes it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s\n--- got:\n%s--- want:\n%s", file, got, want)
	}
}

// TestCorpusFull checks what the full corpus means to xlb, key by key.
func TestCorpusFull(t *testing.T) {
	res := importCorpus(t, "testdata/corpus/full")
	c := res.Config
	if n := res.Unsupported(); n != 0 {
		t.Errorf("%d unsupported findings:\n%s", n, findingsText(res.Findings))
	}

	g := c.Global
	if g.RouterID != "lb1" || !slices.Equal(g.NotificationEmail, []string{"ops@example.com", "oncall@example.com"}) ||
		g.NotificationEmailFrom != "xlb@example.com" || g.SMTPAddress() != "192.0.2.25:2525" ||
		g.SMTPHeloName != "lb1.example.com" || g.SMTPConnectTimeout.Duration != 10*time.Second {
		t.Errorf("global = %+v", g)
	}
	if want := (config.Timeouts{TCP: config.Seconds(3600), TCPFin: config.Seconds(30), TCPSyn: config.Seconds(60), UDP: config.Seconds(60)}); c.Dataplane.Timeouts != want {
		t.Errorf("timeouts = %+v", c.Dataplane.Timeouts)
	}
	if s := c.Sync; !s.Enabled || s.Interface != "eth1" || s.Port != 8849 || s.Group != netip.MustParseAddr("224.0.0.82") {
		t.Errorf("sync = %+v", s)
	}
	if want := []config.Masquerade{
		{Source: netip.MustParsePrefix("192.0.2.0/24"), OutInterface: "eth0"},
		{Source: netip.MustParsePrefix("2001:db8:2::/64"), OutInterface: "eth0"},
	}; !slices.Equal(c.Gateway.Masquerade, want) || !c.Gateway.Forwarding {
		t.Errorf("gateway = %+v", c.Gateway)
	}

	if len(c.VRRPScripts) != 2 {
		t.Fatalf("%d vrrp_scripts", len(c.VRRPScripts))
	}
	s := c.VRRPScripts[0]
	if s.Name != "chk_haproxy" || s.Script != "/usr/bin/killall -0 haproxy" || s.Interval.Duration != 2*time.Second ||
		s.Timeout.Duration != 1500*time.Millisecond || s.Weight != -20 || s.Rise != 2 || s.Fall != 3 || s.User != "nobody" {
		t.Errorf("vrrp_script = %+v", s)
	}
	if argv, _ := notify.SplitCommandLine(c.VRRPScripts[1].Script); !slices.Equal(argv, []string{"/usr/bin/test", "-e", "/run/xlb/maintenance off"}) {
		t.Errorf("chk_file argv = %q", argv)
	}

	sg := c.VRRPSyncGroups[0]
	if sg.Name != "VG1" || !slices.Equal(sg.Group, []string{"VI_4", "VI_6"}) || !sg.SMTPAlert ||
		sg.NotifyMaster != "/etc/xlb/notify.sh master" || sg.NotifyBackup != "/etc/xlb/notify.sh" ||
		sg.NotifyFault != "/etc/xlb/notify.sh fault" || sg.NotifyStop != "/etc/xlb/notify.sh stop" || sg.Notify != "/etc/xlb/notify-all.sh" {
		t.Errorf("sync group = %+v", sg)
	}

	v4, v6 := c.VRRPInstances[0], c.VRRPInstances[1]
	if v4.State != "BACKUP" || v4.Interface != "eth0" || v4.VirtualRouterID != 51 || v4.Priority != 150 || v4.Version != 2 ||
		v4.AdvertInt.Duration != time.Second || v4.Authentication.AuthPass != "s3cret" || v4.NoPreempt ||
		v4.PreemptDelay.Duration != 30*time.Second || !v4.SMTPAlert || v4.NotifyMaster != "/etc/xlb/instance.sh master" {
		t.Errorf("VI_4 = %+v", v4)
	}
	if got := vipStrings(v4.VirtualIPAddress); !slices.Equal(got, []string{"203.0.113.10/24 dev eth0 label eth0:vip", "203.0.113.11/32"}) {
		t.Errorf("VI_4 virtual_ipaddress = %q", got)
	}
	if got := vipStrings(v4.VirtualIPAddressExcluded); !slices.Equal(got, []string{"192.0.2.1/24 dev eth1 brd 192.0.2.255 scope link"}) {
		t.Errorf("VI_4 virtual_ipaddress_excluded = %q", got)
	}
	if v4.UnicastSrcIP != netip.MustParseAddr("203.0.113.2") || !slices.Equal(v4.UnicastPeer, []netip.Addr{netip.MustParseAddr("203.0.113.3")}) {
		t.Errorf("VI_4 unicast = %s %v", v4.UnicastSrcIP, v4.UnicastPeer)
	}
	if !slices.Equal(v4.TrackInterface, []config.TrackInterface{{Name: "eth1", Weight: -50}, {Name: "eth0"}}) {
		t.Errorf("VI_4 track_interface = %+v", v4.TrackInterface)
	}
	// chk_haproxy's own weight applies where track_script gives none.
	if !slices.Equal(v4.TrackScript, []config.TrackScript{{Name: "chk_haproxy", Weight: -20}, {Name: "chk_file", Weight: 10, WeightSet: true}}) {
		t.Errorf("VI_4 track_script = %+v", v4.TrackScript)
	}
	// garp_master_delay and _refresh come from global_defs.
	if v4.GARPMasterDelay.Duration != 2*time.Second || v4.GARPMasterRepeat != 3 || v4.GARPMasterRefresh.Duration != time.Minute || v4.GARPMasterRefreshRepeat != 2 {
		t.Errorf("VI_4 garp = %s %d %s %d", v4.GARPMasterDelay, v4.GARPMasterRepeat, v4.GARPMasterRefresh, v4.GARPMasterRefreshRepeat)
	}
	// global lvs_sync_daemon names VI_4.
	if v4.LVSSyncDaemonInterface != "eth1" {
		t.Errorf("VI_4 lvs_sync_daemon_interface = %q", v4.LVSSyncDaemonInterface)
	}
	if v6.Version != 3 || v6.AdvertInt.Duration != 100*time.Millisecond || !v6.Accept || !v6.NoPreempt || v6.State != "BACKUP" ||
		v6.NotifyBackup != "/etc/xlb/notify.sh backup" || !v6.IPv6() || v6.GARPMasterDelay.Duration != 2*time.Second {
		t.Errorf("VI_6 = %+v", v6)
	}

	if len(c.VirtualServers) != 3 {
		t.Fatalf("%d virtual servers", len(c.VirtualServers))
	}
	web := c.VirtualServers[0]
	if web.ServiceKey().String() != "TCP 203.0.113.10:443" || web.LBAlgo != "mh" || web.LBKind != "NAT" || !web.MHPort || !web.MHFallback ||
		web.PersistenceTimeout.Duration != 5*time.Minute || web.PersistenceGranularity != 24 || web.DelayLoop.Duration != 5*time.Second ||
		web.VirtualHost != "www.example.com" || web.Quorum != 2 || web.Hysteresis != 1 || web.QuorumUp != "/etc/xlb/quorum.sh up" ||
		web.QuorumDown != "/etc/xlb/quorum.sh down" || !web.Alpha || !web.Omega || !web.InhibitOnFailure ||
		web.SorryServer != netip.MustParseAddrPort("192.0.2.200:443") || !web.SorryServerInhibit || !web.HASuspend {
		t.Errorf("web = %+v", web)
	}
	r0, r1 := web.RealServers[0], web.RealServers[1]
	if r0.Weight != 3 || r0.Port != 443 || r0.NotifyUp != "/etc/xlb/real.sh up" || r0.NotifyDown != "/etc/xlb/real.sh down" || !r0.InhibitOnFailure {
		t.Errorf("real 0 = %+v", r0)
	}
	ssl := r0.SSLGet[0]
	if len(ssl.URLs) != 2 || ssl.URLs[0].StatusCodes.String() != "200 300-302" || ssl.URLs[1].Digest != "9b3a0c85a887a256d6939da88aabd8cd" ||
		ssl.URLs[1].VirtualHost != "static.example.com" || ssl.ConnectIP != netip.MustParseAddr("192.0.2.110") || ssl.ConnectPort != 8443 ||
		ssl.BindTo != netip.MustParseAddr("192.0.2.2") || ssl.BindPort != 40000 || ssl.ConnectTimeout.Duration != 3*time.Second ||
		ssl.Retry != 4 || ssl.DelayBeforeRetry.Duration != 500*time.Millisecond || ssl.Warmup.Duration != 2*time.Second || !ssl.EnableSNI {
		t.Errorf("ssl_get = %+v", ssl)
	}
	if tcp := r0.TCPCheck[0]; tcp.ConnectPort != 22 {
		t.Errorf("tcp_check = %+v", tcp)
	}
	if r1.Port != 8443 || r1.Weight != 1 || !r1.InhibitOnFailure {
		t.Errorf("real 1 = %+v", r1)
	}
	misc := r1.MiscCheck[0]
	if misc.MiscPath != "/usr/local/bin/check_web 192.0.2.101" || misc.MiscTimeout.Duration != 3*time.Second || !misc.MiscDynamic || misc.User != "nobody" || misc.Shell {
		t.Errorf("misc_check = %+v", misc)
	}
	// HTTP_GET's delay_before_retry is keepalived's 3 s, not xlb's 1 s.
	if h := r1.HTTPGet[0]; h.URLs[0].Path != "/" || h.VirtualHost != "www.example.com" || h.DelayBeforeRetry.Duration != 3*time.Second || h.ConnectPort != 8443 {
		t.Errorf("http_get = %+v", h)
	}

	// The included services.
	dns := c.VirtualServers[1]
	if dns.ServiceKey().String() != "UDP 203.0.113.10:53" || dns.LBAlgo != "rr" || dns.RealServers[1].Weight != 0 || dns.RealServers[0].Weight != 1 ||
		dns.RealServers[0].InhibitOnFailure || !dns.RealServers[1].InhibitOnFailure {
		t.Errorf("dns = %+v", dns)
	}
	v6s := c.VirtualServers[2]
	if v6s.ServiceKey().String() != "TCP [2001:db8:1::10]:80" || v6s.LBAlgo != "sh" || v6s.PersistenceGranularity != 48 ||
		v6s.SorryServer != netip.MustParseAddrPort("[2001:db8:2::200]:80") || v6s.RealServers[0].TCPCheck[0].Retry != 2 {
		t.Errorf("v6 = %+v", v6s)
	}
}

func vipStrings(vips []config.VIP) []string {
	out := make([]string, len(vips))
	for i, v := range vips {
		out[i] = v.String()
	}
	return out
}

// TestCorpusSemantics checks the decisions keepalived takes on its own,
// which the import has to spell out for xlb.
func TestCorpusSemantics(t *testing.T) {
	res := importCorpus(t, "testdata/corpus/semantics")
	c := res.Config
	if n := res.Unsupported(); n != 0 {
		t.Errorf("%d unsupported findings:\n%s", n, findingsText(res.Findings))
	}
	byName := map[string]config.VRRPInstance{}
	for _, in := range c.VRRPInstances {
		byName[in.Name] = in
	}
	// state MASTER without priority is the address owner; nopreempt and
	// preempt_delay do not apply to it.
	if o := byName["OWNER"]; o.Priority != 255 || o.State != "MASTER" || o.NoPreempt || o.PreemptDelay.Duration != 0 || !o.SMTPAlert {
		t.Errorf("OWNER = %+v", o)
	}
	// priority 255 without state starts as MASTER; VRRPv2 rounds the
	// advert interval; the password is cut to 8 characters.
	r := byName["ROUNDED"]
	if r.State != "MASTER" || r.AdvertInt.Duration != 2*time.Second || r.Authentication.AuthPass != "abcdefgh" {
		t.Errorf("ROUNDED = %+v", r)
	}
	// A repeated address and one of the other family are ignored, as are
	// repeated peers.
	if got := vipStrings(r.VirtualIPAddress); !slices.Equal(got, []string{"203.0.113.2/24 brd 203.0.113.0", "203.0.113.3/32"}) {
		t.Errorf("ROUNDED virtual_ipaddress = %q", got)
	}
	if !slices.Equal(r.UnicastPeer, []netip.Addr{netip.MustParseAddr("203.0.113.9")}) {
		t.Errorf("ROUNDED unicast_peer = %v", r.UnicastPeer)
	}
	// IPv6 runs VRRPv3 without authentication, in centiseconds; the first
	// state MASTER wins over a later BACKUP; the later priority wins.
	v6 := byName["V6"]
	if v6.Version != 3 || v6.Authentication.AuthType != "" || v6.AdvertInt.Duration != 120*time.Millisecond ||
		v6.State != "MASTER" || v6.Priority != 120 || !v6.Accept || vipStrings(v6.VirtualIPAddress)[0] != "2001:db8::1/64" {
		t.Errorf("V6 = %+v", v6)
	}
	v2 := byName["V2ACCEPT"]
	if v2.Accept || v2.SMTPAlert || len(v2.TrackScript) != 0 || v2.State != "BACKUP" || v2.Priority != 90 {
		t.Errorf("V2ACCEPT = %+v", v2)
	}
	if argv, _ := notify.SplitCommandLine(v2.Notify); !slices.Equal(argv, []string{"/etc/xlb/notify.sh", "two words"}) {
		t.Errorf("V2ACCEPT notify argv = %q", argv)
	}
	// Unknown and doubly grouped instances are left out, an empty group
	// is removed.
	if len(c.VRRPSyncGroups) != 1 || !slices.Equal(c.VRRPSyncGroups[0].Group, []string{"OWNER", "ROUNDED"}) {
		t.Errorf("sync groups = %+v", c.VRRPSyncGroups)
	}

	vs := c.VirtualServers[0]
	if vs.PersistenceTimeout.Duration != 6*time.Minute || vs.SorryServer != netip.MustParseAddrPort("192.0.2.99:80") || vs.MHPort {
		t.Errorf("virtual_server = %+v", vs)
	}
	r0 := vs.RealServers[0]
	if r0.Weight != 5 || vs.RealServers[1].Weight != 2 || vs.RealServers[2].Weight != 5 || vs.RealServers[2].Port != 80 {
		t.Errorf("weights and ports = %d %d %d :%d", r0.Weight, vs.RealServers[1].Weight, vs.RealServers[2].Weight, vs.RealServers[2].Port)
	}
	// Check settings come from the check, else the real, else the service.
	h, s, tc := r0.HTTPGet[0], r0.SSLGet[0], r0.TCPCheck[0]
	for _, cc := range []config.CheckConnect{h.CheckConnect, s.CheckConnect, tc.CheckConnect} {
		if cc.Retry != 1 || cc.ConnectTimeout.Duration != 4*time.Second || cc.DelayBeforeRetry.Duration != 2*time.Second {
			t.Errorf("check connect = %+v", cc)
		}
	}
	if h.VirtualHost != "rs.example.com" || s.VirtualHost != "rs.example.com" || s.EnableSNI {
		t.Errorf("virtualhost %q %q, sni %t", h.VirtualHost, s.VirtualHost, s.EnableSNI)
	}
	if !h.URLs[0].StatusCodes.Contains(204) || !h.URLs[0].StatusCodes.Contains(200) || h.URLs[0].StatusCodes.Contains(201) {
		t.Errorf("status codes = %s", h.URLs[0].StatusCodes)
	}
	if m := r0.MiscCheck[0]; m.MiscPath != "/bin/check --fast" || m.User != "nobody" {
		t.Errorf("misc_check = %+v", m)
	}
	if len(vs.RealServers[1].HTTPGet) != 0 {
		t.Errorf("an HTTP_GET without url was imported")
	}
}

// TestCorpusUnsupported checks that every item xlb cannot express is
// reported as not supported, and that the rest still imports.
func TestCorpusUnsupported(t *testing.T) {
	res := importCorpus(t, "testdata/corpus/unsupported")
	reported := map[string]bool{}
	for _, f := range res.Findings {
		if f.Severity == Unsupported {
			reported[f.Keyword] = true
		}
	}
	for _, kw := range []string{
		"virtual_server_group", "virtual_server", "BFD_CHECK", "authentication", "use_vmac",
		"lb_algo", "static_ipaddress", "track_file", "regex", "regex_stack", "MISC_CHECK", "inhibit_on_failure",
		"enable_snmp_vrrp", "lvs_sync_daemon", "-A INPUT -p tcp --dport 22 -j ACCEPT", ":INPUT DROP",
	} {
		if !reported[kw] {
			t.Errorf("%s is not reported as not supported", kw)
		}
	}
	out := string(res.TOML)
	for _, want := range []string{
		"# xlb: not imported: virtual_server fwmark 1 (",
		"# xlb: not imported: virtual_server 203.0.113.20 25 (lb_kind DR: xlb forwards by NAT only):",
		"# xlb: not imported: virtual_server 203.0.113.20 443 (lvs_method TUN: xlb forwards by NAT only):",
		"# xlb: not imported: BFD_CHECK (",
		"#       auth_type AH",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	c := res.Config
	if len(c.VirtualServers) != 1 || len(c.VRRPInstances) != 1 || len(c.Gateway.Masquerade) != 1 {
		t.Errorf("imported %d services, %d instances, %d masquerade rules", len(c.VirtualServers), len(c.VRRPInstances), len(c.Gateway.Masquerade))
	}
}

// TestCorpusCheckers checks what the DNS, UDP, PING, SMTP and FILE checks,
// track files and HTTP extras of testdata/corpus/checkers mean to xlb.
func TestCorpusCheckers(t *testing.T) {
	res := importCorpus(t, "testdata/corpus/checkers")
	c := res.Config
	if n := res.Unsupported(); n != 0 {
		t.Errorf("%d unsupported findings:\n%s", n, findingsText(res.Findings))
	}
	if len(c.TrackFiles) != 2 {
		t.Fatalf("track files %+v, want maint and drain (nofile has no file)", c.TrackFiles)
	}
	if f := c.TrackFiles[0]; f.Name != "maint" || f.File != "/run/xlb/maint" || f.Weight != -10 || f.Reverse || !f.InitFile || f.InitValue != 0 || f.InitOverwrite {
		t.Errorf("track_file maint = %+v", f)
	}
	if f := c.TrackFiles[1]; f.Name != "drain" || f.Weight != 0 || !f.Reverse || !f.InitFile || f.InitValue != 1 || !f.InitOverwrite {
		t.Errorf("track_file drain = %+v", f)
	}

	rs := c.VirtualServers[0].RealServers[0]
	if len(rs.DNSCheck) != 2 || len(rs.UDPCheck) != 2 || len(rs.PingCheck) != 1 || len(rs.FileCheck) != 2 {
		t.Fatalf("real 192.0.2.100 checks: %+v", rs)
	}
	// The service's retry 2 applies to checks that set none; DNS_CHECK's
	// delay_before_retry is the delay_loop; the first name wins.
	d0, d1 := rs.DNSCheck[0], rs.DNSCheck[1]
	if d0.Type != "A" || d0.Name != "www.example.com" || d0.Retry != 2 || d0.DelayBeforeRetry.Duration != 10*time.Second || d0.ConnectTimeout.Duration != 2*time.Second || d0.ConnectPort != 53 {
		t.Errorf("dns_check[0] = %+v", d0)
	}
	if d1.Type != "SOA" || d1.Name != "example.com" {
		t.Errorf("dns_check[1] = %+v", d1)
	}
	u0, u1 := rs.UDPCheck[0], rs.UDPCheck[1]
	if u0.Payload != "0a 1b2c" || u0.RequireReply != (config.RequireReply{Required: true, Data: "0a xx"}) || u0.MinReplyLength != 2 || u0.MaxReplyLength != 512 {
		t.Errorf("udp_check[0] = %+v", u0)
	}
	if u1.ConnectPort != 5353 || u1.RequireReply.Required || u1.MinReplyLength != 0 {
		t.Errorf("udp_check[1] = %+v", u1)
	}
	if p := rs.PingCheck[0]; p.ConnectIP != netip.MustParseAddr("192.0.2.110") || p.Retry != 3 {
		t.Errorf("ping_check = %+v", p)
	}
	if f := rs.FileCheck[0]; f.TrackFile != "maint" || f.Weight != -10 || f.Reverse {
		t.Errorf("file_check[0] = %+v (weight from the track file)", f)
	}
	if f := rs.FileCheck[1]; f.TrackFile != "drain" || f.Weight != 5 || !f.Reverse {
		t.Errorf("file_check[1] = %+v", f)
	}

	// SMTP_CHECK with connection settings is a check; one with host blocks
	// only is one check per host, with the block's timers.
	smtp := c.VirtualServers[1].RealServers[0].SMTPCheck
	if len(smtp) != 3 {
		t.Fatalf("%d smtp_checks, want 3", len(smtp))
	}
	if s := smtp[0]; s.HeloName != "lb1.example.com" || s.ConnectTimeout.Duration != 3*time.Second || s.ConnectPort != 25 {
		t.Errorf("smtp_check[0] = %+v", s)
	}
	if s := smtp[1]; s.ConnectIP != netip.MustParseAddr("192.0.2.102") || s.ConnectPort != 25 || s.Retry != 4 || s.HeloName != "smtpchecker.keepalived.org" {
		t.Errorf("smtp_check[1] = %+v", s)
	}
	if s := smtp[2]; s.ConnectIP != netip.MustParseAddr("192.0.2.103") || s.ConnectPort != 587 || s.ConnectTimeout.Duration != 7*time.Second || s.Retry != 4 {
		t.Errorf("smtp_check[2] = %+v", s)
	}

	h := c.VirtualServers[2].RealServers[0].HTTPGet[0]
	if h.HTTPProtocol != "1.0C" || h.URLs[0].Regex != "(?im)status: *ok" || h.URLs[0].RegexNoMatch ||
		h.URLs[1].Regex != "maintenance" || !h.URLs[1].RegexNoMatch {
		t.Errorf("http_get = %+v", h)
	}
}
