// Package gateway makes the director the web farm's default gateway, as
// the seed's iptables rules and sysctls did: IP forwarding and source NAT
// (masquerade) for the farm's own traffic to the internet.
//
// xlb owns one nftables table, `table inet xlb`, and never touches any
// other. It holds a set of source addresses never to masquerade (the VIPs)
// and a nat chain on postrouting at priority srcnat:
//
//	table inet xlb {
//		set excluded { type ipv4_addr; elements = { 203.0.113.10 } }
//		chain postrouting {
//			type nat hook postrouting priority srcnat; policy accept;
//			ip saddr @excluded return
//			oifname "eth0" ip saddr 192.0.2.0/24 masquerade
//		}
//	}
//
// Apply replaces the whole table in one netlink batch (one nftables
// transaction), so the rules never go missing and a rejected batch leaves
// the old table in place.
package gateway
