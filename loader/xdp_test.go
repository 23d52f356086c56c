package loader

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
)

// XDP verdicts.
const (
	xdpAborted  = 0
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4
)

var (
	vip      = netip.MustParseAddr("203.0.113.10")
	vip80    = netip.AddrPortFrom(vip, 80)
	web1     = netip.MustParseAddrPort("192.0.2.100:8080")
	web2     = netip.MustParseAddrPort("192.0.2.101:8080")
	web3     = netip.MustParseAddrPort("192.0.2.102:8080") // no neighbour entry
	webHole  = netip.MustParseAddrPort("192.0.2.200:8080") // blackholed
	client   = netip.MustParseAddrPort("198.51.100.7:40000")
	onLink   = netip.MustParseAddrPort("203.0.113.50:40000") // client on the public LAN
	macWeb1  = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x64}
	macWeb2  = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x65}
	macRtr   = net.HardwareAddr{0x02, 0, 0, 0, 2, 0x01}
	macOnLnk = net.HardwareAddr{0x02, 0, 0, 0, 2, 0x32}
)

// xdpMd is the context of an XDP test run (struct xdp_md).
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// fixture is a dataplane loaded without pins and a namespace whose
// routes and static neighbours give bpf_fib_lookup known answers:
//
//	pub0  203.0.113.2/24, router 203.0.113.1 (to 198.51.100.0/24), on-link client .50
//	farm0 192.0.2.1/24, web1 .100 and web2 .101 resolved, .102 not, .200 blackholed
type fixture struct {
	ns        *lab.NS
	dp        *Dataplane
	pub, farm int
	pubMAC    net.HardwareAddr
	farmMAC   net.HardwareAddr
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	ns := testutil.NewNS(t, "xlbt-xdp-")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lab.Veth(ns, "pub0", ns, "pub1"))
	must(lab.Veth(ns, "farm0", ns, "farm1"))
	must(ns.AddAddr("pub0", "203.0.113.2/24"))
	must(ns.AddAddr("farm0", "192.0.2.1/24"))
	must(ns.AddRoute("198.51.100.0/24", "203.0.113.1"))
	must(ns.Neigh("pub0", "203.0.113.1", macRtr))
	must(ns.Neigh("pub0", "203.0.113.50", macOnLnk))
	must(ns.Neigh("farm0", "192.0.2.100", macWeb1))
	must(ns.Neigh("farm0", "192.0.2.101", macWeb2))
	must(ns.Blackhole("192.0.2.200/32"))
	must(ns.Sysctl("net.ipv4.ip_forward", "1"))

	dp, err := Open(Options{ConntrackMax: 1024, PersistenceMax: 256, MaxServices: 16, MaxReals: 64}, slog.New(slog.DiscardHandler))
	must(err)
	t.Cleanup(func() { dp.Close() })
	f := &fixture{ns: ns, dp: dp}
	f.pub, err = ns.LinkIndex("pub0")
	must(err)
	f.farm, err = ns.LinkIndex("farm0")
	must(err)
	f.pubMAC, err = ns.MAC("pub0")
	must(err)
	f.farmMAC, err = ns.MAC("farm0")
	must(err)
	return f
}

// service sets up VIP:80/proto with the given reals, all available, and
// a table holding them in order.
func (f *fixture) service(t *testing.T, svc Service, reals ...netip.AddrPort) {
	t.Helper()
	if !svc.Key.Addr.IsValid() {
		svc.Key = ServiceKey{Addr: vip, Port: 80, Proto: TCP}
	}
	rs := make([]Real, len(reals))
	for i, r := range reals {
		rs[i] = Real{Addr: r, Available: true}
	}
	if err := f.dp.SetService(svc, rs); err != nil {
		t.Fatal(err)
	}
	if err := f.dp.SetTable(svc.Key, reals); err != nil {
		t.Fatal(err)
	}
}

