package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/urfave/cli/v2"
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

// interspersed moves a command's flags given after its arguments in front
// of them, so `xlbctl drain VIP:PORT REAL:PORT --wait` works as users type
// it (the flag package stops at the first argument).
func interspersed(args []string, cmds []*cli.Command) []string {
	i := 1
	// Global flags come first; skip them and their values.
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if !strings.Contains(args[i], "=") && (args[i] == "--socket" || args[i] == "-s" || args[i] == "--api-timeout") {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(args[i]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, pos []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			pos = append(pos, rest[j+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if takesValue[name] && !strings.Contains(a, "=") && j+1 < len(rest) {
			flags = append(flags, rest[j+1])
			j++
		}
	}
	out := append(append([]string{}, args[:i+1]...), flags...)
	return append(out, pos...)
}
