package loader

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlb/xlb/internal/xdptest"
)

// TestICMPErrors: ICMP errors about a tracked connection are translated
// as IPVS translates them, so that path MTU discovery and port
// unreachables work through the NAT; every other ICMP frame goes to the
// kernel untouched.
func TestICMPErrors(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedRR}, web1)
	udpSvc := ServiceKey{Addr: vip, Port: 7000, Proto: UDP}
	f.service(t, Service{Key: udpSvc}, web1)
	vip7000 := netip.AddrPortFrom(vip, 7000)
	router := netip.MustParseAddr("198.51.100.254") // between the LB and the client
	farmRouter := netip.MustParseAddr("192.0.2.50")

	tcpClient := client
	udpClient := netip.MustParseAddrPort("198.51.100.7:41000")
	optsClient := netip.MustParseAddrPort("198.51.100.7:41001")
	for _, in := range []xdptest.Frame{
		{Src: tcpClient, Dst: vip80, Flags: "S"},
		{Proto: xdptest.UDP, Src: udpClient, Dst: vip7000, Payload: []byte("abcd")},
		{Proto: xdptest.UDP, Src: optsClient, Dst: vip7000, NoUDPCsum: true},
	} {
		if ret, _ := f.run(t, in.Bytes(t), f.pub); ret != xdptest.Redirect {
			t.Fatalf("setup %s: verdict %s", in.Src, xdptest.VerdictName(ret))
		}
	}
	// A reply as the client received it and as the real sent it.
	replyOut := xdptest.Datagram(xdptest.Frame{Src: vip80, Dst: tcpClient, Flags: "SA", TTL: 60}.Bytes(t))
	replyReal := xdptest.Datagram(xdptest.Frame{Src: web1, Dst: tcpClient, Flags: "SA", TTL: 60}.Bytes(t))
	// A datagram as the real received it and as the client sent it.
	opts := []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, {OptionType: 0}}
	udpAtReal := func(c netip.AddrPort, noCsum bool, o []layers.IPv4Option) []byte {
		return xdptest.Datagram(xdptest.Frame{Proto: xdptest.UDP, Src: c, Dst: web1, TTL: 63, Payload: []byte("abcd"), NoUDPCsum: noCsum, Options: o}.Bytes(t))
	}
	udpAtVIP := func(c netip.AddrPort, noCsum bool, o []layers.IPv4Option) []byte {
		return xdptest.Datagram(xdptest.Frame{Proto: xdptest.UDP, Src: c, Dst: vip7000, TTL: 63, Payload: []byte("abcd"), NoUDPCsum: noCsum, Options: o}.Bytes(t))
	}

	type translated struct {
		name      string
		in        xdptest.ICMPError
		ingress   int
		src, dst  netip.Addr
		srcMAC    []byte
		dstMAC    []byte
		wantQuote []byte
	}
	for _, tc := range []translated{
		{"frag_needed_to_the_vip_reaches_the_real_with_the_quote_it_sent",
			xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, MTU: 1400, Quote: replyOut},
			f.pub, router, web1.Addr(), f.farmMAC, macWeb1, replyReal},
		{"an_8_byte_quote_without_the_tcp_checksum_is_translated_too",
			xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, MTU: 1280, Quote: replyOut[:28]},
			f.pub, router, web1.Addr(), f.farmMAC, macWeb1, replyReal[:28]},
		{"port_unreachable_from_the_real_reaches_the_client_from_the_vip",
			xdptest.ICMPError{Src: web1.Addr(), Dst: udpClient.Addr(), Type: xdptest.ICMPUnreachable, Code: 3, Quote: udpAtReal(udpClient, false, nil)},
			f.farm, vip, udpClient.Addr(), f.pubMAC, macRtr, udpAtVIP(udpClient, false, nil)},
		{"time_exceeded_from_a_farm_router_comes_from_the_vip",
			xdptest.ICMPError{Src: farmRouter, Dst: udpClient.Addr(), Type: xdptest.ICMPTimeExceeded, Quote: udpAtReal(udpClient, false, nil)[:28]},
			f.farm, vip, udpClient.Addr(), f.pubMAC, macRtr, udpAtVIP(udpClient, false, nil)[:28]},
		{"a_quote_with_ip_options_and_no_udp_checksum",
			xdptest.ICMPError{Src: web1.Addr(), Dst: optsClient.Addr(), Type: xdptest.ICMPUnreachable, Code: 3, Quote: udpAtReal(optsClient, true, opts)},
			f.farm, vip, optsClient.Addr(), f.pubMAC, macRtr, udpAtVIP(optsClient, true, opts)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeICMP := f.counter(t, "fwd_redirect"), f.counter(t, "icmp_translated")
			ret, out := f.run(t, tc.in.Bytes(t), tc.ingress)
			xdptest.WantVerdict(t, ret, xdptest.Redirect)
			xdptest.CheckChecksums(t, out) // outer IPv4 and ICMP
			d := xdptest.Decode(t, out)
			if d.Src.Addr() != tc.src || d.Dst.Addr() != tc.dst {
				t.Errorf("outer %s -> %s, want %s -> %s", d.Src.Addr(), d.Dst.Addr(), tc.src, tc.dst)
			}
			if !bytes.Equal(d.SrcMAC, tc.srcMAC) || !bytes.Equal(d.DstMAC, tc.dstMAC) {
				t.Errorf("MACs %s -> %s", d.SrcMAC, d.DstMAC)
			}
			if d.TTL != 63 || d.ID != 0x1234 {
				t.Errorf("TTL %d id %#x, want 63 and unchanged", d.TTL, d.ID)
			}
			if d.ICMPType != tc.in.Type || d.ICMPCode != tc.in.Code || d.ICMPRest != uint32(tc.in.MTU) {
				t.Errorf("ICMP %d/%d rest %#x, want %d/%d %#x", d.ICMPType, d.ICMPCode, d.ICMPRest, tc.in.Type, tc.in.Code, tc.in.MTU)
			}
			// The quote, byte for byte: addresses, ports, the quoted IP
			// header checksum and the quoted TCP/UDP checksum.
			if !bytes.Equal(d.Quote, tc.wantQuote) {
				t.Errorf("quote\n%x, want\n%x", d.Quote, tc.wantQuote)
			}
			if f.counter(t, "fwd_redirect")-before != 1 || f.counter(t, "icmp_translated")-beforeICMP != 1 {
				t.Errorf("counters: fwd_redirect +%d, icmp_translated +%d", f.counter(t, "fwd_redirect")-before, f.counter(t, "icmp_translated")-beforeICMP)
			}
		})
	}

	badCsum := func(b []byte) []byte { b[14+10] ^= 0x40; return b }
	for _, tc := range []struct {
		name    string
		in      []byte
		ingress int
		want    uint32
		counter string
	}{
		{"error_about_an_untracked_connection_passes",
			xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, Quote: xdptest.Datagram(xdptest.Frame{Src: vip80, Dst: netip.MustParseAddrPort("198.51.100.99:1")}.Bytes(t))}.Bytes(t),
			f.pub, xdptest.Pass, "pass_icmp"},
		{"error_not_sent_to_the_quoted_source_passes",
			xdptest.ICMPError{Src: router, Dst: netip.MustParseAddr("203.0.113.2"), Type: xdptest.ICMPUnreachable, Code: 4, Quote: replyOut}.Bytes(t),
			f.pub, xdptest.Pass, "pass_icmp"},
		{"error_from_an_unknown_real_passes",
			xdptest.ICMPError{Src: web2.Addr(), Dst: udpClient.Addr(), Type: xdptest.ICMPUnreachable, Code: 3, Quote: xdptest.Datagram(xdptest.Frame{Proto: xdptest.UDP, Src: udpClient, Dst: web2}.Bytes(t))}.Bytes(t),
			f.farm, xdptest.Pass, "pass_icmp"},
		{"echo_request_to_the_vip_passes",
			xdptest.ICMPError{Src: tcpClient.Addr(), Dst: vip, Type: xdptest.ICMPEchoRequest, Quote: []byte("ping")}.Bytes(t),
			f.pub, xdptest.Pass, "pass_not_service"},
		{"quote_shorter_than_the_ports_passes",
			xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, Quote: replyOut[:23]}.Bytes(t),
			f.pub, xdptest.Pass, "pass_icmp"},
		{"quote_of_a_later_fragment_passes",
			xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, Quote: xdptest.Datagram(xdptest.Frame{Src: vip80, Dst: tcpClient, Flags: "SA", FragOff: 100}.Bytes(t))}.Bytes(t),
			f.pub, xdptest.Pass, "pass_icmp"},
		{"quote_of_another_protocol_passes",
			xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, Quote: func() []byte {
				b := append([]byte(nil), replyOut...)
				b[9] = 47 // GRE
				return b
			}()}.Bytes(t),
			f.pub, xdptest.Pass, "pass_icmp"},
		{"icmp_header_cut_short_passes",
			xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, Quote: replyOut}.Bytes(t)[:14+20+6],
			f.pub, xdptest.Pass, "pass_icmp"},
		{"bad_outer_header_checksum_drops",
			badCsum(xdptest.ICMPError{Src: router, Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, Quote: replyOut}.Bytes(t)),
			f.pub, xdptest.Drop, "drop_bad_csum"},
		{"ttl_1_to_the_vip_drops",
			xdptest.ICMPError{Src: router, Dst: vip, TTL: 1, Type: xdptest.ICMPUnreachable, Code: 4, Quote: replyOut}.Bytes(t),
			f.pub, xdptest.Drop, "drop_ttl"},
		{"ttl_1_from_the_farm_goes_to_the_kernel",
			xdptest.ICMPError{Src: web1.Addr(), Dst: udpClient.Addr(), TTL: 1, Type: xdptest.ICMPUnreachable, Code: 3, Quote: udpAtReal(udpClient, false, nil)}.Bytes(t),
			f.farm, xdptest.Pass, "pass_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "icmp_header_cut_short_passes" {
				// The IP total length must match the cut frame.
				tc.in[14+2], tc.in[14+3] = 0, 26
				xdptest.FixIPv4Checksum(tc.in)
			}
			before := f.counter(t, tc.counter)
			ret, out := f.run(t, tc.in, tc.ingress)
			xdptest.WantVerdict(t, ret, tc.want)
			if got := f.counter(t, tc.counter) - before; got != 1 {
				t.Errorf("counter %s went up by %d, want 1", tc.counter, got)
			}
			if tc.want == xdptest.Pass && !bytes.Equal(out[:len(tc.in)], tc.in) {
				t.Errorf("frame modified on pass")
			}
		})
	}
}
