package keepalived

import (
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xlb/xlb/healthd"
)

// checkTable starts the table of a checker block under the real server.
func checkTable(n *Node, rs *rsContext, kind string) *table {
	return &table{header: rs.vs.table + ".real_server." + kind, array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
}

// finishCheck inherits the real's and service's check settings and closes
// the table.
func (c *converter) finishCheck(t *table, n *Node, rs *rsContext, keys ...string) *table {
	c.inherit(t, rs, keys...)
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}

// dnsCheck converts DNS_CHECK {…}.
func (c *converter) dnsCheck(n *Node, rs *rsContext) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	t := checkTable(n, rs, "dns_check")
	for _, k := range n.Block {
		switch k.Keyword {
		case "type":
			if !c.leaf(k, 1, 1) {
				continue
			}
			typ := strings.ToUpper(k.Args[0])
			if !slices.Contains([]string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}, typ) {
				c.errorf(k, "unknown DNS type %q (expected %s)", k.Args[0], healthd.DNSTypes)
				continue
			}
			c.set(t, k, "type", tomlString(typ))
		case "name":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if old := t.get("name"); old != nil {
				// keepalived keeps the first name and reports the others.
				c.warnf(k, "name is set again; keepalived keeps the first one (line %d)", old.origin.Line)
				note(t, k, "%s: ignored, as keepalived does: the name is set above", k.Line())
				continue
			}
			if _, err := healthd.ParseDNSName(k.Args[0]); err != nil {
				c.errorf(k, "%s", err)
				continue
			}
			c.set(t, k, "name", tomlString(k.Args[0]))
		default:
			if !c.connectOption(t, k, rs) {
				c.errorf(k, "unknown keyword in DNS_CHECK")
			}
		}
	}
	return c.finishCheck(t, n, rs, checkDefaultKeys...)
}

// hexArg checks the hex string made of k's words (keepalived joins them).
func (c *converter) hexArg(k *Node, wildcards bool) (string, bool) {
	s := strings.Join(k.Args, " ")
	if _, _, err := healthd.ParseHex(s, wildcards); err != nil {
		c.errorf(k, "bad hex string %q: %s", s, err)
		return "", false
	}
	return s, true
}

// udpCheck converts UDP_CHECK {…}.
func (c *converter) udpCheck(n *Node, rs *rsContext) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	t := checkTable(n, rs, "udp_check")
	var lengths []*item
	required := false
	for _, k := range n.Block {
		switch k.Keyword {
		case "payload":
			if !c.leaf(k, 1, -1) {
				continue
			}
			if s, ok := c.hexArg(k, false); ok {
				c.set(t, k, "payload", tomlString(s))
			}
		case "require_reply":
			if !c.leaf(k, 0, -1) {
				continue
			}
			required = true
			if len(k.Args) == 0 {
				c.set(t, k, "require_reply", "true")
				continue
			}
			if s, ok := c.hexArg(k, true); ok {
				c.set(t, k, "require_reply", tomlString(s))
			}
		case "min_reply_length", "max_reply_length":
			if !c.leaf(k, 1, 1) {
				continue
			}
			lo := int64(0)
			if k.Keyword == "max_reply_length" {
				lo = 1 // 0 would let only empty replies pass; xlb refuses it
			}
			if v, ok := c.intArg(k, 0, lo, 65535); ok {
				lengths = append(lengths, c.set(t, k, k.Keyword, tomlInt(v)))
			}
		default:
			if !c.connectOption(t, k, rs) {
				c.errorf(k, "unknown keyword in UDP_CHECK")
			}
		}
	}
	if !required {
		for _, it := range lengths {
			dropItem(it, "dropped: it applies with require_reply only")
		}
	}
	return c.finishCheck(t, n, rs, checkDefaultKeys...)
}

// pingCheck converts PING_CHECK {…}.
func (c *converter) pingCheck(n *Node, rs *rsContext) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	t := checkTable(n, rs, "ping_check")
	for _, k := range n.Block {
		switch k.Keyword {
		case "connect_port", "bind_port":
			if c.leaf(k, 1, 1) {
				if _, ok := c.port(k, k.Args[0]); ok {
					note(t, k, "%s: ICMP has no ports (keepalived ignores it too)", k.Line())
				}
			}
		default:
			if !c.connectOption(t, k, rs) {
				c.errorf(k, "unknown keyword in PING_CHECK")
			}
		}
	}
	return c.finishCheck(t, n, rs, checkDefaultKeys...)
}

