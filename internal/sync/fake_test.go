package sync

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xlb/xlb/loader"
)

// fakeDP is an in-memory dataplane: a flow table, a template table and an
// event ring of bounded size, as the loader's.
type fakeDP struct {
	mu        gosync.Mutex
	conns     map[loader.FlowID]loader.Conn
	templates map[tkey]loader.Template
	ring      chan loader.SyncEvent
	emitted   atomic.Uint64
	lost      atomic.Uint64
	// reals, if set, are the only reals InstallConn accepts (the loader
	// refuses reals it does not have).
	reals map[netip.AddrPort]bool
}

type tkey struct {
	svc    loader.ServiceKey
	client netip.Addr
}

func newFakeDP(ring int) *fakeDP {
	return &fakeDP{
		conns:     make(map[loader.FlowID]loader.Conn),
		templates: make(map[tkey]loader.Template),
		ring:      make(chan loader.SyncEvent, ring),
	}
}

// fakeReader reads the fake's ring as loader.SyncReader reads its own.
type fakeReader struct {
	ring     <-chan loader.SyncEvent
	done     chan struct{}
	once     gosync.Once
	deadline atomic.Pointer[time.Time]
}

func (f *fakeDP) SyncReader() (*fakeReader, error) {
	return &fakeReader{ring: f.ring, done: make(chan struct{})}, nil
}

func (r *fakeReader) Read() (loader.SyncEvent, error) {
	select {
	case <-r.done:
		return loader.SyncEvent{}, loader.ErrClosed
	case ev := <-r.ring:
		return ev, nil
	default:
	}
	var timeout <-chan time.Time
	if d := r.deadline.Load(); d != nil {
		t := time.NewTimer(time.Until(*d))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case ev := <-r.ring:
		return ev, nil
	case <-r.done:
		return loader.SyncEvent{}, loader.ErrClosed
	case <-timeout:
		return loader.SyncEvent{}, os.ErrDeadlineExceeded
	}
}

func (r *fakeReader) SetDeadline(t time.Time) { r.deadline.Store(&t) }
func (r *fakeReader) Close() error            { r.once.Do(func() { close(r.done) }); return nil }

func (f *fakeDP) Conns(keep func(*loader.Conn) bool, limit int) ([]loader.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []loader.Conn
	for _, c := range f.conns {
		if limit > 0 && len(out) >= limit {
			break
		}
		if keep == nil || keep(&c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeDP) Templates() ([]loader.Template, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]loader.Template, 0, len(f.templates))
	for _, t := range f.templates {
		out = append(out, t)
	}
	return out, nil
}

func (f *fakeDP) InstallConn(c loader.Conn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reals != nil && !f.reals[c.Real] {
		return fmt.Errorf("%s is not a real here", c.Real)
	}
	f.conns[c.ID()] = c
	return nil
}

func (f *fakeDP) InstallTemplate(t loader.Template) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.templates[tkey{t.Service, t.Client}] = t
	return nil
}

func (f *fakeDP) DeleteConn(id loader.FlowID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, id)
	return nil
}

func (f *fakeDP) DeleteTemplate(t loader.Template) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.templates, tkey{t.Service, t.Client})
	return nil
}

func (f *fakeDP) Counters() (map[string]uint64, error) {
	return map[string]uint64{"sync_lost": f.lost.Load()}, nil
}

// emit reports an event as the dataplane does; a full ring loses it.
func (f *fakeDP) emit(ev loader.SyncEvent) {
	select {
	case f.ring <- ev:
		f.emitted.Add(1)
	default:
		f.lost.Add(1)
	}
}

// connect is the dataplane scheduling a new connection (and its client's
// template): the tables change and events are reported.
func (f *fakeDP) connect(c loader.Conn) {
	f.mu.Lock()
	t := loader.Template{Service: loader.ServiceKey{Addr: c.VIP.Addr(), Port: c.VIP.Port(), Proto: c.Proto}, Client: c.Client.Addr(), Real: c.Real}
	_, had := f.templates[tkey{t.Service, t.Client}]
	f.templates[tkey{t.Service, t.Client}] = t
	f.conns[c.ID()] = c
	f.mu.Unlock()
	if !had {
		f.emit(loader.SyncEvent{Kind: loader.SyncTemplateNew, Template: t})
	}
	f.emit(loader.SyncEvent{Kind: loader.SyncConnNew, Conn: c})
}

// setState is a connection changing state.
func (f *fakeDP) setState(id loader.FlowID, state string) {
	f.mu.Lock()
	c := f.conns[id]
	c.State, c.Active = state, state == "ESTABLISHED"
	f.conns[id] = c
	f.mu.Unlock()
	f.emit(loader.SyncEvent{Kind: loader.SyncConnState, Conn: c})
}

// expire is the GC deleting connections; the caller passes them to the
// master's Expired.
func (f *fakeDP) expire(n int) []loader.FlowID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []loader.FlowID
	for id := range f.conns {
		if len(ids) == n {
			break
		}
		ids = append(ids, id)
		delete(f.conns, id)
	}
	return ids
}

