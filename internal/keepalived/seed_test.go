package keepalived

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/config"
)

// importSeed imports testdata/seed, a copy of /work/shared/seed: the
// keepalived.conf and iptables.rules xlb's users arrive with.
func importSeed(t *testing.T) *Result {
	t.Helper()
	res, err := Import("testdata/seed/keepalived.conf", ImportOptions{IPTables: "testdata/seed/iptables.rules"})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

// TestSeed checks the seed's import field by field, as issue 9 lists them.
func TestSeed(t *testing.T) {
	res := importSeed(t)
	c := res.Config
	if c == nil {
		t.Fatal("no Config")
	}

	// The output is what xlbd check parses.
	again, err := config.Parse("xlb.toml", res.TOML)
	if err != nil {
		t.Fatalf("config.Parse of the output: %v", err)
	}
	if !again.Equal(c) {
		t.Error("Result.Config differs from config.Parse of Result.TOML")
	}

	if c.Global.RouterID != "LVS_MASTER" {
		t.Errorf("router_id = %q", c.Global.RouterID)
	}
	if !slices.Equal(c.Global.NotificationEmail, []string{"mick@mydomain.com"}) {
		t.Errorf("notification_email = %q", c.Global.NotificationEmail)
	}
	if c.Global.NotificationEmailFrom != "keepalived@mydomain.com" || c.Global.SMTPServer != "localhost" ||
		c.Global.SMTPConnectTimeout.Duration != 30*time.Second {
		t.Errorf("mail settings = %q %q %s", c.Global.NotificationEmailFrom, c.Global.SMTPServer, c.Global.SMTPConnectTimeout)
	}

	if len(c.VRRPInstances) != 2 {
		t.Fatalf("%d vrrp_instances, want 2", len(c.VRRPInstances))
	}
	pub, gw := c.VRRPInstances[0], c.VRRPInstances[1]
	checkInstance(t, pub, "VI_PUBLIC", "eth0", 1, "xxx", "200.200.200.200/24")
	if pub.SMTPAlert {
		t.Error("VI_PUBLIC smtp_alert = true, want false")
	}
	if pub.AdvertInt.Duration != time.Second {
		t.Errorf("VI_PUBLIC advert_int = %s", pub.AdvertInt)
	}
	// keepalived sends the first 8 characters of "ThisPassword".
	checkInstance(t, gw, "VI_GATEWAY", "eth1", 2, "ThisPass", "192.168.1.1/24")
	if !gw.SMTPAlert {
		t.Error("VI_GATEWAY smtp_alert = false, want true")
	}

	if len(c.VRRPSyncGroups) != 1 {
		t.Fatalf("%d vrrp_sync_groups, want 1", len(c.VRRPSyncGroups))
	}
	if g := c.VRRPSyncGroups[0]; g.Name != "VG1" || !slices.Equal(g.Group, []string{"VI_PUBLIC", "VI_GATEWAY"}) {
		t.Errorf("sync group = %s %q", g.Name, g.Group)
	}

	// keepalived keeps the first lvs_sync_daemon_interface (VI_PUBLIC's
	// eth0) and ignores VI_GATEWAY's eth2.
	if !c.Sync.Enabled || c.Sync.Interface != "eth0" {
		t.Errorf("sync = %+v, want enabled on eth0", c.Sync)
	}
	if pub.LVSSyncDaemonInterface != "eth0" || gw.LVSSyncDaemonInterface != "" {
		t.Errorf("lvs_sync_daemon_interface = %q, %q", pub.LVSSyncDaemonInterface, gw.LVSSyncDaemonInterface)
	}

	if len(c.VirtualServers) != 1 {
		t.Fatalf("%d virtual_servers, want 1", len(c.VirtualServers))
	}
	vs := c.VirtualServers[0]
	if vs.Address != netip.MustParseAddr("200.200.200.200") || vs.Port != 80 || vs.Protocol != "TCP" {
		t.Errorf("virtual_server = %s %d %s", vs.Address, vs.Port, vs.Protocol)
	}
	if vs.LBAlgo != "wlc" || vs.LBKind != "NAT" || vs.PersistenceTimeout.Duration != 50*time.Second {
		t.Errorf("virtual_server = %s %s persistence %s", vs.LBAlgo, vs.LBKind, vs.PersistenceTimeout)
	}
	if vs.DelayLoop.Duration != 30*time.Second || vs.VirtualHost != "www.mydomain.com" || vs.NATMask != "255.255.255.0" {
		t.Errorf("virtual_server delay_loop %s virtualhost %q nat_mask %q", vs.DelayLoop, vs.VirtualHost, vs.NATMask)
	}
	if len(vs.RealServers) != 2 {
		t.Fatalf("%d real_servers, want 2", len(vs.RealServers))
	}
	for i, want := range []string{"192.168.1.100", "192.168.1.101"} {
		rs := vs.RealServers[i]
		if rs.Address != netip.MustParseAddr(want) || rs.Port != 80 || rs.Weight != 1 {
			t.Errorf("real_server[%d] = %s:%d weight %d", i, rs.Address, rs.Port, rs.Weight)
		}
		if len(rs.HTTPGet) != 1 || len(rs.SSLGet)+len(rs.TCPCheck)+len(rs.MiscCheck) != 0 {
			t.Fatalf("real_server[%d] checks = %+v", i, rs)
		}
		h := rs.HTTPGet[0]
		if len(h.URLs) != 1 || h.URLs[0].Path != "/icons/unknown.gif" || h.URLs[0].StatusCodes.String() != "200" {
			t.Errorf("real_server[%d] url = %+v", i, h.URLs)
		}
		if h.ConnectTimeout.Duration != 20*time.Second || h.Retry != 10 || h.DelayBeforeRetry.Duration != 30*time.Second || h.ConnectPort != 80 {
			t.Errorf("real_server[%d] http_get = timeout %s retry %d delay %s port %d",
				i, h.ConnectTimeout, h.Retry, h.DelayBeforeRetry, h.ConnectPort)
		}
	}

	if !c.Gateway.Forwarding {
		t.Error("gateway.forwarding = false")
	}
	if want := []config.Masquerade{{OutInterface: "eth0"}}; !slices.Equal(c.Gateway.Masquerade, want) {
		t.Errorf("masquerade = %+v, want %+v", c.Gateway.Masquerade, want)
	}
	// XDP runs where the VIP is and where the reals' gateway is.
	if !slices.Equal(c.Dataplane.Interfaces, []string{"eth0", "eth1"}) {
		t.Errorf("dataplane.interfaces = %q", c.Dataplane.Interfaces)
	}

	// Nothing in the seed is unsupported; what differs is reported.
	if n := res.Unsupported(); n != 0 {
		t.Errorf("%d unsupported findings: %v", n, res.Findings)
	}
	wantFindings := []string{
		"keepalived.conf:41: lvs_sync_daemon_interface: warning",
		"keepalived.conf:50: auth_pass: warning",
		"keepalived.conf:58: dataplane.interfaces: warning",
		"iptables.rules:6: -A INPUT -i lo -j ACCEPT: warning",
		"iptables.rules:7: -A INPUT -i eth0 -j ACCEPT: warning",
		"iptables.rules:8: -A INPUT -i eth1 -j ACCEPT: warning",
		"iptables.rules:9: -A FORWARD -i eth1 -j ACCEPT: warning",
	}
	// keepalived mails real server changes by default when mail is set up,
	// as the seed's is: the import keeps that.
	if !c.VirtualServers[0].SMTPAlert || !c.VirtualServers[0].RealServers[1].SMTPAlert {
		t.Error("virtual_server smtp_alert not carried over from keepalived's default")
	}
	if len(res.Findings) != len(wantFindings) {
		t.Errorf("findings:\n%s", findingsText(res.Findings))
	}
	for i, f := range res.Findings {
		if i < len(wantFindings) && !strings.Contains(f.String(), wantFindings[i]) {
			t.Errorf("finding %d = %s, want %s…", i, f, wantFindings[i])
		}
	}
}

func checkInstance(t *testing.T, in config.VRRPInstance, name, iface string, vrid int, pass, vip string) {
	t.Helper()
	if in.Name != name || in.State != "MASTER" || in.Interface != iface || in.VirtualRouterID != vrid || in.Priority != 200 {
		t.Errorf("%s = %s state %s interface %s vrid %d priority %d", name, in.Name, in.State, in.Interface, in.VirtualRouterID, in.Priority)
	}
	if in.Version != 2 {
		t.Errorf("%s version = %d", name, in.Version)
	}
	if in.Authentication != (config.Authentication{AuthType: "PASS", AuthPass: pass}) {
		t.Errorf("%s authentication = %+v", name, in.Authentication)
	}
	if len(in.VirtualIPAddress) != 1 || in.VirtualIPAddress[0].String() != vip {
		t.Errorf("%s virtual_ipaddress = %v, want [%s]", name, in.VirtualIPAddress, vip)
	}
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestSeedComments checks that the operator's comments are kept next to
// what they describe.
func TestSeedComments(t *testing.T) {
	out := string(importSeed(t).TOML)
	for _, want := range []string{
		"# name associated with this load balancer LVS_BACKUP is my backup\nrouter_id = \"LVS_MASTER\"",
		"# interface connected to the public lan\ninterface = \"eth0\"",
		"  # the public ip address associated with the web farm\n  \"200.200.200.200/24\",",
		"# public ip address associated with the webserver\n",
		"# HTTP 1.1 hostname\nvirtualhost = \"www.mydomain.com\"",
		"# look for a small image that you know will always exist\npath = \"/icons/unknown.gif\"",
		"# if web server okay you will get a status code 200\nstatus_code = 200",
		"# web server runs of port 80\nconnect_port = 80",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
