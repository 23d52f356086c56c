package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// inferDataplane fills [dataplane] interfaces, which keepalived has no
// setting for: XDP must run where clients reach the virtual servers' addresses
// and where the real servers' replies come back, which for LVS-NAT is the
// network whose gateway address a vrrp_instance holds.
func (c *converter) inferDataplane() {
	if len(c.services) == 0 {
		return
	}
	if len(c.interfaces) > 0 {
		t := c.dataplaneTable(c.firstService)
		rest := t.items
		t.items = nil
		t.add(&item{key: "interfaces", array: true, elems: stringElems(c.interfaces),
			lead: []string{noteComment("given to the importer (--interfaces)")}, origin: c.firstService.Pos})
		t.items = append(t.items, rest...)
		return
	}
	var names, why []string
	added := map[string]bool{}
	add := func(name, reason string) {
		if added[name] {
			return
		}
		added[name] = true
		names = append(names, name)
		why = append(why, reason)
	}
	// Where each virtual address is, and which networks the addresses
	// are on, by prefix length.
	type place struct {
		dev, instance string
		vip           netip.Addr
	}
	byAddr := map[netip.Addr]place{}
	byNet := map[netip.Prefix]place{}
	var lengths []int
	for _, in := range c.instances {
		for _, v := range slices.Concat(in.vips, in.evips) {
			dev := v.Dev
			if dev == "" {
				dev = in.iface
			}
			if dev == "" {
				continue
			}
			if _, ok := byAddr[v.Addr()]; !ok {
				byAddr[v.Addr()] = place{dev, in.name, v.Addr()}
			}
			if v.Prefix.Bits() < v.Addr().BitLen() {
				if _, ok := byNet[v.Prefix.Masked()]; !ok {
					byNet[v.Prefix.Masked()] = place{dev, in.name, v.Addr()}
					if !slices.Contains(lengths, v.Prefix.Bits()) {
						lengths = append(lengths, v.Prefix.Bits())
					}
				}
			}
		}
	}
	for _, s := range c.services {
		if p, ok := byAddr[s.addr]; ok {
			add(p.dev, fmt.Sprintf("%s holds %s, the address of virtual_server %s (%s)", p.dev, s.addr, s.addr, p.instance))
		}
		for _, r := range s.reals {
			for _, l := range lengths {
				if l > r.BitLen() {
					continue
				}
				n := netip.PrefixFrom(r, l).Masked()
				if p, ok := byNet[n]; ok {
					add(p.dev, fmt.Sprintf("%s is on %s, the real servers' network (%s holds %s)", p.dev, n, p.instance, p.vip))
				}
			}
		}
	}
	if len(names) == 0 {
		for _, in := range c.instances {
			if in.iface != "" {
				add(in.iface, fmt.Sprintf("%s runs vrrp_instance %s", in.iface, in.name))
			}
		}
	}
	n := c.firstService
	if len(names) == 0 {
		c.findings = append(c.findings, Finding{Pos: n.Pos, Keyword: "dataplane.interfaces", Severity: Unsupported,
			Msg: "keepalived has no such setting and no vrrp_instance shows which interfaces face the clients and the real servers; name them with --interfaces"})
		t := c.dataplaneTable(n)
		t.lead = append(t.lead, noteComment("not imported: xlb needs interfaces = [...], the interfaces facing the clients and the real servers; keepalived has no such setting"))
		return
	}
	t := c.dataplaneTable(n)
	lead := []string{noteComment("keepalived has no such setting; the importer chose where XDP runs, review it:")}
	for _, w := range why {
		lead = append(lead, noteComment("  %s", w))
	}
	elems := stringElems(names)
	rest := t.items
	t.items = nil
	t.add(&item{key: "interfaces", array: true, elems: elems, lead: lead, origin: n.Pos})
	t.items = append(t.items, rest...)
	c.findings = append(c.findings, Finding{Pos: n.Pos, Keyword: "dataplane.interfaces", Severity: Warning,
		Msg: fmt.Sprintf("keepalived has no such setting; chose %s (%s); review it", strings.Join(names, ", "), strings.Join(why, "; "))})
}