// expireTemplates is the GC dropping persistence templates; the caller
// passes them to the master's ExpiredTemplates.
func (f *fakeDP) expireTemplates(n int) []loader.Template {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ts []loader.Template
	for k, t := range f.templates {
		if len(ts) == n {
			break
		}
		ts = append(ts, t)
		delete(f.templates, k)
	}
	return ts
}

// snapshot is the table as comparable strings: idle ages left out.
func (f *fakeDP) snapshot() (conns, templates []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		conns = append(conns, fmt.Sprintf("%s %s->%s real %s %s", c.Proto, c.Client, c.VIP, c.Real, c.State))
	}
	for _, t := range f.templates {
		templates = append(templates, fmt.Sprintf("%s %s real %s", t.Service, t.Client, t.Real))
	}
	slices.Sort(conns)
	slices.Sort(templates)
	return conns, templates
}

func (f *fakeDP) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// testConn makes the i-th connection of a test: clients from
// 198.51.100.0/24 on many ports, two VIPs, reals alternating.
func testConn(i int, state string) loader.Conn {
	client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 200)}), uint16(10000+i/200))
	vip := netip.MustParseAddrPort("203.0.113.10:80")
	if i%3 == 0 {
		vip = netip.MustParseAddrPort("203.0.113.10:443")
	}
	real := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i%2)}), vip.Port())
	return loader.Conn{Proto: loader.TCP, Client: client, VIP: vip, Real: real, State: state, Active: state == "ESTABLISHED", Idle: time.Duration(i%50) * time.Second}
}

// loopbackPair returns two unused loopback addresses: each test binds
// its own, so tests (and parallel runs) do not share a port.
func loopbackPair() (netip.Addr, netip.Addr) {
	b := [4]byte{127, byte(10 + rand.IntN(200)), byte(rand.IntN(256)), 0}
	a, c := b, b
	a[3], c[3] = 2, 3
	return netip.AddrFrom4(a), netip.AddrFrom4(c)
}

// node is a Syncer on a fake dataplane, running until the test ends.
type node struct {
	s      *Syncer
	dp     *fakeDP
	cancel context.CancelFunc
	done   chan error
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// fastTuning shortens the timers so that tests take milliseconds.
func fastTuning() tuning {
	tu := defaultTuning()
	tu.heartbeat = 50 * time.Millisecond
	tu.silence = 300 * time.Millisecond
	tu.retry = 200 * time.Millisecond
	tu.minRequest = 20 * time.Millisecond
	tu.tick = 10 * time.Millisecond
	tu.lostPoll = 50 * time.Millisecond
	tu.bulkGap = 20 * time.Millisecond
	return tu
}

func newNode(t testing.TB, cfg Config, dp *fakeDP, tune func(*tuning)) *node {
	t.Helper()
	s, err := New(cfg, dp, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.tune = fastTuning()
	if tune != nil {
		tune(&s.tune)
	}
	return startNode(t, s, dp)
}

func startNode(t testing.TB, s *Syncer, dp *fakeDP) *node {
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{s: s, dp: dp, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- s.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop ends Run and checks it ended cleanly.
func (n *node) stop(t testing.TB) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

// pair makes a master and a backup on loopback, unicast to each other,
// authenticated.
func pair(t testing.TB) (m, b *node) {
	return pairWith(t, newFakeDP(1<<16), newFakeDP(1<<16), nil)
}

// pairWith is pair on the given dataplanes, tune applied to the master.
func pairWith(t testing.TB, mdp, bdp *fakeDP, tune func(*tuning)) (m, b *node) {
	t.Helper()
	a1, a2 := loopbackPair()
	port := 20000 + rand.IntN(20000)
	m = newNode(t, Config{Peers: []netip.Addr{a2}, LocalAddr: a1, Port: port, Key: testKey}, mdp, tune)
	m.s.SetMaster(true)
	b = newNode(t, Config{Peers: []netip.Addr{a1}, LocalAddr: a2, Port: port, Key: testKey}, bdp, nil)
	return m, b
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sameTables waits until b's tables equal a's.
func sameTables(t testing.TB, a, b *fakeDP, timeout time.Duration) {
	t.Helper()
	var ac, at, bc, bt []string
	end := time.Now().Add(timeout)
	for {
		ac, at = a.snapshot()
		bc, bt = b.snapshot()
		if slices.Equal(ac, bc) && slices.Equal(at, bt) {
			return
		}
		if time.Now().After(end) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("tables differ after %s: %d/%d connections, %d/%d templates; first differences: %v",
		timeout, len(ac), len(bc), len(at), len(bt), firstDiff(ac, bc))
}

func firstDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, "missing "+x)
		}
	}
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok {
			out = append(out, "extra "+x)
		}
	}
	return out[:min(len(out), 5)]
}

func waitConverged(t testing.TB, s *Syncer, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "convergence", s.Converged)
}
