package config

// CheckHost checks c against the running system, reporting problems the way
// Validate does: every interface named anywhere (dataplane.interfaces,
// vrrp_instance interface, dev of virtual_ipaddress and
// virtual_ipaddress_excluded entries, track_interface,
// gateway.masquerade out_interface, sync.interface and
// lvs_sync_daemon_interface) must exist. linkExists reports whether a
// network interface of that name exists; xlbd passes a netlink lookup,
// tests a fake. It also refuses what this build's dataplane cannot do yet:
// IPv6 virtual servers (the schema has them; the XDP program forwards
// IPv4 and hands IPv6 to the kernel), so that such a service is never
// silently dead.
func CheckHost(c *Config, linkExists func(name string) bool) error {
	v := &validator{c: c, src: c.src}
	for i, vs := range c.VirtualServers {
		if vs.Address.Is6() && !vs.Address.Is4In6() {
			v.errorf(joinKey(indexKey("virtual_server", i), "address"),
				"IPv6 virtual servers are not forwarded by this version of the dataplane (IPv4 only)")
		}
	}
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
