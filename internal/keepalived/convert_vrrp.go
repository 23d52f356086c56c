package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xlb/xlb/internal/config"
)

// instanceUnsupported are vrrp_instance keywords xlb has no equivalent for.
var instanceUnsupported = map[string]string{
	"use_vmac":                   "xlb has no VRRP virtual MAC (macvlan) interfaces",
	"use_vmac_addr":              "xlb has no VRRP virtual MAC (macvlan) interfaces",
	"vmac_xmit_base":             "xlb has no VRRP virtual MAC (macvlan) interfaces",
	"use_ipvlan":                 "xlb has no ipvlan interfaces",
	"unicast_fault_no_peer":      "xlb's VRRP has no such setting",
	"check_unicast_src":          "xlb's VRRP has no such setting",
	"old_unicast_checksum":       "xlb computes VRRPv3 checksums as RFC 5798 says",
	"vrf":                        "xlb has no VRF support",
	"dont_track_primary":         "xlb always tracks the instance's interface",
	"track_process":              "xlb has no process tracking",
	"track_bfd":                  "xlb has no BFD",
	"mcast_src_ip":               "xlb sends multicast advertisements from the interface's primary address",
	"mcast_dst_ip":               "xlb sends VRRP advertisements to the standard group (or to unicast peers)",
	"track_src_ip":               "xlb's VRRP has no such setting",
	"unicast_ttl":                "xlb's VRRP has no such setting",
	"promote_secondaries":        "xlb does not change the interface's promote_secondaries setting",
	"linkbeat_use_polling":       "xlb watches links through netlink only",
	"v3_checksum_as_v2":          "xlb computes VRRPv3 checksums as RFC 5798 says",
	"virtual_routes":             "xlb does not manage routes",
	"virtual_rules":              "xlb does not manage routing rules",
	"no_accept":                  "xlb installs no firewall rules for VRRP addresses",
	"skip_check_adv_addr":        "xlb's VRRP has no such setting",
	"strict_mode":                "xlb's VRRP has no strict mode",
	"debug":                      "xlb's log level is global.log_level",
	"notify_deleted":             "xlb has only notify_master, notify_backup, notify_fault, notify_stop and notify",
	"notify_master_rx_lower_pri": "xlb has only notify_master, notify_backup, notify_fault, notify_stop and notify",
	"notify_priority_changes":    "xlb notifies state changes only",
	"garp_lower_prio_delay":      "xlb has only garp_master_delay, garp_master_repeat, garp_master_refresh and garp_master_refresh_repeat",
	"garp_lower_prio_repeat":     "xlb has only garp_master_delay, garp_master_repeat, garp_master_refresh and garp_master_refresh_repeat",
	"garp_extra_if":              "xlb has only garp_master_delay, garp_master_repeat, garp_master_refresh and garp_master_refresh_repeat",
	"vmac_garp_intvl":            "xlb has only garp_master_delay, garp_master_repeat, garp_master_refresh and garp_master_refresh_repeat",
	"down_timer_adverts":         "xlb uses RFC 5798's master down interval",
	"timer_expired_backup":       "xlb's VRRP has no such setting",
	"thread_timer_expired":       "xlb's VRRP has no such setting",
	"lower_prio_no_advert":       "xlb's VRRP has no such setting",
	"higher_prio_send_advert":    "xlb's VRRP has no such setting",
	"owner_ignore_adverts":       "xlb's VRRP has no such setting",
	"kernel_rx_buf_size":         "xlb's VRRP has no such setting",
	"auth_hmac":                  "xlb has only PASS authentication",
}

// groupUnsupported are vrrp_sync_group keywords xlb has no equivalent for.
var groupUnsupported = map[string]string{
	"track_interface":            "xlb tracks interfaces per vrrp_instance; put track_interface in the instances",
	"track_script":               "xlb tracks scripts per vrrp_instance; put track_script in the instances",
	"track_file":                 "xlb tracks files per vrrp_instance; put track_file in the instances",
	"track_process":              "xlb has no process tracking",
	"track_bfd":                  "xlb has no BFD",
	"global_tracking":            "xlb tracks per vrrp_instance",
	"sync_group_tracking_weight": "xlb tracks per vrrp_instance",
	"notify_priority_changes":    "xlb notifies state changes only",
}

// instance is what the importer knows of a vrrp_instance.
type instance struct {
	name  string
	node  *Node
	t     *table
	iface string
	vips  []config.VIP // virtual_ipaddress
	evips []config.VIP // virtual_ipaddress_excluded
}

