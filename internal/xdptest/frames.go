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
		ip.Flags = layers.IPv4MoreFragments
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
		t.Fatalf("no TCP/UDP layer in output")
	}
	return d
}
