package sync

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
	"github.com/xlb/xlb/loader"
)

// The lab's services: TCP VIP:80 with persistence (the seed's), UDP
// VIP:53 without.
var (
	labVIP    = netip.MustParseAddr("203.0.113.10")
	labWeb1   = netip.MustParseAddr("192.0.2.100")
	labWeb2   = netip.MustParseAddr("192.0.2.101")
	labTCP    = loader.Service{Key: loader.ServiceKey{Addr: labVIP, Port: 80, Proto: loader.TCP}, Sched: loader.SchedRR, PersistTimeout: 50 * time.Second}
	labUDP    = loader.Service{Key: loader.ServiceKey{Addr: labVIP, Port: 53, Proto: loader.UDP}, Sched: loader.SchedRR}
	macLB     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	macPeer   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macRtr    = net.HardwareAddr{0x02, 0, 0, 0, 2, 0x01}
	macWeb1   = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x64}
	macWeb2   = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x65}
	syncAddr  = []netip.Addr{netip.MustParseAddr("203.0.113.249"), netip.MustParseAddr("203.0.113.250")}
	syncAddr6 = []netip.Addr{netip.MustParseAddr("2001:db8:5::1"), netip.MustParseAddr("2001:db8:5::2")}
)

// director is a director's namespace: a public and a farm side whose
// routes and static neighbours give the XDP program's FIB lookups known
// answers, and a sync link to the other director.
//
//	pub0  203.0.113.2/24, router 203.0.113.1 (to 198.51.100.0/24)
//	farm0 192.0.2.1/24, web1 .100 and web2 .101 resolved
//	sync0 203.0.113.249/30 and 2001:db8:5::1/64 (the other: .250, ::2),
//	      veth to the other director
type director struct {
	ns   *lab.NS
	dp   *loader.Dataplane
	pub  int // ifindex of pub0
	farm int // ifindex of farm0
}

