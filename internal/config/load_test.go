package config

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.golden from the current output")

// TestBadFixtures parses every testdata/bad/NAME.toml and compares the
// reported problems, one per line, with testdata/bad/NAME.golden.
func TestBadFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad fixtures: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			c, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want errors", file)
			}
			if c != nil {
				t.Errorf("Load returned a Config along with errors")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".toml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got:\n%s--- want:\n%s", golden, got, want)
			}
			// Every problem is an *Error with a line.
			for _, e := range Errors(err) {
				if e.File != file || e.Line == 0 {
					t.Errorf("problem without file or line: %#v", e)
				}
			}
		})
	}
}

// TestGoodFixtures checks that every good fixture loads and survives
// Marshal → Parse unchanged.
func TestGoodFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good fixtures: %v", err)
	}
	files = append(files, "testdata/seed.toml")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			roundTrip(t, c)
		})
	}
}

// roundTrip asserts that Marshal then Parse gives back c, and that a second
// Marshal writes the same bytes.
func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	b, err := Marshal(c)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := Parse("marshalled.toml", b)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, b)
	}
	if !c.Equal(back) {
		t.Errorf("round trip changed the config\nbefore: %+v\nafter:  %+v\ntoml:\n%s", *c, *back, b)
	}
	b2, err := Marshal(back)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if string(b) != string(b2) {
		t.Errorf("Marshal is not stable:\n%s\n---\n%s", b, b2)
	}
}

