package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHost is an in-memory host: addresses per device, a packet pipe, and
// a record of what was sent and announced.
type fakeHost struct {
	mu        sync.Mutex
	links     map[string]linkInfo
	addrs     map[string][]netip.Prefix
	src       netip.Addr
	announced []string
	sent      []sentPacket
	in        chan rxPacket
	readErr   chan error
	linkCh    chan linkInfo
	listens   []int // ifindex of each socket opened
	open      int   // sockets open
}

type sentPacket struct {
	src, dst netip.Addr
	pkt      *Packet
}

func newFakeHost(devs ...string) *fakeHost {
	h := &fakeHost{
		links: map[string]linkInfo{}, addrs: map[string][]netip.Prefix{},
		src: netip.MustParseAddr("203.0.113.2"),
		in:  make(chan rxPacket), readErr: make(chan error), linkCh: make(chan linkInfo),
	}
	for i, d := range devs {
		h.links[d] = linkInfo{name: d, index: i + 2, mac: net.HardwareAddr{2, 0, 0, 0, 0, byte(i + 2)}, up: true}
	}
	return h
}

func (h *fakeHost) link(name string) (linkInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	li, ok := h.links[name]
	if !ok {
		return linkInfo{}, errors.New("no such link")
	}
	return li, nil
}

func (h *fakeHost) primary(string, bool, []netip.Addr) (netip.Addr, error) { return h.src, nil }

func (h *fakeHost) listen(_ string, ifindex int, _ bool) (packetConn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listens = append(h.listens, ifindex)
	h.open++
	return &fakeConn{h: h, closed: make(chan struct{})}, nil
}

func (h *fakeHost) addVIP(v VIP, dev string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.addrs[dev], v.Prefix) {
		h.addrs[dev] = append(h.addrs[dev], v.Prefix)
	}
	return nil
}

func (h *fakeHost) delVIP(v VIP, dev string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addrs[dev] = slices.DeleteFunc(h.addrs[dev], func(p netip.Prefix) bool { return p == v.Prefix })
	return nil
}

func (h *fakeHost) announce(v VIP, li linkInfo, _ netip.Addr) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.announced = append(h.announced, fmt.Sprintf("%v@%s", v.Prefix.Addr(), li.name))
	return nil
}

func (h *fakeHost) watchLinks(done <-chan struct{}) (<-chan linkInfo, error) {
	out := make(chan linkInfo)
	go func() {
		defer close(out)
		for {
			select {
			case li := <-h.linkCh:
				select {
				case out <- li:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out, nil
}

func (h *fakeHost) close() error { return nil }

func (h *fakeHost) has(dev string, p netip.Prefix) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.addrs[dev], p)
}

func (h *fakeHost) sentPackets() []sentPacket {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sent)
}

// fakeConn is one socket: every open one reads the host's packet pipe.
type fakeConn struct {
	h      *fakeHost
	closed chan struct{}
}

func (c *fakeConn) read([]byte) (rxPacket, error) {
	select {
	case p := <-c.h.in:
		return p, nil
	case err := <-c.h.readErr:
		return rxPacket{}, err
	case <-c.closed:
		return rxPacket{}, net.ErrClosed
	}
}

func (c *fakeConn) pending() bool { return len(c.h.in) > 0 }

func (c *fakeConn) send(src, dst netip.Addr, b []byte) error {
	p, err := Decode(b, src, dst)
	if err != nil {
		return fmt.Errorf("node sent an undecodable packet: %w", err)
	}
	c.h.mu.Lock()
	c.h.sent = append(c.h.sent, sentPacket{src, dst, p})
	c.h.mu.Unlock()
	return nil
}

func (c *fakeConn) close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
		c.h.mu.Lock()
		c.h.open--
		c.h.mu.Unlock()
	}
	return nil
}