// newDirector makes a director's namespace and a dataplane for it (not
// attached, not pinned); reversed lists the reals in the other order.
func newDirector(t testing.TB, sizes loader.Options, reversed bool) *director {
	t.Helper()
	testutil.RequireRoot(t)
	ns := testutil.NewNS(t, "xlbt-sync-")
	for _, err := range []error{
		lab.Veth(ns, "pub0", ns, "pub1"),
		lab.Veth(ns, "farm0", ns, "farm1"),
		ns.AddAddr("pub0", "203.0.113.2/24"),
		ns.AddAddr("farm0", "192.0.2.1/24"),
		ns.AddRoute("198.51.100.0/24", "203.0.113.1"),
		ns.Neigh("pub0", "203.0.113.1", macRtr),
		ns.Neigh("farm0", labWeb1.String(), macWeb1),
		ns.Neigh("farm0", labWeb2.String(), macWeb2),
		ns.Sysctl("net.ipv4.ip_forward", "1"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	d := &director{ns: ns}
	var err error
	if d.pub, err = ns.LinkIndex("pub0"); err != nil {
		t.Fatal(err)
	}
	if d.farm, err = ns.LinkIndex("farm0"); err != nil {
		t.Fatal(err)
	}
	d.dp = labDataplane(t, sizes, reversed)
	return d
}

// newDirectors makes two directors joined by a sync veth. The second's
// reals are listed in the other order, so its real ids differ.
func newDirectors(t testing.TB, sizes loader.Options) [2]*director {
	t.Helper()
	ds := [2]*director{newDirector(t, sizes, false), newDirector(t, sizes, true)}
	if err := lab.Veth(ds[0].ns, "sync0", ds[1].ns, "sync0"); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if err := d.ns.AddAddr("sync0", syncAddr[i].String()+"/30"); err != nil {
			t.Fatal(err)
		}
		// Without DAD, so the address is usable at once (lab.NS.AddAddr
		// sets IFA_F_PERMANENT where it means IFA_F_NODAD).
		l, err := d.ns.Netlink().LinkByName("sync0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := netlink.ParseAddr(syncAddr6[i].String() + "/64")
		if err != nil {
			t.Fatal(err)
		}
		a.Flags |= unix.IFA_F_NODAD
		if err := d.ns.Netlink().AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
	}
	return ds
}

// labDataplane opens a dataplane (not attached, not pinned) serving the
// lab's services, with the options given; reversed lists the reals in the other order, so that
// its real ids differ from another's.
func labDataplane(t testing.TB, sizes loader.Options, reversed bool) *loader.Dataplane {
	t.Helper()
	dp, err := loader.Open(sizes, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	reals := []netip.Addr{labWeb1, labWeb2}
	if reversed {
		reals = []netip.Addr{labWeb2, labWeb1}
	}
	for _, svc := range []loader.Service{labTCP, labUDP} {
		var rs []loader.Real
		var table []netip.AddrPort
		for _, a := range reals {
			ap := netip.AddrPortFrom(a, svc.Key.Port)
			rs = append(rs, loader.Real{Addr: ap, Available: true})
			table = append(table, ap)
		}
		if err := dp.SetService(svc, rs); err != nil {
			t.Fatal(err)
		}
		if err := dp.SetTable(svc.Key, table); err != nil {
			t.Fatal(err)
		}
	}
	return dp
}

// xdpMd is the context of an XDP test run (struct xdp_md).
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// frame builds an Ethernet/IPv4/TCP or UDP frame; flags are TCP flags,
// any of "SAFR".
func frame(t testing.TB, proto loader.Proto, src, dst netip.AddrPort, flags string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: macPeer, DstMAC: macLB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: 1, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice(), Protocol: layers.IPProtocol(proto)}
	var l4 gopacket.SerializableLayer
	switch proto {
	case loader.TCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: 1000, Window: 65535}
		for _, c := range flags {
			switch c {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK, tcp.Ack = true, 2000
			case 'F':
				tcp.FIN = true
			case 'R':
				tcp.RST = true
			}
		}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	default:
		udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		_ = udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, l4, gopacket.Payload("xlb")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// runner runs the director's XDP program on frames with
// BPF_PROG_TEST_RUN, inside its namespace (the FIB lookups are the
// namespace's). It makes the syscall itself because the kernel's own
// measure of a run, which excludes the syscall, is what a benchmark of
// the fast path wants, and ebpf.Program.Run does not return it.
type runner struct {
	d   *director
	out []byte
	ctx xdpMd
}

func (d *director) runner() *runner {
	return &runner{d: d, out: make([]byte, 2048)}
}

// testRunAttr is union bpf_attr's BPF_PROG_TEST_RUN member.
type testRunAttr struct {
	progFD, retval, dataSizeIn, dataSizeOut uint32
	dataIn, dataOut                         uint64
	repeat, duration, ctxSizeIn, ctxSizeOut uint32
	ctxIn, ctxOut                           uint64
	flags, cpu, batchSize, _                uint32
}

// run runs the program repeat times on in, received on ifindex, and
// returns the verdict and the kernel's time per run. It enters the
// namespace for the call.
func (r *runner) run(in []byte, ifindex, repeat int) (v uint32, d time.Duration, err error) {
	err = r.d.ns.Do(func() (err error) {
		v, d, err = r.runHere(in, ifindex, repeat)
		return err
	})
	return v, d, err
}

// runHere is run on a thread already in the namespace (inside ns.Do).
func (r *runner) runHere(in []byte, ifindex, repeat int) (uint32, time.Duration, error) {
	r.ctx = xdpMd{DataEnd: uint32(len(in)), IngressIfindex: uint32(ifindex)}
	attr := testRunAttr{
		progFD:      uint32(r.d.dp.Program().FD()),
		dataSizeIn:  uint32(len(in)),
		dataSizeOut: uint32(len(r.out)),
		dataIn:      uint64(uintptr(unsafe.Pointer(&in[0]))),
		dataOut:     uint64(uintptr(unsafe.Pointer(&r.out[0]))),
		repeat:      uint32(repeat),
		ctxSizeIn:   uint32(unsafe.Sizeof(r.ctx)),
		ctxIn:       uint64(uintptr(unsafe.Pointer(&r.ctx))),
	}
	var errno unix.Errno
	for {
		_, _, errno = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno != unix.EINTR {
			break
		}
	}
	runtime.KeepAlive(in)
	runtime.KeepAlive(r)
	if errno != 0 {
		return 0, 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
	}
	return attr.retval, time.Duration(attr.duration), nil
}

// XDP verdicts the tests expect.
const (
	xdpPass     = 2
	xdpRedirect = 4
)

// clientAddr is the i-th lab client: 198.51.100.1-250, many ports each.
func clientAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%250)}), uint16(20000+i/250))
}

// connect makes connection i through the director: a SYN (TCP, or a
// datagram for UDP), then as many packets as state needs.
func (r *runner) connect(t testing.TB, i int, proto loader.Proto, state string) {
	t.Helper()
	client := clientAddr(i)
	var svc netip.AddrPort
	steps := []string{"S"}
	switch {
	case proto == loader.UDP:
		svc, steps = netip.AddrPortFrom(labVIP, 53), []string{""}
	case state == "ESTABLISHED":
		svc, steps = netip.AddrPortFrom(labVIP, 80), []string{"S", "A"}
	case state == "FIN_WAIT":
		svc, steps = netip.AddrPortFrom(labVIP, 80), []string{"S", "A", "FA"}
	default:
		svc = netip.AddrPortFrom(labVIP, 80)
	}
	for _, fl := range steps {
		v, _, err := r.run(frame(t, proto, client, svc, fl), r.d.pub, 1)
		if err != nil {
			t.Fatalf("prog run: %v", err)
		}
		if v != xdpRedirect {
			t.Fatalf("connection %d %q: verdict %d, want redirect", i, fl, v)
		}
	}
}
