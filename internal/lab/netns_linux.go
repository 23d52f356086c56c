// Package lab builds throw-away network namespaces joined by veth pairs,
// for xlb's end-to-end tests, its demo and its benchmarks. Nothing here
// touches the host's own interfaces: every link it makes lives inside a
// namespace it created.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is a named network namespace (visible in `ip netns list`).
type NS struct {
	Name   string
	handle netns.NsHandle
	nl     *netlink.Handle
}

// NewNS creates the namespace name, with its loopback up. An existing
// namespace of that name is an error: labs never adopt foreign namespaces.
func NewNS(name string) (*NS, error) {
	if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
		return nil, fmt.Errorf("netns %s already exists", name)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if err != nil {
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the new namespace: let it die with the goroutine.
		h.Close()
		return nil, fmt.Errorf("return from netns %s: %w", name, err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		h.Close()
		_ = netns.DeleteNamed(name)
		return nil, fmt.Errorf("netlink handle in %s: %w", name, err)
	}
	n := &NS{Name: name, handle: h, nl: nl}
	if err := n.Up("lo"); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// UniqueName returns prefix followed by a short random suffix, so that
// parallel runs and leftovers of crashed runs never collide.
func UniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Close deletes the namespace. Links inside it go with it.
func (n *NS) Close() error {
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	if n.handle.IsOpen() {
		n.handle.Close()
	}
	if err := netns.DeleteNamed(n.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", n.Name, err)
	}
	return nil
}

// Path is the bind-mounted namespace file, for nsenter and setns.
func (n *NS) Path() string { return filepath.Join("/run/netns", n.Name) }

// Handle is the namespace's file handle.
func (n *NS) Handle() netns.NsHandle { return n.handle }

// Netlink returns a netlink handle bound to the namespace.
func (n *NS) Netlink() *netlink.Handle { return n.nl }

// Do runs fn on a thread switched into the namespace. Sockets opened in fn
// stay in the namespace after Do returns; goroutines started by fn do not run
// in it.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(n.handle); err != nil {
		return fmt.Errorf("enter netns %s: %w", n.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Never let a goroutine carry on in the wrong namespace.
		panic(fmt.Sprintf("lab: cannot leave netns %s: %v", n.Name, err))
	}
	return ferr
}

// Command returns a command that runs inside the namespace through nsenter,
// which (unlike `ip netns exec`) leaves /sys and the host's bpffs visible.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append([]string{"--net=" + n.Path(), "--", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	return cmd
}

// Sysctl writes a value under /proc/sys for this namespace, e.g.
// Sysctl("net.ipv4.ip_forward", "1").
func (n *NS) Sysctl(key, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return n.Do(func() error {
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, n.Name, err)
		}
		return nil
	})
}

// Up sets a link up.
func (n *NS) Up(ifname string) error {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("%s: link %s: %w", n.Name, ifname, err)
	}
	if err := n.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s: set %s up: %w", n.Name, ifname, err)
	}
	return nil
}

// Down sets a link down.
func (n *NS) Down(ifname string) error {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("%s: link %s: %w", n.Name, ifname, err)
	}
	if err := n.nl.LinkSetDown(l); err != nil {
		return fmt.Errorf("%s: set %s down: %w", n.Name, ifname, err)
	}
	return nil
}

// AddAddr adds an address in CIDR form ("192.0.2.1/24") to a link.
func (n *NS) AddAddr(ifname, cidr string) error {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("%s: link %s: %w", n.Name, ifname, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("parse %s: %w", cidr, err)
	}
	if p, _ := netip.ParsePrefix(cidr); p.Addr().Is6() {
		a.Flags |= unix.IFA_F_NODAD // the lab has no duplicates: no waiting for DAD
	}
	if err := n.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("%s: add %s to %s: %w", n.Name, cidr, ifname, err)
	}
	return nil
}