// smtpConnKeys are the SMTP_CHECK keywords that make its own connection a
// checker even when it has host blocks (keepalived's rule).
var smtpConnKeys = []string{"connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark", "connect_timeout"}

// smtpCheck converts SMTP_CHECK {…}. keepalived 2.2.7 still reads the
// deprecated host {…} blocks: each becomes a checker with the block's
// connection settings and the SMTP_CHECK's other settings (helo_name,
// timers; its connect_timeout unless the host sets one), and the
// SMTP_CHECK's own connection is a checker too only when it sets a
// connection keyword. Each becomes an smtp_check here.
func (c *converter) smtpCheck(n *Node, rs *rsContext) []*table {
	if !c.block(n, 0, 0) {
		return nil
	}
	var hosts []*Node
	ownConn := false
	for _, k := range n.Block {
		switch {
		case k.Keyword == "host":
			hosts = append(hosts, k)
		case slices.Contains(smtpConnKeys, k.Keyword):
			ownConn = true
		}
	}
	conv := func(t *table, k *Node) {
		if k.Keyword == "helo_name" {
			c.heloName(t, k)
		} else if !c.connectOption(t, k, rs) {
			c.errorf(k, "unknown keyword in SMTP_CHECK")
		}
	}
	var out []*table
	if ownConn || len(hosts) == 0 {
		t := checkTable(n, rs, "smtp_check")
		for _, k := range n.Block {
			if k.Keyword != "host" {
				conv(t, k)
			}
		}
		out = append(out, c.finishCheck(t, n, rs, checkDefaultKeys...))
	}
	for i, h := range hosts {
		if !c.block(h, 0, 0) {
			continue
		}
		t := checkTable(h, rs, "smtp_check")
		t.lead = append(t.lead, noteComment("host block %d of the SMTP_CHECK at %s (keepalived's deprecated host list)", i+1, n.Pos))
		for _, k := range h.Block {
			if !c.connectOption(t, k, rs) {
				c.errorf(k, "unknown keyword in SMTP_CHECK host")
			}
		}
		for _, k := range n.Block {
			skip := k.Keyword == "host" ||
				(slices.Contains(smtpConnKeys, k.Keyword) && (k.Keyword != "connect_timeout" || t.get("connect_timeout") != nil))
			if !skip {
				conv(t, k)
			}
		}
		out = append(out, c.finishCheck(t, h, rs, checkDefaultKeys...))
	}
	return out
}

// heloName converts helo_name.
func (c *converter) heloName(t *table, k *Node) {
	if !c.leaf(k, 1, 1) {
		return
	}
	if strings.ContainsAny(k.Args[0], " \t") {
		c.unsupported(t, k, "xlb's helo_name is one word; the check sends keepalived's default")
		return
	}
	c.set(t, k, "helo_name", tomlString(k.Args[0]))
}

