package loader

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame describes a test frame; zero fields take defaults.
type frame struct {
	src, dst    netip.AddrPort
	proto       Proto
	flags       string // TCP flags: any of "SAFR"
	ttl         uint8
	tos         uint8
	payload     []byte
	options     []layers.IPv4Option
	vlan        uint16
	noUDPCsum   bool
	srcMAC      net.HardwareAddr
	dstMAC      net.HardwareAddr
	fragOff     uint16
	moreFrags   bool
	ipID        uint16
	tcpDataOff  uint8 // 0 = computed
	trailingPad int   // bytes after the datagram (Ethernet padding)
}

var (
	macClient = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macLB     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

func (f frame) bytes(t testing.TB) []byte {
	t.Helper()
	if f.ttl == 0 {
		f.ttl = 64
	}
	if f.proto == 0 {
		f.proto = TCP
	}
	if f.srcMAC == nil {
		f.srcMAC = macClient
	}
	if f.dstMAC == nil {
		f.dstMAC = macLB
	}
	if f.ipID == 0 {
		f.ipID = 0x1234
	}
	eth := &layers.Ethernet{SrcMAC: f.srcMAC, DstMAC: f.dstMAC, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	if f.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: f.vlan, Type: layers.EthernetTypeIPv4})
	}
	ip := &layers.IPv4{
		Version: 4, TTL: f.ttl, TOS: f.tos, Id: f.ipID,
		SrcIP: f.src.Addr().AsSlice(), DstIP: f.dst.Addr().AsSlice(),
		Protocol: layers.IPProtocol(f.proto), Options: f.options,
		FragOffset: f.fragOff,
	}
	if f.moreFrags {
		ip.Flags = layers.IPv4MoreFragments
	}
	ls = append(ls, ip)
	switch f.proto {
	case TCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.src.Port()), DstPort: layers.TCPPort(f.dst.Port()), Seq: 1000, Ack: 0, Window: 65535}
		for _, c := range f.flags {
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
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.src.Port()), DstPort: layers.UDPPort(f.dst.Port())}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(f.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if f.noUDPCsum {
		l4 := 14 + int(b[14]&0xf)*4
		if f.vlan != 0 {
			l4 += 4
		}
		b[l4+6], b[l4+7] = 0, 0
	}
	if f.tcpDataOff != 0 {
		l4 := 14 + int(b[14]&0xf)*4
		b[l4+12] = f.tcpDataOff<<4 | b[l4+12]&0x0f
	}
	return append(b, make([]byte, f.trailingPad)...)
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

// checksumsOK recomputes a frame's IPv4 header and TCP/UDP checksums
// from scratch and says whether each is right.
func checksumsOK(b []byte) (ipOK, l4OK bool) {
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

// checkChecksums recomputes the IPv4 header and TCP/UDP checksums of a
// frame from scratch and fails the test if the frame's are wrong.
func checkChecksums(t *testing.T, b []byte) {
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

// decoded is what a test checks of an output frame.
type decoded struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.AddrPort
	ttl, tos       uint8
	id             uint16
	vlan           uint16
	ipOptions      int
	payload        []byte
}

func decode(t *testing.T, b []byte) decoded {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("output does not decode: %v", el.Error())
	}
	var d decoded
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	d.srcMAC, d.dstMAC = eth.SrcMAC, eth.DstMAC
	if v, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
		d.vlan = v.VLANIdentifier
	}
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	d.ttl, d.tos, d.id, d.ipOptions = ip.TTL, ip.TOS, ip.Id, len(ip.Options)
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		d.src = netip.AddrPortFrom(src, uint16(l.SrcPort))
		d.dst = netip.AddrPortFrom(dst, uint16(l.DstPort))
		d.payload = l.Payload
	case *layers.UDP:
		d.src = netip.AddrPortFrom(src, uint16(l.SrcPort))
		d.dst = netip.AddrPortFrom(dst, uint16(l.DstPort))
		d.payload = l.Payload
	default:
		t.Fatalf("no TCP/UDP layer in output")
	}
	return d
}
