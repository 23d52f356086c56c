package keepalived

import (
	"net/netip"
	"strings"
)

// rootUnsupported are keepalived's top-level blocks that xlb has no
// equivalent for, with the reason.
var rootUnsupported = map[string]string{
	"virtual_server_group":     "xlb has no virtual server groups; write one virtual_server per address and port",
	"static_ipaddress":         "xlb does not manage static addresses; configure them with the system's network tools",
	"static_routes":            "xlb does not manage static routes; configure them with the system's network tools",
	"static_rules":             "xlb does not manage routing rules; configure them with the system's network tools",
	"track_group":              "xlb has no track groups",
	"garp_group":               "xlb has no gratuitous ARP groups",
	"linkbeat_interfaces":      "xlb watches links through netlink only",
	"linkbeat_use_polling":     "xlb watches links through netlink only",
	"net_namespace":            "xlb runs in the network namespace it is started in",
	"net_namespace_ipvs":       "xlb runs in the network namespace it is started in",
	"namespace_with_ipsets":    "xlb runs in the network namespace it is started in",
	"use_pid_dir":              "a keepalived process setting",
	"instance":                 "a keepalived process setting",
	"child_wait_time":          "a keepalived process setting",
	"SSL":                      "xlb's ssl_get presents no client certificate",
	"bfd_instance":             "xlb has no BFD",
	"vrrp_track_process":       "xlb has no process tracking",
	"track_process":            "xlb has no process tracking",
	"interface_up_down_delays": "xlb has no interface up/down debouncing",
}

// globalUnsupported are global_defs keywords that xlb has no equivalent
// for; the reason comes from globalReason.
var globalUnsupported = setOf(
	"process_names", "process_name", "vrrp_process_name", "checker_process_name", "lvs_process_name", "bfd_process_name",
	"use_symlink_paths", "set_supplementary_groups", "startup_script", "startup_script_timeout", "shutdown_script",
	"shutdown_script_timeout", "max_auto_priority", "min_auto_priority_delay", "checker_log_all_failures",
	"dynamic_interfaces", "default_interface", "disable_local_igmp", "v3_checksum_as_v2", "lvs_flush", "lvs_flush_on_stop",
	"lvs_flush_onstop", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat", "vrrp_down_timer_adverts",
	"vrrp_garp_interval", "vrrp_gna_interval", "vrrp_min_garp", "vrrp_garp_extra_if", "vrrp_vmac_garp_intvl",
	"vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "vrrp_iptables", "vrrp_ipsets", "nftables",
	"nftables_priority", "nftables_ifindex", "vrrp_check_unicast_src", "vrrp_skip_check_adv_addr", "vrrp_strict",
	"vrrp_priority", "vrrp_no_swap", "vrrp_rt_priority", "vrrp_cpu_affinity", "vrrp_rlimit_rttime", "vrrp_rlimit_rtime",
	"nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark", "nftables_counters", "notify_fifo",
	"notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script", "vrrp_notify_priority_changes",
	"fifo_write_vrrp_states_on_reload", "lvs_notify_fifo", "lvs_notify_fifo_script", "checker_priority",
	"checker_no_swap", "checker_rt_priority", "checker_cpu_affinity", "checker_rlimit_rttime", "checker_rlimit_rtime",
	"bfd_priority", "bfd_no_swap", "bfd_rt_priority", "bfd_cpu_affinity", "bfd_rlimit_rttime", "bfd_rlimit_rtime",
	"snmp_socket", "enable_traps", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_rfcv2",
	"enable_snmp_rfcv3", "enable_snmp_checker", "snmp_vs_stats_update_interval", "snmp_rs_stats_update_interval",
	"enable_dbus", "dbus_service_name", "dbus_no_interface_name", "script_user", "enable_script_security",
	"vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
	"vrrp_netlink_monitor_rcv_bufs_force", "process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force",
	"lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
	"lvs_netlink_monitor_rcv_bufs_force", "rs_init_notifies", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier",
	"vrrp_startup_delay", "vrrp_delay_after_boot", "log_unknown_vrids", "vrrp_owner_ignore_adverts", "vmac_prefix",
	"vmac_addr_prefix", "umask", "random_seed", "reload_check_config", "reload_time_file", "reload_repeat",
	"reload_file", "include_check", "config_save_dir", "tmp_config_directory", "data_use_instance", "json_version",
	"iproute_usr_dir", "iproute_etc_dir", "state_dump_file", "stats_dump_file", "json_dump_file",
	"linkbeat_use_polling", "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "use_pid_dir",
	"instance", "child_wait_time",
)

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// globalReason explains why a global_defs keyword is not imported.
func globalReason(kw string) string {
	switch {
	case strings.Contains(kw, "snmp") || strings.Contains(kw, "dbus") || kw == "enable_traps":
		return "xlb reports through Prometheus metrics and its control socket, not SNMP or D-Bus"
	case strings.Contains(kw, "fifo"):
		return "xlb has no notify FIFO; use notify scripts"
	case strings.Contains(kw, "nftables") || strings.Contains(kw, "iptables") || strings.Contains(kw, "ipsets") || kw == "vrrp_strict":
		return "xlb installs no firewall rules for VRRP addresses"
	case strings.HasPrefix(kw, "lvs_flush"):
		return "xlb's dataplane owns its tables and starts them empty"
	case kw == "script_user" || kw == "enable_script_security":
		return "xlb runs scripts as its own user unless a script sets user"
	case strings.HasPrefix(kw, "vrrp_garp") || strings.HasPrefix(kw, "vrrp_gna") || kw == "vrrp_min_garp" ||
		kw == "vrrp_vmac_garp_intvl" || kw == "vmac_prefix" || kw == "vmac_addr_prefix":
		return "xlb has only garp_master_delay, garp_master_repeat, garp_master_refresh and garp_master_refresh_repeat"
	case strings.HasPrefix(kw, "vrrp_") || kw == "v3_checksum_as_v2" || kw == "log_unknown_vrids" ||
		kw == "max_auto_priority" || kw == "min_auto_priority_delay":
		return "xlb's VRRP has no such setting"
	}
	return "a keepalived process setting; xlb has no equivalent"
}