// run runs the program on in as if received on ifindex and returns the
// verdict and the frame as the program left it.
func (f *fixture) run(t *testing.T, in []byte, ifindex int) (uint32, []byte) {
	t.Helper()
	opts := ebpf.RunOptions{
		Data:    in,
		DataOut: make([]byte, len(in)+512),
		Context: xdpMd{DataEnd: uint32(len(in)), IngressIfindex: uint32(ifindex)},
	}
	var ret uint32
	err := f.ns.Do(func() (err error) {
		ret, err = f.dp.Program().Run(&opts)
		return err
	})
	if err != nil {
		t.Fatalf("prog run: %v", err)
	}
	return ret, opts.DataOut
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

func verdictName(v uint32) string {
	return [...]string{"ABORTED", "DROP", "PASS", "TX", "REDIRECT"}[min(v, 4)]
}

func wantVerdict(t *testing.T, got, want uint32) {
	t.Helper()
	if got != want {
		t.Fatalf("verdict %s, want %s", verdictName(got), verdictName(want))
	}
}

// wantForwarded checks a rewritten, forwarded frame field by field.
func wantForwarded(t *testing.T, out []byte, in frame, src, dst netip.AddrPort, srcMAC, dstMAC net.HardwareAddr) {
	t.Helper()
	checkChecksums(t, out)
	d := decode(t, out)
	if d.src != src || d.dst != dst {
		t.Errorf("addresses %s -> %s, want %s -> %s", d.src, d.dst, src, dst)
	}
	if !bytes.Equal(d.srcMAC, srcMAC) || !bytes.Equal(d.dstMAC, dstMAC) {
		t.Errorf("MACs %s -> %s, want %s -> %s", d.srcMAC, d.dstMAC, srcMAC, dstMAC)
	}
	ttl := in.ttl
	if ttl == 0 {
		ttl = 64
	}
	if d.ttl != ttl-1 {
		t.Errorf("TTL %d, want %d", d.ttl, ttl-1)
	}
	if d.tos != in.tos || d.id != 0x1234 {
		t.Errorf("TOS %#x id %#x changed", d.tos, d.id)
	}
	if !bytes.Equal(d.payload, in.payload) && !(len(d.payload) == 0 && len(in.payload) == 0) {
		t.Errorf("payload changed: %q, want %q", d.payload, in.payload)
	}
}

func TestForwardAndReverse(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedWRR}, web1, web2)
	svc := ServiceKey{Addr: vip, Port: 80, Proto: TCP}

	syn := frame{src: client, dst: vip80, flags: "S", tos: 0x10}
	ret, out := f.run(t, syn.bytes(t), f.pub)
	t.Run("syn_to_vip_is_dnatd_to_the_first_real_and_redirected_to_the_farm", func(t *testing.T) {
		wantVerdict(t, ret, xdpRedirect)
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
		in := frame{src: web1, dst: client, flags: "SA", payload: []byte("x")}
		ret, out := f.run(t, in.bytes(t), f.farm)
		wantVerdict(t, ret, xdpRedirect)
		wantForwarded(t, out, in, vip80, client, f.pubMAC, macRtr)
	})

	t.Run("client_ack_establishes_and_keeps_the_real", func(t *testing.T) {
		in := frame{src: client, dst: vip80, flags: "A", payload: []byte("GET / HTTP/1.0\r\n\r\n")}
		ret, out := f.run(t, in.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
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
		ret, out := f.run(t, frame{src: c2, dst: vip80, flags: "S"}.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		if d := decode(t, out); d.dst != web2 {
			t.Errorf("second connection went to %s, want %s", d.dst, web2)
		}
	})

	t.Run("fin_from_the_real_ends_the_established_count", func(t *testing.T) {
		ret, _ := f.run(t, frame{src: web1, dst: client, flags: "FA"}.bytes(t), f.farm)
		wantVerdict(t, ret, xdpRedirect)
		if c := f.conn(t, client); c.State != "FIN_WAIT" {
			t.Errorf("state %s, want FIN_WAIT", c.State)
		}
		cc, _ := f.dp.RealConns(svc)
		if cc[web1] != (ConnCounts{Inactive: 1, Ended: 1}) {
			t.Errorf("web1 conns %+v, want 1 inactive", cc[web1])
		}
	})

	t.Run("syn_reusing_a_finished_tuple_is_rescheduled", func(t *testing.T) {
		ret, out := f.run(t, syn.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		// The cursor is at 2: back to web1.
		if d := decode(t, out); d.dst != web1 {
			t.Errorf("went to %s", d.dst)
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
		in := frame{proto: UDP, src: client, dst: vip53, payload: []byte("query")}
		ret, out := f.run(t, in.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		wantForwarded(t, out, in, client, real53, f.farmMAC, macWeb1)
		if c := f.conn(t, client); c.State != "UDP" || c.Active {
			t.Errorf("conntrack %+v", c)
		}
	})
	t.Run("udp_reply_is_snatd", func(t *testing.T) {
		in := frame{proto: UDP, src: real53, dst: client, payload: []byte("answer")}
		ret, out := f.run(t, in.bytes(t), f.farm)
		wantVerdict(t, ret, xdpRedirect)
		wantForwarded(t, out, in, vip53, client, f.pubMAC, macRtr)
	})
	t.Run("udp_without_checksum_keeps_zero", func(t *testing.T) {
		in := frame{proto: UDP, src: client, dst: vip53, payload: []byte("q2"), noUDPCsum: true}
		ret, out := f.run(t, in.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
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
		ret, out := f.run(t, frame{src: src, dst: vip80, flags: "S"}.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		return decode(t, out).dst
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
	ret, out := f.run(t, frame{src: elsewhere, dst: vip80, flags: "S"}.bytes(t), f.pub)
	wantVerdict(t, ret, xdpRedirect)
	if got := decode(t, out).dst; got != web2 {
		t.Errorf("another client went to %s, want the next real %s", got, web2)
	}

	t.Run("drained_real_loses_its_templates_but_keeps_its_connections", func(t *testing.T) {
		svc := Service{Key: ServiceKey{Addr: vip, Port: 80, Proto: TCP}, Sched: SchedRR, PersistTimeout: 50 * time.Second, PersistPrefix: 24}
		if err := f.dp.SetService(svc, []Real{{Addr: web1, Available: false}, {Addr: web2, Available: true}}); err != nil {
			t.Fatal(err)
		}
		// Established connection to web1 continues.
		ret, out := f.run(t, frame{src: client, dst: vip80, flags: "A"}.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		if got := decode(t, out).dst; got != web1 {
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
		ret, out := f.run(t, frame{src: src, dst: vip80, flags: flags}.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		return decode(t, out).dst
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

	syn := frame{src: client, dst: vip80, flags: "S"}
	good := syn.bytes(t)
	ipOff := 14
	tracked := netip.MustParseAddrPort("198.51.100.20:45000")
	if ret, _ := f.run(t, frame{src: tracked, dst: vip80, flags: "S"}.bytes(t), f.pub); ret != xdpRedirect {
		t.Fatalf("setup SYN: verdict %s", verdictName(ret))
	}

	arp := func() []byte {
		b := make([]byte, 42)
		copy(b, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(b[6:], macClient)
		b[12], b[13] = 0x08, 0x06
		return b
	}()
	ipv6 := func() []byte {
		b := make([]byte, 14+40)
		copy(b, macLB)
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
		{"arp_passes", arp, f.pub, xdpPass, "pass_not_ip", true},
		{"ipv6_passes", ipv6, f.pub, xdpPass, "pass_ipv6", true},
		{"icmp_to_vip_passes", icmp, f.pub, xdpPass, "pass_not_service", true},
		{"tcp_to_another_address_passes", frame{src: client, dst: netip.MustParseAddrPort("203.0.113.2:22"), flags: "S"}.bytes(t), f.pub, xdpPass, "pass_not_service", true},
		{"tcp_to_vip_unserved_port_passes", frame{src: client, dst: netip.AddrPortFrom(vip, 22), flags: "S"}.bytes(t), f.pub, xdpPass, "pass_not_service", true},
		{"farm_traffic_to_the_internet_passes", frame{src: netip.MustParseAddrPort("192.0.2.100:33000"), dst: netip.MustParseAddrPort("198.51.100.9:443"), flags: "S"}.bytes(t), f.farm, xdpPass, "pass_not_service", true},
		{"untracked_reply_from_a_real_passes", frame{src: web1, dst: netip.MustParseAddrPort("198.51.100.99:1234"), flags: "A"}.bytes(t), f.farm, xdpPass, "pass_not_service", true},
		{"non_syn_without_connection_passes", frame{src: client, dst: vip80, flags: "A"}.bytes(t), f.pub, xdpPass, "pass_tcp_no_conn", true},
		{"service_without_reals_passes", frame{src: client, dst: netip.AddrPortFrom(vip, 83), flags: "S"}.bytes(t), f.pub, xdpPass, "pass_no_real", true},
		{"fragment_passes", frame{src: client, dst: vip80, flags: "S", moreFrags: true}.bytes(t), f.pub, xdpPass, "pass_fragment", true},
		{"non_first_fragment_passes", frame{src: client, dst: vip80, flags: "S", fragOff: 100}.bytes(t), f.pub, xdpPass, "pass_fragment", true},
		{"ttl_1_to_vip_drops", frame{src: client, dst: vip80, flags: "S", ttl: 1}.bytes(t), f.pub, xdpDrop, "drop_ttl", false},
		{"ethernet_header_only_drops", good[:14], f.pub, xdpDrop, "drop_truncated", false},
		{"bad_ip_header_checksum_to_vip_drops", mod(func(b []byte) []byte { b[ipOff+10] ^= 0x40; return b }), f.pub, xdpDrop, "drop_bad_csum", false},
		{"bad_ip_header_checksum_from_real_drops", func() []byte {
			b := frame{src: web1, dst: tracked, flags: "SA"}.bytes(t)
			b[ipOff+10] ^= 0x40
			return b
		}(), f.farm, xdpDrop, "drop_bad_csum", false},
		{"truncated_ipv4_header_drops", good[:14+12], f.pub, xdpDrop, "drop_truncated", false},
		{"truncated_tcp_header_drops", good[:14+20+10], f.pub, xdpDrop, "drop_bad_length", false},
		{"ihl_below_5_drops", mod(func(b []byte) []byte { b[ipOff] = 0x44; return b }), f.pub, xdpDrop, "drop_bad_ip", false},
		{"ip_version_6_in_ipv4_frame_drops", mod(func(b []byte) []byte { b[ipOff] = 0x65; return b }), f.pub, xdpDrop, "drop_bad_ip", false},
		{"total_length_beyond_frame_drops", mod(func(b []byte) []byte { b[ipOff+2], b[ipOff+3] = 0x05, 0xdc; return b }), f.pub, xdpDrop, "drop_bad_length", false},
		{"total_length_below_header_drops", mod(func(b []byte) []byte { b[ipOff+2], b[ipOff+3] = 0, 16; return b }), f.pub, xdpDrop, "drop_bad_length", false},
		{"ihl_beyond_frame_drops", mod(func(b []byte) []byte { b[ipOff] = 0x4f; b[ipOff+2], b[ipOff+3] = 0, 60; return b[:14+40] }), f.pub, xdpDrop, "drop_bad_length", false},
		{"tcp_data_offset_below_5_drops", frame{src: client, dst: vip80, flags: "S", tcpDataOff: 4}.bytes(t), f.pub, xdpDrop, "drop_bad_l4", false},
		{"tcp_data_offset_beyond_datagram_drops", frame{src: client, dst: vip80, flags: "S", tcpDataOff: 15}.bytes(t), f.pub, xdpDrop, "drop_bad_l4", false},
		{"udp_length_beyond_datagram_drops", func() []byte {
			b := frame{proto: UDP, src: client, dst: netip.AddrPortFrom(vip, 7000)}.bytes(t)
			b[14+20+4], b[14+20+5] = 0, 200
			return b
		}(), f.pub, xdpDrop, "drop_bad_l4", false},
		{"udp_length_below_8_drops", func() []byte {
			b := frame{proto: UDP, src: client, dst: netip.AddrPortFrom(vip, 7000)}.bytes(t)
			b[14+20+4], b[14+20+5] = 0, 4
			return b
		}(), f.pub, xdpDrop, "drop_bad_l4", false},
		{"unresolved_real_goes_to_the_kernel_rewritten", frame{src: client, dst: netip.AddrPortFrom(vip, 81), flags: "S"}.bytes(t), f.pub, xdpPass, "pass_no_neigh", false},
		{"blackholed_real_drops", frame{src: client, dst: netip.AddrPortFrom(vip, 82), flags: "S"}.bytes(t), f.pub, xdpDrop, "drop_unreachable", false},
		{"real_on_the_ingress_lan_is_sent_back_out_with_xdp_tx", frame{src: client, dst: netip.AddrPortFrom(vip, 84), flags: "S"}.bytes(t), f.pub, xdpTX, "fwd_tx", false},
		{"vlan_tagged_syn_is_natd_and_given_to_the_kernel", frame{src: netip.MustParseAddrPort("198.51.100.11:40000"), dst: vip80, flags: "S", vlan: 7}.bytes(t), f.pub, xdpPass, "pass_vlan", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.counter(t, tc.counter)
			ret, out := f.run(t, tc.in, tc.ingress)
			wantVerdict(t, ret, tc.want)
			if got := f.counter(t, tc.counter) - before; got != 1 {
				t.Errorf("counter %s went up by %d, want 1", tc.counter, got)
			}
			if tc.same && !bytes.Equal(out, tc.in) {
				t.Errorf("frame modified on pass")
			}
		})
	}

	t.Run("unresolved_real_frame_is_rewritten_with_ttl_left_to_the_kernel", func(t *testing.T) {
		in := frame{src: netip.MustParseAddrPort("198.51.100.12:40000"), dst: netip.AddrPortFrom(vip, 81), flags: "S"}
		ret, out := f.run(t, in.bytes(t), f.pub)
		wantVerdict(t, ret, xdpPass)
		checkChecksums(t, out)
		d := decode(t, out)
		if d.dst != web3 || d.ttl != 64 {
			t.Errorf("dst %s ttl %d, want %s ttl 64", d.dst, d.ttl, web3)
		}
	})
	t.Run("vlan_frame_keeps_its_tag", func(t *testing.T) {
		in := frame{src: netip.MustParseAddrPort("198.51.100.13:40000"), dst: vip80, flags: "S", vlan: 7}
		ret, out := f.run(t, in.bytes(t), f.pub)
		wantVerdict(t, ret, xdpPass)
		checkChecksums(t, out)
		if d := decode(t, out); d.vlan != 7 || d.dst != web1 {
			t.Errorf("vlan %d dst %s", d.vlan, d.dst)
		}
	})
	t.Run("ip_options_are_forwarded_intact", func(t *testing.T) {
		in := frame{src: netip.MustParseAddrPort("198.51.100.14:40000"), dst: vip80, flags: "S",
			options: []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, {OptionType: 0}}}
		ret, out := f.run(t, in.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		wantForwarded(t, out, in, in.src, web1, f.farmMAC, macWeb1)
		if d := decode(t, out); d.ipOptions == 0 {
			t.Errorf("options lost")
		}
	})
	t.Run("ethernet_padding_is_tolerated", func(t *testing.T) {
		in := frame{proto: UDP, src: netip.MustParseAddrPort("198.51.100.15:40000"), dst: netip.AddrPortFrom(vip, 84), trailingPad: 8}
		b := in.bytes(t)
		// Port 84 is TCP only: passes, but parsing must accept the padding.
		ret, _ := f.run(t, b, f.pub)
		wantVerdict(t, ret, xdpPass)
		in2 := frame{src: netip.MustParseAddrPort("198.51.100.15:40001"), dst: vip80, flags: "S", trailingPad: 6}
		ret, out := f.run(t, in2.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		checkChecksums(t, out)
	})
	t.Run("reply_with_ttl_1_goes_to_the_kernel_unmodified", func(t *testing.T) {
		in := frame{src: web1, dst: tracked, flags: "SA", ttl: 1}
		b := in.bytes(t)
		ret, out := f.run(t, b, f.farm)
		wantVerdict(t, ret, xdpPass)
		if !bytes.Equal(out, b) {
			t.Errorf("frame modified")
		}
	})
}

// TestGarbageNeverForwarded feeds random mutations of a valid SYN and
// checks the program never aborts and never forwards a frame whose
// checksums are wrong.
func TestGarbageNeverForwarded(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedRR}, web1, web2)
	f.service(t, Service{Key: ServiceKey{Addr: vip, Port: 7000, Proto: UDP}}, web1)
	seeds := [][]byte{
		frame{src: client, dst: vip80, flags: "S"}.bytes(t),
		frame{proto: UDP, src: client, dst: netip.AddrPortFrom(vip, 7000), payload: []byte("abcd")}.bytes(t),
	}
	rng := uint32(1)
	next := func() uint32 { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng }
	forwarded := 0
	defer func() { t.Logf("%d of 4000 mutated frames forwarded, all well-formed", forwarded) }()
	for i := range 4000 {
		b := append([]byte(nil), seeds[i%2]...)
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
		if ret == xdpAborted || ret > xdpRedirect {
			t.Fatalf("case %d: verdict %d on %x", i, ret, b)
		}
		if ret == xdpTX || ret == xdpRedirect {
			// A forwarded frame has a correct IP header, and a TCP/UDP
			// checksum exactly as right or wrong as the one received
			// (routers don't verify L4 checksums; the real will).
			ipOK, l4OK := checksumsOK(out)
			_, l4InOK := checksumsOK(b)
			if !ipOK || l4OK != l4InOK {
				t.Fatalf("case %d forwarded a bad frame (ip ok %v, l4 ok %v, l4 in ok %v): in %x out %x", i, ipOK, l4OK, l4InOK, b, out)
			}
			forwarded++
		}
	}
}

// TestNexthopCache: established flows reuse the route lookup of their
// real (forward) or client (replies) for a second; a datagram longer than
// any the cached route took is looked up again (the MTU check), and a
// changed neighbour is seen once the second is over.
func TestNexthopCache(t *testing.T) {
	f := newFixture(t)
	f.service(t, Service{Sched: SchedRR}, web1)
	f.run(t, frame{src: client, dst: vip80, flags: "S"}.bytes(t), f.pub)
	ack := frame{src: client, dst: vip80, flags: "A", payload: []byte("GET")}
	ret, out := f.run(t, ack.bytes(t), f.pub)
	wantVerdict(t, ret, xdpRedirect)
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
		big := frame{src: client, dst: vip80, flags: "A", payload: make([]byte, 1200)}
		ret, _ := f.run(t, big.bytes(t), f.pub)
		wantVerdict(t, ret, xdpPass)
		if f.counter(t, "pass_fib") != before+1 {
			t.Errorf("an oversized datagram was not given to the kernel (fragmentation needed)")
		}
		// Small ones still take the cached route.
		ret, _ = f.run(t, ack.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
	})

	t.Run("a_changed_neighbour_is_used_after_the_second", func(t *testing.T) {
		moved := net.HardwareAddr{0x02, 0, 0, 0, 1, 0x99}
		if err := f.ns.Neigh("farm0", web1.Addr().String(), moved); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2100 * time.Millisecond)
		ret, out := f.run(t, ack.bytes(t), f.pub)
		wantVerdict(t, ret, xdpRedirect)
		if d := decode(t, out); !bytes.Equal(d.dstMAC, moved) {
			t.Errorf("sent to %s, want the new neighbour %s", d.dstMAC, moved)
		}
	})

	t.Run("replies_reuse_the_route_to_their_client", func(t *testing.T) {
		reply := frame{src: web1, dst: client, flags: "A", payload: []byte("200 OK")}
		for range 3 {
			ret, out := f.run(t, reply.bytes(t), f.farm)
			wantVerdict(t, ret, xdpRedirect)
			wantForwarded(t, out, reply, vip80, client, f.pubMAC, macRtr)
		}
	})
}
