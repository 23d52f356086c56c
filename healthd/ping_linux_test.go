package healthd

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// needRoot skips tests that need root (raw ICMP sockets, network
// namespaces), and under -short, which runs what needs neither.
func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("needs root (raw ICMP sockets, network namespaces); not run with -short")
	}
}

func TestPingCheckLoopback(t *testing.T) {
	needRoot(t)
	noLeaks(t)
	for _, c := range []Check{
		{Type: PingCheck, ConnectTimeout: time.Second},
		{Type: PingCheck, ConnectTimeout: time.Second, BindTo: netip.MustParseAddr("127.0.0.1")},
		// connect_port means nothing to ICMP.
		{Type: PingCheck, ConnectTimeout: time.Second, ConnectPort: 80},
	} {
		ch := mustChecker(t, netip.MustParseAddrPort("127.0.0.1:80"), c)
		if ch.String() != "PING_CHECK 127.0.0.1" {
			t.Errorf("String() = %q", ch.String())
		}
		for i := range 3 {
			if _, err := ch.Check(t.Context()); err != nil {
				t.Fatalf("ping 127.0.0.1 (%d): %v", i, err)
			}
		}
	}
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Logf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
		ch := mustChecker(t, netip.MustParseAddrPort("[::1]:80"), Check{Type: PingCheck, ConnectTimeout: time.Second})
		if _, err := ch.Check(t.Context()); err != nil {
			t.Fatalf("ping ::1: %v", err)
		}
	}
}

// pingNetns makes PING_CHECK open its sockets, for the rest of the test, in
// a new network namespace with lo up and a veth pair, one end holding
// 192.0.2.1/24 and the other none: 192.0.2.0/24 is routed to a link where
// nothing answers,
// other addresses have no route, and nothing leaves the machine (which may
// itself be on 192.0.2.0/24). A socket stays in the namespace it was
// opened in, whichever thread uses it.
func pingNetns(t *testing.T) {
	t.Helper()
	needRoot(t)
	ns, err := newTestNetns()
	if err != nil {
		t.Skipf("cannot set up a network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	testNS = ns
	orig := icmpListen
	icmpListen = func(dst, local netip.Addr) (*icmpConn, error) {
		var c *icmpConn
		err := inNetns(ns, func() error {
			var err error
			c, err = orig(dst, local)
			return err
		})
		return c, err
	}
	t.Cleanup(func() { icmpListen = orig })
}

// testNS is the namespace of the running pingNetns test.
var testNS netns.NsHandle

// inNetns runs f with the calling thread in ns.
func inNetns(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer cur.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := f()
	if err := netns.Set(cur); err != nil {
		return err // the thread stays locked, and dies with its goroutine
	}
	runtime.UnlockOSThread()
	return ferr
}

func newTestNetns() (netns.NsHandle, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	defer orig.Close()
	ns, err := netns.New() // moves this thread into it
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	setup := func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		// Both ends of the pair are in the namespace; the peer has no
		// address, so ARP for 192.0.2.123 goes unanswered.
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hd0"}, PeerName: "hd1"}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		if err := netlink.AddrAdd(veth, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
			return err
		}
		peer, err := netlink.LinkByName("hd1")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(peer); err != nil {
			return err
		}
		return netlink.LinkSetUp(veth)
	}
	serr := setup()
	if err := netns.Set(orig); err != nil {
		ns.Close()
		return 0, err // the thread stays locked, and dies with its goroutine
	}
	runtime.UnlockOSThread()
	if serr != nil {
		ns.Close()
		return 0, serr
	}
	return ns, nil
}

// TestPingCheckUnanswered: an address that does not answer fails after
// connect_timeout, and one without a route fails at once; neither hangs.
func TestPingCheckUnanswered(t *testing.T) {
	pingNetns(t)
	ch := mustChecker(t, netip.MustParseAddrPort("192.0.2.123:0"), Check{Type: PingCheck, ConnectTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := ch.Check(t.Context())
	if d := time.Since(start); reasonOf(err) != "timeout" || d < 190*time.Millisecond || d > time.Second {
		t.Errorf("silent address: reason %q (%v) after %v, want a timeout after 200ms", reasonOf(err), err, d)
	}
	ch = mustChecker(t, netip.MustParseAddrPort("198.51.100.7:0"), Check{Type: PingCheck, ConnectTimeout: 2 * time.Second})
	start = time.Now()
	_, err = ch.Check(t.Context())
	if d, r := time.Since(start), reasonOf(err); !strings.Contains(r, "unreachable") || d > time.Second {
		t.Errorf("address without a route: reason %q (%v) after %v, want unreachable at once", r, err, d)
	}
}

// TestMonitorPingDetection: a PING_CHECK real goes down after retry+1
// unanswered echoes, with the cause.
func TestMonitorPingDetection(t *testing.T) {
	pingNetns(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	err := m.Set([]VirtualServer{{Key: "svc", DelayLoop: 100 * time.Millisecond, Reals: []Real{{
		Key: "gone", Addr: netip.MustParseAddrPort("192.0.2.123:80"), Weight: 1,
		Checks: []Check{{Type: PingCheck, Retry: 1, DelayBeforeRetry: 50 * time.Millisecond, ConnectTimeout: 100 * time.Millisecond, Warmup: -1}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	start(t, m)
	if e, _ := ev.waitReal(t, "gone", time.Second); !e.Up {
		t.Fatalf("initial %+v", e)
	}
	down, td := ev.waitReal(t, "gone", 3*time.Second)
	if down.Up || down.Reason != "PING_CHECK 192.0.2.123: timeout" {
		t.Errorf("down event %+v", down)
	}
	// Two echoes of 100ms each, 50ms apart.
	if took := td.Sub(t0); took < 240*time.Millisecond || took > 2*time.Second {
		t.Errorf("down after %v", took)
	}
}

// TestPingCheckDatagramSocket: where net.ipv4.ping_group_range lets it,
// PING_CHECK uses an unprivileged ICMP datagram socket (the kernel then
// matches replies to it). The sysctl is per network namespace: it is
// widened in the test's own only.
func TestPingCheckDatagramSocket(t *testing.T) {
	pingNetns(t)
	// /proc/sys/net is the namespace of the thread that opens it.
	err := inNetns(testNS, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0o644)
	})
	if err != nil {
		t.Skipf("cannot widen ping_group_range in the test namespace: %v", err)
	}
	var raw bool
	err = inNetns(testNS, func() error {
		c, err := listenICMP(netip.MustParseAddr("127.0.0.1"), netip.Addr{})
		if err == nil {
			raw = c.raw
			c.Close()
		}
		return err
	})
	if err != nil || raw {
		t.Fatalf("listenICMP: raw %v, %v; want a datagram socket", raw, err)
	}
	for _, addr := range []string{"127.0.0.1:0", "192.0.2.1:0"} {
		ch := mustChecker(t, netip.MustParseAddrPort(addr), Check{Type: PingCheck, ConnectTimeout: time.Second})
		if _, err := ch.Check(t.Context()); err != nil {
			t.Errorf("ping %s over a datagram socket: %v", addr, err)
		}
	}
	ch := mustChecker(t, netip.MustParseAddrPort("192.0.2.123:0"), Check{Type: PingCheck, ConnectTimeout: 100 * time.Millisecond})
	if _, err := ch.Check(t.Context()); reasonOf(err) != "timeout" {
		t.Errorf("silent address over a datagram socket: %v", err)
	}
}
