package config

// CheckHost checks c against the running system, reporting problems the way
// Validate does: every interface named anywhere (dataplane.interfaces,
// vrrp_instance interface, dev of virtual_ipaddress and
// virtual_ipaddress_excluded entries, track_interface,
// gateway.masquerade out_interface, sync.interface and
// lvs_sync_daemon_interface) must exist. linkExists reports whether a
// network interface of that name exists; xlbd passes a netlink lookup,
// tests a fake.
func CheckHost(c *Config, linkExists func(name string) bool) error {
	v := &validator{c: c, src: c.src}
	check := func(key, name string) {
		if name != "" && !linkExists(name) {
			v.errorf(key, "interface %q does not exist", name)
		}
	}
	for i, name := range c.Dataplane.Interfaces {
		check(indexKey("dataplane.interfaces", i), name)
	}
	for i, in := range c.VRRPInstances {
		key := indexKey("vrrp_instance", i)
		check(joinKey(key, "interface"), in.Interface)
		for j, vip := range in.VirtualIPAddress {
			check(indexKey(joinKey(key, "virtual_ipaddress"), j), vip.Dev)
		}
		for j, vip := range in.VirtualIPAddressExcluded {
			check(indexKey(joinKey(key, "virtual_ipaddress_excluded"), j), vip.Dev)
		}
		for j, t := range in.TrackInterface {
			check(indexKey(joinKey(key, "track_interface"), j), t.Name)
		}
		check(joinKey(key, "lvs_sync_daemon_interface"), in.LVSSyncDaemonInterface)
	}
	for i, m := range c.Gateway.Masquerade {
		check(joinKey(indexKey("gateway.masquerade", i), "out_interface"), m.OutInterface)
	}
	// A sync.interface taken from lvs_sync_daemon_interface was checked
	// above, under the key the file used.
	if c.Sync.Enabled && !c.src.derived("sync.interface") {
		check("sync.interface", c.Sync.Interface)
	}
	return joinErrors(v.errs)
}
