package gateway

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestSpecNormalized(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	spec := Spec{
		Masquerade: []Rule{
			{Source: p("::ffff:192.0.2.0/120"), OutInterface: "eth0"},
			{Source: p("2001:db8:1::/48"), OutInterface: "eth0.100"},
			{OutInterface: "eth1"},
		},
		ExcludeSources: []netip.Addr{a("203.0.113.11"), a("::ffff:203.0.113.10"), a("2001:db8::10"), a("203.0.113.10")},
	}
	rules, ex4, ex6, err := spec.normalized()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"oifname eth0 ip saddr 192.0.2.0/24 masquerade",
		"oifname eth0.100 ip6 saddr 2001:db8:1::/48 masquerade",
		"oifname eth1 masquerade",
	}
	if got := fmt.Sprint(rules); got != fmt.Sprint(want) {
		t.Errorf("rules %s, want %s", got, want)
	}
	if got := fmt.Sprint(ex4, ex6); got != "[203.0.113.10 203.0.113.11] [2001:db8::10]" {
		t.Errorf("exclusions %s", got)
	}
	if !wantsIPv6(rules) {
		t.Error("wantsIPv6 = false with an IPv6 source")
	}
	if wantsIPv6(append(rules[:1:1], rules[2])) {
		t.Error("wantsIPv6 = true for an IPv4-mapped source and a rule without source")
	}

	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Masquerade: []Rule{{}}}, "masquerade[0]: out interface: interface name is empty"},
		{Spec{Masquerade: []Rule{{OutInterface: "eth0"}, {OutInterface: "averyveryverylongname"}}}, `masquerade[1]: out interface: interface name "averyveryverylongname" is longer than 15 characters`},
		{Spec{Masquerade: []Rule{{OutInterface: "default"}}}, `"default" is not an interface name`},
		{Spec{Masquerade: []Rule{{Source: p("2001:db8::1/64"), OutInterface: "eth0"}}}, "masquerade[0]: source 2001:db8::1/64 has host bits set (did you mean 2001:db8::/64?)"},
		{Spec{Masquerade: []Rule{{Source: p("::ffff:0.0.0.0/80"), OutInterface: "eth0"}}}, "IPv4-mapped prefix shorter than /96"},
		{Spec{ExcludeSources: []netip.Addr{a("fe80::1%eth0")}}, "exclude source fe80::1%eth0: zoned addresses are not supported"},
	} {
		_, _, _, err := tc.spec.normalized()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("normalized(%+v) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}
