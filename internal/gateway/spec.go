package gateway

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Spec is the gateway state xlb wants: the seed's iptables rules
// (FORWARD ACCEPT with ip_forward on, POSTROUTING -o eth0 -j MASQUERADE),
// expressed for nftables.
type Spec struct {
	// Forwarding turns on net.ipv4.ip_forward (and
	// net.ipv6.conf.all.forwarding when a masquerade rule has an IPv6
	// source). Turning it off again restores what was there before.
	Forwarding bool
	// Masquerade rules, in order: `oifname IF [ip|ip6 saddr PREFIX] masquerade`.
	Masquerade []Rule
	// ExcludeSources are never masqueraded: the VIPs. A reply the XDP
	// dataplane rewrote to come from a VIP and passed to the kernel must
	// leave with that source.
	ExcludeSources []netip.Addr
}

// Rule is one masquerade rule.
type Rule struct {
	// Source limits the rule to these source addresses; the zero Prefix
	// matches any source of either family.
	Source netip.Prefix
	// OutInterface is the interface the packet leaves by; its address
	// replaces the source.
	OutInterface string
}

func (r Rule) String() string {
	if !r.Source.IsValid() {
		return fmt.Sprintf("oifname %s masquerade", r.OutInterface)
	}
	return fmt.Sprintf("oifname %s %s saddr %s masquerade", r.OutInterface, familyWord(r.Source.Addr()), r.Source)
}

func familyWord(a netip.Addr) string {
	if a.Is4() {
		return "ip"
	}
	return "ip6"
}

// wantsIPv6 reports whether any (normalized) rule has an IPv6 source.
func wantsIPv6(rules []Rule) bool {
	return slices.ContainsFunc(rules, func(r Rule) bool {
		return r.Source.IsValid() && r.Source.Addr().Is6()
	})
}

// normalized checks s and returns a copy ready to program: IPv4-mapped
// IPv6 addresses unmapped, exclusions split by family, sorted and
// deduplicated. Errors name the rule (numbered from 0, like
// gateway.masquerade[i] in the configuration) and what is wrong with it.
func (s Spec) normalized() (rules []Rule, ex4, ex6 []netip.Addr, err error) {
	for i, r := range s.Masquerade {
		if err := checkIfName(r.OutInterface); err != nil {
			return nil, nil, nil, fmt.Errorf("masquerade[%d]: out interface: %w", i, err)
		}
		if r.Source.IsValid() {
			if a := r.Source.Addr(); a.Is4In6() {
				bits := r.Source.Bits() - 96
				if bits < 0 {
					return nil, nil, nil, fmt.Errorf("masquerade[%d]: source %s: IPv4-mapped prefix shorter than /96", i, r.Source)
				}
				r.Source = netip.PrefixFrom(a.Unmap(), bits)
			}
			if r.Source.Masked() != r.Source {
				return nil, nil, nil, fmt.Errorf("masquerade[%d]: source %s has host bits set (did you mean %s?)", i, r.Source, r.Source.Masked())
			}
		}
		rules = append(rules, r)
	}
	for _, a := range s.ExcludeSources {
		if !a.IsValid() {
			return nil, nil, nil, fmt.Errorf("exclude source: invalid (zero) address")
		}
		if a.Zone() != "" {
			return nil, nil, nil, fmt.Errorf("exclude source %s: zoned addresses are not supported", a)
		}
		a = a.Unmap()
		if a.Is4() {
			ex4 = append(ex4, a)
		} else {
			ex6 = append(ex6, a)
		}
	}
	slices.SortFunc(ex4, netip.Addr.Compare)
	slices.SortFunc(ex6, netip.Addr.Compare)
	return rules, slices.Compact(ex4), slices.Compact(ex6), nil
}

// checkIfName checks an interface name the way the kernel does
// (dev_valid_name), and refuses the sysctl directory names "all" and
// "default", which are not interfaces.
func checkIfName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 characters", name)
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\x00"):
		return fmt.Errorf("invalid interface name %q", name)
	case name == "all" || name == "default":
		return fmt.Errorf("%q is not an interface name", name)
	}
	return nil
}
