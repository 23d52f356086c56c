// Package xdptest helps test XDP programs with BPF_PROG_TEST_RUN: frames
// built with gopacket, checksums recomputed from scratch, and a network
// namespace whose routes and static neighbours give bpf_fib_lookup known
// answers. Only tests import it.
package xdptest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frame describes a test frame; zero fields take defaults (TCP, TTL 64).
type Frame struct {
	Src, Dst    netip.AddrPort
	Proto       uint8
	Flags       string // TCP flags: any of "SAFR"
	TTL         uint8
	TOS         uint8
	Payload     []byte
	Options     []layers.IPv4Option
	VLAN        uint16
	NoUDPCsum   bool
	SrcMAC      net.HardwareAddr
	DstMAC      net.HardwareAddr
	FragOff     uint16
	MoreFrags   bool
	DF          bool
	IPID        uint16
	TCPDataOff  uint8 // 0 = computed
	TrailingPad int   // bytes after the datagram (Ethernet padding)
}

// IP protocols of Frame.Proto.
const (
	TCP = 6
	UDP = 17
)

// MACs of the frames' default sender and receiver.
var (
	MACClient = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	MACLB     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// Bytes serializes the frame.
func (f Frame) Bytes(t testing.TB) []byte {
	t.Helper()
	if f.TTL == 0 {
		f.TTL = 64
	}
	if f.Proto == 0 {
		f.Proto = TCP
	}
	if f.SrcMAC == nil {
		f.SrcMAC = MACClient
	}
	if f.DstMAC == nil {
		f.DstMAC = MACLB
	}
	if f.IPID == 0 {
		f.IPID = 0x1234
	}
	eth := &layers.Ethernet{SrcMAC: f.SrcMAC, DstMAC: f.DstMAC, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	if f.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: f.VLAN, Type: layers.EthernetTypeIPv4})
	}
	ip := &layers.IPv4{
		Version: 4, TTL: f.TTL, TOS: f.TOS, Id: f.IPID,
		SrcIP: f.Src.Addr().AsSlice(), DstIP: f.Dst.Addr().AsSlice(),
		Protocol: layers.IPProtocol(f.Proto), Options: f.Options,
		FragOffset: f.FragOff,
	}
	if f.MoreFrags {
		ip.Flags |= layers.IPv4MoreFragments
	}
	if f.DF {
		ip.Flags |= layers.IPv4DontFragment
	}
	ls = append(ls, ip)
	switch f.Proto {
	case TCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.Src.Port()), DstPort: layers.TCPPort(f.Dst.Port()), Seq: 1000, Ack: 0, Window: 65535}
		for _, c := range f.Flags {
			switch c {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
				tcp.Ack = 2000
			case 'F':
				tcp.FIN = true
			case 'R':
				tcp.RST = true
			}
		}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	case UDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.Src.Port()), DstPort: layers.UDPPort(f.Dst.Port())}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(f.Payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if f.NoUDPCsum {
		l4 := 14 + int(b[14]&0xf)*4
		if f.VLAN != 0 {
			l4 += 4
		}
		b[l4+6], b[l4+7] = 0, 0
	}
	if f.TCPDataOff != 0 {
		l4 := 14 + int(b[14]&0xf)*4
		b[l4+12] = f.TCPDataOff<<4 | b[l4+12]&0x0f
	}
	return append(b, make([]byte, f.TrailingPad)...)
}

// ICMPError describes an ICMP error frame quoting a datagram.
type ICMPError struct {
	Src, Dst   netip.Addr
	Type, Code uint8
	MTU        uint16 // next-hop MTU of "fragmentation needed"
	TTL        uint8  // 0 = 64
	Quote      []byte // the quoted IPv4 datagram (or its first bytes)
}

// ICMP types of ICMPError.Type.
const (
	ICMPUnreachable  = 3
	ICMPTimeExceeded = 11
	ICMPEchoRequest  = 8
)

// Bytes serializes the error, every checksum correct.
func (e ICMPError) Bytes(t testing.TB) []byte {
	t.Helper()
	if e.TTL == 0 {
		e.TTL = 64
	}
	eth := &layers.Ethernet{SrcMAC: MACClient, DstMAC: MACLB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: e.TTL, Id: 0x1234, Protocol: layers.IPProtocolICMPv4,
		SrcIP: e.Src.AsSlice(), DstIP: e.Dst.AsSlice()}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(e.Type, e.Code), Seq: e.MTU}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, icmp, gopacket.Payload(e.Quote)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Datagram is the IPv4 datagram of an untagged frame, without Ethernet
// padding: what an ICMP error quotes.
func Datagram(frame []byte) []byte {
	ip := frame[14:]
	return ip[:binary.BigEndian.Uint16(ip[2:])]
}