// fileCheck converts FILE_CHECK { track_file NAME; weight W [reverse] }.
func (c *converter) fileCheck(parent *table, n *Node, rs *rsContext) *table {
	if !c.block(n, 0, 0) {
		return nil
	}
	t := checkTable(n, rs, "file_check")
	name, why := "", "it has no track_file; keepalived ignores it too"
	for _, k := range n.Block {
		switch k.Keyword {
		case "track_file":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if !c.trackFileNames[k.Args[0]] {
				why = "track_file " + k.Args[0] + " is not defined with a file; keepalived ignores the check too"
				continue
			}
			name = k.Args[0]
			c.set(t, k, "track_file", tomlString(name))
		case "weight":
			if !c.leaf(k, 1, 2) {
				continue
			}
			w, ok := c.intArg(k, 0, -math.MaxInt32, math.MaxInt32)
			if !ok {
				continue
			}
			reverse := false
			if len(k.Args) == 2 {
				switch k.Args[1] {
				case "reverse":
					reverse = true
				case "noreverse":
				default:
					c.errorf(k, "expected reverse or noreverse after the weight, got %q", k.Args[1])
					continue
				}
			}
			c.set(t, k, "weight", tomlInt(w))
			if rev := t.get("reverse"); rev != nil {
				rev.key = ""
			}
			if reverse {
				t.add(&item{key: "reverse", value: "true", origin: k.Pos})
			}
		default:
			c.errorf(k, "unknown keyword in FILE_CHECK (expected track_file or weight)")
		}
	}
	if name == "" {
		c.warnf(n, "%s", strings.TrimPrefix(why, "it "))
		parent.add(&item{lead: notImported(n, why), origin: n.Pos})
		return nil
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	return t
}

// trackFile converts track_file NAME {…} (and vrrp_track_file) into
// [[track_file]].
func (c *converter) trackFile(n *Node) {
	if !c.block(n, 1, 1) {
		return
	}
	t := &table{header: "track_file", array: true, origin: n.Pos, lead: opComments(n.Comments), comment: trailingComment(n.Comment)}
	if n.Keyword == "vrrp_track_file" {
		t.lead = append(t.lead, noteComment("vrrp_track_file is keepalived's older name of track_file"))
	}
	t.add(&item{key: "name", value: tomlString(n.Args[0]), origin: n.Pos})
	file := false
	for _, k := range n.Block {
		switch k.Keyword {
		case "file":
			if !c.leaf(k, 1, 1) {
				continue
			}
			if t.get("file") != nil {
				c.warnf(k, "file is set again; keepalived keeps the first one")
				note(t, k, "%s: ignored, as keepalived does: the file is set above", k.Line())
				continue
			}
			if !filepath.IsAbs(k.Args[0]) {
				c.errorf(k, "xlb needs an absolute path, got %q", k.Args[0])
				continue
			}
			c.set(t, k, "file", tomlString(k.Args[0]))
			file = true
		case "weight":
			if !c.leaf(k, 1, 2) {
				continue
			}
			w, ok := c.intArg(k, 0, -254, 254)
			if !ok {
				continue
			}
			if len(k.Args) == 2 && k.Args[1] != "reverse" {
				c.errorf(k, "expected reverse after the weight, got %q", k.Args[1])
				continue
			}
			c.set(t, k, "weight", tomlInt(w))
			if len(k.Args) == 2 {
				t.add(&item{key: "reverse", value: "true", origin: k.Pos})
			}
		case "init_file":
			if !c.leaf(k, 0, 2) {
				continue
			}
			c.set(t, k, "init_file", "true")
			for _, a := range k.Args {
				if a == "overwrite" {
					t.add(&item{key: "init_overwrite", value: "true", origin: k.Pos})
					continue
				}
				v, err := strconv.ParseInt(a, 10, 32)
				if err != nil {
					c.errorf(k, "expected a number or overwrite, got %q", a)
					continue
				}
				t.add(&item{key: "init_value", value: tomlInt(v), origin: k.Pos})
			}
		default:
			c.errorf(k, "unknown keyword in %s (expected file, weight or init_file)", n.Keyword)
		}
	}
	if !file {
		c.warnf(n, "has no file; keepalived ignores it")
		holder := &table{origin: n.Pos}
		holder.add(&item{lead: notImported(n, "it has no file; keepalived ignores it too"), origin: n.Pos})
		c.body = append(c.body, holder)
		return
	}
	t.items = append(t.items, &item{lead: opComments(n.EndComments), origin: n.End})
	c.body = append(c.body, t)
}

// urlRegex converts a url's regex, regex_no_match and regex_options:
// keepalived's PCRE2 options become RE2 inline flags, and a pattern Go
// cannot compile is reported and left out.
func (c *converter) urlRegex(t *table, regex, noMatch *Node, options []*Node) {
	if regex == nil {
		if noMatch != nil {
			note(t, noMatch, "%s: no regex to reverse", noMatch.Line())
		}
		for _, o := range options {
			note(t, o, "%s: no regex", o.Line())
		}
		return
	}
	flags := ""
	for _, o := range options {
		for _, opt := range o.Args {
			f, ok := map[string]string{"caseless": "i", "multiline": "m", "dotall": "s", "ungreedy": "U"}[opt]
			switch {
			case ok && !strings.Contains(flags, f):
				flags += f
			case !ok:
				c.unsupported(t, o, "regex option %s: Go's RE2 has the options caseless, multiline, dotall and ungreedy only", opt)
			}
		}
	}
	expr := regex.Args[0]
	if flags != "" {
		expr = "(?" + flags + ")" + expr
	}
	if _, err := healthd.CompileRegex(expr); err != nil {
		c.unsupported(t, regex, "%s", err)
		if noMatch != nil {
			note(t, noMatch, "%s: dropped with the regex", noMatch.Line())
		}
		return
	}
	it := c.set(t, regex, "regex", tomlString(expr))
	if flags != "" {
		it.lead = append(it.lead, noteComment("regex_options %s as inline flags", strings.Join(optionWords(options), " ")))
	}
	if noMatch != nil {
		c.set(t, noMatch, "regex_no_match", "true")
	}
}

func optionWords(options []*Node) []string {
	var out []string
	for _, o := range options {
		out = append(out, o.Args...)
	}
	return out
}
