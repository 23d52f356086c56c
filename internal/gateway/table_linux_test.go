package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/xlb/xlb/internal/testutil"
)

var (
	farmNet  = netip.MustParsePrefix("192.0.2.0/24")
	vip      = netip.MustParseAddr("203.0.113.10")
	vip2     = netip.MustParseAddr("203.0.113.11")
	vip6     = netip.MustParseAddr("2001:db8::10")
	farmNet6 = netip.MustParsePrefix("2001:db8:1::/48")
)

// fullSpec has one rule of every shape: a byte-aligned IPv4 prefix, an
// IPv4 prefix that needs a mask, an IPv6 prefix, and no source at all.
var fullSpec = Spec{
	Forwarding: true,
	Masquerade: []Rule{
		{Source: farmNet, OutInterface: "pub0"},
		{Source: netip.MustParsePrefix("198.51.100.0/22"), OutInterface: "pub0"},
		{Source: farmNet6, OutInterface: "pub0"},
		{OutInterface: "farm0"},
	},
	ExcludeSources: []netip.Addr{vip2, vip, vip, vip6},
}

// fullSpecJSON is fullSpec as `nft -j list table inet xlb` shows it.
const fullSpecJSON = `[
  {"table": {"family": "inet", "name": "xlb"}},
  {"set": {"family": "inet", "table": "xlb", "name": "excluded", "type": "ipv4_addr",
           "elem": ["203.0.113.10", "203.0.113.11"]}},
  {"set": {"family": "inet", "table": "xlb", "name": "excluded6", "type": "ipv6_addr",
           "elem": ["2001:db8::10"]}},
  {"chain": {"family": "inet", "table": "xlb", "name": "postrouting",
             "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@excluded"}},
    {"return": null}]}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": "@excluded6"}},
    {"return": null}]}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "pub0"}},
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
               "right": {"prefix": {"addr": "192.0.2.0", "len": 24}}}},
    {"masquerade": null}]}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "pub0"}},
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
               "right": {"prefix": {"addr": "198.51.100.0", "len": 22}}}},
    {"masquerade": null}]}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "pub0"}},
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}},
               "right": {"prefix": {"addr": "2001:db8:1::", "len": 48}}}},
    {"masquerade": null}]}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "farm0"}},
    {"masquerade": null}]}}
]`

// fullSpecRules is fullSpec's chain as the kernel returns it through the
// nftables library, one line per expression (registers as rN, data in hex).
var fullSpecRules = [][]string{
	{"meta nfproto => r1", "cmp eq r1 02", "payload nh+12/4 => r1", "lookup r1 @excluded", "verdict return"},
	{"meta nfproto => r1", "cmp eq r1 0a", "payload nh+8/16 => r1", "lookup r1 @excluded6", "verdict return"},
	{"meta oifname => r1", "cmp eq r1 70756230000000000000000000000000", // "pub0", NUL-padded to IFNAMSIZ
		"meta nfproto => r1", "cmp eq r1 02", "payload nh+12/3 => r1", "cmp eq r1 c00002", "masq"},
	{"meta oifname => r1", "cmp eq r1 70756230000000000000000000000000",
		"meta nfproto => r1", "cmp eq r1 02", "payload nh+12/4 => r1",
		"bitwise r1 = r1 & fffffc00 ^ 00000000", "cmp eq r1 c6336400", "masq"},
	{"meta oifname => r1", "cmp eq r1 70756230000000000000000000000000",
		"meta nfproto => r1", "cmp eq r1 0a", "payload nh+8/6 => r1", "cmp eq r1 20010db80001", "masq"},
	{"meta oifname => r1", "cmp eq r1 6661726d300000000000000000000000", "masq"},
}

// describe spells a decoded expression for comparison.
func describe(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		names := map[expr.MetaKey]string{expr.MetaKeyNFPROTO: "nfproto", expr.MetaKeyOIFNAME: "oifname"}
		return fmt.Sprintf("meta %s => r%d", names[e.Key], e.Register)
	case *expr.Cmp:
		op := map[expr.CmpOp]string{expr.CmpOpEq: "eq"}[e.Op]
		return fmt.Sprintf("cmp %s r%d %s", op, e.Register, hex.EncodeToString(e.Data))
	case *expr.Payload:
		base := map[expr.PayloadBase]string{expr.PayloadBaseNetworkHeader: "nh"}[e.Base]
		return fmt.Sprintf("payload %s+%d/%d => r%d", base, e.Offset, e.Len, e.DestRegister)
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise r%d = r%d & %x ^ %x", e.DestRegister, e.SourceRegister, e.Mask, e.Xor)
	case *expr.Lookup:
		inv := ""
		if e.Invert {
			inv = "!"
		}
		return fmt.Sprintf("lookup r%d %s@%s", e.SourceRegister, inv, e.SetName)
	case *expr.Verdict:
		names := map[expr.VerdictKind]string{expr.VerdictReturn: "return", expr.VerdictAccept: "accept", expr.VerdictDrop: "drop"}
		return "verdict " + names[e.Kind]
	case *expr.Masq:
		if *e != (expr.Masq{}) {
			return fmt.Sprintf("masq %+v", *e)
		}
		return "masq"
	}
	return fmt.Sprintf("%T %+v", e, e)
}

