package config

import (
	"testing"
)

// fakeLinks reports the named interfaces as existing.
func fakeLinks(names ...string) func(string) bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(name string) bool { return set[name] }
}

func TestCheckHost(t *testing.T) {
	doc := `[dataplane]
interfaces = ["eth0", "eth1"]

[gateway]
masquerade = [{ out_interface = "wan0" }]

[sync]
interface = "sync0"

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["203.0.113.10/24 dev vip0", "203.0.113.11"]
virtual_ipaddress_excluded = [
  "192.0.2.1/24 dev eth1",
  "192.0.2.2/24 dev farm9",
]
track_interface = ["eth1", "uplink weight -10"]
`
	c, err := Parse("xlb.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckHost(c, fakeLinks("eth0", "eth1", "wan0", "sync0", "vip0", "farm9", "uplink")); err != nil {
		t.Errorf("all interfaces exist: %v", err)
	}
	err = CheckHost(c, fakeLinks("eth0"))
	want := `xlb.toml:2: dataplane.interfaces[1]: interface "eth1" does not exist
xlb.toml:5: gateway.masquerade[0].out_interface: interface "wan0" does not exist
xlb.toml:8: sync.interface: interface "sync0" does not exist
xlb.toml:14: vrrp_instance[0].virtual_ipaddress[0]: interface "vip0" does not exist
xlb.toml:16: vrrp_instance[0].virtual_ipaddress_excluded[0]: interface "eth1" does not exist
xlb.toml:17: vrrp_instance[0].virtual_ipaddress_excluded[1]: interface "farm9" does not exist
xlb.toml:19: vrrp_instance[0].track_interface[0]: interface "eth1" does not exist
xlb.toml:19: vrrp_instance[0].track_interface[1]: interface "uplink" does not exist`
	if err == nil || err.Error() != want {
		t.Errorf("CheckHost:\n%v\nwant:\n%s", err, want)
	}
}

func TestCheckHostSyncFromInstance(t *testing.T) {
	c, err := Load("testdata/good/lvs_sync_daemon.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sync.Enabled || c.Sync.Interface != "eth0" {
		t.Fatalf("sync = %+v, want enabled on eth0", c.Sync)
	}
	err = CheckHost(c, fakeLinks("eth1"))
	// eth0 is reported where the file names it, not as sync.interface.
	want := `testdata/good/lvs_sync_daemon.toml:5: vrrp_instance[0].interface: interface "eth0" does not exist
testdata/good/lvs_sync_daemon.toml:8: vrrp_instance[0].lvs_sync_daemon_interface: interface "eth0" does not exist
testdata/good/lvs_sync_daemon.toml:15: vrrp_instance[1].lvs_sync_daemon_interface: interface "eth0" does not exist`
	if err == nil || err.Error() != want {
		t.Errorf("CheckHost:\n%v\nwant:\n%s", err, want)
	}
}

func TestCheckHostWithoutSource(t *testing.T) {
	c := &Config{Dataplane: Dataplane{Interfaces: []string{"eth7"}}}
	err := CheckHost(c, fakeLinks())
	if err == nil || err.Error() != `dataplane.interfaces[0]: interface "eth7" does not exist` {
		t.Errorf("CheckHost = %v", err)
	}
}

func TestCheckHostRefusesIPv6Services(t *testing.T) {
	c, err := Parse("v6.toml", []byte(`
[dataplane]
interfaces = ["eth0"]

[[virtual_server]]
address = "2001:db8::10"
port = 80

[[virtual_server.real_server]]
address = "2001:db8:1::100"
`))
	if err != nil {
		t.Fatal(err)
	}
	err = CheckHost(c, func(string) bool { return true })
	if err == nil || err.Error() != "v6.toml:6: virtual_server[0].address: IPv6 virtual servers are not forwarded by this version of the dataplane (IPv4 only)" {
		t.Errorf("CheckHost = %v", err)
	}
}
