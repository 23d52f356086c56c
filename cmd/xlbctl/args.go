package main

import (
	"fmt"
	"net/netip"
)

// parseAddrPort reads IP:PORT (or [IPv6]:PORT) with a clear complaint.
func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("want IP:PORT, e.g. 203.0.113.10:80")
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("port 0")
	}
	return ap, nil
}