// globalTable returns [global], creating it at n.
func (c *converter) globalTable(n *Node) *table {
	if c.global == nil {
		c.global = &table{header: "global", origin: n.Pos}
	}
	c.global.lead = append(c.global.lead, opComments(n.Comments)...)
	if n.Comment != "" {
		c.global.lead = append(c.global.lead, opComment(n.Comment))
	}
	return c.global
}

// globalDefs converts a global_defs block into [global] and the defaults it
// sets for instances, [sync] and [dataplane.timeouts].
func (c *converter) globalDefs(n *Node) {
	if !c.block(n, 0, 0) {
		return
	}
	t := c.globalTable(n)
	for _, k := range n.Block {
		switch k.Keyword {
		case "router_id", "lvs_id":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if k.Keyword == "lvs_id" {
				c.warnf(k, "lvs_id is keepalived 1's name for router_id; keepalived 2 does not know it")
			}
			c.set(t, k, "router_id", tomlString(k.Args[0]))
		case "notification_email":
			if !c.block(k, 0, 0) {
				continue
			}
			var elems []elem
			for _, e := range k.Block {
				if e.HasBlock {
					c.errorf(e, "takes no block (expected email addresses)")
					continue
				}
				for i, w := range append([]string{e.Keyword}, e.Args...) {
					el := elem{value: tomlString(w), origin: e.Pos}
					if i == 0 {
						el.lead, el.comment = opComments(e.Comments), trailingComment(e.Comment)
					}
					elems = append(elems, el)
				}
			}
			it := appendElems(t, k, "notification_email", elems)
			if len(k.EndComments) > 0 && len(it.elems) > 0 {
				last := &it.elems[len(it.elems)-1]
				last.lead = append(last.lead, opComments(k.EndComments)...)
			}
			c.mailTo = c.mailTo || len(elems) > 0
		case "notification_email_from", "smtp_helo_name":
			if c.leaf(k, 1, 1) {
				c.set(t, k, k.Keyword, tomlString(k.Args[0]))
			}
		case "smtp_server":
			if !c.leaf(k, 1, 2) {
				continue
			}
			if len(k.Args) == 2 {
				if _, ok := c.port(k, k.Args[1]); !ok {
					continue
				}
			}
			c.set(t, k, "smtp_server", tomlString(strings.Join(k.Args, " ")))
			c.mailServer = true
		case "smtp_connect_timeout":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 1, 1<<31-1); ok {
				c.set(t, k, "smtp_connect_timeout", tomlInt(v))
			}
		case "smtp_alert", "smtp_alert_vrrp":
			if !c.leaf(k, 0, 1) {
				continue
			}
			on, ok := c.boolArg(k, 0)
			if !ok {
				continue
			}
			if k.Keyword == "smtp_alert" && !on {
				c.checkerMailOff = true
			}
			if on {
				c.smtpAlert = k
				note(t, k, "%s: smtp_alert = true is set on every vrrp_instance and vrrp_sync_group that does not say otherwise", k.Line())
			} else {
				c.smtpAlert = nil
				note(t, k, "%s: xlb mails only where smtp_alert = true is set", k.Line())
			}
		case "smtp_alert_checker", "no_checker_emails":
			if !c.leaf(k, 0, 1) {
				continue
			}
			on, ok := c.boolArg(k, 0)
			if !ok {
				continue
			}
			if k.Keyword == "no_checker_emails" {
				on = !on
			}
			if on {
				note(t, k, "%s: smtp_alert = true is set on every virtual_server that does not say otherwise", k.Line())
				continue
			}
			c.checkerMailOff = true
			note(t, k, "%s: xlb mails health check changes only where smtp_alert = true is set", k.Line())
		case "vrrp_version":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 2, 3); ok {
				c.vrrpVersion, c.vrrpVersionNode = int(v), k
				note(t, k, "%s: version = %d is set on every vrrp_instance that does not set version", k.Line(), v)
			}
		case "vrrp_garp_master_delay", "vrrp_garp_master_refresh":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if _, ok := c.intArg(k, 0, 0, 1<<31-1); ok {
				c.garpDefaults[strings.TrimPrefix(k.Keyword, "vrrp_")] = k
				note(t, k, "%s: %s is set on every vrrp_instance that does not set it", k.Line(), strings.TrimPrefix(k.Keyword, "vrrp_"))
			}
		case "vrrp_garp_master_repeat", "vrrp_garp_master_refresh_repeat":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if _, ok := c.intArg(k, 0, 1, 1<<31-1); ok {
				c.garpDefaults[strings.TrimPrefix(k.Keyword, "vrrp_")] = k
				note(t, k, "%s: %s is set on every vrrp_instance that does not set it", k.Line(), strings.TrimPrefix(k.Keyword, "vrrp_"))
			}
		case "vrrp_mcast_group4", "vrrp_mcast_group6":
			if !c.leaf(k, 1, 1) {
				continue
			}
			a, ok := c.addr(k, k.Args[0])
			if !ok {
				continue
			}
			if a == netip.MustParseAddr("224.0.0.18") || a == netip.MustParseAddr("ff02::12") {
				note(t, k, "%s: the standard VRRP group, which xlb uses", k.Line())
				continue
			}
			c.unsupported(t, k, "xlb sends VRRP advertisements to the standard group (or to unicast peers)")
		case "lvs_sync_daemon":
			c.lvsSyncDaemon(t, k)
		case "lvs_timeouts":
			c.lvsTimeouts(t, k)
		default:
			if globalUnsupported[k.Keyword] {
				c.unsupported(t, k, "%s", globalReason(k.Keyword))
				continue
			}
			c.errorf(k, "unknown keyword in global_defs")
		}
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
}