// notify converts notify_* lines, shared by instances and sync groups.
func (c *converter) notify(t *table, k *Node) {
	cmd, extra, ok := c.script(k)
	if !ok {
		return
	}
	it := c.set(t, k, k.Keyword, tomlString(cmd))
	if len(extra) > 0 {
		reason := fmt.Sprintf("xlb runs %s as its own user; keepalived ran it as %s", k.Keyword, strings.Join(extra, " "))
		c.findings = append(c.findings, Finding{Pos: k.Pos, Keyword: k.Keyword, Severity: Unsupported, Msg: reason})
		it.lead = append(it.lead, noteComment("not imported: user %s (%s)", strings.Join(extra, " "), reason))
	}
}

// vrrpScript converts vrrp_script NAME {…} into [[vrrp_script]].
func (c *converter) vrrpScript(n *Node) {
	if !c.block(n, 1, 1) {
		return
	}
	t := &table{header: "vrrp_script", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	t.add(&item{key: "name", value: tomlString(n.Args[0]), origin: n.Pos})
	script := false
	for _, k := range n.Block {
		switch k.Keyword {
		case "script":
			cmd, extra, ok := c.script(k)
			if !ok {
				continue
			}
			it := c.set(t, k, "script", tomlString(cmd))
			script = true
			if len(extra) > 0 {
				reason := "keepalived 2 ignores the words after the command; quote the whole command line"
				c.findings = append(c.findings, Finding{Pos: k.Pos, Keyword: k.Keyword, Severity: Unsupported, Msg: reason})
				it.lead = append(it.lead, noteComment("not imported: %s (%s)", strings.Join(extra, " "), reason))
			}
		case "interval", "timeout":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.timerArg(k, 0, 0, 1e9); ok {
				if v == 0 && k.Keyword == "interval" {
					c.warnf(k, "keepalived turns interval 0 into 1")
					v = 1
				}
				if v == 0 {
					note(t, k, "%s: the default, timeout = interval", k.Line())
					continue
				}
				c.set(t, k, k.Keyword, tomlSeconds(v))
			}
		case "weight":
			if !c.leaf(k, 1, 2) {
				continue
			}
			v, ok := c.intArg(k, 0, -253, 253)
			if !ok {
				continue
			}
			if len(k.Args) == 2 {
				if k.Args[1] != "reverse" {
					c.errorf(k, "unknown option %q (expected reverse)", k.Args[1])
					continue
				}
				c.unsupported(t, k, "xlb has no reverse weights")
				continue
			}
			c.set(t, k, "weight", tomlInt(v))
		case "rise", "fall":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 1, math.MaxInt32); ok {
				c.set(t, k, k.Keyword, tomlInt(v))
			}
		case "user":
			if !c.leaf(k, 1, 2) {
				continue
			}
			it := c.set(t, k, "user", tomlString(k.Args[0]))
			if len(k.Args) == 2 {
				reason := "xlb runs the script with the user's own group"
				c.findings = append(c.findings, Finding{Pos: k.Pos, Keyword: k.Keyword, Severity: Unsupported, Msg: "group " + k.Args[1] + ": " + reason})
				it.lead = append(it.lead, noteComment("not imported: group %s (%s)", k.Args[1], reason))
			}
		case "init_fail":
			c.unsupported(t, k, "xlb starts scripts as not yet known, rising on their first successes")
		default:
			c.errorf(k, "unknown keyword in vrrp_script (expected script, interval, timeout, weight, rise, fall, user or init_fail)")
		}
	}
	if !script {
		c.warnf(n, "has no script; keepalived removes it")
		c.body = append(c.body, &table{origin: n.Pos, items: []*item{{lead: notImported(n, "it has no script; keepalived removes it too"), origin: n.Pos}}})
		return
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	c.body = append(c.body, t)
}

// vrrpSyncGroup converts vrrp_sync_group NAME {…} into [[vrrp_sync_group]].
func (c *converter) vrrpSyncGroup(n *Node) *table {
	t := &table{header: "vrrp_sync_group", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	if !c.block(n, 1, 1) {
		return t
	}
	t.add(&item{key: "name", value: tomlString(n.Args[0]), origin: n.Pos})
	members := 0
	for _, k := range n.Block {
		switch k.Keyword {
		case "group":
			if !c.block(k, 0, 0) {
				continue
			}
			var elems []elem
			for _, e := range k.Block {
				if e.HasBlock {
					c.errorf(e, "takes no block (expected vrrp_instance names)")
					continue
				}
				for i, name := range append([]string{e.Keyword}, e.Args...) {
					el := elem{value: tomlString(name), origin: e.Pos}
					if i == 0 {
						el.lead, el.comment = opComments(e.Comments), trailingComment(e.Comment)
					}
					switch owner := c.groupOf(name); {
					case !c.instanceNames[name]:
						c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: name, Severity: Warning,
							Msg: fmt.Sprintf("no vrrp_instance %q; keepalived leaves it out of sync group %s", name, n.Args[0])})
						el.lead = append(el.lead, noteComment("left out: %s is no vrrp_instance (keepalived ignores it too)", name))
						el.value = ""
					case owner != "":
						c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: name, Severity: Warning,
							Msg: fmt.Sprintf("vrrp_instance %s is already in sync group %s; keepalived ignores it here", name, owner)})
						el.lead = append(el.lead, noteComment("left out: %s is already in sync group %s (keepalived ignores it here)", name, owner))
						el.value = ""
					default:
						c.memberOf[name] = n.Args[0]
						members++
					}
					elems = append(elems, el)
				}
			}
			var kept []elem
			var dropped []string
			for _, el := range elems {
				if el.value == "" {
					dropped = append(dropped, el.lead...)
					continue
				}
				kept = append(kept, el)
			}
			if len(dropped) > 0 {
				t.add(&item{lead: dropped, origin: k.Pos})
			}
			appendElems(t, k, "group", kept)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			c.notify(t, k)
		case "smtp_alert":
			if !c.leaf(k, 0, 1) {
				continue
			}
			if on, ok := c.boolArg(k, 0); ok {
				c.set(t, k, "smtp_alert", tomlBool(on))
			}
		default:
			if reason, ok := groupUnsupported[k.Keyword]; ok {
				c.unsupported(t, k, "%s", reason)
				continue
			}
			c.errorf(k, "unknown keyword in vrrp_sync_group (expected group, notify_master, notify_backup, notify_fault, notify_stop, notify or smtp_alert)")
		}
	}
	if members == 0 {
		c.findings = append(c.findings, Finding{Pos: n.Pos, Keyword: n.Keyword, Severity: Warning,
			Msg: fmt.Sprintf("sync group %s has no vrrp_instance; keepalived removes it", n.Args[0])})
		return &table{origin: n.Pos, items: []*item{{lead: notImported(n, "it has no vrrp_instance; keepalived removes it too"), origin: n.Pos}}}
	}
	c.smtpAlertDefault(t, n)
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}

