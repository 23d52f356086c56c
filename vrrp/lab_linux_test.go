package vrrp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
	"github.com/xlb/xlb/vrrp"
)

// Lab addresses (TEST-NET-3 and the IPv6 documentation prefix).
var (
	vipPrefix = netip.MustParsePrefix("203.0.113.10/24")
	vipAddr   = vipPrefix.Addr()
	addrA     = netip.MustParseAddr("203.0.113.2") // node a: xlb
	addrB     = netip.MustParseAddr("203.0.113.3") // node b: keepalived (or a second xlb)
	vip6      = netip.MustParsePrefix("2001:db8::10/64")
)

// lan is two router namespaces, a and b, each with eth0 on a bridge that
// lives in a third namespace, which also sniffs the VRRP traffic.
type lan struct {
	br, a, b *lab.NS
	sniff    *sniffer
}

func newLAN(t *testing.T) *lan {
	t.Helper()
	testutil.RequireNetNSTests(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("skipped: nsenter not installed")
	}
	l := &lan{br: testutil.NewNS(t, "xlbv-br-"), a: testutil.NewNS(t, "xlbv-a-"), b: testutil.NewNS(t, "xlbv-b-")}
	for _, ns := range []*lab.NS{l.br, l.a, l.b} {
		// No duplicate address detection: link-local sources at once.
		testutil.Must(t, ns.Sysctl("net.ipv6.conf.default.accept_dad", "0"))
		testutil.Must(t, ns.Sysctl("net.ipv6.conf.all.accept_dad", "0"))
	}
	testutil.Must(t, lab.Veth(l.a, "eth0", l.br, "pa"))
	testutil.Must(t, lab.Veth(l.b, "eth0", l.br, "pb"))
	testutil.Must(t, l.br.Bridge("br0", "pa", "pb"))
	br, err := l.br.Netlink().LinkByName("br0")
	testutil.Must(t, err)
	// Flood multicast to every port (kernels without snooping say EOPNOTSUPP: they flood anyway).
	if err := l.br.Netlink().BridgeSetMcastSnoop(br, false); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("%s: multicast snooping off: %v", l.br.Name, err)
	}
	testutil.Must(t, l.a.AddAddr("eth0", addrA.String()+"/24"))
	testutil.Must(t, l.b.AddAddr("eth0", addrB.String()+"/24"))
	// Sniff on b's bridge port: every frame between a and b crosses it,
	// unicast included (br0 itself sees only flooded frames).
	l.sniff = startSniffer(t, l.br, "pb")
	start := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			l.sniff.mu.Lock()
			defer l.sniff.mu.Unlock()
			for _, a := range l.sniff.adverts {
				t.Logf("advert at %8.3fs from %v to %v v%d prio %d ttl %d", a.at.Sub(start).Seconds(), a.src, a.dst, a.version, a.priority, a.ttl)
			}
		}
	})
	return l
}

// addFarm adds a second segment, eth1 in a and b on bridge br1, as the
// seed's farm side (192.0.2.0/24, gateway VIP 192.0.2.1).
func (l *lan) addFarm(t *testing.T) {
	t.Helper()
	testutil.Must(t, lab.Veth(l.a, "eth1", l.br, "qa"))
	testutil.Must(t, lab.Veth(l.b, "eth1", l.br, "qb"))
	testutil.Must(t, l.br.Bridge("br1", "qa", "qb"))
	testutil.Must(t, l.a.AddAddr("eth1", "192.0.2.2/24"))
	testutil.Must(t, l.b.AddAddr("eth1", "192.0.2.3/24"))
}

func macOf(t *testing.T, ns *lab.NS, ifname string) string {
	t.Helper()
	l, err := ns.Netlink().LinkByName(ifname)
	testutil.Must(t, err)
	return l.Attrs().HardwareAddr.String()
}