// AddRoute adds a route to dst ("default" or a CIDR) via gw.
func (n *NS) AddRoute(dst, gw string) error {
	r := netlink.Route{Gw: netip.MustParseAddr(gw).AsSlice()}
	if dst != "default" {
		_, ipn, err := parseCIDR(dst)
		if err != nil {
			return err
		}
		r.Dst = ipn
	}
	if err := n.nl.RouteAdd(&r); err != nil {
		return fmt.Errorf("%s: route %s via %s: %w", n.Name, dst, gw, err)
	}
	return nil
}

// AddRouteMTU adds a route to dst (a CIDR) via gw whose path MTU is mtu
// ("mtu lock").
func (n *NS) AddRouteMTU(dst, gw string, mtu int) error {
	_, ipn, err := parseCIDR(dst)
	if err != nil {
		return err
	}
	// Locked: forwarding (and bpf_fib_lookup) honour only a locked route MTU.
	r := netlink.Route{Dst: ipn, Gw: netip.MustParseAddr(gw).AsSlice(), MTU: mtu, MTULock: true}
	if err := n.nl.RouteAdd(&r); err != nil {
		return fmt.Errorf("%s: route %s via %s mtu %d: %w", n.Name, dst, gw, mtu, err)
	}
	return nil
}

// LinkIndex returns the ifindex of a link in the namespace.
func (n *NS) LinkIndex(ifname string) (int, error) {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("%s: link %s: %w", n.Name, ifname, err)
	}
	return l.Attrs().Index, nil
}

// Veth creates a veth pair: aName in a and bName in b, both up.
func Veth(a *NS, aName string, b *NS, bName string) error {
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(int(b.handle)),
	}
	if err := a.nl.LinkAdd(v); err != nil {
		return fmt.Errorf("veth %s/%s -- %s/%s: %w", a.Name, aName, b.Name, bName, err)
	}
	if err := a.Up(aName); err != nil {
		return err
	}
	return b.Up(bName)
}

// Bridge creates a bridge in the namespace and enslaves the given links.
func (n *NS) Bridge(name string, ports ...string) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := n.nl.LinkAdd(br); err != nil {
		return fmt.Errorf("%s: bridge %s: %w", n.Name, name, err)
	}
	for _, p := range ports {
		l, err := n.nl.LinkByName(p)
		if err != nil {
			return fmt.Errorf("%s: link %s: %w", n.Name, p, err)
		}
		if err := n.nl.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("%s: enslave %s to %s: %w", n.Name, p, name, err)
		}
	}
	return n.Up(name)
}

// Neigh adds a permanent neighbour entry (a static ARP/NDP entry).
func (n *NS) Neigh(ifname, ip string, mac net.HardwareAddr) error {
	idx, err := n.LinkIndex(ifname)
	if err != nil {
		return err
	}
	nb := &netlink.Neigh{
		LinkIndex:    idx,
		State:        netlink.NUD_PERMANENT,
		IP:           netip.MustParseAddr(ip).AsSlice(),
		HardwareAddr: mac,
	}
	if nb.IP.To4() != nil {
		nb.Family = netlink.FAMILY_V4
	} else {
		nb.Family = netlink.FAMILY_V6
	}
	if err := n.nl.NeighSet(nb); err != nil {
		return fmt.Errorf("%s: neighbour %s on %s: %w", n.Name, ip, ifname, err)
	}
	return nil
}

// Blackhole adds a blackhole route for dst (a CIDR).
func (n *NS) Blackhole(dst string) error {
	_, ipn, err := parseCIDR(dst)
	if err != nil {
		return err
	}
	if err := n.nl.RouteAdd(&netlink.Route{Dst: ipn, Type: unix.RTN_BLACKHOLE}); err != nil {
		return fmt.Errorf("%s: blackhole %s: %w", n.Name, dst, err)
	}
	return nil
}

// MAC returns a link's hardware address.
func (n *NS) MAC(ifname string) (net.HardwareAddr, error) {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%s: link %s: %w", n.Name, ifname, err)
	}
	return l.Attrs().HardwareAddr, nil
}
