package gateway

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
)

// farmLab is the seed's gateway path in three namespaces:
//
//	farm host 192.0.2.100 eth0 ── farm0 192.0.2.1  director  pub0 203.0.113.2 ── eth0 203.0.113.1 internet host
//	(default via 192.0.2.1)
type farmLab struct {
	farm, dir, inet *lab.NS
}

const (
	farmHost  = "192.0.2.100"
	farmGW    = "192.0.2.1"
	dirPublic = "203.0.113.2"
	inetHost  = "203.0.113.1"
)

func newFarmLab(t *testing.T) *farmLab {
	t.Helper()
	testutil.RequireNetNSTests(t)
	l := &farmLab{
		farm: testutil.NewNS(t, "xlbgwf-"),
		dir:  testutil.NewNS(t, "xlbgwd-"),
		inet: testutil.NewNS(t, "xlbgwi-"),
	}
	testutil.Must(t, lab.Veth(l.farm, "eth0", l.dir, "farm0"))
	testutil.Must(t, lab.Veth(l.dir, "pub0", l.inet, "eth0"))
	for _, step := range []error{
		l.farm.AddAddr("eth0", farmHost+"/24"),
		l.farm.AddRoute("default", farmGW),
		l.dir.AddAddr("farm0", farmGW+"/24"),
		l.dir.AddAddr("pub0", dirPublic+"/24"),
		l.inet.AddAddr("eth0", inetHost+"/24"),
		// Lab hosts send complete checksums, as frames from a wire have.
		l.farm.TxChecksum("eth0", false),
		l.dir.TxChecksum("farm0", false),
		l.dir.TxChecksum("pub0", false),
		l.inet.TxChecksum("eth0", false),
	} {
		testutil.Must(t, step)
	}
	return l
}

// tcpPeerServer listens on the internet host and answers every connection
// with the peer address it sees.
func (l *farmLab) tcpPeerServer(t *testing.T) string {
	t.Helper()
	addr := net.JoinHostPort(inetHost, "8080")
	var ln net.Listener
	testutil.Must(t, l.inet.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			_, _ = c.Write([]byte(ap.Addr().Unmap().String() + "\n"))
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return addr
}

// peerSeen connects from the farm host (from local, one of its addresses)
// to the server and returns the source address the server saw. A path
// that works answers in milliseconds; timeout only bounds the failures.
func (l *farmLab) peerSeen(server, local string, timeout time.Duration) (string, error) {
	var seen string
	err := l.farm.Do(func() error {
		d := net.Dialer{
			Timeout:   timeout,
			LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(local), 0)),
		}
		c, err := d.Dial("tcp", server)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		line, err := bufio.NewReader(c).ReadString('\n')
		seen = strings.TrimSpace(line)
		return err
	})
	return seen, err
}

func (l *farmLab) wantPeer(t *testing.T, server, local, want string) {
	t.Helper()
	got, err := l.peerSeen(server, local, 2*time.Second)
	if err != nil {
		t.Fatalf("connect from %s: %v", local, err)
	}
	if got != want {
		t.Fatalf("connection from %s arrived from %s, want %s", local, got, want)
	}
}

// The seed's MASQUERADE: the farm reaches the internet through the
// director, which hides it behind its public address. The internet host
// routes the farm's prefix back to the director (a provider would not, but
// the lab needs it to show the source the server sees without NAT).
func TestMasqueradeEndToEnd(t *testing.T) {
	l := newFarmLab(t)
	testutil.Must(t, l.inet.AddRoute("192.0.2.0/24", dirPublic))
	testutil.Must(t, l.farm.AddAddr("eth0", "192.0.2.50/24"))
	server := l.tcpPeerServer(t)
	g := newGateway(t, l.dir)

	// A fresh namespace does not forward: no connection.
	if got, err := l.peerSeen(server, farmHost, time.Second); err == nil {
		t.Fatalf("connected through a director that does not forward (server saw %s)", got)
	} else {
		t.Logf("before Apply: %v", err)
	}

	testutil.Must(t, g.Apply(Spec{
		Forwarding: true,
		Masquerade: []Rule{{Source: farmNet, OutInterface: "pub0"}},
	}))
	l.wantPeer(t, server, farmHost, dirPublic)

	// An excluded source (standing in for a VIP) keeps its address; the
	// rest of the farm is still masqueraded.
	testutil.Must(t, g.Apply(Spec{
		Forwarding:     true,
		Masquerade:     []Rule{{Source: farmNet, OutInterface: "pub0"}},
		ExcludeSources: []netip.Addr{netip.MustParseAddr("192.0.2.50")},
	}))
	l.wantPeer(t, server, "192.0.2.50", "192.0.2.50")
	l.wantPeer(t, server, farmHost, dirPublic)

	// A rule for another interface does not apply.
	testutil.Must(t, g.Apply(Spec{Forwarding: true, Masquerade: []Rule{{Source: farmNet, OutInterface: "farm0"}}}))
	l.wantPeer(t, server, farmHost, farmHost)

	// Remove puts ip_forward back to the namespace's 0: nothing gets
	// through any more.
	testutil.Must(t, g.Apply(Spec{Forwarding: true, Masquerade: []Rule{{Source: farmNet, OutInterface: "pub0"}}}))
	l.wantPeer(t, server, farmHost, dirPublic)
	testutil.Must(t, g.Remove())
	if got, err := l.peerSeen(server, farmHost, time.Second); err == nil {
		t.Fatalf("connected after Remove restored ip_forward=0 (server saw %s)", got)
	} else {
		t.Logf("after Remove: %v", err)
	}

	// With forwarding on by the admin's hand, the farm host reaches the
	// server under its own address: the masquerade rule is gone.
	testutil.Must(t, l.dir.Sysctl("net.ipv4.ip_forward", "1"))
	l.wantPeer(t, server, farmHost, farmHost)
}