// smtpAlertDefault applies global_defs smtp_alert to an instance or sync
// group that does not set it, and drops smtp_alert when keepalived could
// not send mail (no smtp_server or no notification_email), which xlb would
// reject.
func (c *converter) smtpAlertDefault(t *table, n *Node) {
	it := t.get("smtp_alert")
	if it == nil && c.smtpAlert != nil {
		it = t.add(&item{key: "smtp_alert", value: "true", origin: c.smtpAlert.Pos, lead: []string{noteComment("from global_defs %s (%s)", c.smtpAlert.Keyword, c.smtpAlert.Pos)}})
	}
	if it != nil && it.value == "true" && !(c.mailServer && c.mailTo) {
		c.warnf(n, "smtp_alert without global_defs smtp_server and notification_email sends no mail in keepalived")
		dropItem(it, "dropped: without smtp_server and notification_email keepalived sends no mail")
	}
}

// groupOf returns the sync group an instance is already in.
func (c *converter) groupOf(name string) string {
	if c.memberOf == nil {
		c.memberOf = map[string]string{}
	}
	return c.memberOf[name]
}

// vrrpInstance converts vrrp_instance NAME {…} into [[vrrp_instance]].
func (c *converter) vrrpInstance(n *Node) {
	if !c.block(n, 1, 1) {
		return
	}
	name := n.Args[0]
	t := &table{header: "vrrp_instance", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	t.add(&item{key: "name", value: tomlString(name), origin: n.Pos})
	in := &instance{name: name, node: n, t: t}
	var (
		state, priority, nopreempt, preemptDelay, version, advert, auth *item
		stateVal                                                        string
		prio, ver                                                       int64
		advertVal                                                       float64
	)
	for _, k := range n.Block {
		switch k.Keyword {
		case "state":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if k.Args[0] != "MASTER" && k.Args[0] != "BACKUP" {
				c.errorf(k, "expected MASTER or BACKUP, got %q (keepalived would run it as BACKUP)", k.Args[0])
				continue
			}
			if stateVal == "MASTER" && k.Args[0] == "BACKUP" {
				c.warnf(k, "state was MASTER on line %d; keepalived ignores BACKUP", state.origin.Line)
				note(t, k, "%s: ignored, as keepalived does: state was MASTER on line %d", k.Line(), state.origin.Line)
				continue
			}
			stateVal = k.Args[0]
			state = c.set(t, k, "state", tomlString(stateVal))
		case "interface":
			if !c.leaf(k, 1, 1) || !c.ifName(k, k.Args[0]) {
				continue
			}
			in.iface = k.Args[0]
			c.set(t, k, "interface", tomlString(k.Args[0]))
		case "virtual_router_id":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 1, 255); ok {
				c.set(t, k, "virtual_router_id", tomlInt(v))
			}
		case "priority":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 1, 255); ok {
				prio = v
				priority = c.set(t, k, "priority", tomlInt(v))
			}
		case "advert_int":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.timerArg(k, 0, 0.01, 255); ok {
				advertVal = v
				advert = c.set(t, k, "advert_int", tomlSeconds(v))
			}
		case "version":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 2, 3); ok {
				ver = v
				version = c.set(t, k, "version", tomlInt(v))
			}
		case "authentication":
			if it := c.authentication(t, k); it != nil {
				auth = it
			}
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			if !c.block(k, 0, 0) {
				continue
			}
			elems := c.vips(k, in, k.Keyword == "virtual_ipaddress_excluded")
			it := appendElems(t, k, k.Keyword, elems)
			it.lead = append(it.lead, opComments(k.EndComments)...)
		case "no_virtual_ipaddress":
			if c.leaf(k, 0, 0) {
				note(t, k, "%s: the instance has no virtual_ipaddress", k.Line())
			}
		case "unicast_src_ip":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if a, ok := c.addr(k, k.Args[0]); ok {
				c.set(t, k, "unicast_src_ip", tomlString(a.String()))
			}
		case "unicast_peer":
			if !c.block(k, 0, 0) {
				continue
			}
			appendElems(t, k, "unicast_peer", c.unicastPeers(k))
		case "nopreempt":
			if c.leaf(k, 0, 0) {
				nopreempt = c.set(t, k, "nopreempt", "true")
			}
		case "preempt":
			if c.leaf(k, 0, 0) {
				note(t, k, "%s: the default", k.Line())
			}
		case "preempt_delay":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.timerArg(k, 0, 0, 1000); ok {
				preemptDelay = c.set(t, k, "preempt_delay", tomlSeconds(v))
			}
		case "track_interface":
			if c.block(k, 0, 0) {
				appendElems(t, k, "track_interface", c.trackEntries(t, k, trackInterface))
			}
		case "track_script":
			if c.block(k, 0, 0) {
				appendElems(t, k, "track_script", c.trackEntries(t, k, trackScript))
			}
		case "track_file":
			if c.block(k, 0, 0) {
				appendElems(t, k, "track_file", c.trackEntries(t, k, trackFile))
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			c.notify(t, k)
		case "smtp_alert":
			if !c.leaf(k, 0, 1) {
				continue
			}
			if on, ok := c.boolArg(k, 0); ok {
				c.set(t, k, "smtp_alert", tomlBool(on))
			}
		case "garp_master_delay", "garp_master_refresh":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 0, math.MaxInt32); ok {
				c.set(t, k, k.Keyword, tomlInt(v))
			}
		case "garp_master_repeat", "garp_master_refresh_repeat":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 1, math.MaxInt32); ok {
				c.set(t, k, k.Keyword, tomlInt(v))
			}
		case "lvs_sync_daemon_interface":
			if !c.leaf(k, 1, 1) || !c.ifName(k, k.Args[0]) {
				continue
			}
			if c.syncNode != nil {
				c.warnf(k, "the sync daemon interface was already set to %s at %s; keepalived ignores this one", c.syncIface, c.syncNode.Pos)
				note(t, k, "%s: ignored, as keepalived does: the sync daemon interface is %s (%s)", k.Line(), c.syncIface, c.syncNode.Pos)
				continue
			}
			c.syncIface, c.syncNode = k.Args[0], k
			s := c.syncTable(k)
			s.add(&item{key: "interface", value: tomlString(k.Args[0]), origin: k.Pos,
				lead: []string{noteComment("from lvs_sync_daemon_interface of vrrp_instance %s (%s)", name, k.Pos)}})
			c.set(t, k, "lvs_sync_daemon_interface", tomlString(k.Args[0]))
		case "accept":
			if c.leaf(k, 0, 0) {
				c.set(t, k, "accept", "true")
			}
		case "native_ipv6":
			if c.leaf(k, 0, 0) {
				note(t, k, "%s: xlb takes the family from the first virtual_ipaddress, as keepalived does", k.Line())
			}
		default:
			if reason, ok := instanceUnsupported[k.Keyword]; ok {
				c.unsupported(t, k, "%s", reason)
				continue
			}
			c.errorf(k, "unknown keyword in vrrp_instance")
		}
	}

	// What keepalived decides once the block is read.
	if ver == 0 {
		switch {
		case len(in.vips) > 0 && in.vips[0].Addr().Is6():
			ver = 3
			version = t.add(&item{key: "version", value: "3", origin: n.Pos, lead: []string{noteComment("keepalived runs IPv6 instances with VRRPv3")}})
		case c.vrrpVersion != 0:
			ver = int64(c.vrrpVersion)
			version = t.add(&item{key: "version", value: tomlInt(ver), origin: c.vrrpVersionNode.Pos,
				lead: []string{noteComment("from global_defs vrrp_version (%s)", c.vrrpVersionNode.Pos)}})
		default:
			ver = 2
		}
	} else if ver == 2 && len(in.vips) > 0 && in.vips[0].Addr().Is6() {
		c.warnf(n, "IPv6 instances run VRRPv3; keepalived ignores version 2")
		version.lead = append(version.lead, noteComment("version 2 changed to 3: keepalived runs IPv6 instances with VRRPv3"))
		version.value = "3"
		ver = 3
	}
	if advert != nil {
		c.roundAdvert(n, advert, advertVal, ver)
	}
	if auth != nil && ver == 3 {
		c.warnf(n, "VRRPv3 has no authentication; keepalived ignores it")
		dropItem(auth, "dropped, as keepalived does: VRRPv3 has no authentication")
	}
	switch {
	case stateVal == "" && prio == 255:
		t.add(&item{key: "state", value: `"MASTER"`, origin: n.Pos, lead: []string{noteComment("keepalived starts the address owner (priority 255) as MASTER")}})
		stateVal = "MASTER"
	case stateVal == "MASTER" && priority == nil:
		t.add(&item{key: "priority", value: "255", origin: state.origin,
			lead: []string{noteComment("keepalived makes an instance with state MASTER and no priority the address owner")}})
		prio = 255
	case stateVal == "BACKUP" && prio == 255:
		c.warnf(n, "priority 255 makes the instance the address owner; keepalived starts it as BACKUP and it takes over at once, xlb starts it as MASTER")
		state.lead = append(state.lead, noteComment("state BACKUP changed to MASTER: xlb starts the address owner (priority 255) as MASTER"))
		state.value = `"MASTER"`
		stateVal = "MASTER"
	}
	if nopreempt != nil && prio == 255 {
		c.warnf(n, "nopreempt does not apply to the address owner (priority 255); keepalived ignores it")
		dropItem(nopreempt, "dropped, as keepalived does: the address owner (priority 255) always preempts")
		nopreempt = nil
	}
	if stateVal == "MASTER" {
		if nopreempt != nil {
			c.warnf(n, "nopreempt does not work with state MASTER; keepalived ignores it")
			dropItem(nopreempt, "dropped, as keepalived does: nopreempt needs state BACKUP")
			nopreempt = nil
		}
		if preemptDelay != nil {
			c.warnf(n, "preempt_delay does not work with state MASTER; keepalived ignores it")
			dropItem(preemptDelay, "dropped, as keepalived does: preempt_delay needs state BACKUP")
			preemptDelay = nil
		}
	}
	if preemptDelay != nil && nopreempt != nil {
		c.warnf(n, "preempt_delay does not work with nopreempt; keepalived ignores it")
		dropItem(preemptDelay, "dropped, as keepalived does: preempt_delay does nothing with nopreempt")
	}
	if it := t.get("accept"); it != nil && ver == 2 {
		c.warnf(n, "accept is VRRPv3's accept mode; xlb reports it for VRRPv3 only, and its dataplane takes traffic to the addresses either way")
		dropItem(it, "dropped: accept mode is VRRPv3's, and xlb's dataplane takes traffic to the addresses either way")
	}
	c.smtpAlertDefault(t, n)
	for _, key := range []string{"garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat"} {
		if d := c.garpDefaults[key]; d != nil && t.get(key) == nil {
			v, _ := strconv.ParseInt(d.Args[0], 10, 64)
			t.add(&item{key: key, value: tomlInt(v), origin: d.Pos, lead: []string{noteComment("from global_defs %s (%s)", d.Keyword, d.Pos)}})
		}
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	c.instances = append(c.instances, in)
	c.body = append(c.body, t)
}