// runNode starts a node on h and returns its stop function and the
// recorded state changes.
func runNode(t *testing.T, h *fakeHost, cfg Config) (*Node, func(), func() []string) {
	t.Helper()
	var mu sync.Mutex
	var states []string
	cfg.OnState = func(in string, from, to State) {
		mu.Lock()
		states = append(states, fmt.Sprintf("%s %v->%v", in, from, to))
		mu.Unlock()
	}
	cfg.OnGroupState = func(g string, from, to State) {
		mu.Lock()
		states = append(states, fmt.Sprintf("group %s %v->%v", g, from, to))
		mu.Unlock()
	}
	n, err := newNode(cfg, nil, func(string) (host, error) { return h, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return n, stop, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(states)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var (
	vipP  = netip.MustParsePrefix("203.0.113.10/24")
	exclP = netip.MustParsePrefix("192.0.2.1/24")
)

func ownerConfig() InstanceConfig {
	return InstanceConfig{
		Name: "VI_PUBLIC", Interface: "eth0", VRID: 1, Priority: 255, AdvertInt: time.Second,
		AuthPass: "secret", Preempt: true,
		VIPs:         []VIP{{Prefix: vipP, Label: "eth0:vip"}},
		ExcludedVIPs: []VIP{{Prefix: exclP, Dev: "eth1"}},
	}
}

func TestNodeOwnerLifecycle(t *testing.T) {
	h := newFakeHost("eth0", "eth1")
	h.addrs["eth0"] = []netip.Prefix{vipP} // left over by a crashed run
	n, stop, states := runNode(t, h, Config{Instances: []InstanceConfig{ownerConfig()}})
	eventually(t, "master", func() bool { return n.Status().Instances[0].State == StateMaster })
	if !h.has("eth0", vipP) || !h.has("eth1", exclP) {
		t.Fatalf("addresses %v", h.addrs)
	}
	h.mu.Lock()
	announced := slices.Clone(h.announced)
	h.mu.Unlock()
	// Five gratuitous ARPs for each address, on its own device.
	if len(announced) != 10 || !slices.Contains(announced, "192.0.2.1@eth1") || !slices.Contains(announced, "203.0.113.10@eth0") {
		t.Fatalf("announced %v", announced)
	}
	sent := h.sentPackets()
	if len(sent) == 0 {
		t.Fatal("no advertisement")
	}
	p := sent[0]
	if p.src != h.src || p.dst != Group4 || p.pkt.Priority != 255 || p.pkt.AuthType != AuthPass ||
		p.pkt.Auth != PassAuth("secret") || !slices.Equal(p.pkt.Addrs, []netip.Addr{vipP.Addr()}) {
		t.Fatalf("advertisement %+v from %v to %v", p.pkt, p.src, p.dst)
	}
	stop()
	sent = h.sentPackets()
	if last := sent[len(sent)-1]; last.pkt.Priority != PriorityStop {
		t.Fatalf("last advertisement has priority %d, want 0", last.pkt.Priority)
	}
	if h.has("eth0", vipP) || h.has("eth1", exclP) {
		t.Fatalf("addresses left after stop: %v", h.addrs)
	}
	if got := states(); !slices.Equal(got, []string{"VI_PUBLIC INIT->MASTER", "VI_PUBLIC MASTER->INIT"}) {
		t.Fatalf("states %q", got)
	}
	st := n.Status().Instances[0]
	if st.Counters.BecameMaster != 1 || st.Counters.TxAdverts != uint64(len(sent)) || st.State != StateInit {
		t.Fatalf("status %+v", st)
	}
	if err := n.Run(context.Background()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestNodeCountsDrops(t *testing.T) {
	h := newFakeHost("eth0")
	cfg := ownerConfig()
	cfg.Priority, cfg.ExcludedVIPs = 100, nil
	h.addrs["eth0"] = []netip.Prefix{vipP} // left over by a crashed run
	n, _, _ := runNode(t, h, Config{Instances: []InstanceConfig{cfg}})
	eventually(t, "leftover VIP removed", func() bool { return !h.has("eth0", vipP) })
	peer := netip.MustParseAddr("203.0.113.3")
	good := Packet{Version: 2, Type: 1, VRID: 1, Priority: 200, AuthType: AuthPass, Auth: PassAuth("secret"),
		Interval: time.Second, Addrs: []netip.Addr{vipP.Addr()}}
	wire := func(p Packet) []byte {
		b, err := p.Marshal(peer, Group4)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	inject := func(b []byte, ttl int) {
		h.in <- rxPacket{RxInfo: RxInfo{Src: peer, Dst: Group4, TTL: ttl}, payload: b}
	}
	bad := good
	bad.Auth = PassAuth("guess")
	other := good
	other.VRID = 9
	slow := good
	slow.Interval = 2 * time.Second
	corrupt := wire(good)
	corrupt[2]++
	inject(wire(good), 255)
	inject(wire(good), 64)
	inject(wire(bad), 255)
	inject(wire(other), 255)
	inject(wire(slow), 255)
	inject(corrupt, 255)
	inject(wire(good)[:5], 255)
	want := map[string]uint64{"ttl": 1, "auth": 1, "interval": 1, "checksum": 1, "truncated": 1}
	eventually(t, "counters", func() bool {
		s := n.Status()
		c := s.Instances[0].Counters
		return c.RxAdverts == 1 && s.Unclaimed == 1 && fmt.Sprint(c.Dropped) == fmt.Sprint(want)
	})
	st := n.Status().Instances[0]
	if st.State != StateBackup || st.MasterAddr != peer || st.MasterPriority != 200 || st.LastAdvertRx.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if len(h.sentPackets()) != 0 {
		t.Fatal("a backup advertised")
	}
}

func TestNodeTracksScriptsAndLinks(t *testing.T) {
	h := newFakeHost("eth0", "eth1")
	cfg := ownerConfig()
	cfg.TrackInterfaces = []Track{{Name: "eth1"}}
	n, _, states := runNode(t, h, Config{Instances: []InstanceConfig{cfg}})
	if err := n.SetTrackScript("nope", "chk", false, 0); err == nil {
		t.Fatal("unknown instance accepted")
	}
	state := func() State { return n.Status().Instances[0].State }
	eventually(t, "master", func() bool { return state() == StateMaster })
	if err := n.SetTrackScript("VI_PUBLIC", "chk", false, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "fault", func() bool { return state() == StateFault })
	if h.has("eth0", vipP) {
		t.Fatal("VIP kept in FAULT")
	}
	if f := n.Status().Instances[0].Faults; !slices.Equal(f, []string{"script chk"}) {
		t.Fatalf("faults %v", f)
	}
	if sent := h.sentPackets(); sent[len(sent)-1].pkt.Priority != 0 {
		t.Fatal("no priority 0 advertisement on fault")
	}
	n.SetTrackScript("VI_PUBLIC", "chk", true, 0)
	eventually(t, "master again", func() bool { return state() == StateMaster })
	h.linkCh <- linkInfo{name: "eth1", index: 3, up: false}
	eventually(t, "fault on link down", func() bool { return state() == StateFault })
	h.linkCh <- linkInfo{name: "eth1", index: 3, up: true}
	eventually(t, "master after link up", func() bool { return state() == StateMaster })
	want := []string{
		"VI_PUBLIC INIT->MASTER", "VI_PUBLIC MASTER->FAULT", "VI_PUBLIC FAULT->BACKUP", "VI_PUBLIC BACKUP->MASTER",
		"VI_PUBLIC MASTER->FAULT", "VI_PUBLIC FAULT->BACKUP", "VI_PUBLIC BACKUP->MASTER",
	}
	if got := states(); !slices.Equal(got, want) {
		t.Fatalf("states\n got %q\nwant %q", got, want)
	}
}

func TestNodeSyncGroupStatus(t *testing.T) {
	h := newFakeHost("eth0", "eth1")
	a := ownerConfig()
	a.ExcludedVIPs = nil
	b := ownerConfig()
	b.Name, b.Interface, b.VRID, b.ExcludedVIPs = "VI_GATEWAY", "eth1", 2, nil
	b.VIPs = []VIP{{Prefix: exclP}}
	n, stop, states := runNode(t, h, Config{
		Instances:  []InstanceConfig{a, b},
		SyncGroups: []SyncGroup{{Name: "VG1", Instances: []string{"VI_PUBLIC", "VI_GATEWAY"}}},
	})
	eventually(t, "group master", func() bool {
		g := n.Status().Groups
		return len(g) == 1 && g[0].State == StateMaster
	})
	stop()
	got := states()
	for _, w := range []string{"group VG1 INIT->BACKUP", "group VG1 BACKUP->MASTER", "group VG1 MASTER->INIT",
		"VI_PUBLIC BACKUP->MASTER", "VI_GATEWAY BACKUP->MASTER"} {
		if !slices.Contains(got, w) {
			t.Fatalf("states %q lack %q", got, w)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := Config{Instances: []InstanceConfig{{Name: "x"}}}
	if _, err := New(cfg, nil); err == nil {
		t.Fatal("accepted an instance without interface, vrid and addresses")
	}
	err := cfg.Validate()
	for _, want := range []string{"no interface", "virtual_router_id", "no virtual_ipaddress"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate = %v, want all problems including %q", err, want)
		}
	}
	if err := (Config{Instances: []InstanceConfig{ownerConfig()}}).Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestNodeOwnerKeepsItsOwnAddress(t *testing.T) {
	h := newFakeHost("eth0")
	own := netip.PrefixFrom(h.src, 24)
	h.addrs["eth0"] = []netip.Prefix{own}
	cfg := ownerConfig()
	cfg.VIPs, cfg.ExcludedVIPs = []VIP{{Prefix: own}}, nil
	n, stop, _ := runNode(t, h, Config{Instances: []InstanceConfig{cfg}})
	eventually(t, "master", func() bool { return n.Status().Instances[0].State == StateMaster })
	stop()
	if !h.has("eth0", own) {
		t.Fatal("the owner removed its interface's own address")
	}
}

func TestNodeSocketFailureHandsOver(t *testing.T) {
	h := newFakeHost("eth0", "eth1")
	n, err := newNode(Config{Instances: []InstanceConfig{ownerConfig()}}, nil, func(string) (host, error) { return h, nil })
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Run(context.Background()) }()
	eventually(t, "master", func() bool { return n.Status().Instances[0].State == StateMaster })
	h.readErr <- errors.New("boom")
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("Run = %v, want the read error", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after a socket failure")
	}
	sent := h.sentPackets()
	if sent[len(sent)-1].pkt.Priority != PriorityStop || h.has("eth0", vipP) {
		t.Fatal("no handover after a socket failure")
	}
}

// An interface deleted and created again (new ifindex) gets new sockets:
// the instance is in FAULT while it is gone, then hears and speaks on the
// new interface; the old socket's end is not taken for a failure.
func TestNodeReopensRecreatedInterface(t *testing.T) {
	h := newFakeHost("eth0")
	cfg := ownerConfig()
	cfg.Priority, cfg.ExcludedVIPs, cfg.Version, cfg.AuthPass, cfg.AdvertInt = 100, nil, 3, "", 50*time.Millisecond
	n, stop, states := runNode(t, h, Config{Instances: []InstanceConfig{cfg}})
	state := func() State { return n.Status().Instances[0].State }
	eventually(t, "master", func() bool { return state() == StateMaster })

	h.linkCh <- linkInfo{name: "eth0", index: 2, gone: true}
	eventually(t, "fault while gone", func() bool { return state() == StateFault })
	if h.has("eth0", vipP) {
		t.Fatal("VIP kept while the interface is gone")
	}
	h.linkCh <- linkInfo{name: "eth0", index: 9, mac: net.HardwareAddr{2, 0, 0, 0, 0, 9}, up: true}
	eventually(t, "master on the new interface", func() bool { return state() == StateMaster && h.has("eth0", vipP) })
	h.mu.Lock()
	listens, open := slices.Clone(h.listens), h.open
	h.mu.Unlock()
	if !slices.Equal(listens, []int{2, 9}) || open != 1 {
		t.Fatalf("sockets opened on %v, %d open; want 2 then 9, one open", listens, open)
	}
	// The new socket hears: a better master makes us back up.
	peer := netip.MustParseAddr("203.0.113.3")
	p := Packet{Version: 3, Type: 1, VRID: 1, Priority: 200, Interval: 50 * time.Millisecond, Addrs: []netip.Addr{vipP.Addr()}}
	b, err := p.Marshal(peer, Group4)
	if err != nil {
		t.Fatal(err)
	}
	h.in <- rxPacket{RxInfo: RxInfo{Src: peer, Dst: Group4, TTL: 255}, payload: b}
	eventually(t, "backup to a better master", func() bool { return state() == StateBackup })
	// The same interface changing state again opens nothing new.
	h.linkCh <- linkInfo{name: "eth0", index: 9, up: true}
	stop() // fails the test if Run returned an error (the old socket's end)
	if h.mu.Lock(); len(h.listens) != 2 {
		t.Errorf("sockets opened on %v", h.listens)
	}
	h.mu.Unlock()
	want := []string{"VI_PUBLIC INIT->BACKUP", "VI_PUBLIC BACKUP->MASTER", "VI_PUBLIC MASTER->FAULT", "VI_PUBLIC FAULT->BACKUP", "VI_PUBLIC BACKUP->MASTER", "VI_PUBLIC MASTER->BACKUP"}
	if got := states(); !slices.Equal(got[:min(len(got), len(want))], want) {
		t.Fatalf("states\n got %q\nwant %q", got, want)
	}
}

// A run loop that was held up past the master down time must first take
// the advertisements that arrived meanwhile, not declare the master dead.
func TestNodeLateTimerYieldsToQueuedAdvert(t *testing.T) {
	for i := range 5 {
		h := newFakeHost("eth0")
		cfg := ownerConfig()
		cfg.Priority, cfg.ExcludedVIPs, cfg.Version, cfg.AuthPass, cfg.AdvertInt = 100, nil, 3, "", 50*time.Millisecond
		peer := netip.MustParseAddr("203.0.113.3")
		advert := func() {
			p := Packet{Version: 3, Type: 1, VRID: 1, Priority: 200, Interval: 50 * time.Millisecond, Addrs: []netip.Addr{vipP.Addr()}}
			b, err := p.Marshal(peer, Group4)
			if err != nil {
				t.Fatal(err)
			}
			h.in <- rxPacket{RxInfo: RxInfo{Src: peer, Dst: Group4, TTL: 255}, payload: b}
		}
		var mu sync.Mutex
		var states []string
		stalled := make(chan struct{})
		n, err := newNode(Config{Instances: []InstanceConfig{cfg}, OnState: func(_ string, from, to State) {
			mu.Lock()
			states = append(states, fmt.Sprintf("%v->%v", from, to))
			mu.Unlock()
			if from == StateInit {
				close(stalled)
				time.Sleep(300 * time.Millisecond) // the down interval (180 ms) passes
			}
		}}, nil, func(string) (host, error) { return h, nil })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- n.Run(ctx) }()
		<-stalled
		time.Sleep(100 * time.Millisecond)
		advert() // arrives in time, while the loop is held up
		for range 6 {
			time.Sleep(50 * time.Millisecond)
			advert()
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := slices.Clone(states)
		mu.Unlock()
		if !slices.Equal(got, []string{"INIT->BACKUP", "BACKUP->INIT"}) {
			t.Fatalf("run %d: states %q: a late timer beat a queued advertisement", i, got)
		}
	}
}
