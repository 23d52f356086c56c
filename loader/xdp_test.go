package loader

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/xdptest"
)

// Names of the xdptest lab, short for the tables below.
var (
	vip      = xdptest.VIP
	vip80    = netip.AddrPortFrom(vip, 80)
	web1     = xdptest.Web1
	web2     = xdptest.Web2
	web3     = xdptest.WebNoARP
	webHole  = xdptest.WebHole
	client   = xdptest.Client
	macWeb1  = xdptest.MACWeb1
	macRtr   = xdptest.MACRtr
	macOnLnk = xdptest.MACOnLnk
)

// fixture is a dataplane loaded without pins, run in an xdptest.Lab.
type fixture struct {
	ns      *lab.NS
	lab     *xdptest.Lab
	dp      *Dataplane
	pub     int
	farm    int
	pubMAC  net.HardwareAddr
	farmMAC net.HardwareAddr
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	l := xdptest.NewLab(t)
	dp, err := Open(Options{ConntrackMax: 1024, PersistenceMax: 256, MaxServices: 16, MaxReals: 64}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	return &fixture{ns: l.NS, lab: l, dp: dp, pub: l.Pub, farm: l.Farm, pubMAC: l.PubMAC, farmMAC: l.FarmMAC}
}

// service sets up VIP:80/proto with the given reals, all available, and
// a table holding them in order.
func (f *fixture) service(t *testing.T, svc Service, reals ...netip.AddrPort) {
	t.Helper()
	setService(t, f.dp, svc, reals...)
}

// setService sets up svc (VIP:80 TCP unless its key is given) with the
// given reals, all available, and a table holding them in order.
func setService(tb testing.TB, dp *Dataplane, svc Service, reals ...netip.AddrPort) ServiceKey {
	tb.Helper()
	if !svc.Key.Addr.IsValid() {
		svc.Key = ServiceKey{Addr: vip, Port: 80, Proto: TCP}
	}
	rs := make([]Real, len(reals))
	for i, r := range reals {
		rs[i] = Real{Addr: r, Available: true}
	}
	if err := dp.SetService(svc, rs); err != nil {
		tb.Fatal(err)
	}
	if err := dp.SetTable(svc.Key, reals); err != nil {
		tb.Fatal(err)
	}
	return svc.Key
}

// run runs the dataplane on in as if received on ifindex.
func (f *fixture) run(t *testing.T, in []byte, ifindex int) (uint32, []byte) {
	t.Helper()
	return f.lab.Run(t, f.dp.Program(), in, ifindex)
}

func (f *fixture) counter(t *testing.T, name string) uint64 {
	t.Helper()
	c, err := f.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := c[name]
	if !ok {
		t.Fatalf("no counter %q", name)
	}
	return v
}

func (f *fixture) conn(t *testing.T, client netip.AddrPort) Conn {
	t.Helper()
	cs, err := f.dp.Conns(func(c *Conn) bool { return c.Client == client }, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("%d connections from %s, want 1: %+v", len(cs), client, cs)
	}
	return cs[0]
}

// wantForwarded checks a rewritten, forwarded frame field by field.
func wantForwarded(t *testing.T, out []byte, in xdptest.Frame, src, dst netip.AddrPort, srcMAC, dstMAC net.HardwareAddr) {
	t.Helper()
	xdptest.CheckChecksums(t, out)
	d := xdptest.Decode(t, out)
	if d.Src != src || d.Dst != dst {
		t.Errorf("addresses %s -> %s, want %s -> %s", d.Src, d.Dst, src, dst)
	}
	if !bytes.Equal(d.SrcMAC, srcMAC) || !bytes.Equal(d.DstMAC, dstMAC) {
		t.Errorf("MACs %s -> %s, want %s -> %s", d.SrcMAC, d.DstMAC, srcMAC, dstMAC)
	}
	ttl := in.TTL
	if ttl == 0 {
		ttl = 64
	}
	if d.TTL != ttl-1 {
		t.Errorf("TTL %d, want %d", d.TTL, ttl-1)
	}
	if d.TOS != in.TOS || d.ID != 0x1234 {
		t.Errorf("TOS %#x id %#x changed", d.TOS, d.ID)
	}
	if !bytes.Equal(d.Payload, in.Payload) && !(len(d.Payload) == 0 && len(in.Payload) == 0) {
		t.Errorf("payload changed: %q, want %q", d.Payload, in.Payload)
	}
}

func TestForwardAndReverse(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedWRR}, web1, web2)
	svc := ServiceKey{Addr: vip, Port: 80, Proto: TCP}

	syn := xdptest.Frame{Src: client, Dst: vip80, Flags: "S", TOS: 0x10}
	ret, out := f.run(t, syn.Bytes(t), f.pub)
	t.Run("syn_to_vip_is_dnatd_to_the_first_real_and_redirected_to_the_farm", func(t *testing.T) {
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		wantForwarded(t, out, syn, client, web1, f.farmMAC, macWeb1)
		c := f.conn(t, client)
		if c.Real != web1 || c.VIP != vip80 || c.State != "SYN_RECV" || c.Active {
			t.Errorf("conntrack %+v", c)
		}
		if n := f.counter(t, "fwd_redirect"); n != 1 {
			t.Errorf("fwd_redirect %d", n)
		}
	})

	t.Run("syn_ack_from_the_real_is_snatd_back_to_the_vip", func(t *testing.T) {
		in := xdptest.Frame{Src: web1, Dst: client, Flags: "SA", Payload: []byte("x")}
		ret, out := f.run(t, in.Bytes(t), f.farm)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		wantForwarded(t, out, in, vip80, client, f.pubMAC, macRtr)
	})

	t.Run("client_ack_establishes_and_keeps_the_real", func(t *testing.T) {
		in := xdptest.Frame{Src: client, Dst: vip80, Flags: "A", Payload: []byte("GET / HTTP/1.0\r\n\r\n")}
		ret, out := f.run(t, in.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		wantForwarded(t, out, in, client, web1, f.farmMAC, macWeb1)
		if c := f.conn(t, client); c.State != "ESTABLISHED" || !c.Active {
			t.Errorf("conntrack %+v, want ESTABLISHED", c)
		}
		cc, err := f.dp.RealConns(svc)
		if err != nil {
			t.Fatal(err)
		}
		if cc[web1].Active != 1 || cc[web1].Inactive != 0 || cc[web2] != (ConnCounts{}) {
			t.Errorf("real conns %+v", cc)
		}
	})

	t.Run("next_new_connection_goes_to_the_second_real", func(t *testing.T) {
		c2 := netip.AddrPortFrom(client.Addr(), 40001)
		ret, out := f.run(t, xdptest.Frame{Src: c2, Dst: vip80, Flags: "S"}.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		if d := xdptest.Decode(t, out); d.Dst != web2 {
			t.Errorf("second connection went to %s, want %s", d.Dst, web2)
		}
	})

	t.Run("fin_from_the_real_ends_the_established_count", func(t *testing.T) {
		ret, _ := f.run(t, xdptest.Frame{Src: web1, Dst: client, Flags: "FA"}.Bytes(t), f.farm)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		if c := f.conn(t, client); c.State != "FIN_WAIT" {
			t.Errorf("state %s, want FIN_WAIT", c.State)
		}
		cc, _ := f.dp.RealConns(svc)
		if cc[web1] != (ConnCounts{Inactive: 1, Ended: 1}) {
			t.Errorf("web1 conns %+v, want 1 inactive", cc[web1])
		}
	})

	t.Run("syn_reusing_a_finished_tuple_is_rescheduled", func(t *testing.T) {
		ret, out := f.run(t, syn.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		// The cursor is at 2: back to web1.
		if d := xdptest.Decode(t, out); d.Dst != web1 {
			t.Errorf("went to %s", d.Dst)
		}
		if c := f.conn(t, client); c.State != "SYN_RECV" {
			t.Errorf("state %s, want SYN_RECV", c.State)
		}
	})

	t.Run("service_counters", func(t *testing.T) {
		tr, err := f.dp.ServiceTraffic(svc)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Conns != 3 || tr.PacketsIn != 4 || tr.PacketsOut != 2 {
			t.Errorf("service traffic %+v, want 3 conns, 4 in, 2 out", tr)
		}
	})
}

func TestUDP(t *testing.T) {
	f := newFixture(t)
	key := ServiceKey{Addr: vip, Port: 7000, Proto: UDP}
	f.service(t, Service{Key: key, Sched: SchedRR}, web1)
	vip53 := netip.AddrPortFrom(vip, 7000)
	real53 := web1

	t.Run("udp_is_dnatd_with_its_checksum", func(t *testing.T) {
		in := xdptest.Frame{Proto: xdptest.UDP, Src: client, Dst: vip53, Payload: []byte("query")}
		ret, out := f.run(t, in.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		wantForwarded(t, out, in, client, real53, f.farmMAC, macWeb1)
		if c := f.conn(t, client); c.State != "UDP" || c.Active {
			t.Errorf("conntrack %+v", c)
		}
	})
	t.Run("udp_reply_is_snatd", func(t *testing.T) {
		in := xdptest.Frame{Proto: xdptest.UDP, Src: real53, Dst: client, Payload: []byte("answer")}
		ret, out := f.run(t, in.Bytes(t), f.farm)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		wantForwarded(t, out, in, vip53, client, f.pubMAC, macRtr)
	})
	t.Run("udp_without_checksum_keeps_zero", func(t *testing.T) {
		in := xdptest.Frame{Proto: xdptest.UDP, Src: client, Dst: vip53, Payload: []byte("q2"), NoUDPCsum: true}
		ret, out := f.run(t, in.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		wantForwarded(t, out, in, client, real53, f.farmMAC, macWeb1)
		if out[14+20+6] != 0 || out[14+20+7] != 0 {
			t.Errorf("UDP checksum %#x%02x, want 0", out[14+20+6], out[14+20+7])
		}
	})
}

func TestPersistence(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedRR, PersistTimeout: 50 * time.Second, PersistPrefix: 24}, web1, web2)
	first := func(src netip.AddrPort) netip.AddrPort {
		t.Helper()
		ret, out := f.run(t, xdptest.Frame{Src: src, Dst: vip80, Flags: "S"}.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		return xdptest.Decode(t, out).Dst
	}
	a := first(client)
	if a != web1 {
		t.Fatalf("first connection to %s", a)
	}
	// Round robin alone would now give web2.
	for port := uint16(40001); port < 40005; port++ {
		if got := first(netip.AddrPortFrom(client.Addr(), port)); got != web1 {
			t.Errorf("same client port %d went to %s, want %s (persistence)", port, got, web1)
		}
	}
	neighbour := netip.MustParseAddrPort("198.51.100.8:41000")
	if got := first(neighbour); got != web1 {
		t.Errorf("client in the same /24 went to %s, want %s (granularity /24)", got, web1)
	}
	other := netip.MustParseAddrPort("198.51.100.200:41000")
	if got := first(other); got != web1 {
		// .200 is in the same /24 too.
		t.Errorf("got %s", got)
	}
	elsewhere := netip.MustParseAddrPort("203.0.113.50:41000")
	ret, out := f.run(t, xdptest.Frame{Src: elsewhere, Dst: vip80, Flags: "S"}.Bytes(t), f.pub)
	xdptest.WantVerdict(t, ret, xdptest.Redirect)
	if got := xdptest.Decode(t, out).Dst; got != web2 {
		t.Errorf("another client went to %s, want the next real %s", got, web2)
	}

	t.Run("drained_real_loses_its_templates_but_keeps_its_connections", func(t *testing.T) {
		svc := Service{Key: ServiceKey{Addr: vip, Port: 80, Proto: TCP}, Sched: SchedRR, PersistTimeout: 50 * time.Second, PersistPrefix: 24}
		if err := f.dp.SetService(svc, []Real{{Addr: web1, Available: false}, {Addr: web2, Available: true}}); err != nil {
			t.Fatal(err)
		}
		// Established connection to web1 continues.
		ret, out := f.run(t, xdptest.Frame{Src: client, Dst: vip80, Flags: "A"}.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		if got := xdptest.Decode(t, out).Dst; got != web1 {
			t.Errorf("established connection moved to %s", got)
		}
		// A new one from the persistent client goes elsewhere, table not yet rebuilt.
		if got := first(netip.AddrPortFrom(client.Addr(), 42000)); got != web2 {
			t.Errorf("new connection of a persistent client of a drained real went to %s", got)
		}
		// And the template now points there.
		if got := first(netip.AddrPortFrom(client.Addr(), 42001)); got != web2 {
			t.Errorf("template not moved: %s", got)
		}
	})
}

func TestHashSchedulers(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedSH}, web1, web2)
	dst := func(src netip.AddrPort, flags string) netip.AddrPort {
		t.Helper()
		ret, out := f.run(t, xdptest.Frame{Src: src, Dst: vip80, Flags: flags}.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		return xdptest.Decode(t, out).Dst
	}
	seen := map[netip.AddrPort]int{}
	for i := range 64 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 40000)
		a := dst(src, "S")
		seen[a]++
		for port := uint16(40001); port < 40004; port++ {
			if b := dst(netip.AddrPortFrom(src.Addr(), port), "S"); b != a {
				t.Fatalf("source hash sent %s to %s and %s", src.Addr(), a, b)
			}
		}
	}
	if seen[web1] == 0 || seen[web2] == 0 {
		t.Errorf("64 clients all hashed to one real: %v", seen)
	}
	t.Run("mid_stream_tcp_is_scheduled_by_hash", func(t *testing.T) {
		src := netip.MustParseAddrPort("198.51.100.77:50000")
		want := dst(netip.AddrPortFrom(src.Addr(), 1), "S")
		if got := dst(src, "A"); got != want {
			t.Errorf("mid-stream packet went to %s, want %s", got, want)
		}
	})
}

func TestPassAndDrop(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedRR}, web1)
	f.service(t, Service{Key: ServiceKey{Addr: vip, Port: 81, Proto: TCP}}, web3)
	f.service(t, Service{Key: ServiceKey{Addr: vip, Port: 82, Proto: TCP}}, webHole)
	f.service(t, Service{Key: ServiceKey{Addr: vip, Port: 83, Proto: TCP}})
	f.service(t, Service{Key: ServiceKey{Addr: vip, Port: 84, Proto: TCP}}, netip.MustParseAddrPort("203.0.113.50:8080"))

	syn := xdptest.Frame{Src: client, Dst: vip80, Flags: "S"}
	good := syn.Bytes(t)
	ipOff := 14
	tracked := netip.MustParseAddrPort("198.51.100.20:45000")
	if ret, _ := f.run(t, xdptest.Frame{Src: tracked, Dst: vip80, Flags: "S"}.Bytes(t), f.pub); ret != xdptest.Redirect {
		t.Fatalf("setup SYN: verdict %s", xdptest.VerdictName(ret))
	}

	arp := func() []byte {
		b := make([]byte, 42)
		copy(b, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(b[6:], xdptest.MACClient)
		b[12], b[13] = 0x08, 0x06
		return b
	}()
	ipv6 := func() []byte {
		b := make([]byte, 14+40)
		copy(b, xdptest.MACLB)
		b[12], b[13] = 0x86, 0xdd
		b[14] = 0x60
		return b
	}()
	mod := func(fn func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return fn(b)
	}
	icmp := func() []byte {
		b := mod(func(b []byte) []byte { return b })
		b[ipOff+9] = 1 // ICMP
		return b
	}()

	for _, tc := range []struct {
		name    string
		in      []byte
		ingress int
		want    uint32
		counter string
		same    bool // frame must leave unmodified
	}{
		{"arp_passes", arp, f.pub, xdptest.Pass, "pass_not_ip", true},
		{"ipv6_passes", ipv6, f.pub, xdptest.Pass, "pass_ipv6", true},
		{"icmp_to_vip_passes", icmp, f.pub, xdptest.Pass, "pass_not_service", true},
		{"tcp_to_another_address_passes", xdptest.Frame{Src: client, Dst: netip.MustParseAddrPort("203.0.113.2:22"), Flags: "S"}.Bytes(t), f.pub, xdptest.Pass, "pass_not_service", true},
		{"tcp_to_vip_unserved_port_passes", xdptest.Frame{Src: client, Dst: netip.AddrPortFrom(vip, 22), Flags: "S"}.Bytes(t), f.pub, xdptest.Pass, "pass_not_service", true},
		{"farm_traffic_to_the_internet_passes", xdptest.Frame{Src: netip.MustParseAddrPort("192.0.2.100:33000"), Dst: netip.MustParseAddrPort("198.51.100.9:443"), Flags: "S"}.Bytes(t), f.farm, xdptest.Pass, "pass_not_service", true},
		{"untracked_reply_from_a_real_passes", xdptest.Frame{Src: web1, Dst: netip.MustParseAddrPort("198.51.100.99:1234"), Flags: "A"}.Bytes(t), f.farm, xdptest.Pass, "pass_not_service", true},
		{"non_syn_without_connection_passes", xdptest.Frame{Src: client, Dst: vip80, Flags: "A"}.Bytes(t), f.pub, xdptest.Pass, "pass_tcp_no_conn", true},
		{"service_without_reals_passes", xdptest.Frame{Src: client, Dst: netip.AddrPortFrom(vip, 83), Flags: "S"}.Bytes(t), f.pub, xdptest.Pass, "pass_no_real", true},
		{"fragment_passes", xdptest.Frame{Src: client, Dst: vip80, Flags: "S", MoreFrags: true}.Bytes(t), f.pub, xdptest.Pass, "pass_fragment", true},
		{"non_first_fragment_passes", xdptest.Frame{Src: client, Dst: vip80, Flags: "S", FragOff: 100}.Bytes(t), f.pub, xdptest.Pass, "pass_fragment", true},
		{"ttl_1_to_vip_drops", xdptest.Frame{Src: client, Dst: vip80, Flags: "S", TTL: 1}.Bytes(t), f.pub, xdptest.Drop, "drop_ttl", false},
		{"ethernet_header_only_drops", good[:14], f.pub, xdptest.Drop, "drop_truncated", false},
		{"bad_ip_header_checksum_to_vip_drops", mod(func(b []byte) []byte { b[ipOff+10] ^= 0x40; return b }), f.pub, xdptest.Drop, "drop_bad_csum", false},
		{"bad_ip_header_checksum_from_real_drops", func() []byte {
			b := xdptest.Frame{Src: web1, Dst: tracked, Flags: "SA"}.Bytes(t)
			b[ipOff+10] ^= 0x40
			return b
		}(), f.farm, xdptest.Drop, "drop_bad_csum", false},
		{"truncated_ipv4_header_drops", good[:14+12], f.pub, xdptest.Drop, "drop_truncated", false},
		{"truncated_tcp_header_drops", good[:14+20+10], f.pub, xdptest.Drop, "drop_bad_length", false},
		{"ihl_below_5_drops", mod(func(b []byte) []byte { b[ipOff] = 0x44; return b }), f.pub, xdptest.Drop, "drop_bad_ip", false},
		{"ip_version_6_in_ipv4_frame_drops", mod(func(b []byte) []byte { b[ipOff] = 0x65; return b }), f.pub, xdptest.Drop, "drop_bad_ip", false},
		{"total_length_beyond_frame_drops", mod(func(b []byte) []byte { b[ipOff+2], b[ipOff+3] = 0x05, 0xdc; return b }), f.pub, xdptest.Drop, "drop_bad_length", false},
		{"total_length_below_header_drops", mod(func(b []byte) []byte { b[ipOff+2], b[ipOff+3] = 0, 16; return b }), f.pub, xdptest.Drop, "drop_bad_length", false},
		{"ihl_beyond_frame_drops", mod(func(b []byte) []byte { b[ipOff] = 0x4f; b[ipOff+2], b[ipOff+3] = 0, 60; return b[:14+40] }), f.pub, xdptest.Drop, "drop_bad_length", false},
		{"tcp_data_offset_below_5_drops", xdptest.Frame{Src: client, Dst: vip80, Flags: "S", TCPDataOff: 4}.Bytes(t), f.pub, xdptest.Drop, "drop_bad_l4", false},
		{"tcp_data_offset_beyond_datagram_drops", xdptest.Frame{Src: client, Dst: vip80, Flags: "S", TCPDataOff: 15}.Bytes(t), f.pub, xdptest.Drop, "drop_bad_l4", false},
		{"udp_length_beyond_datagram_drops", func() []byte {
			b := xdptest.Frame{Proto: xdptest.UDP, Src: client, Dst: netip.AddrPortFrom(vip, 7000)}.Bytes(t)
			b[14+20+4], b[14+20+5] = 0, 200
			return b
		}(), f.pub, xdptest.Drop, "drop_bad_l4", false},
		{"udp_length_below_8_drops", func() []byte {
			b := xdptest.Frame{Proto: xdptest.UDP, Src: client, Dst: netip.AddrPortFrom(vip, 7000)}.Bytes(t)
			b[14+20+4], b[14+20+5] = 0, 4
			return b
		}(), f.pub, xdptest.Drop, "drop_bad_l4", false},
		{"unresolved_real_goes_to_the_kernel_rewritten", xdptest.Frame{Src: client, Dst: netip.AddrPortFrom(vip, 81), Flags: "S"}.Bytes(t), f.pub, xdptest.Pass, "pass_no_neigh", false},
		{"blackholed_real_drops", xdptest.Frame{Src: client, Dst: netip.AddrPortFrom(vip, 82), Flags: "S"}.Bytes(t), f.pub, xdptest.Drop, "drop_unreachable", false},
		{"real_on_the_ingress_lan_is_sent_back_out_with_xdp_tx", xdptest.Frame{Src: client, Dst: netip.AddrPortFrom(vip, 84), Flags: "S"}.Bytes(t), f.pub, xdptest.TX, "fwd_tx", false},
		{"vlan_tagged_syn_is_natd_and_given_to_the_kernel", xdptest.Frame{Src: netip.MustParseAddrPort("198.51.100.11:40000"), Dst: vip80, Flags: "S", VLAN: 7}.Bytes(t), f.pub, xdptest.Pass, "pass_vlan", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.counter(t, tc.counter)
			ret, out := f.run(t, tc.in, tc.ingress)
			xdptest.WantVerdict(t, ret, tc.want)
			if got := f.counter(t, tc.counter) - before; got != 1 {
				t.Errorf("counter %s went up by %d, want 1", tc.counter, got)
			}
			if tc.same && !bytes.Equal(out, tc.in) {
				t.Errorf("frame modified on pass")
			}
		})
	}

	t.Run("unresolved_real_frame_is_rewritten_with_ttl_left_to_the_kernel", func(t *testing.T) {
		in := xdptest.Frame{Src: netip.MustParseAddrPort("198.51.100.12:40000"), Dst: netip.AddrPortFrom(vip, 81), Flags: "S"}
		ret, out := f.run(t, in.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Pass)
		xdptest.CheckChecksums(t, out)
		d := xdptest.Decode(t, out)
		if d.Dst != web3 || d.TTL != 64 {
			t.Errorf("dst %s ttl %d, want %s ttl 64", d.Dst, d.TTL, web3)
		}
	})
	t.Run("vlan_frame_keeps_its_tag", func(t *testing.T) {
		in := xdptest.Frame{Src: netip.MustParseAddrPort("198.51.100.13:40000"), Dst: vip80, Flags: "S", VLAN: 7}
		ret, out := f.run(t, in.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Pass)
		xdptest.CheckChecksums(t, out)
		if d := xdptest.Decode(t, out); d.VLAN != 7 || d.Dst != web1 {
			t.Errorf("vlan %d dst %s", d.VLAN, d.Dst)
		}
	})
	t.Run("ip_options_are_forwarded_intact", func(t *testing.T) {
		in := xdptest.Frame{Src: netip.MustParseAddrPort("198.51.100.14:40000"), Dst: vip80, Flags: "S",
			Options: []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, {OptionType: 0}}}
		ret, out := f.run(t, in.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		wantForwarded(t, out, in, in.Src, web1, f.farmMAC, macWeb1)
		if d := xdptest.Decode(t, out); d.IPOptions == 0 {
			t.Errorf("options lost")
		}
	})
	t.Run("ethernet_padding_is_tolerated", func(t *testing.T) {
		in := xdptest.Frame{Proto: xdptest.UDP, Src: netip.MustParseAddrPort("198.51.100.15:40000"), Dst: netip.AddrPortFrom(vip, 84), TrailingPad: 8}
		b := in.Bytes(t)
		// Port 84 is TCP only: passes, but parsing must accept the padding.
		ret, _ := f.run(t, b, f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Pass)
		in2 := xdptest.Frame{Src: netip.MustParseAddrPort("198.51.100.15:40001"), Dst: vip80, Flags: "S", TrailingPad: 6}
		ret, out := f.run(t, in2.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		xdptest.CheckChecksums(t, out)
	})
	t.Run("reply_with_ttl_1_goes_to_the_kernel_unmodified", func(t *testing.T) {
		in := xdptest.Frame{Src: web1, Dst: tracked, Flags: "SA", TTL: 1}
		b := in.Bytes(t)
		ret, out := f.run(t, b, f.farm)
		xdptest.WantVerdict(t, ret, xdptest.Pass)
		if !bytes.Equal(out, b) {
			t.Errorf("frame modified")
		}
	})
}