// readBack lists table inet xlb through the nftables library: its chains,
// sets with elements, and rules described line by line.
type tableState struct {
	chains []*nftables.Chain
	sets   map[string][]netip.Addr // set name → sorted elements
	types  map[string]string       // set name → key type
	rules  [][]string
}

func readBack(t *testing.T, g *Gateway) tableState {
	t.Helper()
	c, err := g.conn()
	testutil.Must(t, err)
	tbl, err := c.ListTableOfFamily(tableName, nftables.TableFamilyINet)
	if err != nil {
		t.Fatalf("table inet xlb: %v", err)
	}
	var st tableState
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	testutil.Must(t, err)
	for _, ch := range chains {
		if ch.Table.Name == tableName {
			st.chains = append(st.chains, ch)
		}
	}
	sets, err := c.GetSets(tbl)
	testutil.Must(t, err)
	st.sets, st.types = map[string][]netip.Addr{}, map[string]string{}
	for _, s := range sets {
		els, err := c.GetSetElements(s)
		testutil.Must(t, err)
		addrs := []netip.Addr{}
		for _, e := range els {
			a, ok := netip.AddrFromSlice(e.Key)
			if !ok {
				t.Fatalf("set %s: element %x is not an address", s.Name, e.Key)
			}
			addrs = append(addrs, a)
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		st.sets[s.Name], st.types[s.Name] = addrs, s.KeyType.Name
	}
	for _, ch := range st.chains {
		rules, err := c.GetRules(tbl, ch)
		testutil.Must(t, err)
		for _, r := range rules {
			var d []string
			for _, e := range r.Exprs {
				d = append(d, describe(e))
			}
			st.rules = append(st.rules, d)
		}
	}
	return st
}

func TestApplyCreatesTable(t *testing.T) {
	ns := routerNS(t)
	g := newGateway(t, ns)
	testutil.Must(t, g.Apply(fullSpec))

	st := readBack(t, g)
	if len(st.chains) != 1 {
		t.Fatalf("table inet xlb has %d chains, want 1 (postrouting)", len(st.chains))
	}
	ch := st.chains[0]
	if ch.Name != chainName || ch.Type != nftables.ChainTypeNAT || ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookPostrouting ||
		ch.Priority == nil || *ch.Priority != 100 || (ch.Policy != nil && *ch.Policy != nftables.ChainPolicyAccept) {
		t.Errorf("chain %s type %s hook %v priority %v policy %v, want postrouting type nat hook postrouting priority 100 policy accept",
			ch.Name, ch.Type, deref(ch.Hooknum), deref(ch.Priority), deref(ch.Policy))
	}
	wantSets := map[string][]netip.Addr{setExcluded: {vip, vip2}, setExcluded6: {vip6}}
	if fmt.Sprint(st.sets) != fmt.Sprint(wantSets) {
		t.Errorf("sets %v, want %v", st.sets, wantSets)
	}
	if st.types[setExcluded] != "ipv4_addr" || st.types[setExcluded6] != "ipv6_addr" {
		t.Errorf("set key types %v, want excluded ipv4_addr, excluded6 ipv6_addr", st.types)
	}
	if got, want := joinRules(st.rules), joinRules(fullSpecRules); got != want {
		t.Errorf("rules read back:\n%s\nwant:\n%s", got, want)
	}

	if got, want := xlbJSON(t, ns), canonJSON(t, fullSpecJSON); got != want {
		t.Errorf("nft -j list table inet xlb:\n%s\nwant:\n%s", got, want)
	}
	// The only table of the namespace is ours.
	if out := string(mustNFT(t, ns, "list", "tables")); strings.TrimSpace(out) != "table inet xlb" {
		t.Errorf("nft list tables = %q, want only table inet xlb", out)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func joinRules(rules [][]string) string {
	var b strings.Builder
	for i, r := range rules {
		fmt.Fprintf(&b, "rule %d:\n", i)
		for _, e := range r {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

// The IPv4-only table has exactly the set and the rules the design names:
// no excluded6 set and no rule for it.
func TestApplyIPv4OnlyTable(t *testing.T) {
	ns := routerNS(t)
	g := newGateway(t, ns)
	testutil.Must(t, g.Apply(Spec{Masquerade: []Rule{{Source: farmNet, OutInterface: "pub0"}}}))
	want := `[
  {"table": {"family": "inet", "name": "xlb"}},
  {"set": {"family": "inet", "table": "xlb", "name": "excluded", "type": "ipv4_addr"}},
  {"chain": {"family": "inet", "table": "xlb", "name": "postrouting",
             "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@excluded"}},
    {"return": null}]}},
  {"rule": {"family": "inet", "table": "xlb", "chain": "postrouting", "expr": [
    {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "pub0"}},
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
               "right": {"prefix": {"addr": "192.0.2.0", "len": 24}}}},
    {"masquerade": null}]}}
]`
	if got := xlbJSON(t, ns); got != canonJSON(t, want) {
		t.Errorf("nft -j list table inet xlb:\n%s\nwant:\n%s", got, canonJSON(t, want))
	}
}

func TestApplyTwiceIsIdempotent(t *testing.T) {
	ns := routerNS(t)
	g := newGateway(t, ns)
	testutil.Must(t, g.Apply(fullSpec))
	first := xlbJSON(t, ns)
	testutil.Must(t, g.Apply(fullSpec))
	if second := xlbJSON(t, ns); second != first {
		t.Errorf("second Apply changed the table:\n%s\nwas:\n%s", second, first)
	}
	if got := joinRules(readBack(t, g).rules); got != joinRules(fullSpecRules) {
		t.Errorf("rules after the second Apply:\n%s", got)
	}
	wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"})
}

func TestApplyReplacesRules(t *testing.T) {
	ns := routerNS(t)
	g := newGateway(t, ns)
	testutil.Must(t, g.Apply(fullSpec))
	next := Spec{
		Masquerade:     []Rule{{Source: netip.MustParsePrefix("192.0.2.128/25"), OutInterface: "farm0"}},
		ExcludeSources: []netip.Addr{vip2},
	}
	testutil.Must(t, g.Apply(next))
	st := readBack(t, g)
	if fmt.Sprint(st.sets) != fmt.Sprint(map[string][]netip.Addr{setExcluded: {vip2}}) {
		t.Errorf("sets after replace: %v, want only excluded {%s}", st.sets, vip2)
	}
	want := [][]string{
		fullSpecRules[0],
		{"meta oifname => r1", "cmp eq r1 6661726d300000000000000000000000",
			"meta nfproto => r1", "cmp eq r1 02", "payload nh+12/4 => r1",
			"bitwise r1 = r1 & ffffff80 ^ 00000000", "cmp eq r1 c0000280", "masq"},
	}
	if got := joinRules(st.rules); got != joinRules(want) {
		t.Errorf("rules after replace:\n%s\nwant:\n%s", got, joinRules(want))
	}
	if !strings.Contains(string(mustNFT(t, ns, "list", "table", "inet", "xlb")), `oifname "farm0" ip saddr 192.0.2.128/25 masquerade`) {
		t.Errorf("nft does not show the new rule:\n%s", mustNFT(t, ns, "list", "table", "inet", "xlb"))
	}
	// Forwarding went off with the spec, back to the namespace's 0.
	wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"})

	// And back to no rules at all: the table stays, with its exclusion.
	testutil.Must(t, g.Apply(Spec{}))
	if got := joinRules(readBack(t, g).rules); got != joinRules([][]string{fullSpecRules[0]}) {
		t.Errorf("rules after an empty spec:\n%s", got)
	}
}

// A batch the kernel refuses changes nothing: the old table, with the same
// handles, is still there.
func TestApplyRejectedBatchKeepsOldTable(t *testing.T) {
	ns := routerNS(t)
	g := newGateway(t, ns)
	testutil.Must(t, g.Apply(fullSpec))
	before := mustNFT(t, ns, "-j", "list", "table", "inet", "xlb")

	g.beforeFlush = func(c *nftables.Conn) {
		// A rule that looks up a set that does not exist: ENOENT.
		t := &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}
		c.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: chainName, Table: t}, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: "missing", SetID: 99},
			&expr.Verdict{Kind: expr.VerdictReturn},
		}})
	}
	err := g.Apply(Spec{Masquerade: []Rule{{OutInterface: "farm0"}}})
	if err == nil {
		t.Fatal("Apply with a bad rule in the batch succeeded")
	}
	t.Logf("refused: %v", err)
	if !strings.Contains(err.Error(), "replace table inet xlb") {
		t.Errorf("error %q does not say what failed", err)
	}
	if after := mustNFT(t, ns, "-j", "list", "table", "inet", "xlb"); string(after) != string(before) {
		t.Errorf("refused batch changed the table:\n%s\nwas:\n%s", after, before)
	}
	g.beforeFlush = nil
	testutil.Must(t, g.Apply(fullSpec))
}

