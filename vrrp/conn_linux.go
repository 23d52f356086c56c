package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// rawConn is a raw IP protocol 112 socket bound to one interface, for one
// address family, member of the VRRP multicast group on that interface.
type rawConn struct {
	ifindex int
	v6      bool
	pc      net.PacketConn
	c4      *ipv4.RawConn    // IPv4: we write the IP header ourselves (TTL 255, source)
	c6      *ipv6.PacketConn // IPv6: hop limit and source through socket options and cmsgs
}

// bindToDevice returns a ListenConfig whose sockets only see ifname.
func bindToDevice(ifname string) net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
		return errors.Join(err, serr)
	}}
}

// listenVRRP opens the socket in the calling thread's network namespace.
func listenVRRP(ifname string, ifindex int, v6 bool) (*rawConn, error) {
	lc := bindToDevice(ifname)
	ifi := &net.Interface{Index: ifindex, Name: ifname}
	c := &rawConn{ifindex: ifindex, v6: v6}
	var err error
	if !v6 {
		if c.pc, err = lc.ListenPacket(context.Background(), "ip4:112", "0.0.0.0"); err != nil {
			return nil, fmt.Errorf("open vrrp socket on %s: %w", ifname, err)
		}
		if c.c4, err = ipv4.NewRawConn(c.pc); err != nil {
			c.pc.Close()
			return nil, fmt.Errorf("vrrp raw socket on %s: %w", ifname, err)
		}
		err = errors.Join(
			c.c4.JoinGroup(ifi, &net.IPAddr{IP: Group4.AsSlice()}),
			c.c4.SetMulticastInterface(ifi),
			c.c4.SetMulticastLoopback(false),
			c.c4.SetMulticastTTL(TTL),
			c.c4.SetTTL(TTL),
		)
	} else {
		if c.pc, err = lc.ListenPacket(context.Background(), "ip6:112", "::"); err != nil {
			return nil, fmt.Errorf("open vrrp6 socket on %s: %w", ifname, err)
		}
		c.c6 = ipv6.NewPacketConn(c.pc)
		err = errors.Join(
			c.c6.JoinGroup(ifi, &net.IPAddr{IP: Group6.AsSlice()}),
			c.c6.SetMulticastInterface(ifi),
			c.c6.SetMulticastLoopback(false),
			c.c6.SetMulticastHopLimit(TTL),
			c.c6.SetHopLimit(TTL),
			c.c6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
		)
	}
	if err != nil {
		c.pc.Close()
		return nil, fmt.Errorf("vrrp socket options on %s: %w", ifname, err)
	}
	return c, nil
}

// read blocks for the next VRRP packet; it fails once the socket is closed.
func (c *rawConn) read(buf []byte) (rxPacket, error) {
	for {
		if !c.v6 {
			h, p, _, err := c.c4.ReadFrom(buf)
			if err != nil {
				return rxPacket{}, err
			}
			if h.Protocol != IPProtocol || h.Flags&ipv4.MoreFragments != 0 || h.FragOff != 0 {
				continue
			}
			src, _ := netip.AddrFromSlice(h.Src.To4())
			dst, _ := netip.AddrFromSlice(h.Dst.To4())
			if h.TotalLen > 0 && h.TotalLen-h.Len < len(p) {
				p = p[:h.TotalLen-h.Len]
			}
			return rxPacket{RxInfo: RxInfo{Src: src, Dst: dst, TTL: h.TTL}, payload: p}, nil
		}
		n, cm, from, err := c.c6.ReadFrom(buf)
		if err != nil {
			return rxPacket{}, err
		}
		ia, ok := from.(*net.IPAddr)
		if !ok || cm == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ia.IP)
		dst, _ := netip.AddrFromSlice(cm.Dst)
		return rxPacket{RxInfo: RxInfo{Src: src, Dst: dst.Unmap(), TTL: cm.HopLimit}, payload: buf[:n]}, nil
	}
}

// send sends one VRRP packet from src to dst with TTL / hop limit 255.
func (c *rawConn) send(src, dst netip.Addr, payload []byte) error {
	if !c.v6 {
		h := &ipv4.Header{
			Version:  ipv4.Version,
			Len:      ipv4.HeaderLen,
			TOS:      0xc0, // internetwork control, as keepalived
			TotalLen: ipv4.HeaderLen + len(payload),
			TTL:      TTL,
			Protocol: IPProtocol,
			Src:      src.AsSlice(),
			Dst:      dst.AsSlice(),
		}
		return c.c4.WriteTo(h, payload, &ipv4.ControlMessage{IfIndex: c.ifindex})
	}
	cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifindex, HopLimit: TTL, TrafficClass: 0xc0}
	_, err := c.c6.WriteTo(payload, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: zoneOf(dst, c.ifindex)})
	return err
}

func zoneOf(a netip.Addr, ifindex int) string {
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() {
		return fmt.Sprint(ifindex)
	}
	return ""
}

func (c *rawConn) close() error { return c.pc.Close() }

// pending reports whether a packet waits in the socket's receive queue.
func (c *rawConn) pending() bool {
	sc, err := c.pc.(syscall.Conn).SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	_ = sc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		ready = err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
	})
	return ready
}