// dropItem turns an item into a note that says why it is not there.
func dropItem(it *item, why string) {
	it.lead = append(it.lead, noteComment("%s = %s %s", it.key, it.value, why))
	if it.comment != "" {
		it.lead = append(it.lead, it.comment)
	}
	it.key, it.comment = "", ""
}

// roundAdvert rounds advert_int the way keepalived does for the version.
func (c *converter) roundAdvert(n *Node, it *item, v float64, ver int64) {
	r := v
	if ver == 2 {
		r = math.Floor(v + 0.5)
		if r < 1 {
			r = 1
		}
		if r > 255 {
			r = 255
		}
	} else {
		r = math.Floor(v*100+0.5) / 100
		if r < 0.01 {
			r = 0.01
		}
		if r > 40.95 {
			r = 40.95
		}
	}
	if r == v {
		return
	}
	c.warnf(n, "advert_int %s is rounded to %s by keepalived for VRRPv%d", it.value, tomlSeconds(r), ver)
	it.lead = append(it.lead, noteComment("advert_int %s rounded to %s, as keepalived does for VRRPv%d", it.value, tomlSeconds(r), ver))
	it.value = tomlSeconds(r)
}

// authentication converts authentication { auth_type …; auth_pass … } into
// an inline table.
func (c *converter) authentication(t *table, k *Node) *item {
	if !c.block(k, 0, 0) {
		return nil
	}
	var typ, pass string
	var notes []string
	lead := opComments(k.Comments)
	for _, a := range k.Block {
		lead = append(lead, opComments(a.Comments)...)
		if a.Comment != "" {
			lead = append(lead, opComment(a.Comment))
		}
		switch a.Keyword {
		case "auth_type":
			if !c.leaf(a, 1, 1) {
				continue
			}
			if a.Args[0] != "PASS" && a.Args[0] != "AH" {
				c.errorf(a, "expected PASS or AH, got %q", a.Args[0])
				continue
			}
			typ = a.Args[0]
		case "auth_pass":
			if !c.leaf(a, 1, 1) {
				continue
			}
			pass = a.Args[0]
			if len(pass) > 8 {
				c.warnf(a, "keepalived uses only the first 8 characters of the password")
				notes = append(notes, noteComment("auth_pass cut to its first 8 characters, which are all keepalived sends"))
				pass = pass[:8]
			}
		default:
			c.errorf(a, "unknown keyword in authentication (expected auth_type or auth_pass)")
		}
	}
	lead = append(lead, opComments(k.EndComments)...)
	switch typ {
	case "":
		if pass != "" {
			c.warnf(k, "auth_pass without auth_type; keepalived sends no authentication")
			return t.add(&item{lead: append(lead, noteComment("authentication has no auth_type: keepalived sends none")), origin: k.Pos})
		}
		return nil
	case "AH":
		c.unsupported(t, k, "xlb has only PASS authentication")
		return nil
	}
	if pass == "" {
		c.errorf(k, "auth_type PASS needs auth_pass")
		return nil
	}
	if !validUTF8(pass) {
		c.errorf(k, "auth_pass is not valid UTF-8 text, which TOML cannot hold")
		return nil
	}
	if old := t.get("authentication"); old != nil {
		dropItem(old, fmt.Sprintf("overridden by %s", k.Pos))
	}
	val := fmt.Sprintf("{ auth_type = %s, auth_pass = %s }", tomlString(typ), tomlString(pass))
	return t.add(&item{key: "authentication", value: val, lead: append(lead, notes...), comment: trailingComment(k.Comment), origin: k.Pos})
}