// lvsSyncDaemon converts global_defs lvs_sync_daemon into [sync]:
//
//	lvs_sync_daemon IF [inst] VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR]
func (c *converter) lvsSyncDaemon(t *table, k *Node) {
	if !c.leaf(k, 1, -1) || !c.ifName(k, k.Args[0]) {
		return
	}
	if c.syncNode != nil {
		c.warnf(k, "lvs_sync_daemon was already given at %s; keepalived ignores this one", c.syncNode.Pos)
		note(t, k, "%s: ignored by keepalived, which keeps %s", k.Line(), c.syncNode.Pos)
		return
	}
	s := c.syncTable(k)
	c.syncIface, c.syncNode = k.Args[0], k
	s.add(&item{key: "interface", value: tomlString(k.Args[0]), origin: k.Pos,
		lead: append(opComments(k.Comments), noteComment("from global_defs lvs_sync_daemon (%s)", k.Pos)), comment: trailingComment(k.Comment)})
	var unsupported []string
	args := k.Args[1:]
	for i := 0; i < len(args); i++ {
		opt := args[i]
		if i+1 >= len(args) && (opt == "inst" || opt == "id" || opt == "maxlen" || opt == "port" || opt == "ttl" || opt == "group") {
			c.errorf(k, "%s needs a value", opt)
			return
		}
		switch {
		case opt == "inst":
			c.syncInstance = args[i+1]
			i++
		case opt == "port":
			p, ok := c.port(k, args[i+1])
			if !ok || p == 0 {
				if ok {
					c.errorf(k, "bad port %q (expected 1 to 65535)", args[i+1])
				}
				return
			}
			s.add(&item{key: "port", value: tomlInt(int64(p)), origin: k.Pos})
			i++
		case opt == "group":
			a, ok := c.addr(k, args[i+1])
			if !ok {
				return
			}
			if !a.IsMulticast() {
				c.errorf(k, "group %s is not a multicast address", a)
				return
			}
			s.add(&item{key: "group", value: tomlString(a.String()), origin: k.Pos})
			i++
		case opt == "id" || opt == "maxlen" || opt == "ttl":
			unsupported = append(unsupported, opt+" "+args[i+1])
			i++
		case i == 0:
			c.syncInstance = opt
		case i == 1:
			unsupported = append(unsupported, "id "+opt)
		default:
			c.errorf(k, "unknown option %q (expected inst, id, maxlen, port, ttl or group)", opt)
			return
		}
	}
	for _, u := range unsupported {
		c.findings = append(c.findings, Finding{Pos: k.Pos, Keyword: k.Keyword, Severity: Unsupported,
			Msg: u + ": xlb's [sync] has only interface, peers, group, port, key and max_rate"})
		s.add(&item{lead: []string{noteComment("not imported: lvs_sync_daemon %s (xlb's [sync] has no such setting)", u)}, origin: k.Pos})
	}
	note(t, k, "%s: see [sync]", k.Line())
}