// importRules converts the iptables rules into [gateway].
func (c *converter) importRules() {
	if c.rules == nil {
		return
	}
	r := c.rules
	c.findings = append(c.findings, r.Findings...)
	origin := Pos{File: r.Name, Line: 1}
	t := &table{header: "gateway", origin: origin, lead: []string{noteComment("from %s", r.Name)}}
	c.gateway = t
	type key struct{ src, out string }
	seen := map[key]Pos{}
	for _, m := range r.Masquerade {
		src := m.Source
		if src.IsValid() && src.Masked() != src {
			c.findings = append(c.findings, Finding{Pos: m.Pos, Keyword: m.Rule, Severity: Warning,
				Msg: fmt.Sprintf("source %s has host bits set; iptables uses %s", src, src.Masked())})
			src = src.Masked()
		}
		k := key{src.String(), m.OutInterface}
		if prev, dup := seen[k]; dup {
			c.findings = append(c.findings, Finding{Pos: m.Pos, Keyword: m.Rule, Severity: Warning,
				Msg: fmt.Sprintf("the same rule as %s; left out", prev)})
			t.add(&item{lead: []string{noteComment("left out: %s: %s (the same rule as %s)", m.Pos, m.Rule, prev)}, origin: m.Pos})
			continue
		}
		seen[k] = m.Pos
		mt := &table{header: "gateway.masquerade", array: true, origin: m.Pos,
			lead: append(opComments(m.Comments), noteComment("%s: %s", m.Pos, m.Rule))}
		if src.IsValid() {
			mt.add(&item{key: "source", value: tomlString(src.String()), origin: m.Pos})
		}
		mt.add(&item{key: "out_interface", value: tomlString(m.OutInterface), origin: m.Pos})
		t.subs = append(t.subs, mt)
	}
	if len(t.subs) > 0 {
		rest := t.items
		t.items = nil
		t.add(&item{key: "forwarding", value: "true", origin: origin,
			lead: []string{noteComment("the director routes the farm's traffic, which its masquerade rules are for")}})
		t.items = append(t.items, rest...)
	}
	for _, f := range r.Findings {
		what := "not imported"
		if f.Severity == Warning {
			what = "left out"
		}
		t.add(&item{lead: []string{noteComment("%s: %s: %s (%s)", what, f.Pos, f.Keyword, f.Msg)}, origin: f.Pos})
	}
}

// checkerMail keeps keepalived's mail on real server changes, which is
// on by default when mail is set up: every virtual_server that does not
// say otherwise gets smtp_alert = true (its reals inherit it). Without
// mail set up keepalived sends none, so smtp_alert lines are left out.
func (c *converter) checkerMail() {
	mail := c.mailTo && c.mailServer
	var walk func(t *table)
	walk = func(t *table) {
		if it := t.get("smtp_alert"); it != nil && !mail {
			c.findings = append(c.findings, Finding{Pos: it.origin, Keyword: "smtp_alert", Severity: Warning,
				Msg: "smtp_alert without global_defs smtp_server and notification_email sends no mail in keepalived"})
			it.lead = append(it.lead, noteComment("smtp_alert = %s left out: no smtp_server and notification_email to mail", it.value))
			it.key, it.comment = "", ""
		}
		for _, s := range t.subs {
			walk(s)
		}
	}
	for _, t := range c.body {
		if t.header == "virtual_server" {
			walk(t)
		}
	}
	if !mail || c.checkerMailOff || c.firstService == nil {
		return
	}
	for _, t := range c.body {
		if t.header != "virtual_server" || t.get("smtp_alert") != nil {
			continue
		}
		t.add(&item{key: "smtp_alert", value: "true", lead: []string{noteComment("keepalived mails notification_email when a real server goes up or down (on by default)")}})
	}
}