// vipScopes are the address scopes keepalived knows by name (iproute2's
// rt_scopes).
var vipScopes = map[string]string{"global": "global", "universe": "global", "site": "site", "link": "link", "host": "host", "nowhere": "nowhere"}

// vipOptionsWithValue are the virtual_ipaddress options followed by a value.
var vipOptionsWithValue = setOf("dev", "scope", "brd", "broadcast", "label", "peer", "preferred_lft", "track_group")

// vips converts the entries of a virtual_ipaddress block:
//
//	ADDR[/LEN] [dev IF] [brd ADDR|+|-] [label LABEL] [scope SCOPE] [other options]
//
// Addresses keepalived ignores are left out with a note: a second
// virtual_ipaddress of the same address, an excluded one that repeats one on
// the same interface, and a virtual_ipaddress of another family than the
// first.
func (c *converter) vips(k *Node, in *instance, excluded bool) []elem {
	var elems []elem
	for _, e := range k.Block {
		if e.HasBlock {
			c.errorf(e, "takes no block (expected ADDRESS[/PREFIX] [dev IF] [brd ADDR] [label LABEL] [scope SCOPE])")
			continue
		}
		el := elem{lead: opComments(e.Comments), comment: trailingComment(e.Comment), origin: e.Pos}
		p, ok := c.prefix(e, e.Keyword)
		if !ok {
			continue
		}
		parts := []string{p.String()}
		var brd string
		bad := false
		for i := 0; i < len(e.Args) && !bad; i++ {
			opt := e.Args[i]
			if vipOptionsWithValue[opt] && i+1 >= len(e.Args) {
				c.errorf(e, "%s needs a value", opt)
				bad = true
				break
			}
			switch opt {
			case "dev":
				if !c.ifName(e, e.Args[i+1]) {
					bad = true
					break
				}
				parts = append(parts, "dev", e.Args[i+1])
				i++
			case "scope":
				s := e.Args[i+1]
				i++
				if name, ok := vipScopes[s]; ok {
					s = name
				} else if n, err := strconv.Atoi(s); err != nil || n < 0 || n > 255 {
					c.errorf(e, "bad scope %q (expected global, site, link, host, nowhere or 0-255)", s)
					bad = true
					break
				}
				if p.Addr().Is6() {
					c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: e.Keyword, Severity: Warning, Msg: "keepalived ignores scope on IPv6 addresses"})
					el.lead = append(el.lead, noteComment("scope %s left out, as keepalived does for IPv6", s))
					continue
				}
				parts = append(parts, "scope", s)
			case "brd", "broadcast":
				brd = e.Args[i+1]
				i++
				if p.Addr().Is6() {
					c.errorf(e, "brd is for IPv4 addresses only (keepalived skips this address)")
					bad = true
					break
				}
				if (brd == "+" || brd == "-") && p.Bits() > 30 {
					c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: e.Keyword, Severity: Warning, Msg: fmt.Sprintf("keepalived ignores brd %s with a /%d prefix", brd, p.Bits())})
					el.lead = append(el.lead, noteComment("brd %s left out, as keepalived does for a /%d prefix", brd, p.Bits()))
					continue
				}
				if brd != "+" && brd != "-" {
					a, err := netip.ParseAddr(brd)
					if err != nil || !a.Is4() {
						c.errorf(e, "bad broadcast address %q (expected an IPv4 address, + or -)", brd)
						bad = true
						break
					}
				}
				parts = append(parts, "brd", brd)
			case "label":
				l := e.Args[i+1]
				i++
				if len(l) > 15 || strings.ContainsAny(l, " \t") {
					c.errorf(e, "bad label %q (expected at most 15 characters, no blanks)", l)
					bad = true
					break
				}
				if p.Addr().Is6() {
					c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: e.Keyword, Severity: Warning, Msg: "keepalived ignores label on IPv6 addresses"})
					el.lead = append(el.lead, noteComment("label %s left out, as keepalived does for IPv6", l))
					continue
				}
				parts = append(parts, "label", l)
			case "peer", "preferred_lft", "track_group", "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac":
				what := opt
				if vipOptionsWithValue[opt] {
					what += " " + e.Args[i+1]
					i++
				}
				reason := "xlb's virtual_ipaddress has only dev, brd, label and scope"
				c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: e.Keyword, Severity: Unsupported, Msg: what + ": " + reason})
				el.lead = append(el.lead, noteComment("not imported: %s (%s)", what, reason))
			default:
				c.errorf(e, "unknown option %q (expected dev, brd, label, scope or another keepalived address option)", opt)
				bad = true
			}
		}
		if bad {
			continue
		}
		vip, err := config.ParseVIP(strings.Join(parts, " "))
		if err != nil {
			c.errorf(e, "%s", err)
			continue
		}
		if why := vipIgnored(in, vip, excluded); why != "" {
			c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: e.Keyword, Severity: Warning, Msg: "keepalived ignores it: " + why})
			el.lead = append(el.lead, noteComment("%s left out, as keepalived does: %s", vip, why))
			elems = append(elems, el)
			continue
		}
		el.value = tomlString(vip.String())
		elems = append(elems, el)
		if excluded {
			in.evips = append(in.evips, vip)
		} else {
			in.vips = append(in.vips, vip)
		}
	}
	return elems
}

