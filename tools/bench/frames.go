package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Addresses of the benchmark lab (documentation ranges only).
var (
	vip        = netip.MustParseAddr("203.0.113.10")
	clientAddr = netip.MustParseAddr("198.51.100.10") // the TCP client and the generator's own address
	lbPublic   = netip.MustParseAddr("198.51.100.1")
	lbFarm     = [2]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.129")}
	realAddrs  = [2]netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.200")}
	// Generated flows come from 198.51.100.20 onwards: port 10000 + i
	// of the first address, then the next address.
	flowBase = netip.MustParseAddrPort("198.51.100.20:10000")
)

// frameLen is every generated frame's size (FRAME_LEN in bpf/bench.c):
// the 60-byte minimum Ethernet frame without FCS.
const frameLen = 60

// Protocols of generated frames.
const (
	protoTCP = 6
	protoUDP = 17
)

// template describes a generated frame: a UDP datagram or a TCP SYN.
type template struct {
	proto          uint8
	src, dst       netip.AddrPort
	srcMAC, dstMAC net.HardwareAddr
}

// bytes builds the frame with correct checksums, padded to frameLen
// (Ethernet padding: IPv4's total length leaves it out).
func (t template) bytes() ([]byte, error) {
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Id: 1, Flags: layers.IPv4DontFragment,
		SrcIP: t.src.Addr().AsSlice(), DstIP: t.dst.Addr().AsSlice(),
		Protocol: layers.IPProtocol(t.proto),
	}
	eth := &layers.Ethernet{SrcMAC: t.srcMAC, DstMAC: t.dstMAC, EthernetType: layers.EthernetTypeIPv4}
	var l4 gopacket.SerializableLayer
	var payload []byte
	switch t.proto {
	case protoTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(t.src.Port()), DstPort: layers.TCPPort(t.dst.Port()), Seq: 1, SYN: true, Window: 64240}
		tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	case protoUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(t.src.Port()), DstPort: layers.UDPPort(t.dst.Port())}
		udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
		payload = make([]byte, frameLen-14-20-8)
	default:
		return nil, fmt.Errorf("protocol %d: want TCP or UDP", t.proto)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		return nil, fmt.Errorf("build frame: %w", err)
	}
	b := buf.Bytes()
	if len(b) > frameLen {
		return nil, fmt.Errorf("frame is %d bytes, more than %d", len(b), frameLen)
	}
	return append(b, make([]byte, frameLen-len(b))...), nil
}

// pattern is which flows the generator cycles through: frame n carries
// flow n % flows, from source port portBase + flow % ports of the
// address template.src + flow / ports.
type pattern struct {
	flows, ports uint32
	portBase     uint16
}

// maxPorts source ports per address: 10000..59999.
const maxPorts = 50000

// freshFlows is the largest pattern that stays in 198.51.100.20-.250:
// generated at the LB's rate, every frame is a new connection.
const freshFlows = 231 * maxPorts

// patternFor spreads n flows over as few source addresses as possible.
func patternFor(n uint32) pattern {
	if n <= 1 {
		return pattern{flows: 1}
	}
	ports := min(n, maxPorts)
	return pattern{flows: n, ports: ports, portBase: flowBase.Port()}
}

// flowAt is the source of frame n (the same arithmetic as make_frame in
// bpf/bench.c), for tests and sanity checks.
func (p pattern) flowAt(base netip.AddrPort, n uint64) netip.AddrPort {
	if p.flows <= 1 || p.ports == 0 {
		return base
	}
	flow := uint32(n % uint64(p.flows))
	a := base.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += flow / p.ports
	addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.AddrPortFrom(addr, p.portBase+uint16(flow%p.ports))
}

// synTemplate is a frame from the flow base to VIP:80 (a SYN for TCP).
func synTemplate(proto uint8) template {
	return template{proto: proto, src: flowBase, dst: netip.AddrPortFrom(vip, 80), srcMAC: []byte{2, 0, 0, 0, 0, 1}, dstMAC: []byte{2, 0, 0, 0, 0, 2}}
}
