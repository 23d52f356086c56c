package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// service is what the importer knows of a virtual_server.
type service struct {
	node  *Node
	addr  netip.Addr
	reals []netip.Addr
}

// vsUnsupported are virtual_server keywords xlb has no equivalent for.
var vsUnsupported = map[string]string{
	"sh-port":            "xlb's sh hashes the client address only",
	"sh-fallback":        "xlb's sh has no fallback",
	"hashed":             "an IPVS scheduler flag xlb has no equivalent for",
	"ops":                "xlb schedules UDP per flow, not per packet",
	"flag-1":             "an IPVS scheduler flag xlb has no equivalent for",
	"flag-2":             "an IPVS scheduler flag xlb has no equivalent for",
	"flag-3":             "an IPVS scheduler flag xlb has no equivalent for",
	"persistence_engine": "xlb has no persistence engines",
	"snmp_name":          "xlb has no SNMP",
}

// rsUnsupported are real_server keywords xlb has no equivalent for.
var rsUnsupported = map[string]string{
	"uthreshold":   "xlb has no connection thresholds",
	"lthreshold":   "xlb has no connection thresholds",
	"snmp_name":    "xlb has no SNMP",
	"BFD_CHECK":    "xlb has no BFD",
	"SMTP_CHECKER": "not a keepalived 2.2.7 checker (SMTP_CHECK is)",
}

// checkerUnsupported are health check keywords xlb has no equivalent for.
var checkerUnsupported = map[string]string{
	"bind_if":          "xlb binds health checks by address (bindto) only",
	"fwmark":           "xlb marks no health check packets",
	"log_all_failures": "xlb logs every state change of a real",
	"sni_name":         "xlb sends the virtualhost as SNI",
	"fast_recovery":    "xlb's checks have no fast recovery",
	"tls_compliant":    "xlb's TLS checks close connections as TLS says",
}

// urlUnsupported are url keywords xlb has no equivalent for.
var urlUnsupported = map[string]string{
	"regex_min_offset": "xlb matches the regex against the whole body",
	"regex_max_offset": "xlb matches the regex against the whole body",
	"regex_stack":      "xlb's regular expressions (Go's RE2) need no match stack",
	"tls_compliant":    "xlb's TLS checks close connections as TLS says",
}

// checkDefaults are the health check settings a virtual_server or
// real_server gives all of its checks, by keepalived keyword.
type checkDefaults map[string]*Node

var checkDefaultKeys = []string{"connect_timeout", "retry", "delay_before_retry", "warmup"}

// vsContext is what a virtual_server's reals and checks inherit.
type vsContext struct {
	defaults    checkDefaults
	delayLoop   float64
	alpha       bool
	weight      *Node
	inhibit     bool   // inhibit_on_failure of the service
	table       string // the service's table header
	virtualhost string
}

