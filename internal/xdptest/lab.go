package xdptest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
)

// XDP verdicts.
const (
	Aborted  = 0
	Drop     = 1
	Pass     = 2
	TX       = 3
	Redirect = 4
)

// VerdictName names an XDP verdict.
func VerdictName(v uint32) string {
	return [...]string{"ABORTED", "DROP", "PASS", "TX", "REDIRECT"}[min(v, 4)]
}

// Addresses and MACs of the Lab (documentation ranges).
var (
	VIP          = netip.MustParseAddr("203.0.113.10")
	Web1         = netip.MustParseAddrPort("192.0.2.100:8080")
	Web2         = netip.MustParseAddrPort("192.0.2.101:8080")
	WebNoARP     = netip.MustParseAddrPort("192.0.2.102:8080") // no neighbour entry
	WebHole      = netip.MustParseAddrPort("192.0.2.200:8080") // blackholed
	WebNarrow    = netip.MustParseAddrPort("192.0.2.110:8080") // path MTU 1280
	Client       = netip.MustParseAddrPort("198.51.100.7:40000")
	ClientNarrow = netip.MustParseAddrPort("198.51.100.200:40000") // path MTU 1280
	OnLink       = netip.MustParseAddrPort("203.0.113.50:8080")    // a host on the public LAN
	MACWeb1      = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x64}
	MACWeb2      = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x65}
	MACRtr       = net.HardwareAddr{0x02, 0, 0, 0, 2, 0x01}
	MACOnLnk     = net.HardwareAddr{0x02, 0, 0, 0, 2, 0x32}
)

// XDPMd is the context of an XDP test run (struct xdp_md).
type XDPMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Lab is a namespace whose routes and static neighbours give
// bpf_fib_lookup known answers:
//
//	pub0  203.0.113.2/24, router 203.0.113.1 (to 198.51.100.0/24), on-link host .50
//	farm0 192.0.2.1/24, web1 .100 and web2 .101 resolved, .102 not, .200 blackholed,
//	      .110 resolved (web1's MAC) with a path MTU of 1280
//	198.51.100.128/25 (via the router) has a path MTU of 1280
type Lab struct {
	NS              *lab.NS
	Pub, Farm       int // ifindexes
	PubMAC, FarmMAC net.HardwareAddr
}

// NewLab builds the namespace (deleted at test end); it skips when not
// root.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	testutil.RequireRoot(t)
	ns := testutil.NewNS(t, "xlbt-xdp-")
	for _, step := range []func() error{
		func() error { return lab.Veth(ns, "pub0", ns, "pub1") },
		func() error { return lab.Veth(ns, "farm0", ns, "farm1") },
		func() error { return ns.AddAddr("pub0", "203.0.113.2/24") },
		func() error { return ns.AddAddr("farm0", "192.0.2.1/24") },
		func() error { return ns.AddRoute("198.51.100.0/24", "203.0.113.1") },
		func() error { return ns.Neigh("pub0", "203.0.113.1", MACRtr) },
		func() error { return ns.Neigh("pub0", "203.0.113.50", MACOnLnk) },
		func() error { return ns.Neigh("farm0", "192.0.2.100", MACWeb1) },
		func() error { return ns.Neigh("farm0", "192.0.2.101", MACWeb2) },
		func() error { return ns.Blackhole("192.0.2.200/32") },
		func() error { return ns.Neigh("farm0", "192.0.2.110", MACWeb1) },
		func() error { return ns.AddRouteMTU("192.0.2.110/32", "192.0.2.110", 1280) },
		func() error { return ns.AddRouteMTU("198.51.100.128/25", "203.0.113.1", 1280) },
		func() error { return ns.Sysctl("net.ipv4.ip_forward", "1") },
	} {
		testutil.Must(t, step())
	}
	l := &Lab{NS: ns}
	var err error
	l.Pub, err = ns.LinkIndex("pub0")
	testutil.Must(t, err)
	l.Farm, err = ns.LinkIndex("farm0")
	testutil.Must(t, err)
	l.PubMAC, err = ns.MAC("pub0")
	testutil.Must(t, err)
	l.FarmMAC, err = ns.MAC("farm0")
	testutil.Must(t, err)
	return l
}

// Run runs prog on in as if received on ifindex, in the lab's namespace,
// and returns the verdict and the frame as the program left it.
func (l *Lab) Run(t testing.TB, prog *ebpf.Program, in []byte, ifindex int) (uint32, []byte) {
	t.Helper()
	opts := ebpf.RunOptions{
		Data:    in,
		DataOut: make([]byte, len(in)+512),
		Context: XDPMd{DataEnd: uint32(len(in)), IngressIfindex: uint32(ifindex)},
	}
	var ret uint32
	err := l.NS.Do(func() (err error) {
		ret, err = prog.Run(&opts)
		return err
	})
	if err != nil {
		t.Fatalf("prog run: %v", err)
	}
	return ret, opts.DataOut
}

// WantVerdict fails the test unless got is want.
func WantVerdict(t testing.TB, got, want uint32) {
	t.Helper()
	if got != want {
		t.Fatalf("verdict %s, want %s", VerdictName(got), VerdictName(want))
	}
}
