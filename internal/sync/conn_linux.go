package sync

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// rcvBuf is the socket receive buffer asked for: room for a burst of
// bulk messages while the backup installs the ones before.
const rcvBuf = 4 << 20

// listen opens the sync socket: bound to the port (and LocalAddr for
// unicast), to the interface if one is named, member of the multicast
// group when there are no peers. Multicast is sent with TTL 1 and not
// looped back.
func listen(cfg *Config) (*net.UDPConn, error) {
	multicast := len(cfg.Peers) == 0
	fam := cfg.Group
	if !multicast {
		fam = cfg.Peers[0]
	}
	network, bind := "udp4", netip.IPv4Unspecified()
	if fam.Is6() {
		network, bind = "udp6", netip.IPv6Unspecified()
	}
	if !multicast && cfg.LocalAddr.IsValid() {
		bind = cfg.LocalAddr
	}
	ifindex := 0
	if cfg.Interface != "" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("sync interface %s: %w", cfg.Interface, err)
		}
		ifindex = ifi.Index
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if cfg.Interface != "" {
				if err := unix.BindToDevice(int(fd), cfg.Interface); err != nil {
					serr = fmt.Errorf("bind to device %s: %w", cfg.Interface, err)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	addr := netip.AddrPortFrom(bind, uint16(cfg.Port)).String()
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, addr, err)
	}
	c := pc.(*net.UDPConn)
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sync socket: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		// Root may exceed rmem_max; others get what the sysctl allows.
		if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
		}
		if multicast {
			serr = joinGroup(s, cfg, ifindex)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func joinGroup(s int, cfg *Config, ifindex int) error {
	if cfg.Group.Is4() {
		mreq := &unix.IPMreqn{Multiaddr: cfg.Group.As4(), Ifindex: int32(ifindex)}
		if err := unix.SetsockoptIPMreqn(s, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
			return fmt.Errorf("join %s on %s: %w", cfg.Group, cfg.Interface, err)
		}
		out := &unix.IPMreqn{Ifindex: int32(ifindex)}
		if cfg.LocalAddr.IsValid() {
			out.Address = cfg.LocalAddr.As4()
		}
		if err := unix.SetsockoptIPMreqn(s, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, out); err != nil {
			return fmt.Errorf("multicast interface %s: %w", cfg.Interface, err)
		}
		if err := unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1); err != nil {
			return fmt.Errorf("multicast ttl: %w", err)
		}
		if err := unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
			return fmt.Errorf("multicast loop: %w", err)
		}
		return nil
	}
	mreq := &unix.IPv6Mreq{Multiaddr: cfg.Group.As16(), Interface: uint32(ifindex)}
	if err := unix.SetsockoptIPv6Mreq(s, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
		return fmt.Errorf("join %s on %s: %w", cfg.Group, cfg.Interface, err)
	}
	if err := unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifindex); err != nil {
		return fmt.Errorf("multicast interface %s: %w", cfg.Interface, err)
	}
	if err := unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 1); err != nil {
		return fmt.Errorf("multicast hops: %w", err)
	}
	if err := unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0); err != nil {
		return fmt.Errorf("multicast loop: %w", err)
	}
	return nil
}