// HeaderOK says whether an IPv4 header (hdr, options included) has a
// correct checksum.
func HeaderOK(hdr []byte) bool { return sum16(hdr, 0) == 0xffff }

// FixIPv4Checksum recomputes the checksum of an untagged frame's IPv4
// header, for tests that edit a header on purpose.
func FixIPv4Checksum(frame []byte) {
	ip := frame[14:]
	hl := int(ip[0]&0xf) * 4
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum16(ip[:hl], 0)))
}

// sum16 is the one's complement sum of b, from scratch.
func sum16(b []byte, initial uint32) uint32 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s
}

// ChecksumsOK recomputes a frame's IPv4 header and TCP/UDP checksums
// from scratch and says whether each is right.
func ChecksumsOK(b []byte) (ipOK, l4OK bool) {
	off := 14
	if binary.BigEndian.Uint16(b[12:]) == 0x8100 {
		off += 4
	}
	ip := b[off:]
	hl := int(ip[0]&0xf) * 4
	ipOK = sum16(ip[:hl], 0) == 0xffff
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	l4 := ip[hl:tot]
	proto := ip[9]
	if proto == 1 {
		return ipOK, sum16(l4, 0) == 0xffff // ICMP: no pseudo-header
	}
	if proto == 17 && binary.BigEndian.Uint16(l4[6:]) == 0 {
		return ipOK, true // no UDP checksum
	}
	pseudo := make([]byte, 0, 12)
	pseudo = append(pseudo, ip[12:20]...)
	pseudo = append(pseudo, 0, proto, byte(len(l4)>>8), byte(len(l4)))
	return ipOK, sum16(l4, sum16(pseudo, 0)) == 0xffff
}

// CheckChecksums recomputes the IPv4 header and TCP/UDP checksums of a
// frame from scratch and fails the test if the frame's are wrong.
func CheckChecksums(t *testing.T, b []byte) {
	t.Helper()
	off := 14
	if binary.BigEndian.Uint16(b[12:]) == 0x8100 {
		off += 4
	}
	ip := b[off:]
	hl := int(ip[0]&0xf) * 4
	if s := sum16(ip[:hl], 0); s != 0xffff {
		t.Errorf("IPv4 header checksum wrong: sum 0x%04x", s)
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	l4 := ip[hl:tot]
	proto := ip[9]
	if proto == 1 {
		if s := sum16(l4, 0); s != 0xffff {
			t.Errorf("ICMP checksum wrong: sum 0x%04x", s)
		}
		return
	}
	if proto == 17 && binary.BigEndian.Uint16(l4[6:]) == 0 {
		return // no UDP checksum
	}
	pseudo := make([]byte, 0, 12)
	pseudo = append(pseudo, ip[12:20]...)
	pseudo = append(pseudo, 0, proto, byte(len(l4)>>8), byte(len(l4)))
	if s := sum16(l4, sum16(pseudo, 0)); s != 0xffff {
		t.Errorf("L4 (proto %d) checksum wrong: sum 0x%04x", proto, s)
	}
}

// Decoded is what a test checks of an output frame.
type Decoded struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.AddrPort
	TTL, TOS       uint8
	ID             uint16
	VLAN           uint16
	IPOptions      int
	Payload        []byte
	// ICMP errors: type, code, the 4 bytes after the checksum (the MTU
	// of "fragmentation needed" in the low 16 bits) and the quote.
	ICMPType, ICMPCode uint8
	ICMPRest           uint32
	Quote              []byte
}

// Decode parses an output frame; it fails the test if it does not decode.
func Decode(t *testing.T, b []byte) Decoded {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("output does not decode: %v", el.Error())
	}
	var d Decoded
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	d.SrcMAC, d.DstMAC = eth.SrcMAC, eth.DstMAC
	if v, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
		d.VLAN = v.VLANIdentifier
	}
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	d.TTL, d.TOS, d.ID, d.IPOptions = ip.TTL, ip.TOS, ip.Id, len(ip.Options)
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		d.Src = netip.AddrPortFrom(src, uint16(l.SrcPort))
		d.Dst = netip.AddrPortFrom(dst, uint16(l.DstPort))
		d.Payload = l.Payload
	case *layers.UDP:
		d.Src = netip.AddrPortFrom(src, uint16(l.SrcPort))
		d.Dst = netip.AddrPortFrom(dst, uint16(l.DstPort))
		d.Payload = l.Payload
	default:
		ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if !ok {
			t.Fatalf("no TCP/UDP/ICMP layer in output")
		}
		d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		d.ICMPType, d.ICMPCode = ic.TypeCode.Type(), ic.TypeCode.Code()
		d.ICMPRest = uint32(ic.Id)<<16 | uint32(ic.Seq)
		d.Quote = ic.Payload
	}
	return d
}