// syncTable returns [sync], creating it at n.
func (c *converter) syncTable(n *Node) *table {
	if c.sync == nil {
		c.sync = &table{header: "sync", origin: n.Pos}
	}
	return c.sync
}

// finishSync ties the sync daemon to its vrrp_instance, as keepalived's
// per-instance lvs_sync_daemon_interface does.
func (c *converter) finishSync() {
	if c.syncNode == nil || c.syncNode.Keyword != "lvs_sync_daemon" {
		return
	}
	if c.syncInstance == "" {
		return
	}
	for _, in := range c.instances {
		if in.name != c.syncInstance {
			continue
		}
		if it := in.t.get("lvs_sync_daemon_interface"); it == nil {
			in.t.add(&item{key: "lvs_sync_daemon_interface", value: tomlString(c.syncIface), origin: c.syncNode.Pos,
				lead: []string{noteComment("from global_defs lvs_sync_daemon (%s)", c.syncNode.Pos)}})
		}
		return
	}
	c.warnf(c.syncNode, "vrrp_instance %q does not exist; keepalived does not start the sync daemon", c.syncInstance)
}

// lvsTimeouts converts lvs_timeouts [tcp N] [tcpfin N] [udp N] into
// [dataplane.timeouts].
func (c *converter) lvsTimeouts(t *table, k *Node) {
	if !c.leaf(k, 2, 6) {
		return
	}
	var items []*item
	for i := 0; i < len(k.Args); i += 2 {
		var key string
		switch k.Args[i] {
		case "tcp":
			key = "tcp"
		case "tcpfin":
			key = "tcp_fin"
		case "udp":
			key = "udp"
		default:
			c.errorf(k, "unknown option %q (expected tcp, tcpfin or udp)", k.Args[i])
			return
		}
		if i+1 >= len(k.Args) {
			c.errorf(k, "%s needs a value", k.Args[i])
			return
		}
		v, ok := c.intArg(k, i+1, 0, 86400*31)
		if !ok {
			return
		}
		if v == 0 {
			items = append(items, &item{lead: []string{noteComment("lvs_timeouts %s 0 keeps the default", k.Args[i])}, origin: k.Pos})
			continue
		}
		items = append(items, &item{key: key, value: tomlInt(v), origin: k.Pos})
	}
	tt := c.timeoutsTable(k)
	items[0].lead = append(opComments(k.Comments), items[0].lead...)
	items[0].comment = trailingComment(k.Comment)
	tt.items = append(tt.items, items...)
	note(t, k, "%s: see [dataplane.timeouts]", k.Line())
}

// dataplaneTable returns [dataplane], creating it at n.
func (c *converter) dataplaneTable(n *Node) *table {
	if c.dataplane == nil {
		c.dataplane = &table{header: "dataplane", origin: n.Pos}
	}
	return c.dataplane
}

// timeoutsTable returns [dataplane.timeouts], creating it at n.
func (c *converter) timeoutsTable(n *Node) *table {
	if c.timeouts == nil {
		c.timeouts = &table{header: "dataplane.timeouts", origin: n.Pos}
		d := c.dataplaneTable(n)
		d.subs = append(d.subs, c.timeouts)
	}
	return c.timeouts
}