// A reply the dataplane rewrote to come from a VIP reaches the kernel on a
// dataplane interface with a local source address. EnableForwarding's
// accept_local lets the kernel forward it, and the excluded set keeps the
// masquerade rule off it. The farm host plays the dataplane here: it sends
// from the VIP itself.
func TestVIPSourcedRepliesEndToEnd(t *testing.T) {
	l := newFarmLab(t)
	testutil.Must(t, l.dir.AddAddr("pub0", vip.String()+"/32"))
	testutil.Must(t, l.farm.AddAddr("eth0", vip.String()+"/32"))
	t.Logf("director rp_filter: all=%s farm0=%s", sysctl(t, l.dir, "net.ipv4.conf.all.rp_filter"), sysctl(t, l.dir, "net.ipv4.conf.farm0.rp_filter"))

	var pc net.PacketConn
	testutil.Must(t, l.inet.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(inetHost, "9000"))
		return err
	}))
	t.Cleanup(func() { pc.Close() })
	send := func(from string) {
		t.Helper()
		testutil.Must(t, l.farm.Do(func() error {
			c, err := net.DialUDP("udp",
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)),
				net.UDPAddrFromAddrPort(netip.MustParseAddrPort(net.JoinHostPort(inetHost, "9000"))))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("reply"))
			return err
		}))
	}
	// recv returns the source of the next datagram, or "" if none comes.
	recv := func(wait time.Duration) string {
		t.Helper()
		buf := make([]byte, 64)
		testutil.Must(t, pc.SetReadDeadline(time.Now().Add(wait)))
		_, from, err := pc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ""
		}
		testutil.Must(t, err)
		return from.(*net.UDPAddr).AddrPort().Addr().Unmap().String()
	}

	g := newGateway(t, l.dir)
	masqAll := []Rule{{OutInterface: "pub0"}}
	testutil.Must(t, g.Apply(Spec{Forwarding: true, Masquerade: masqAll, ExcludeSources: []netip.Addr{vip}}))
	send(farmHost)
	if got := recv(2 * time.Second); got != dirPublic {
		t.Fatalf("datagram from the farm host arrived from %q, want %s", got, dirPublic)
	}
	send(vip.String())
	if got := recv(time.Second); got != "" {
		t.Fatalf("VIP-sourced datagram arrived (from %s) without accept_local on farm0", got)
	}

	testutil.Must(t, g.EnableForwarding("farm0"))
	send(vip.String())
	if got := recv(2 * time.Second); got != vip.String() {
		t.Fatalf("VIP-sourced datagram arrived from %q, want %s unchanged", got, vip)
	}

	// Without the exclusion the same datagram would be masqueraded.
	testutil.Must(t, g.Apply(Spec{Forwarding: true, Masquerade: masqAll}))
	send(vip.String())
	if got := recv(2 * time.Second); got != dirPublic {
		t.Fatalf("VIP-sourced datagram without exclusion arrived from %q, want %s (masqueraded)", got, dirPublic)
	}

	testutil.Must(t, g.Remove())
	wantSysctls(t, l.dir, map[string]string{"net.ipv4.ip_forward": "0", "net.ipv4.conf.farm0.accept_local": "0"})
}
