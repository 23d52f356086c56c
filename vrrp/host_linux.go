package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linuxHost implements host with netlink, raw sockets and AF_PACKET, all
// in one network namespace.
type linuxHost struct {
	ns  netns.NsHandle // netns.None() for the caller's namespace
	nl  *netlink.Handle
	ann *announcer
}

func openHost(nsPath string) (host, error) {
	h := &linuxHost{ns: netns.None()}
	if nsPath != "" {
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			return nil, fmt.Errorf("open netns %s: %w", nsPath, err)
		}
		h.ns = ns
	}
	err := h.do(func() error {
		var err error
		if h.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		h.ann, err = newAnnouncer()
		return err
	})
	if err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// do runs fn on a thread inside the host's namespace. The thread is
// thrown away if it cannot return to its namespace.
func (h *linuxHost) do(fn func() error) error {
	if !h.ns.IsOpen() {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current netns: %w", err)
			return // the locked thread exits with the goroutine
		}
		defer orig.Close()
		if err := netns.Set(h.ns); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func (h *linuxHost) close() error {
	var errs []error
	if h.ann != nil {
		errs = append(errs, h.ann.close())
	}
	if h.nl != nil {
		h.nl.Close()
	}
	if h.ns.IsOpen() {
		errs = append(errs, h.ns.Close())
	}
	return errors.Join(errs...)
}

func linkUp(l netlink.Link) bool {
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_RUNNING != 0
}

func (h *linuxHost) link(name string) (linkInfo, error) {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return linkInfo{}, err
	}
	a := l.Attrs()
	return linkInfo{name: a.Name, index: a.Index, mac: a.HardwareAddr, up: linkUp(l)}, nil
}

func (h *linuxHost) primary(ifname string, v6 bool, exclude []netip.Addr) (netip.Addr, error) {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	fam := netlink.FAMILY_V4
	if v6 {
		fam = netlink.FAMILY_V6
	}
	addrs, err := h.nl.AddrList(l, fam)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	var owned netip.Addr // a primary address that is also a VIP (the owner's case)
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		switch {
		case v6 && ip.IsLinkLocalUnicast():
			return ip, nil
		case !v6 && a.Flags&unix.IFA_F_SECONDARY == 0 && !slices.Contains(exclude, ip):
			return ip, nil
		case !v6 && a.Flags&unix.IFA_F_SECONDARY == 0 && !owned.IsValid():
			owned = ip
		}
	}
	if owned.IsValid() {
		return owned, nil
	}
	if v6 {
		return netip.Addr{}, fmt.Errorf("interface %s has no IPv6 link-local address", ifname)
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address to advertise from (set unicast_src_ip?)", ifname)
}

func (h *linuxHost) listen(ifname string, ifindex int, v6 bool) (packetConn, error) {
	var c *rawConn
	err := h.do(func() (err error) {
		c, err = listenVRRP(ifname, ifindex, v6)
		return err
	})
	return c, err
}

func (h *linuxHost) nlAddr(v VIP, dev string) (netlink.Link, *netlink.Addr, error) {
	l, err := h.nl.LinkByName(dev)
	if err != nil {
		return nil, nil, fmt.Errorf("device %s: %w", dev, err)
	}
	p := v.Prefix
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Label: v.Label}
	scope, err := parseScope(v.Scope)
	if err != nil {
		return nil, nil, err
	}
	a.Scope = int(scope)
	if v.Broadcast.IsValid() {
		a.Broadcast = v.Broadcast.AsSlice()
	}
	if p.Addr().Is6() {
		a.Flags |= unix.IFA_F_NODAD // ours on becoming master; a duplicate is VRRP's business
	}
	return l, a, nil
}

func (h *linuxHost) addVIP(v VIP, dev string) error {
	l, a, err := h.nlAddr(v, dev)
	if err != nil {
		return err
	}
	if err := h.nl.AddrAdd(l, a); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add %v to %s: %w", v.Prefix, dev, err)
	}
	return nil
}

// delVIP removes every address equal to v's on dev, whatever its prefix
// length or label (a leftover may come from an older configuration).
func (h *linuxHost) delVIP(v VIP, dev string) error {
	l, err := h.nl.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("device %s: %w", dev, err)
	}
	fam := netlink.FAMILY_V4
	if v.Prefix.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := h.nl.AddrList(l, fam)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", dev, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); !ok || ip.Unmap() != v.Prefix.Addr() {
			continue
		}
		if err := h.nl.AddrDel(l, &a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("remove %v from %s: %w", a.IPNet, dev, err)
		}
	}
	return nil
}

func (h *linuxHost) announce(v VIP, li linkInfo, src netip.Addr) error {
	if li.index == 0 || len(li.mac) != 6 {
		return fmt.Errorf("announce %v: device %q has no Ethernet address", v.Prefix, li.name)
	}
	if v.Prefix.Addr().Is4() {
		return h.ann.arp(li.index, li.mac, v.Prefix.Addr())
	}
	return h.ann.na(li.index, li.mac, v.Prefix.Addr(), src)
}

func (h *linuxHost) watchLinks(done <-chan struct{}) (<-chan linkInfo, error) {
	updates := make(chan netlink.LinkUpdate, 16)
	opts := netlink.LinkSubscribeOptions{ListExisting: true}
	if h.ns.IsOpen() {
		opts.Namespace = &h.ns
	}
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		return nil, fmt.Errorf("subscribe to link updates: %w", err)
	}
	out := make(chan linkInfo)
	go func() {
		defer close(out)
		for u := range updates {
			a := u.Link.Attrs()
			li := linkInfo{name: a.Name, index: a.Index, mac: a.HardwareAddr, up: linkUp(u.Link)}
			if u.Header.Type == unix.RTM_DELLINK {
				li.up, li.gone = false, true
			}
			select {
			case out <- li:
			case <-done:
				// Drain so that the subscription goroutine can see done and exit.
				for range updates {
				}
				return
			}
		}
	}()
	return out, nil
}
