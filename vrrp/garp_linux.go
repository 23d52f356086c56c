package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// announcer sends gratuitous ARPs (IPv4) and unsolicited neighbour
// advertisements (IPv6) that move a virtual address's traffic to us.
type announcer struct {
	arpFD int              // AF_PACKET socket, send only (protocol 0 receives nothing)
	icmp  *ipv6.PacketConn // raw ICMPv6: the kernel fills in the checksum
}

// newAnnouncer opens the sockets in the calling thread's network namespace.
func newAnnouncer() (*announcer, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open packet socket for gratuitous arp: %w", err)
	}
	pc, err := (&net.ListenConfig{}).ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open icmpv6 socket for neighbour advertisements: %w", err)
	}
	icmp := ipv6.NewPacketConn(pc)
	// Receive nothing on it: block every ICMPv6 type.
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := errors.Join(icmp.SetICMPFilter(&f), icmp.SetMulticastHopLimit(TTL), icmp.SetHopLimit(TTL)); err != nil {
		unix.Close(fd)
		pc.Close()
		return nil, fmt.Errorf("icmpv6 socket options: %w", err)
	}
	return &announcer{arpFD: fd, icmp: icmp}, nil
}

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// garpFrame is a gratuitous ARP request (RFC 5227 announcement): sender
// and target protocol address both ip, from mac, broadcast.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	b := make([]byte, 14+28)
	copy(b[0:6], broadcastMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_ARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:], 1) // Ethernet
	binary.BigEndian.PutUint16(a[2:], unix.ETH_P_IP)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], mac)
	ip4 := ip.As4()
	copy(a[14:18], ip4[:])
	// target hardware address stays zero
	copy(a[24:28], ip4[:])
	return b
}

// naMessage is an unsolicited neighbour advertisement for target with the
// override flag and our link-layer address (RFC 4861 §7.2.6).
func naMessage(mac net.HardwareAddr, target netip.Addr) []byte {
	b := make([]byte, 24+8)
	b[0] = 136                               // neighbour advertisement
	binary.BigEndian.PutUint32(b[4:], 1<<29) // O: override
	t := target.As16()
	copy(b[8:24], t[:])
	b[24], b[25] = 2, 1 // option: target link-layer address, 8 octets
	copy(b[26:32], mac)
	return b
}

func (a *announcer) arp(ifindex int, mac net.HardwareAddr, ip netip.Addr) error {
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6, Protocol: htons(unix.ETH_P_ARP)}
	copy(sa.Addr[:], broadcastMAC)
	if err := unix.Sendto(a.arpFD, garpFrame(mac, ip), 0, sa); err != nil {
		return fmt.Errorf("gratuitous arp for %v: %w", ip, err)
	}
	return nil
}

func (a *announcer) na(ifindex int, mac net.HardwareAddr, target, src netip.Addr) error {
	cm := &ipv6.ControlMessage{IfIndex: ifindex, HopLimit: TTL}
	if src.IsValid() {
		cm.Src = src.AsSlice()
	}
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: fmt.Sprint(ifindex)}
	if _, err := a.icmp.WriteTo(naMessage(mac, target), cm, dst); err != nil {
		return fmt.Errorf("unsolicited neighbour advertisement for %v: %w", target, err)
	}
	return nil
}

func (a *announcer) close() error {
	return errors.Join(unix.Close(a.arpFD), a.icmp.Close())
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