// Tables of other owners, including one named xlb in another family, are
// never touched by Apply or Remove.
func TestOtherTablesUntouched(t *testing.T) {
	ns := routerNS(t)
	nftLoad(t, ns, `
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr 192.0.2.66 counter drop
	}
}
table ip xlb {
	set excluded { type ipv4_addr; elements = { 192.0.2.9 } }
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname "farm0" masquerade
	}
}
table inet other {
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname "pub0" snat ip to 203.0.113.99
	}
}
`)
	others := func() string {
		var parts []string
		for _, tbl := range [][]string{{"ip", "filter"}, {"ip", "xlb"}, {"inet", "other"}} {
			parts = append(parts, string(mustNFT(t, ns, "-j", "-a", "list", "table", tbl[0], tbl[1])))
		}
		return strings.Join(parts, "\n")
	}
	before := others()

	g := newGateway(t, ns)
	testutil.Must(t, g.Apply(fullSpec))
	if got := others(); got != before {
		t.Errorf("Apply changed other tables:\n%s\nwas:\n%s", got, before)
	}
	testutil.Must(t, g.Apply(Spec{Masquerade: []Rule{{OutInterface: "farm0"}}}))
	testutil.Must(t, g.Remove())
	if got := others(); got != before {
		t.Errorf("Remove changed other tables:\n%s\nwas:\n%s", got, before)
	}
	if _, err := nft(t, ns, "list", "table", "inet", "xlb"); err == nil {
		t.Error("table inet xlb is still there after Remove")
	}
	tables := strings.Fields(string(mustNFT(t, ns, "list", "tables")))
	if want := strings.Fields("table ip filter table ip xlb table inet other"); !slices.Equal(tables, want) {
		t.Errorf("tables after Remove: %v, want %v", tables, want)
	}
}