// TestGarbageNeverForwarded feeds random mutations of a valid SYN, UDP
// datagram and ICMP error and checks the program never aborts and never
// forwards a frame whose checksums are wrong.
func TestGarbageNeverForwarded(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedRR}, web1, web2)
	f.service(t, Service{Key: ServiceKey{Addr: vip, Port: 7000, Proto: UDP}}, web1)
	// The third seed is an ICMP error about a tracked connection (the
	// SYN's), whose quote is translated.
	if ret, _ := f.run(t, xdptest.Frame{Src: client, Dst: vip80, Flags: "S"}.Bytes(t), f.pub); ret != xdptest.Redirect {
		t.Fatalf("setup SYN: verdict %s", xdptest.VerdictName(ret))
	}
	seeds := [][]byte{
		xdptest.Frame{Src: client, Dst: vip80, Flags: "S"}.Bytes(t),
		xdptest.Frame{Proto: xdptest.UDP, Src: client, Dst: netip.AddrPortFrom(vip, 7000), Payload: []byte("abcd")}.Bytes(t),
		xdptest.ICMPError{Src: netip.MustParseAddr("198.51.100.254"), Dst: vip, Type: xdptest.ICMPUnreachable, Code: 4, MTU: 1400,
			Quote: xdptest.Datagram(xdptest.Frame{Src: vip80, Dst: client, Flags: "SA"}.Bytes(t))}.Bytes(t),
	}
	rng := uint32(1)
	next := func() uint32 { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng }
	forwarded := 0
	defer func() { t.Logf("%d of 6000 mutated frames forwarded, all well-formed", forwarded) }()
	for i := range 6000 {
		b := append([]byte(nil), seeds[i%len(seeds)]...)
		switch next() % 3 {
		case 0: // flip bytes in the headers
			for range 1 + next()%3 {
				b[14+next()%uint32(len(b)-14)] ^= byte(1 << (next() % 8))
			}
		case 1: // truncate
			b = b[:next()%uint32(len(b))]
		case 2: // set a header byte to an extreme
			b[14+next()%40%uint32(len(b)-14)] = byte(next())
		}
		if len(b) < 14 {
			b = append(b, make([]byte, 14-len(b))...)
		}
		ret, out := f.run(t, b, f.pub)
		if ret == xdptest.Aborted || ret > xdptest.Redirect {
			t.Fatalf("case %d: verdict %d on %x", i, ret, b)
		}
		if ret == xdptest.TX || ret == xdptest.Redirect {
			// A forwarded frame has a correct IP header, and a TCP/UDP
			// checksum exactly as right or wrong as the one received
			// (routers don't verify L4 checksums; the real will).
			ipOK, l4OK := xdptest.ChecksumsOK(out)
			_, l4InOK := xdptest.ChecksumsOK(b)
			if !ipOK || l4OK != l4InOK {
				t.Fatalf("case %d forwarded a bad frame (ip ok %v, l4 ok %v, l4 in ok %v): in %x out %x", i, ipOK, l4OK, l4InOK, b, out)
			}
			// So is an ICMP error's quoted IPv4 header.
			if b[14+9] == 1 {
				if qIn, qOut := quotedHeaderOK(b), quotedHeaderOK(out); qIn != qOut {
					t.Fatalf("case %d: quoted header checksum ok %v in, %v out: in %x out %x", i, qIn, qOut, b, out)
				}
			}
			forwarded++
		}
	}
}