func TestSeed(t *testing.T) {
	c, err := Load("testdata/seed.toml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	vip := netip.MustParseAddr("203.0.113.10")

	if c.Global.RouterID != "LVS_MASTER" || c.Global.SMTPAddress() != "localhost:25" ||
		c.Global.SMTPConnectTimeout.Duration != 30*time.Second ||
		!reflect.DeepEqual(c.Global.NotificationEmail, []string{"mick@example.com"}) {
		t.Errorf("global = %+v", c.Global)
	}
	if !reflect.DeepEqual(c.Dataplane.Interfaces, []string{"eth0", "eth1"}) {
		t.Errorf("dataplane.interfaces = %v", c.Dataplane.Interfaces)
	}
	if !c.Gateway.Forwarding || len(c.Gateway.Masquerade) != 1 ||
		c.Gateway.Masquerade[0] != (Masquerade{OutInterface: "eth0"}) {
		t.Errorf("gateway = %+v", c.Gateway)
	}
	if !c.Sync.Enabled || c.Sync.Interface != "eth0" || c.Sync.Group != DefaultSyncGroup || c.Sync.Port != 8848 {
		t.Errorf("sync = %+v", c.Sync)
	}
	if len(c.VRRPSyncGroups) != 1 || !reflect.DeepEqual(c.VRRPSyncGroups[0].Group, []string{"VI_PUBLIC", "VI_GATEWAY"}) {
		t.Errorf("vrrp_sync_group = %+v", c.VRRPSyncGroups)
	}

	if len(c.VRRPInstances) != 2 {
		t.Fatalf("%d vrrp_instances, want 2", len(c.VRRPInstances))
	}
	pub, gw := c.VRRPInstances[0], c.VRRPInstances[1]
	for _, tc := range []struct {
		in    VRRPInstance
		name  string
		iface string
		vrid  int
		vip   string
		pass  string
		alert bool
	}{
		{pub, "VI_PUBLIC", "eth0", 1, "203.0.113.10/24", "xxx", false},
		{gw, "VI_GATEWAY", "eth1", 2, "192.0.2.1/24", "ThisPass", true},
	} {
		in := tc.in
		if in.Name != tc.name || in.State != "MASTER" || in.Interface != tc.iface || in.VirtualRouterID != tc.vrid ||
			in.Priority != 200 || in.Version != 2 || in.AdvertInt.Duration != time.Second ||
			in.Authentication != (Authentication{"PASS", tc.pass}) || in.SMTPAlert != tc.alert ||
			len(in.VirtualIPAddress) != 1 || in.VirtualIPAddress[0] != (VIP{Prefix: netip.MustParsePrefix(tc.vip)}) {
			t.Errorf("vrrp_instance %s = %+v", tc.name, in)
		}
	}

	if len(c.VirtualServers) != 1 {
		t.Fatalf("%d virtual_servers, want 1", len(c.VirtualServers))
	}
	vs := c.VirtualServers[0]
	if vs.ServiceKey() != (ServiceKey{vip, 80, "TCP"}) || vs.LBAlgo != "wlc" || vs.LBKind != "NAT" ||
		vs.DelayLoop.Duration != 30*time.Second || vs.PersistenceTimeout.Duration != 50*time.Second ||
		vs.PersistenceGranularity != 32 || vs.VirtualHost != "www.example.com" || vs.Quorum != 1 {
		t.Errorf("virtual_server = %+v", vs)
	}
	if len(vs.RealServers) != 2 {
		t.Fatalf("%d real_servers, want 2", len(vs.RealServers))
	}
	for i, addr := range []string{"192.0.2.100", "192.0.2.101"} {
		rs := vs.RealServers[i]
		if rs.Key() != netip.AddrPortFrom(netip.MustParseAddr(addr), 80) || rs.Weight != 1 || len(rs.HTTPGet) != 1 {
			t.Errorf("real_server[%d] = %+v", i, rs)
			continue
		}
		h := rs.HTTPGet[0]
		want := HTTPGet{
			CheckConnect: CheckConnect{
				ConnectPort: 80, ConnectTimeout: Seconds(20), Retry: 10,
				DelayBeforeRetry: Seconds(30),
			},
			URLs:         []URL{{Path: "/icons/unknown.gif", StatusCodes: StatusCodes{{200, 200}}}},
			HTTPProtocol: "1.1",
		}
		if !reflect.DeepEqual(h, want) {
			t.Errorf("real_server[%d].http_get[0] = %+v, want %+v", i, h, want)
		}
	}

	if err := CheckHost(c, fakeLinks("lo", "eth0", "eth1")); err != nil {
		t.Errorf("CheckHost with eth0 and eth1: %v", err)
	}
}

func TestFullFixture(t *testing.T) {
	c, err := Load("testdata/good/full.toml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Global.LogLevel != "debug" || c.Global.SMTPAddress() != "192.0.2.25:2525" {
		t.Errorf("global = %+v", c.Global)
	}
	d := c.Dataplane
	if d.XDPMode != "generic" || d.GCInterval.Duration != 5*time.Second || d.SchedulerTick.Duration != 50*time.Millisecond ||
		d.Timeouts != (Timeouts{Duration{time.Hour}, Seconds(30), Seconds(10), Seconds(60.5)}) || !d.KeepOnExit {
		t.Errorf("dataplane = %+v", d)
	}
	if m := c.Gateway.Masquerade; len(m) != 2 || m[0].Source != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("gateway.masquerade = %+v", m)
	}
	// lvs_sync_daemon_interface is an alias of interface; peers mean no
	// default group.
	if s := c.Sync; s.Interface != "eth1" || s.Group.IsValid() || len(s.Peers) != 1 || s.Port != 8849 {
		t.Errorf("sync = %+v", s)
	}
	if s := c.VRRPScripts[1]; s.Interval.Duration != time.Second || s.Timeout.Duration != 500*time.Millisecond || s.Rise != 1 {
		t.Errorf("vrrp_script[1] = %+v", s)
	}
	if s := c.VRRPScripts[0]; s.Timeout != s.Interval {
		t.Errorf("vrrp_script timeout does not default to interval: %+v", s)
	}

	v4, v6 := c.VRRPInstances[0], c.VRRPInstances[1]
	if v4.State != "MASTER" || v4.Authentication.AuthType != "PASS" || v4.IPv6() {
		t.Errorf("vrrp_instance VI_4 = %+v", v4)
	}
	wantTrack := []TrackScript{{"chk_haproxy", -20, false}, {"chk_file", 10, true}}
	if !reflect.DeepEqual(v4.TrackScript, wantTrack) {
		t.Errorf("track_script = %+v, want %+v (weights resolved from vrrp_script)", v4.TrackScript, wantTrack)
	}
	wantFiles := []TrackFileRef{{Name: "maint", Weight: -2}, {Name: "drain", Weight: -60, Reverse: true, WeightSet: true}}
	if !reflect.DeepEqual(v4.TrackFile, wantFiles) {
		t.Errorf("track_file = %+v, want %+v (weight resolved from [[track_file]])", v4.TrackFile, wantFiles)
	}
	if !reflect.DeepEqual(v4.TrackInterface, []TrackInterface{{"eth1", -50}, {"eth0", 0}}) {
		t.Errorf("track_interface = %+v", v4.TrackInterface)
	}
	if got := v4.VirtualIPAddressExcluded[0]; got.Broadcast != netip.MustParseAddr("192.0.2.255") || got.Scope != "link" || got.Dev != "eth1" {
		t.Errorf("virtual_ipaddress_excluded[0] = %+v", got)
	}
	if !v6.IPv6() || v6.AdvertInt.Duration != 100*time.Millisecond || v6.Version != 3 || v6.State != "BACKUP" || v6.Priority != 100 {
		t.Errorf("vrrp_instance VI_6 = %+v", v6)
	}

	web := c.VirtualServers[0]
	if web.LBAlgo != "mh" || web.LBKind != "NAT" || web.PersistenceGranularity != 24 ||
		web.SorryServer != netip.MustParseAddrPort("192.0.2.200:8080") || web.PersistenceTimeout.Duration != 5*time.Minute {
		t.Errorf("virtual_server[0] = %+v", web)
	}
	r0, r1 := web.RealServers[0], web.RealServers[1]
	if r0.Port != 443 || r1.Port != 8443 || r0.Weight != 3 || r1.Weight != 1 {
		t.Errorf("real ports/weights: %d/%d %d/%d", r0.Port, r0.Weight, r1.Port, r1.Weight)
	}
	if !r0.InhibitOnFailure || !r1.InhibitOnFailure {
		t.Errorf("inhibit_on_failure is not inherited from the virtual_server")
	}
	ssl := r0.SSLGet[0]
	if ssl.Retry != 4 || !ssl.Verify || ssl.EnableSNI || ssl.ConnectPort != 8443 || ssl.BindPort != 40000 ||
		ssl.ConnectIP != netip.MustParseAddr("192.0.2.110") || len(ssl.URLs) != 2 {
		t.Errorf("ssl_get = %+v", ssl)
	}
	if got := ssl.URLs[0].StatusCodes; !reflect.DeepEqual(got, StatusCodes{{200, 200}, {300, 302}}) {
		t.Errorf("url[0].status_code = %v", got)
	}
	if got := ssl.URLs[1].StatusCodes; !reflect.DeepEqual(got, StatusCodes{{200, 299}}) {
		t.Errorf("url[1].status_code = %v, want the default 200-299", got)
	}
	if tc := r0.TCPCheck[0]; tc.ConnectPort != 22 || tc.ConnectTimeout.Duration != 5*time.Second || tc.Retry != 1 {
		t.Errorf("tcp_check = %+v", tc)
	}
	if m := r1.MiscCheck[0]; m.MiscTimeout != web.DelayLoop || !m.MiscDynamic || m.Shell {
		t.Errorf("misc_check[0] = %+v (misc_timeout should default to delay_loop)", m)
	}
	if m := r1.MiscCheck[1]; m.MiscTimeout.Duration != 3*time.Second || !m.Shell {
		t.Errorf("misc_check[1] = %+v", m)
	}
	if h := r1.HTTPGet[0]; h.ConnectPort != 8443 || h.URLs[0].Path != "/" {
		t.Errorf("http_get = %+v", h)
	}
	if dns := c.VirtualServers[1]; dns.Protocol != "UDP" || dns.LBAlgo != "rr" || dns.RealServers[1].Weight != 0 {
		t.Errorf("virtual_server[1] = %+v", dns)
	}
	if v6vs := c.VirtualServers[2]; v6vs.PersistenceGranularity != 48 || v6vs.LBAlgo != "sh" ||
		v6vs.SorryServer != netip.MustParseAddrPort("[2001:db8:2::200]:80") {
		t.Errorf("virtual_server[2] = %+v", v6vs)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("xlb.toml", []byte(`
[global]
router_id = "x"
[dataplane]
interfaces = ["eth0"]
[[vrrp_instance]]
name = "VI"
interface = "eth0"
virtual_router_id = 7
[[virtual_server]]
address = "203.0.113.10"
port = 80
[[virtual_server.real_server]]
address = "192.0.2.100"
[[virtual_server.real_server.http_get]]
[[virtual_server.real_server.http_get.url]]
path = "/"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Global: Global{
			RouterID: "x", SMTPConnectTimeout: Seconds(30), BPFFS: "/sys/fs/bpf/xlb",
			ControlSocket: "/run/xlb/xlbd.sock", LogLevel: "info",
		},
		Dataplane: Dataplane{
			Interfaces: []string{"eth0"}, XDPMode: "native", ConntrackMax: 262144, PersistenceMax: 65536,
			MaxServices: 1024, MaxReals: 16384, GCInterval: Seconds(2), SchedulerTick: Seconds(0.1),
			Timeouts: Timeouts{TCP: Seconds(900), TCPFin: Seconds(120), TCPSyn: Seconds(60), UDP: Seconds(300)},
		},
		Sync: Sync{Group: DefaultSyncGroup, Port: 8848},
		VRRPInstances: []VRRPInstance{{
			Name: "VI", State: "BACKUP", Interface: "eth0", VirtualRouterID: 7, Priority: 100,
			AdvertInt: Seconds(1), Version: 2, GARPMasterDelay: Seconds(5), GARPMasterRepeat: 5,
			GARPMasterRefreshRepeat: 1,
		}},
		VirtualServers: []VirtualServer{{
			Address: netip.MustParseAddr("203.0.113.10"), Port: 80, Protocol: "TCP", LBAlgo: "wlc", LBKind: "NAT",
			PersistenceGranularity: 32, DelayLoop: Seconds(60), Quorum: 1,
			RealServers: []RealServer{{
				Address: netip.MustParseAddr("192.0.2.100"), Port: 80, Weight: 1,
				HTTPGet: []HTTPGet{{
					CheckConnect: CheckConnect{ConnectPort: 80, ConnectTimeout: Seconds(5), Retry: 1, DelayBeforeRetry: Seconds(1)},
					URLs:         []URL{{Path: "/", StatusCodes: StatusCodes{{200, 299}}}},
					HTTPProtocol: "1.1",
				}},
			}},
		}},
	}
	if !c.Equal(want) {
		t.Errorf("defaults:\n got  %+v\n want %+v", *c, *want)
	}
	// A Config built in code the documented way validates.
	var built Config
	built.SetDefaults()
	built.Global.RouterID = "x"
	in := VRRPInstance{Name: "VI", Interface: "eth0", VirtualRouterID: 7}
	in.SetDefaults()
	built.VRRPInstances = append(built.VRRPInstances, in)
	if err := built.Validate(); err != nil {
		t.Errorf("Validate of a Config built in code: %v", err)
	}
}

func TestRouterIDDefaultsToHostname(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	c, err := Parse("xlb.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.RouterID != host {
		t.Errorf("router_id = %q, want the host name %q", c.Global.RouterID, host)
	}
}

// TestErrorFormat pins the message format of the package documentation.
func TestErrorFormat(t *testing.T) {
	doc := `[global]
router_id = "lb1"

[dataplane]
interfaces = ["eth0"]
xdp_mode = "native"
xdp_mod = "generic"

[[virtual_server]]
address = "203.0.113.10"
port = 80

[[virtual_server.real_server]]
address = "192.0.2.100"

[[virtual_server.real_server]]
address = "192.0.2.101"
weight = 70000
`
	_, err := Parse("xlb.toml", []byte(doc))
	want := "xlb.toml:7: dataplane.xdp_mod: unknown key\n" +
		"xlb.toml:18: virtual_server[0].real_server[1].weight: must be between 0 and 65535, got 70000"
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	errs := Errors(err)
	if len(errs) != 2 {
		t.Fatalf("Errors() = %d problems, want 2", len(errs))
	}
	if *errs[1] != (Error{File: "xlb.toml", Line: 18, Key: "virtual_server[0].real_server[1].weight", Msg: "must be between 0 and 65535, got 70000"}) {
		t.Errorf("Errors()[1] = %#v", *errs[1])
	}
	var e *Error
	if !errors.As(err, &e) || e.Key != "dataplane.xdp_mod" {
		t.Errorf("errors.As finds %v", e)
	}

	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Key: "k", Msg: "m"}, "f:3: k: m"},
		{Error{File: "f", Key: "k", Msg: "m"}, "f: k: m"},
		{Error{Key: "k", Msg: "m"}, "k: m"},
		{Error{File: "f", Line: 2, Msg: "m"}, "f:2: m"},
		{Error{Line: 2, Key: "k", Msg: "m"}, "line 2: k: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%#v.Error() = %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestValidateWithoutSource(t *testing.T) {
	var c Config
	c.SetDefaults()
	c.Global.RouterID = "x"
	vs := VirtualServer{Address: netip.MustParseAddr("203.0.113.10"), Port: 80}
	vs.SetDefaults()
	rs := RealServer{Address: netip.MustParseAddr("192.0.2.100"), Weight: 70000}
	vs.RealServers = []RealServer{rs}
	c.VirtualServers = []VirtualServer{vs}
	err := c.Validate()
	want := "dataplane.interfaces: is required when a virtual_server is configured\n" +
		"virtual_server[0].real_server[0].weight: must be between 0 and 65535, got 70000"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want\n%s", err, want)
	}
}

func TestAliasesAndCase(t *testing.T) {
	c, err := Parse("xlb.toml", []byte(`
[dataplane]
interfaces = ["eth0"]
[[virtual_server]]
address = "203.0.113.10"
port = 80
protocol = "tcp"
lvs_sched = "RR"
lvs_method = "nat"
[[virtual_server.real_server]]
address = "192.0.2.100"
[[virtual_server.real_server.tcp_check]]
nb_get_retry = 0
`))
	if err != nil {
		t.Fatal(err)
	}
	vs := c.VirtualServers[0]
	if vs.Protocol != "TCP" || vs.LBAlgo != "rr" || vs.LBKind != "NAT" || vs.RealServers[0].TCPCheck[0].Retry != 0 {
		t.Errorf("aliases/case not applied: %+v", vs)
	}
	// An error on an alias is reported under the name the file used.
	_, err = Parse("xlb.toml", []byte(`
[[virtual_server]]
address = "203.0.113.10"
port = 80
lvs_sched = "fifo"
`))
	want := "xlb.toml:2: dataplane.interfaces: is required when a virtual_server is configured\n" +
		`xlb.toml:5: virtual_server[0].lvs_sched: must be one of rr, wrr, lc, wlc, sh, mh; got "fifo"`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestErrorsUnpacksForeignErrors(t *testing.T) {
	err := errors.Join(&Error{Key: "a", Msg: "x"}, errors.New("plain"))
	got := Errors(err)
	if len(got) != 2 || got[0].Key != "a" || got[1].Msg != "plain" {
		t.Errorf("Errors() = %+v", got)
	}
	if Errors(nil) != nil {
		t.Errorf("Errors(nil) is not nil")
	}
}

func TestInheritance(t *testing.T) {
	c, err := Parse("xlb.toml", []byte(`
[dataplane]
interfaces = ["eth0"]
[[virtual_server]]
address = "203.0.113.10"
port = 8080
lb_algo = "mh"
mh-port = true
inhibit_on_failure = true
delay_loop = "10s"
[[virtual_server.real_server]]
address = "192.0.2.100"
[[virtual_server.real_server.tcp_check]]
[[virtual_server.real_server.misc_check]]
misc_path = "/bin/true"
[[virtual_server.real_server]]
address = "192.0.2.101"
port = 9090
inhibit_on_failure = false
[[virtual_server.real_server.http_get]]
url = [{ path = "/" }]
`))
	if err != nil {
		t.Fatal(err)
	}
	vs := c.VirtualServers[0]
	r0, r1 := vs.RealServers[0], vs.RealServers[1]
	if !vs.MHPort {
		t.Errorf("mh-port alias not applied")
	}
	if r0.Port != 8080 || r0.TCPCheck[0].ConnectPort != 8080 || r0.MiscCheck[0].MiscTimeout.Duration != 10*time.Second {
		t.Errorf("real_server[0] did not inherit: port %d, connect_port %d, misc_timeout %s",
			r0.Port, r0.TCPCheck[0].ConnectPort, r0.MiscCheck[0].MiscTimeout)
	}
	if r1.Port != 9090 || r1.HTTPGet[0].ConnectPort != 9090 {
		t.Errorf("real_server[1]: port %d, connect_port %d, want 9090", r1.Port, r1.HTTPGet[0].ConnectPort)
	}
	if !r0.InhibitOnFailure || r1.InhibitOnFailure {
		t.Errorf("inhibit_on_failure: real 0 %v (want inherited true), real 1 %v (want its own false)", r0.InhibitOnFailure, r1.InhibitOnFailure)
	}
}