// vipIgnored says why keepalived would ignore vip in the instance, or "".
func vipIgnored(in *instance, vip config.VIP, excluded bool) string {
	if !excluded && len(in.vips) > 0 && in.vips[0].Addr().Is6() != vip.Addr().Is6() {
		return "its address family is not the instance's"
	}
	for _, v := range in.vips {
		if v.Addr() == vip.Addr() && (!excluded || v.Dev == vip.Dev) {
			return "it repeats virtual_ipaddress " + v.String()
		}
	}
	for _, v := range in.evips {
		if v.Addr() == vip.Addr() && v.Dev == vip.Dev {
			return "it repeats virtual_ipaddress_excluded " + v.String()
		}
	}
	return ""
}

// prefix parses ADDR or ADDR/LEN, keeping the host bits.
func (c *converter) prefix(n *Node, s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			c.errorf(n, "bad address %q (expected ADDRESS or ADDRESS/PREFIX-LENGTH)", s)
			return netip.Prefix{}, false
		}
		return p, true
	}
	a, ok := c.addr(n, s)
	if !ok {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// unicastPeers converts unicast_peer { ADDR [min_ttl N] [max_ttl N] }.
func (c *converter) unicastPeers(k *Node) []elem {
	var elems []elem
	seen := map[netip.Addr]bool{}
	for _, e := range k.Block {
		if e.HasBlock {
			c.errorf(e, "takes no block (expected an address)")
			continue
		}
		a, ok := c.addr(e, e.Keyword)
		if !ok {
			continue
		}
		el := elem{value: tomlString(a.String()), lead: opComments(e.Comments), comment: trailingComment(e.Comment), origin: e.Pos}
		if seen[a] {
			c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: e.Keyword, Severity: Warning, Msg: "keepalived ignores a repeated unicast_peer"})
			el.lead = append(el.lead, noteComment("%s left out, as keepalived does: it is repeated", a))
			el.value = ""
			elems = append(elems, el)
			continue
		}
		seen[a] = true
		if len(e.Args) > 0 {
			what := strings.Join(e.Args, " ")
			for i := 0; i < len(e.Args); i += 2 {
				if (e.Args[i] != "min_ttl" && e.Args[i] != "max_ttl") || i+1 >= len(e.Args) {
					c.errorf(e, "unknown option %q (expected min_ttl N or max_ttl N)", e.Args[i])
					return nil
				}
			}
			reason := "xlb checks no TTL range on unicast advertisements"
			c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: e.Keyword, Severity: Unsupported, Msg: what + ": " + reason})
			el.lead = append(el.lead, noteComment("not imported: %s (%s)", what, reason))
		}
		elems = append(elems, el)
	}
	if len(elems) > 0 {
		last := &elems[len(elems)-1]
		last.lead = append(last.lead, opComments(k.EndComments)...)
	}
	return elems
}