// quotedHeaderOK says whether the IPv4 header an ICMP error frame quotes
// has a correct checksum.
func quotedHeaderOK(b []byte) bool {
	q := b[14+int(b[14]&0xf)*4+8:]
	hl := int(q[0]&0xf) * 4
	return xdptest.HeaderOK(q[:hl])
}

// TestNexthopCache: established flows reuse the route lookup of their
// real (forward) or client (replies) for a second; a datagram longer than
// any the cached route took is looked up again (the MTU check), and a
// changed neighbour is seen once the second is over.
func TestNexthopCache(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedRR}, web1)
	f.run(t, xdptest.Frame{Src: client, Dst: vip80, Flags: "S"}.Bytes(t), f.pub)
	ack := xdptest.Frame{Src: client, Dst: vip80, Flags: "A", Payload: []byte("GET")}
	ret, out := f.run(t, ack.Bytes(t), f.pub)
	xdptest.WantVerdict(t, ret, xdptest.Redirect)
	wantForwarded(t, out, ack, client, web1, f.farmMAC, macWeb1)

	t.Run("a_longer_datagram_than_the_route_took_is_checked_against_the_mtu", func(t *testing.T) {
		l, err := f.ns.Netlink().LinkByName("farm0")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.ns.Netlink().LinkSetMTU(l, 1000); err != nil {
			t.Fatal(err)
		}
		defer f.ns.Netlink().LinkSetMTU(l, 1500)
		before := f.counter(t, "pass_fib")
		big := xdptest.Frame{Src: client, Dst: vip80, Flags: "A", Payload: make([]byte, 1200)}
		ret, _ := f.run(t, big.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Pass)
		if f.counter(t, "pass_fib") != before+1 {
			t.Errorf("an oversized datagram was not given to the kernel (fragmentation needed)")
		}
		// Small ones still take the cached route.
		ret, _ = f.run(t, ack.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
	})

	t.Run("a_changed_neighbour_is_used_after_the_second", func(t *testing.T) {
		moved := net.HardwareAddr{0x02, 0, 0, 0, 1, 0x99}
		if err := f.ns.Neigh("farm0", web1.Addr().String(), moved); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2100 * time.Millisecond)
		ret, out := f.run(t, ack.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		if d := xdptest.Decode(t, out); !bytes.Equal(d.DstMAC, moved) {
			t.Errorf("sent to %s, want the new neighbour %s", d.DstMAC, moved)
		}
	})

	t.Run("replies_reuse_the_route_to_their_client", func(t *testing.T) {
		reply := xdptest.Frame{Src: web1, Dst: client, Flags: "A", Payload: []byte("200 OK")}
		for range 3 {
			ret, out := f.run(t, reply.Bytes(t), f.farm)
			xdptest.WantVerdict(t, ret, xdptest.Redirect)
			wantForwarded(t, out, reply, vip80, client, f.pubMAC, macRtr)
		}
	})
}