// waitAnnounced waits until at least n announcements of addr from mac
// were seen since t.
func (l *lan) waitAnnounced(t *testing.T, addr netip.Addr, mac string, since time.Time, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := 0
		for _, a := range l.sniff.announced(addr, since) {
			if a.mac == mac {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d announcements of %v from %s, want %d", got, addr, mac, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hasAddr reports whether ns has a on any interface.
func hasAddr(t *testing.T, ns *lab.NS, a netip.Addr) bool {
	t.Helper()
	addrs, err := ns.Netlink().AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("%s: list addresses: %v", ns.Name, err)
	}
	for _, x := range addrs {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a {
			return true
		}
	}
	return false
}

// waitAddr polls every 2 ms until a's presence in ns is present, and
// returns when it became so; it fails the test after timeout.
func waitAddr(t *testing.T, ns *lab.NS, a netip.Addr, present bool, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		if hasAddr(t, ns, a) == present {
			return now
		}
		if now.After(deadline) {
			t.Fatalf("%s: %v present=%v not reached within %v", ns.Name, a, present, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// holdAddr checks that a's presence in ns stays as it is for d.
func holdAddr(t *testing.T, ns *lab.NS, a netip.Addr, present bool, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if hasAddr(t, ns, a) != present {
			t.Fatalf("%s: %v present=%v changed within %v", ns.Name, a, present, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sniffer records every VRRP advertisement, gratuitous ARP and
// unsolicited neighbour advertisement crossing the bridge.
type sniffer struct {
	mu        sync.Mutex
	adverts   []seen
	announces []announcement
}

type seen struct {
	at       time.Time
	src, dst netip.Addr
	version  uint8
	priority uint8
	ttl      uint8
	raw      []byte // the VRRP packet
}

// announcement is a gratuitous ARP (sender = target = addr) or an
// unsolicited neighbour advertisement for addr.
type announcement struct {
	at   time.Time
	addr netip.Addr
	mac  string // the Ethernet source
}

func startSniffer(t *testing.T, ns *lab.NS, ifname string) *sniffer {
	t.Helper()
	idx, err := ns.LinkIndex(ifname)
	testutil.Must(t, err)
	var fd int
	testutil.Must(t, ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		// Kernel arrival times: a busy test process reads late, the
		// timestamps stay right.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: idx})
	}))
	s := &sniffer{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		oob := make([]byte, 128)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil {
				continue // timeout: check stop
			}
			at := kernelTime(oob[:oobn])
			if a, ok := parseAdvert(buf[:n]); ok {
				a.at = at
				s.mu.Lock()
				s.adverts = append(s.adverts, a)
				s.mu.Unlock()
			} else if an, ok := parseAnnouncement(buf[:n]); ok {
				an.at = at
				s.mu.Lock()
				s.announces = append(s.announces, an)
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; unix.Close(fd) })
	return s
}

// kernelTime returns the SCM_TIMESTAMPNS time in oob, or now.
func kernelTime(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				return time.Unix(sec, nsec)
			}
		}
	}
	return time.Now()
}

func parseAdvert(f []byte) (seen, bool) {
	if len(f) < 14 {
		return seen{}, false
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case unix.ETH_P_IP:
		ip := f[14:]
		if len(ip) < 20 || ip[9] != vrrp.IPProtocol {
			return seen{}, false
		}
		hl := int(ip[0]&0x0f) * 4
		if len(ip) < hl+8 {
			return seen{}, false
		}
		src, _ := netip.AddrFromSlice(ip[12:16])
		dst, _ := netip.AddrFromSlice(ip[16:20])
		v := ip[hl:]
		return seen{src: src, dst: dst, version: v[0] >> 4, priority: v[2], ttl: ip[8], raw: bytes.Clone(v)}, true
	case unix.ETH_P_IPV6:
		ip := f[14:]
		if len(ip) < 48 || ip[6] != vrrp.IPProtocol {
			return seen{}, false
		}
		src, _ := netip.AddrFromSlice(ip[8:24])
		dst, _ := netip.AddrFromSlice(ip[24:40])
		v := ip[40:]
		return seen{src: src, dst: dst, version: v[0] >> 4, priority: v[2], ttl: ip[7], raw: bytes.Clone(v)}, true
	}
	return seen{}, false
}

func parseAnnouncement(f []byte) (announcement, bool) {
	if len(f) < 14 {
		return announcement{}, false
	}
	mac := net.HardwareAddr(f[6:12]).String()
	switch binary.BigEndian.Uint16(f[12:]) {
	case unix.ETH_P_ARP:
		a := f[14:]
		if len(a) < 28 || !bytes.Equal(a[14:18], a[24:28]) {
			return announcement{}, false
		}
		ip, _ := netip.AddrFromSlice(a[14:18])
		return announcement{addr: ip, mac: mac}, true
	case unix.ETH_P_IPV6:
		ip := f[14:]
		if len(ip) < 40+24 || ip[6] != unix.IPPROTO_ICMPV6 || ip[40] != 136 {
			return announcement{}, false
		}
		target, _ := netip.AddrFromSlice(ip[48:64])
		return announcement{addr: target, mac: mac}, true
	}
	return announcement{}, false
}

// announced returns the announcements of addr since t.
func (s *sniffer) announced(addr netip.Addr, since time.Time) []announcement {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []announcement
	for _, a := range s.announces {
		if a.addr == addr && !a.at.Before(since) {
			out = append(out, a)
		}
	}
	return out
}

// last returns the last advertisement from src before t (zero if none).
func (s *sniffer) last(src netip.Addr, before time.Time) (seen, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.adverts) - 1; i >= 0; i-- {
		a := s.adverts[i]
		if a.src == src && a.at.Before(before) {
			return a, true
		}
	}
	return seen{}, false
}

// from returns the advertisements from src since t.
func (s *sniffer) from(src netip.Addr, since time.Time) []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []seen
	for _, a := range s.adverts {
		if a.src == src && !a.at.Before(since) {
			out = append(out, a)
		}
	}
	return out
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// takeover measures the time from the old master's last advertisement
// (seen on the bridge) to the VIP appearing on the new master, which
// must happen within timeout.
func (l *lan) takeover(t *testing.T, oldMaster netip.Addr, newNS *lab.NS, vip netip.Addr, timeout time.Duration) time.Duration {
	t.Helper()
	up := waitAddr(t, newNS, vip, true, timeout)
	last, ok := l.sniff.last(oldMaster, up)
	if !ok {
		t.Fatalf("no advertisement from %v seen", oldMaster)
	}
	return up.Sub(last.at)
}

// xlbNode runs a vrrp.Node in ns until the test ends (or stop is called).
type xlbNode struct {
	node   *vrrp.Node
	cancel context.CancelFunc
	errc   chan error
	mu     sync.Mutex
	states []string
}

func startXLB(t *testing.T, ns *lab.NS, cfgs ...vrrp.InstanceConfig) *xlbNode {
	t.Helper()
	return startXLBConf(t, ns, vrrp.Config{Instances: cfgs})
}

func startXLBConf(t *testing.T, ns *lab.NS, cfg vrrp.Config) *xlbNode {
	t.Helper()
	x := &xlbNode{errc: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.NetNS = ns.Path()
	cfg.OnState = func(instance string, from, to vrrp.State) {
		x.mu.Lock()
		x.states = append(x.states, fmt.Sprintf("%s %v->%v", instance, from, to))
		x.mu.Unlock()
	}
	node, err := vrrp.New(cfg, logger.With("node", ns.Name))
	testutil.Must(t, err)
	x.node = node
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	go func() { x.errc <- node.Run(ctx) }()
	t.Cleanup(x.stop)
	return x
}

// stop stops the node (a priority 0 handover if master) and waits for it.
func (x *xlbNode) stop() {
	if x.cancel == nil {
		return
	}
	x.cancel()
	x.cancel = nil
	if err := <-x.errc; err != nil {
		panic(fmt.Sprintf("vrrp node: %v", err))
	}
}

// waitState waits until the node's first instance is in state.
func (x *xlbNode) waitState(t *testing.T, state vrrp.State, timeout time.Duration) vrrp.InstanceStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := x.status(t)
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("xlb not %v within %v: %+v", state, timeout, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (x *xlbNode) status(t *testing.T) vrrp.InstanceStatus {
	t.Helper()
	s := x.node.Status()
	if len(s.Instances) == 0 {
		t.Fatal("no instances in status")
	}
	return s.Instances[0]
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// keepalived is a keepalived process the test started in a namespace.
type keepalived struct {
	*lab.Keepalived
}

// kaInstance is the template data of a keepalived vrrp_instance.
type kaInstance struct {
	Name       string // default VI_1
	Interface  string // default eth0
	State      string // MASTER or BACKUP
	Priority   int
	Version    int
	AdvertInt  string // keepalived syntax: "1" or "0.1"
	AuthPass   string // v2 only
	NoPreempt  bool
	PreemptDel int
	VIP        string // default vipPrefix
	VRID       int    // default 1
	UnicastSrc string
	Peers      []string
}

// kaConfig is a whole keepalived configuration; with SyncGroup set, all
// instances form that vrrp_sync_group.
type kaConfig struct {
	RouterID  string
	SyncGroup string
	Instances []kaInstance
}

var kaTemplate = template.Must(template.New("ka").Parse(`global_defs {
    router_id {{.RouterID}}
    vrrp_garp_master_delay 0
}
{{- if .SyncGroup}}
vrrp_sync_group {{.SyncGroup}} {
    group {
{{- range .Instances}}
        {{.Name}}
{{- end}}
    }
}
{{- end}}
{{- range .Instances}}
vrrp_instance {{.Name}} {
    state {{.State}}
    interface {{.Interface}}
    virtual_router_id {{.VRID}}
    priority {{.Priority}}
    advert_int {{.AdvertInt}}
    version {{.Version}}
{{- if .NoPreempt}}
    nopreempt
{{- end}}
{{- if .PreemptDel}}
    preempt_delay {{.PreemptDel}}
{{- end}}
{{- if .AuthPass}}
    authentication {
        auth_type PASS
        auth_pass {{.AuthPass}}
    }
{{- end}}
{{- if .UnicastSrc}}
    unicast_src_ip {{.UnicastSrc}}
    unicast_peer {
{{- range .Peers}}
        {{.}}
{{- end}}
    }
{{- end}}
    virtual_ipaddress {
        {{.VIP}} dev {{.Interface}}
    }
}
{{- end}}
`))

func startKeepalived(t *testing.T, ns *lab.NS, in kaInstance) *keepalived {
	t.Helper()
	return startKeepalivedConf(t, ns, kaConfig{Instances: []kaInstance{in}})
}

func startKeepalivedConf(t *testing.T, ns *lab.NS, kc kaConfig) *keepalived {
	t.Helper()
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("skipped: keepalived not installed")
	}
	kc.RouterID = ns.Name
	for i := range kc.Instances {
		in := &kc.Instances[i]
		if in.Name == "" {
			in.Name = "VI_1"
		}
		if in.Interface == "" {
			in.Interface = "eth0"
		}
		if in.VRID == 0 {
			in.VRID = 1
		}
		if in.VIP == "" {
			in.VIP = vipPrefix.String()
		}
	}
	var conf bytes.Buffer
	testutil.Must(t, kaTemplate.Execute(&conf, kc))
	ka, err := lab.StartKeepalived(ns, t.TempDir(), conf.String())
	testutil.Must(t, err)
	k := &keepalived{ka}
	t.Cleanup(func() {
		k.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("keepalived config:\n%s\nkeepalived output:\n%s", conf.String(), k.Logs())
		}
	})
	return k
}

// signal sends sig to keepalived without waiting; SIGKILL kills the VRRP
// child first, as a crash would.
func (k *keepalived) signal(sig syscall.Signal) { k.Signal(sig) }

// stop stops keepalived with sig (SIGTERM: a clean stop, killed after 5 s;
// SIGKILL: a crash) and waits for it to exit.
func (k *keepalived) stop(t *testing.T, sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		k.Kill()
		return
	}
	if err := k.Stop(); err != nil {
		t.Error(err)
	}
}

// waitLog waits until keepalived logged s.
func (k *keepalived) waitLog(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	if err := k.WaitLog(s, timeout); err != nil {
		t.Fatal(err)
	}
}