// What trackEntries converts.
type trackKind int

const (
	trackInterface trackKind = iota
	trackScript
	trackFile
)

// trackEntries converts track_interface { IF [weight N [reverse]] },
// track_script { NAME [weight N [reverse|noreverse]] } or track_file
// { NAME [weight N [reverse|noreverse]] }.
func (c *converter) trackEntries(t *table, k *Node, kind trackKind) []elem {
	var elems []elem
	for _, e := range k.Block {
		if e.HasBlock {
			c.errorf(e, "takes no block (expected NAME [weight N])")
			continue
		}
		el := elem{lead: opComments(e.Comments), comment: trailingComment(e.Comment), origin: e.Pos}
		name := e.Keyword
		if kind == trackScript && !c.scriptNames[name] {
			c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: name, Severity: Warning, Msg: fmt.Sprintf("no vrrp_script %q; keepalived ignores the track_script entry", name)})
			t.add(&item{lead: append(el.lead, noteComment("track_script %s left out: there is no such vrrp_script (keepalived ignores it too)", name)), origin: e.Pos})
			continue
		}
		if kind == trackFile && !c.trackFileNames[name] {
			c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: name, Severity: Warning, Msg: fmt.Sprintf("no track_file %q with a file; keepalived ignores the track_file entry", name)})
			t.add(&item{lead: append(el.lead, noteComment("track_file %s left out: there is no such track_file with a file (keepalived ignores it too)", name)), origin: e.Pos})
			continue
		}
		if kind == trackInterface && !c.ifName(e, name) {
			continue
		}
		value := name
		args := e.Args
		if len(args) > 0 {
			if args[0] != "weight" || len(args) < 2 || len(args) > 3 {
				c.errorf(e, "expected %s [weight N], got %q", name, strings.Join(args, " "))
				continue
			}
			w, err := strconv.Atoi(args[1])
			if err != nil || w < -254 || w > 254 {
				c.errorf(e, "bad weight %q (expected -254 to 254)", args[1])
				continue
			}
			value = fmt.Sprintf("%s weight %d", name, w)
			if len(args) == 3 {
				switch args[2] {
				case "noreverse":
				case "reverse":
					if kind == trackFile {
						value += " reverse"
						break
					}
					reason := "xlb has no reverse weights"
					c.findings = append(c.findings, Finding{Pos: e.Pos, Keyword: name, Severity: Unsupported, Msg: "reverse: " + reason})
					t.add(&item{lead: append(el.lead, noteComment("not imported: %s %s (%s)", k.Keyword, e.Line(), reason)), origin: e.Pos})
					continue
				default:
					c.errorf(e, "unknown option %q (expected reverse or noreverse)", args[2])
					continue
				}
			}
		}
		el.value = tomlString(value)
		elems = append(elems, el)
	}
	if len(elems) > 0 {
		last := &elems[len(elems)-1]
		last.lead = append(last.lead, opComments(k.EndComments)...)
	}
	return elems
}