func TestRemove(t *testing.T) {
	ns := routerNS(t)
	g := newGateway(t, ns)
	// Nothing to remove yet: not an error.
	testutil.Must(t, g.Remove())
	testutil.Must(t, g.Apply(fullSpec))
	testutil.Must(t, g.Remove())
	if out := strings.TrimSpace(string(mustNFT(t, ns, "list", "ruleset"))); out != "" {
		t.Errorf("ruleset after Remove:\n%s", out)
	}
	// Twice is fine, and the Gateway can be used again.
	testutil.Must(t, g.Remove())
	testutil.Must(t, g.Apply(fullSpec))
	if got := xlbJSON(t, ns); got != canonJSON(t, fullSpecJSON) {
		t.Errorf("table after Remove and Apply:\n%s", got)
	}
}

func TestApplyErrors(t *testing.T) {
	ns := routerNS(t)
	g := newGateway(t, ns)
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"missing interface", Spec{Forwarding: true, Masquerade: []Rule{{OutInterface: "pub0"}, {Source: farmNet, OutInterface: "eth9"}}},
			"masquerade[1]: interface eth9 does not exist"},
		{"bad interface name", Spec{Masquerade: []Rule{{OutInterface: "eth0/1"}}}, `masquerade[0]: out interface: invalid interface name "eth0/1"`},
		{"host bits", Spec{Masquerade: []Rule{{Source: netip.MustParsePrefix("192.0.2.1/24"), OutInterface: "pub0"}}},
			"masquerade[0]: source 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)"},
		{"zero exclusion", Spec{ExcludeSources: []netip.Addr{{}}}, "exclude source: invalid (zero) address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := g.Apply(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply error %v, want one containing %q", err, tc.want)
			}
			t.Logf("refused: %v", err)
			// Refused before anything changed.
			if _, err := nft(t, ns, "list", "table", "inet", "xlb"); err == nil {
				t.Error("table inet xlb was created")
			}
			wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "0"})
		})
	}

	g.Close()
	g.Close()
	for name, err := range map[string]error{
		"Apply":            g.Apply(Spec{}),
		"EnableForwarding": g.EnableForwarding("pub0"),
		"Remove":           g.Remove(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