// virtualServer converts virtual_server IP PORT {…} into
// [[virtual_server]].
func (c *converter) virtualServer(n *Node) {
	if c.firstService == nil {
		c.firstService = n
	}
	if !n.HasBlock {
		c.errorf(n, "expected '{' (virtual_server starts a block)")
		return
	}
	holder := &table{origin: n.Pos}
	if len(n.Args) == 2 && (n.Args[0] == "fwmark" || n.Args[0] == "group") {
		c.body = append(c.body, holder)
		if n.Args[0] == "fwmark" {
			c.unsupported(holder, n, "xlb's services are an address, a port and a protocol; it has no firewall mark services")
		} else {
			c.unsupported(holder, n, "xlb has no virtual server groups; write one virtual_server per address and port")
		}
		return
	}
	if len(n.Args) < 1 || len(n.Args) > 2 {
		c.errorf(n, "expected IP PORT, fwmark N or group NAME before '{'")
		return
	}
	a, ok := c.addr(n, n.Args[0])
	if !ok {
		return
	}
	if len(n.Args) == 1 {
		c.body = append(c.body, holder)
		c.unsupported(holder, n, "a service on every port; xlb's services have one port")
		return
	}
	port, ok := c.port(n, n.Args[1])
	if !ok {
		return
	}
	if port == 0 {
		c.body = append(c.body, holder)
		c.unsupported(holder, n, "a service on every port; xlb's services have one port")
		return
	}
	// What makes the whole service unimportable, and what its parts
	// inherit.
	ctx := &vsContext{defaults: checkDefaults{}, delayLoop: 60}
	for _, k := range n.Block {
		switch k.Keyword {
		case "protocol":
			if len(k.Args) == 1 && k.Args[0] == "SCTP" {
				c.body = append(c.body, holder)
				c.unsupported(holder, n, "protocol SCTP: xlb balances TCP and UDP")
				return
			}
		case "lb_kind", "lvs_method":
			if len(k.Args) >= 1 && (k.Args[0] == "DR" || k.Args[0] == "TUN") {
				c.body = append(c.body, holder)
				c.unsupported(holder, n, "%s %s: xlb forwards by NAT only", k.Keyword, k.Args[0])
				return
			}
		case "connect_timeout", "retry", "delay_before_retry", "warmup":
			ctx.defaults[k.Keyword] = k
		case "delay_loop":
			if len(k.Args) == 1 {
				if v, err := strconv.ParseFloat(k.Args[0], 64); err == nil && v > 0 && v <= 1e9 {
					ctx.delayLoop = math.Round(v*1e6) / 1e6
				}
			}
		case "alpha":
			if on, ok := parseBool(k.Args, 0); ok && len(k.Args) <= 1 {
				ctx.alpha = on
			}
		case "weight":
			ctx.weight = k
		case "inhibit_on_failure":
			if on, ok := parseBool(k.Args, 0); ok && len(k.Args) <= 1 {
				ctx.inhibit = on
			}
		case "virtualhost":
			if len(k.Args) == 1 {
				ctx.virtualhost = k.Args[0]
			}
		}
	}
	t := &table{header: "virtual_server", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	ctx.table = t.header
	t.add(&item{key: "address", value: tomlString(a.String()), origin: n.Pos})
	t.add(&item{key: "port", value: tomlInt(int64(port)), origin: n.Pos})
	svc := &service{node: n, addr: a}
	var algo string
	var mhFlags []*item
	for _, k := range n.Block {
		switch k.Keyword {
		case "delay_loop":
			if c.leaf(k, 1, 1) {
				if v, ok := c.timerArg(k, 0, 0.000001, 1e9); ok {
					c.set(t, k, "delay_loop", tomlSeconds(v))
				}
			}
		case "lb_algo", "lvs_sched":
			if !c.leaf(k, 1, 1) {
				continue
			}
			switch s := strings.ToLower(k.Args[0]); s {
			case "rr", "wrr", "lc", "wlc", "sh", "mh":
				algo = s
				c.set(t, k, "lb_algo", tomlString(s))
			case "lblc", "lblcr", "dh", "fo", "ovf", "sed", "nq", "twos":
				c.unsupported(t, k, "xlb has the rr, wrr, lc, wlc, sh and mh schedulers; the service gets xlb's default, wlc")
			default:
				c.errorf(k, "unknown scheduler %q (expected rr, wrr, lc, wlc, lblc, sh, mh, dh, fo, ovf, lblcr, sed, nq or twos)", k.Args[0])
			}
		case "lb_kind", "lvs_method":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if k.Args[0] != "NAT" {
				c.errorf(k, "expected NAT, DR or TUN, got %q", k.Args[0])
				continue
			}
			c.set(t, k, "lb_kind", `"NAT"`)
		case "persistence_timeout":
			if !c.leaf(k, 0, 1) {
				continue
			}
			v := int64(360)
			if len(k.Args) == 1 {
				var ok bool
				if v, ok = c.intArg(k, 0, 0, math.MaxInt32); !ok {
					continue
				}
			}
			it := c.set(t, k, "persistence_timeout", tomlInt(v))
			if len(k.Args) == 0 {
				it.lead = append(it.lead, noteComment("persistence_timeout without a value is keepalived's 6 minutes"))
			}
		case "persistence_granularity":
			if !c.leaf(k, 1, 1) {
				continue
			}
			c.granularity(t, k, a)
		case "protocol":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if k.Args[0] != "TCP" && k.Args[0] != "UDP" {
				c.errorf(k, "expected TCP, UDP or SCTP, got %q", k.Args[0])
				continue
			}
			c.set(t, k, "protocol", tomlString(k.Args[0]))
		case "ha_suspend":
			if c.leaf(k, 0, 0) {
				c.set(t, k, "ha_suspend", "true")
			}
		case "virtualhost":
			if c.leaf(k, 1, 1) {
				c.set(t, k, "virtualhost", tomlString(k.Args[0]))
			}
		case "alpha", "omega", "inhibit_on_failure", "sorry_server_inhibit", "smtp_alert":
			if !c.leaf(k, 0, 1) {
				continue
			}
			if on, ok := c.boolArg(k, 0); ok {
				c.set(t, k, k.Keyword, tomlBool(on))
			}
		case "quorum", "hysteresis":
			if !c.leaf(k, 1, 1) {
				continue
			}
			lo := int64(0)
			if k.Keyword == "quorum" {
				lo = 1
			}
			if v, ok := c.intArg(k, 0, lo, math.MaxInt32); ok {
				c.set(t, k, k.Keyword, tomlInt(v))
			}
		case "quorum_up", "quorum_down":
			c.notify(t, k)
		case "sorry_server":
			if !c.leaf(k, 1, 2) {
				continue
			}
			sa, ok := c.addr(k, k.Args[0])
			if !ok {
				continue
			}
			sp := port
			if len(k.Args) == 2 {
				if sp, ok = c.port(k, k.Args[1]); !ok {
					continue
				}
				if sp != port {
					c.warnf(k, "keepalived resets the sorry server's port %d to the service's, %d", sp, port)
					sp = port
				}
			}
			c.set(t, k, "sorry_server", tomlString(netip.AddrPortFrom(sa, uint16(sp)).String()))
		case "sorry_server_lvs_method":
			if !c.leaf(k, 1, -1) {
				continue
			}
			if k.Args[0] == "NAT" {
				note(t, k, "%s: xlb forwards by NAT", k.Line())
				continue
			}
			c.unsupported(t, k, "xlb forwards by NAT only")
		case "nat_mask":
			if c.leaf(k, 1, 1) {
				c.set(t, k, "nat_mask", tomlString(k.Args[0]))
			}
		case "mh-port", "mh-fallback":
			if c.leaf(k, 0, 0) {
				mhFlags = append(mhFlags, c.set(t, k, strings.ReplaceAll(k.Keyword, "-", "_"), "true"))
			}
		case "ip_family":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if k.Args[0] != "inet" && k.Args[0] != "inet6" {
				c.errorf(k, "expected inet or inet6, got %q", k.Args[0])
				continue
			}
			note(t, k, "%s: the family is the address's", k.Line())
		case "connect_timeout", "retry", "delay_before_retry", "warmup":
			if c.checkDefault(k) {
				note(t, k, "%s: set on each health check below that does not set %s", k.Line(), k.Keyword)
			}
		case "weight":
			if c.leaf(k, 1, 1) {
				if _, ok := c.intArg(k, 0, 0, 65535); ok {
					note(t, k, "%s: set on each real_server below that does not set weight", k.Line())
				}
			}
		case "real_server":
			if rs := c.realServer(k, a, port, ctx); rs != nil {
				t.subs = append(t.subs, rs)
				if ra, err := netip.ParseAddr(k.Args[0]); err == nil {
					svc.reals = append(svc.reals, ra)
				}
			}
		default:
			if reason, ok := vsUnsupported[k.Keyword]; ok {
				c.unsupported(t, k, "%s", reason)
				continue
			}
			c.errorf(k, "unknown keyword in virtual_server")
		}
	}
	if algo != "mh" {
		for _, it := range mhFlags {
			c.warnf(n, "%s applies to lb_algo mh only; IPVS ignores it here", strings.ReplaceAll(it.key, "_", "-"))
			dropItem(it, "dropped: it applies to lb_algo mh only")
		}
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	c.services = append(c.services, svc)
	c.body = append(c.body, t)
}

// checkDefault validates a connect_timeout, retry, delay_before_retry or
// warmup line.
func (c *converter) checkDefault(k *Node) bool {
	if !c.leaf(k, 1, 1) {
		return false
	}
	var ok bool
	switch k.Keyword {
	case "retry", "nb_get_retry":
		_, ok = c.intArg(k, 0, 0, math.MaxInt32)
	case "connect_timeout":
		_, ok = c.timerArg(k, 0, 0.000001, 1e9)
	default:
		_, ok = c.timerArg(k, 0, 0, 1e9)
	}
	return ok
}

// checkValue renders a validated check default as TOML.
func checkValue(k *Node) string {
	if k.Keyword == "retry" || k.Keyword == "nb_get_retry" {
		v, _ := strconv.ParseInt(k.Args[0], 10, 64)
		return tomlInt(v)
	}
	f, _ := strconv.ParseFloat(k.Args[0], 64)
	return tomlSeconds(math.Round(f*1e6) / 1e6)
}

// granularity converts persistence_granularity: an IPv4 netmask, or an
// IPv6 prefix length.
func (c *converter) granularity(t *table, k *Node, svc netip.Addr) {
	s := k.Args[0]
	if strings.Contains(s, ".") {
		m, err := netip.ParseAddr(s)
		if err != nil || !m.Is4() {
			c.errorf(k, "bad netmask %q (expected an IPv4 netmask like 255.255.255.0)", s)
			return
		}
		if _, ok := maskBits(m); !ok {
			c.unsupported(t, k, "a netmask with holes; xlb groups clients by prefix length")
			return
		}
		if svc.Is6() {
			c.errorf(k, "an IPv4 netmask for an IPv6 service (expected a prefix length 1-128)")
			return
		}
		c.set(t, k, "persistence_granularity", tomlString(s))
		return
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 128 || svc.Is4() {
		c.errorf(k, "bad persistence_granularity %q (expected a netmask for IPv4, a prefix length 1-128 for IPv6)", s)
		return
	}
	c.set(t, k, "persistence_granularity", tomlInt(int64(v)))
}

// maskBits returns the prefix length of a contiguous IPv4 netmask.
func maskBits(m netip.Addr) (int, bool) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	if n < 32 && v<<n != 0 {
		return 0, false
	}
	return n, true
}

// realServer converts real_server IP [PORT] {…} into
// [[virtual_server.real_server]].
func (c *converter) realServer(n *Node, svc netip.Addr, svcPort int, vs *vsContext) *table {
	if len(n.Args) < 1 || len(n.Args) > 2 {
		c.errorf(n, "expected IP [PORT]")
		return nil
	}
	a, ok := c.addr(n, n.Args[0])
	if !ok {
		return nil
	}
	if a.Is6() != svc.Is6() {
		c.errorf(n, "real server %s is not of the service's address family", a)
		return nil
	}
	t := &table{header: vs.table + ".real_server", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	t.add(&item{key: "address", value: tomlString(a.String()), origin: n.Pos})
	if len(n.Args) == 2 {
		p, ok := c.port(n, n.Args[1])
		if !ok {
			return nil
		}
		if p != 0 {
			t.add(&item{key: "port", value: tomlInt(int64(p)), origin: n.Pos})
		}
	}
	rs := &rsContext{vs: vs, defaults: checkDefaults{}, virtualhost: vs.virtualhost}
	for _, k := range n.Block {
		switch k.Keyword {
		case "connect_timeout", "retry", "delay_before_retry", "warmup":
			rs.defaults[k.Keyword] = k
		case "virtualhost":
			if len(k.Args) == 1 {
				rs.virtualhost = k.Args[0]
			}
		}
	}
	weightSet := false
	for _, k := range n.Block {
		switch k.Keyword {
		case "weight":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 0, 65535); ok {
				c.set(t, k, "weight", tomlInt(v))
				weightSet = true
			}
		case "inhibit_on_failure":
			if !c.leaf(k, 0, 1) {
				continue
			}
			on, ok := c.boolArg(k, 0)
			if !ok {
				continue
			}
			if !on && vs.inhibit {
				c.unsupported(t, k, "xlb inhibits every real of a service with inhibit_on_failure; this real is removed on failure in keepalived")
				continue
			}
			c.set(t, k, "inhibit_on_failure", tomlBool(on))
		case "smtp_alert":
			if !c.leaf(k, 0, 1) {
				continue
			}
			if on, ok := c.boolArg(k, 0); ok {
				c.set(t, k, "smtp_alert", tomlBool(on))
			}
		case "notify_up", "notify_down":
			c.notify(t, k)
		case "virtualhost":
			if c.leaf(k, 1, 1) {
				note(t, k, "%s: set on each HTTP_GET and SSL_GET below that does not set virtualhost", k.Line())
			}
		case "connect_timeout", "retry", "delay_before_retry", "warmup":
			if c.checkDefault(k) {
				note(t, k, "%s: set on each health check below that does not set %s", k.Line(), k.Keyword)
			}
		case "delay_loop":
			c.sameAsService(t, k, vs, "xlb checks every real of a service at the service's delay_loop")
		case "alpha":
			c.sameAlpha(t, k, vs)
		case "lvs_method":
			if !c.leaf(k, 1, -1) {
				continue
			}
			if k.Args[0] == "NAT" {
				note(t, k, "%s: xlb forwards by NAT", k.Line())
				continue
			}
			c.unsupported(t, k, "xlb forwards by NAT only")
		case "HTTP_GET", "SSL_GET":
			if ct := c.httpCheck(k, rs); ct != nil {
				t.subs = append(t.subs, ct)
			}
		case "TCP_CHECK":
			if ct := c.tcpCheck(k, rs); ct != nil {
				t.subs = append(t.subs, ct)
			}
		case "MISC_CHECK":
			if ct := c.miscCheck(t, k, rs); ct != nil {
				t.subs = append(t.subs, ct)
			}
		case "DNS_CHECK":
			if ct := c.dnsCheck(k, rs); ct != nil {
				t.subs = append(t.subs, ct)
			}
		case "UDP_CHECK":
			if ct := c.udpCheck(k, rs); ct != nil {
				t.subs = append(t.subs, ct)
			}
		case "PING_CHECK":
			if ct := c.pingCheck(k, rs); ct != nil {
				t.subs = append(t.subs, ct)
			}
		case "SMTP_CHECK":
			t.subs = append(t.subs, c.smtpCheck(k, rs)...)
		case "FILE_CHECK":
			if ct := c.fileCheck(t, k, rs); ct != nil {
				t.subs = append(t.subs, ct)
			}
		default:
			if reason, ok := rsUnsupported[k.Keyword]; ok {
				c.unsupported(t, k, "%s", reason)
				continue
			}
			c.errorf(k, "unknown keyword in real_server")
		}
	}
	if w, err := strconv.ParseInt(weightArg(vs.weight), 10, 64); !weightSet && err == nil && w >= 0 && w <= 65535 {
		t.add(&item{key: "weight", value: tomlInt(w), origin: vs.weight.Pos,
			lead: []string{noteComment("from virtual_server weight (%s)", vs.weight.Pos)}})
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}

// weightArg returns the value of a weight line, or "" for none.
func weightArg(n *Node) string {
	if n == nil || len(n.Args) != 1 {
		return ""
	}
	return n.Args[0]
}

// rsContext is what a real_server's checks inherit.
type rsContext struct {
	vs          *vsContext
	defaults    checkDefaults
	virtualhost string
}

// sameAsService accepts a delay_loop that equals the service's and reports
// any other.
func (c *converter) sameAsService(t *table, k *Node, vs *vsContext, reason string) {
	if !c.leaf(k, 1, 1) {
		return
	}
	v, ok := c.timerArg(k, 0, 0.000001, 1e9)
	if !ok {
		return
	}
	if v == vs.delayLoop {
		note(t, k, "%s: the service's delay_loop", k.Line())
		return
	}
	c.unsupported(t, k, "%s (%s)", reason, tomlSeconds(vs.delayLoop)+"s")
}

// sameAlpha accepts an alpha that equals the service's and reports any
// other.
func (c *converter) sameAlpha(t *table, k *Node, vs *vsContext) {
	if !c.leaf(k, 0, 1) {
		return
	}
	on, ok := c.boolArg(k, 0)
	if !ok {
		return
	}
	if on == vs.alpha {
		note(t, k, "%s: the service's alpha", k.Line())
		return
	}
	c.unsupported(t, k, "xlb sets alpha per virtual_server, where it is %t", vs.alpha)
}

// inherit adds the check settings the check does not set itself from its
// real_server and virtual_server, as keepalived does.
func (c *converter) inherit(t *table, rs *rsContext, keys ...string) {
	for _, key := range keys {
		if t.get(key) != nil {
			continue
		}
		src, from := rs.defaults[key], "real_server"
		if src == nil {
			src, from = rs.vs.defaults[key], "virtual_server"
		}
		if src == nil || len(src.Args) != 1 {
			continue
		}
		t.add(&item{key: key, value: checkValue(src), origin: src.Pos,
			lead: []string{noteComment("from %s %s (%s)", from, src.Keyword, src.Pos)}})
	}
}

// connectOption converts the connection settings shared by HTTP_GET,
// SSL_GET and TCP_CHECK; it reports whether k was one.
func (c *converter) connectOption(t *table, k *Node, rs *rsContext) bool {
	switch k.Keyword {
	case "connect_ip", "bindto":
		if c.leaf(k, 1, 1) {
			if a, ok := c.addr(k, k.Args[0]); ok {
				c.set(t, k, k.Keyword, tomlString(a.String()))
			}
		}
	case "connect_port", "bind_port":
		if c.leaf(k, 1, 1) {
			if p, ok := c.port(k, k.Args[0]); ok {
				c.set(t, k, k.Keyword, tomlInt(int64(p)))
			}
		}
	case "connect_timeout", "delay_before_retry", "warmup":
		if c.checkDefault(k) {
			c.set(t, k, k.Keyword, checkValue(k))
		}
	case "retry", "nb_get_retry":
		if c.checkDefault(k) {
			c.set(t, k, "retry", checkValue(k))
		}
	case "delay_loop":
		c.sameAsService(t, k, rs.vs, "xlb checks at the service's delay_loop")
	case "alpha":
		c.sameAlpha(t, k, rs.vs)
	default:
		if reason, ok := checkerUnsupported[k.Keyword]; ok {
			c.unsupported(t, k, "%s", reason)
			return true
		}
		return false
	}
	return true
}

// httpCheck converts HTTP_GET or SSL_GET {…}.
func (c *converter) httpCheck(n *Node, rs *rsContext) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	kind := strings.ToLower(n.Keyword)
	t := &table{header: rs.vs.table + ".real_server." + kind, array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	urls := 0
	for _, k := range n.Block {
		switch k.Keyword {
		case "url":
			if u := c.url(k, t.header); u != nil {
				t.subs = append(t.subs, u)
				urls++
			}
		case "virtualhost":
			if c.leaf(k, 1, 1) {
				c.set(t, k, "virtualhost", tomlString(k.Args[0]))
			}
		case "http_protocol":
			if !c.leaf(k, 1, 1) {
				continue
			}
			switch k.Args[0] {
			case "1.0", "1.1":
				c.set(t, k, "http_protocol", tomlString(k.Args[0]))
			case "1.0C", "1.0c":
				c.set(t, k, "http_protocol", `"1.0C"`)
			default:
				c.errorf(k, "expected 1.0, 1.0C or 1.1, got %q", k.Args[0])
			}
		case "enable_sni":
			if !c.leaf(k, 0, 1) {
				continue
			}
			on, ok := c.boolArg(k, 0)
			if !ok {
				continue
			}
			if kind == "http_get" {
				note(t, k, "%s: HTTP_GET has no TLS", k.Line())
				continue
			}
			c.set(t, k, "enable_sni", tomlBool(on))
		default:
			if !c.connectOption(t, k, rs) {
				c.errorf(k, "unknown keyword in %s", n.Keyword)
			}
		}
	}
	if urls == 0 {
		c.warnf(n, "has no url; keepalived removes the check")
		return &table{origin: n.Pos, items: []*item{{lead: notImported(n, "it has no url; keepalived removes the check too"), origin: n.Pos}}}
	}
	c.inherit(t, rs, checkDefaultKeys...)
	if t.get("delay_before_retry") == nil {
		t.add(&item{key: "delay_before_retry", value: "3", origin: n.Pos,
			lead: []string{noteComment("keepalived's default for %s", n.Keyword)}})
	}
	if t.get("virtualhost") == nil && rs.virtualhost != "" && rs.virtualhost != rs.vs.virtualhost {
		t.add(&item{key: "virtualhost", value: tomlString(rs.virtualhost), origin: n.Pos,
			lead: []string{noteComment("from the real_server's virtualhost")}})
	}
	if kind == "ssl_get" && t.get("enable_sni") == nil {
		t.add(&item{key: "enable_sni", value: "false", origin: n.Pos,
			lead: []string{noteComment("keepalived sends no SNI unless enable_sni is set")}})
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}

// url converts url { path …; digest …; status_code …; virtualhost … }.
func (c *converter) url(n *Node, parent string) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	t := &table{header: parent + ".url", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	path := false
	var regex, noMatch *Node
	var options []*Node
	for _, k := range n.Block {
		switch k.Keyword {
		case "path":
			if c.leaf(k, 1, 1) {
				c.set(t, k, "path", tomlString(k.Args[0]))
				path = true
			}
		case "digest":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if !isMD5(k.Args[0]) {
				c.errorf(k, "bad digest %q (expected 32 hex digits)", k.Args[0])
				continue
			}
			c.set(t, k, "digest", tomlString(strings.ToLower(k.Args[0])))
		case "status_code":
			if !c.leaf(k, 1, -1) {
				continue
			}
			if v, ok := c.statusCodes(k); ok {
				if old := t.get("status_code"); old != nil {
					// keepalived adds the codes of every status_code line.
					old.value = tomlString(strings.Trim(old.value, `"`) + " " + strings.Join(k.Args, " "))
					note(t, k, "%s: added to status_code above", k.Line())
					continue
				}
				c.set(t, k, "status_code", v)
			}
		case "virtualhost":
			if c.leaf(k, 1, 1) {
				c.set(t, k, "virtualhost", tomlString(k.Args[0]))
			}
		case "regex":
			if c.leaf(k, 1, 1) {
				regex = k
			}
		case "regex_no_match":
			if c.leaf(k, 0, 0) {
				noMatch = k
			}
		case "regex_options":
			if c.leaf(k, 1, -1) {
				options = append(options, k)
			}
		default:
			if reason, ok := urlUnsupported[k.Keyword]; ok {
				c.unsupported(t, k, "%s", reason)
				continue
			}
			c.errorf(k, "unknown keyword in url (expected path, digest, status_code, virtualhost or regex)")
		}
	}
	if !path {
		c.errorf(n, "url has no path")
		return nil
	}
	c.urlRegex(t, regex, noMatch, options)
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}

func isMD5(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// statusCodes checks status_code CODE|LOW-HIGH… and renders it: an integer
// for one code, else keepalived's list as a string.
func (c *converter) statusCodes(k *Node) (string, bool) {
	for _, s := range k.Args {
		lo, hi, found := strings.Cut(s, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if found {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			c.errorf(k, "bad status code %q (expected a code or range within 100-599)", s)
			return "", false
		}
	}
	if len(k.Args) == 1 && !strings.Contains(k.Args[0], "-") {
		v, _ := strconv.Atoi(k.Args[0])
		return tomlInt(int64(v)), true
	}
	return tomlString(strings.Join(k.Args, " ")), true
}

// tcpCheck converts TCP_CHECK {…}.
func (c *converter) tcpCheck(n *Node, rs *rsContext) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	t := &table{header: rs.vs.table + ".real_server.tcp_check", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	for _, k := range n.Block {
		if !c.connectOption(t, k, rs) {
			c.errorf(k, "unknown keyword in TCP_CHECK")
		}
	}
	c.inherit(t, rs, checkDefaultKeys...)
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}

// miscCheck converts MISC_CHECK {…}.
func (c *converter) miscCheck(parent *table, n *Node, rs *rsContext) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	t := &table{header: rs.vs.table + ".real_server.misc_check", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	path := false
	var retry *Node
	for _, k := range n.Block {
		switch k.Keyword {
		case "misc_path":
			cmd, extra, ok := c.script(k)
			if !ok {
				continue
			}
			c.set(t, k, "misc_path", tomlString(cmd))
			path = true
			if len(extra) > 0 {
				t.add(&item{key: "user", value: tomlString(extra[0]), origin: k.Pos, lead: []string{noteComment("the user misc_path names")}})
			}
			if len(extra) > 1 {
				reason := "xlb runs the check with the user's own group"
				c.findings = append(c.findings, Finding{Pos: k.Pos, Keyword: k.Keyword, Severity: Unsupported, Msg: "group " + extra[1] + ": " + reason})
				t.add(&item{lead: []string{noteComment("not imported: group %s (%s)", extra[1], reason)}, origin: k.Pos})
			}
		case "misc_timeout":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if v, ok := c.intArg(k, 0, 0, math.MaxInt32); ok {
				if v == 0 {
					note(t, k, "%s: the default, the service's delay_loop", k.Line())
					continue
				}
				c.set(t, k, "misc_timeout", tomlInt(v))
			}
		case "misc_dynamic":
			if !c.leaf(k, 0, 1) {
				continue
			}
			if on, ok := c.boolArg(k, 0); ok {
				c.set(t, k, "misc_dynamic", tomlBool(on))
			}
		case "user":
			if !c.leaf(k, 1, 2) {
				continue
			}
			c.set(t, k, "user", tomlString(k.Args[0]))
			if len(k.Args) == 2 {
				reason := "xlb runs the check with the user's own group"
				c.findings = append(c.findings, Finding{Pos: k.Pos, Keyword: k.Keyword, Severity: Unsupported, Msg: "group " + k.Args[1] + ": " + reason})
				t.add(&item{lead: []string{noteComment("not imported: group %s (%s)", k.Args[1], reason)}, origin: k.Pos})
			}
		case "warmup":
			if c.checkDefault(k) {
				c.set(t, k, "warmup", checkValue(k))
			}
		case "retry":
			if c.checkDefault(k) {
				retry = k
			}
		case "delay_before_retry":
			if c.checkDefault(k) {
				note(t, k, "%s: used only with retry", k.Line())
			}
		case "delay_loop":
			c.sameAsService(t, k, rs.vs, "xlb checks at the service's delay_loop")
		case "alpha":
			c.sameAlpha(t, k, rs.vs)
		case "log_all_failures":
			c.unsupported(t, k, "%s", checkerUnsupported[k.Keyword])
		default:
			c.errorf(k, "unknown keyword in MISC_CHECK (expected misc_path, misc_timeout, misc_dynamic, user, warmup, retry, delay_before_retry, delay_loop or alpha)")
		}
	}
	if !path {
		c.warnf(n, "has no misc_path; keepalived removes the check")
		parent.add(&item{lead: notImported(n, "it has no misc_path; keepalived removes the check too"), origin: n.Pos})
		return nil
	}
	if retry == nil {
		retry = rs.defaults["retry"]
	}
	if retry == nil {
		retry = rs.vs.defaults["retry"]
	}
	if retry != nil && len(retry.Args) == 1 && retry.Args[0] != "0" {
		reason := fmt.Sprintf("xlb's misc_check has no retry; it counts the first failure (retry %s at %s)", retry.Args[0], retry.Pos)
		c.findings = append(c.findings, Finding{Pos: n.Pos, Keyword: n.Keyword, Severity: Unsupported, Msg: reason})
		t.add(&item{lead: []string{noteComment("not imported: retry %s (%s)", retry.Args[0], reason)}, origin: retry.Pos})
	}
	c.inherit(t, rs, "warmup")
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}
