package sync

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xlb/xlb/loader"
)

// drained waits until the master has read every event its dataplane
// reported: the GC expires connections long after their last event, so
// an expiry never overtakes the connection's own events.
func drained(t *testing.T, n *node) {
	t.Helper()
	eventually(t, 2*time.Second, "events read", func() bool { return n.s.Status().Events == n.dp.emitted.Load() })
}

var states = []string{"SYN_RECV", "ESTABLISHED", "ESTABLISHED", "FIN_WAIT", "CLOSE"}

// fill puts n connections (and their templates) in a table without
// events, as if made before sync started.
func fill(dp *fakeDP, from, n int) {
	for i := from; i < from+n; i++ {
		c := testConn(i, states[i%len(states)])
		dp.conns[c.ID()] = c
		t := loader.Template{Service: loader.ServiceKey{Addr: c.VIP.Addr(), Port: c.VIP.Port(), Proto: c.Proto}, Client: c.Client.Addr(), Real: c.Real, Idle: c.Idle}
		dp.templates[tkey{t.Service, t.Client}] = t
	}
}

func TestBulkThenIncremental(t *testing.T) {
	mdp, bdp := newFakeDP(1<<16), newFakeDP(1<<16)
	fill(mdp, 0, 2000)
	fill(bdp, 50000, 50) // stale: the master does not have these
	m, b := pairWith(t, mdp, bdp, nil)

	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, m.dp, b.dp, 2*time.Second)
	// Idle ages travel: an entry idle 49 s on the master is at least
	// that on the backup.
	want := testConn(49, states[49%len(states)])
	b.dp.mu.Lock()
	got := b.dp.conns[want.ID()]
	b.dp.mu.Unlock()
	if got.Idle < want.Idle {
		t.Errorf("idle %s on the backup, %s on the master", got.Idle, want.Idle)
	}

	// Changes: new connections, state changes, expiries.
	for i := 3000; i < 3300; i++ {
		m.dp.connect(testConn(i, "SYN_RECV"))
	}
	for i := 3000; i < 3100; i++ {
		m.dp.setState(testConn(i, "").ID(), "ESTABLISHED")
	}
	for i := 3000; i < 3020; i++ {
		m.dp.setState(testConn(i, "").ID(), "FIN_WAIT")
	}
	drained(t, m)
	m.s.Expired(m.dp.expire(200))
	// Persistence templates the master's GC drops go too: otherwise a
	// client that stayed away past persistence_timeout would still be
	// pinned to its old real after a failover.
	if gone := m.dp.expireTemplates(150); len(gone) != 150 {
		t.Fatalf("expired %d templates, want 150", len(gone))
	} else {
		m.s.ExpiredTemplates(gone)
	}
	sameTables(t, m.dp, b.dp, 3*time.Second)

	ms, bs := m.s.Status(), b.s.Status()
	if !bs.Converged || bs.Gaps != 0 || bs.BulkReceived < 1 || bs.SweptEntries != 50 {
		t.Errorf("backup status %+v", bs)
	}
	if bs.PeerEpoch != ms.Epoch || bs.Peer.Addr() != m.s.LocalAddr().Addr() {
		t.Errorf("backup follows %s epoch %x, master is %s epoch %x", bs.Peer, bs.PeerEpoch, m.s.LocalAddr(), ms.Epoch)
	}
	if ms.Events != m.dp.emitted.Load() || ms.SentEntries < 2000+300 || ms.BulkSent < 1 || ms.Rejected.Total() != 0 || bs.Rejected.Total() != 0 {
		t.Errorf("master status %+v", ms)
	}
	if bs.ReceivedEntries < ms.SentEntries-ms.SentEntries/10 || bs.InstallErrors != 0 {
		t.Errorf("sent %d entries, received %d, install errors %d", ms.SentEntries, bs.ReceivedEntries, bs.InstallErrors)
	}
	// Entries are batched (how many changes share a message depends on
	// how fast they come).
	if ms.SentMessages*2 > ms.SentEntries {
		t.Errorf("%d messages for %d entries", ms.SentMessages, ms.SentEntries)
	}
}

// dropper drops the first message matching match, once armed.
type dropper struct {
	armed   atomic.Bool
	dropped atomic.Int32
	match   func(h header, n int) bool
}

func (d *dropper) drop(h header, n int) bool {
	if d.armed.Load() && d.match(h, n) && d.armed.CompareAndSwap(true, false) {
		d.dropped.Add(1)
		return true
	}
	return false
}

func TestLossTriggersResync(t *testing.T) {
	var nbulk atomic.Int32
	lostBulk := &dropper{match: func(h header, _ int) bool { return h.Type == msgBulk && nbulk.Add(1) == 3 }}
	lostUpdate := &dropper{match: func(h header, n int) bool { return h.Type == msgUpdate && n > 0 }}
	lostBulk.armed.Store(true)
	a1, a2 := loopbackPair()
	mdp := newFakeDP(1 << 16)
	fill(mdp, 0, 3000) // ~60 bulk messages
	// At 10000 entries/s the transfer takes ~300 ms.
	m := newNode(t, Config{Peers: []netip.Addr{a2}, LocalAddr: a1, Port: 41000, MaxRate: 10000}, mdp, func(tu *tuning) {
		tu.drop = func(h header, n int) bool { return lostBulk.drop(h, n) || lostUpdate.drop(h, n) }
	})
	m.s.SetMaster(true)
	b := newNode(t, Config{Peers: []netip.Addr{a1}, LocalAddr: a2, Port: 41000}, newFakeDP(1<<16), nil)

	// The first transfer lost its third message: the backup noticed the
	// gap and asked again.
	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, m.dp, b.dp, time.Second)
	if lostBulk.dropped.Load() != 1 {
		t.Fatal("no bulk message was dropped")
	}
	bs := b.s.Status()
	if bs.Gaps < 1 || bs.BulkReceived < 1 || bs.ResyncRequestsSent < 2 {
		t.Errorf("after a lost bulk message: %+v", bs)
	}
	// Usually the request names the running transfer, which restarts
	// (TestResyncRequestRestartsTransfer checks that without timing).
	t.Logf("master aborted %d transfers", m.s.Status().BulkAborted)

	// A lost change: the backup stops being converged, asks, and the
	// transfer brings it back exactly.
	_, ch := b.s.Convergence()
	lostUpdate.armed.Store(true)
	for i := 5000; i < 5100; i++ {
		m.dp.connect(testConn(i, "SYN_RECV"))
		if i%10 == 0 {
			time.Sleep(5 * time.Millisecond) // several messages
		}
	}
	drained(t, m)
	m.s.Expired(m.dp.expire(30))
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("convergence did not change after a lost message")
	}
	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, m.dp, b.dp, 2*time.Second)
	if lostUpdate.dropped.Load() != 1 {
		t.Fatal("no update was dropped")
	}
	if bs2 := b.s.Status(); bs2.Gaps < bs.Gaps+1 || bs2.BulkReceived < bs.BulkReceived+1 {
		t.Errorf("after a lost update: %+v", bs2)
	}
}

func TestRoleFlip(t *testing.T) {
	m, b := pair(t)
	for i := range 200 {
		m.dp.connect(testConn(i, "ESTABLISHED"))
	}
	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, m.dp, b.dp, 2*time.Second)
	oldEpoch := m.s.Status().Epoch

	// VRRP moves: the backup becomes master, the old master backup.
	b.s.SetMaster(true)
	m.s.SetMaster(false)
	if m.s.Converged() {
		t.Error("a director that just became backup is converged")
	}
	for i := 200; i < 300; i++ {
		b.dp.connect(testConn(i, "SYN_RECV"))
	}
	drained(t, b)
	b.s.Expired(b.dp.expire(20))
	waitConverged(t, m.s, 5*time.Second)
	sameTables(t, b.dp, m.dp, 2*time.Second)
	bs, ms := b.s.Status(), m.s.Status()
	if !bs.Master || ms.Master || ms.PeerEpoch != bs.Epoch || bs.Epoch == oldEpoch {
		t.Errorf("after the flip: new master %+v, new backup %+v", bs, ms)
	}
	if bs.ResyncRequestsReceived < 1 || bs.BulkSent < 1 {
		t.Errorf("new master answered no resync: %+v", bs)
	}

	// And back again.
	m.s.SetMaster(true)
	b.s.SetMaster(false)
	m.dp.connect(testConn(400, "SYN_RECV"))
	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, m.dp, b.dp, 2*time.Second)
}

func TestBackupRestart(t *testing.T) {
	a1, a2 := loopbackPair()
	mdp, bdp := newFakeDP(1<<16), newFakeDP(1<<16)
	mcfg := Config{Peers: []netip.Addr{a2}, LocalAddr: a1, Port: 41001}
	bcfg := Config{Peers: []netip.Addr{a1}, LocalAddr: a2, Port: 41001}
	m := newNode(t, mcfg, mdp, nil)
	m.s.SetMaster(true)
	b := newNode(t, bcfg, bdp, nil)
	for i := range 100 {
		mdp.connect(testConn(i, "ESTABLISHED"))
	}
	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, mdp, bdp, 2*time.Second)

	// The backup goes away; the master's table changes meanwhile.
	b.stop(t)
	for i := 100; i < 400; i++ {
		mdp.connect(testConn(i, "SYN_RECV"))
	}
	drained(t, m)
	m.s.Expired(mdp.expire(50))
	time.Sleep(100 * time.Millisecond)

	// A new syncer on the same (pinned) tables: the bulk transfer covers
	// what it missed, the expired connections included.
	b2 := newNode(t, bcfg, bdp, nil)
	waitConverged(t, b2.s, 5*time.Second)
	sameTables(t, mdp, bdp, 2*time.Second)
	if st := b2.s.Status(); st.SweptEntries == 0 || st.BulkReceived != 1 {
		t.Errorf("restarted backup %+v", st)
	}
}

func TestQueueOverflow(t *testing.T) {
	a1, a2 := loopbackPair()
	mdp := newFakeDP(1 << 16)
	m := newNode(t, Config{Peers: []netip.Addr{a2}, LocalAddr: a1, Port: 41002, MaxRate: 10000}, mdp, func(tu *tuning) {
		tu.queueMax = 64
	})
	m.s.SetMaster(true)
	b := newNode(t, Config{Peers: []netip.Addr{a1}, LocalAddr: a2, Port: 41002}, newFakeDP(1<<16), nil)
	waitConverged(t, b.s, 5*time.Second)
	_, ch := b.s.Convergence()
	// Faster than max_rate: the queue fills and a bulk transfer replaces it.
	for i := range 5000 {
		mdp.connect(testConn(i, "SYN_RECV"))
	}
	select {
	case <-ch: // the reset transfer
	case <-time.After(2 * time.Second):
		t.Fatal("convergence did not change")
	}
	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, mdp, b.dp, 5*time.Second)
	ms := m.s.Status()
	if ms.Overflows == 0 || ms.Queued > 64 {
		t.Errorf("master %+v", ms)
	}
}

func TestLostEventsTriggerBulk(t *testing.T) {
	m, b := pair(t)
	waitConverged(t, b.s, 5*time.Second)
	_, ch := b.s.Convergence()
	// The dataplane made connections but its ring was full: no events,
	// only the lost counter.
	m.dp.mu.Lock()
	fill(m.dp, 0, 100)
	m.dp.mu.Unlock()
	m.dp.lost.Add(7)
	select {
	case <-ch: // the reset transfer makes the backup unconverged first
	case <-time.After(2 * time.Second):
		t.Fatal("convergence did not change")
	}
	waitConverged(t, b.s, 5*time.Second)
	sameTables(t, m.dp, b.dp, 2*time.Second)
	if st := m.s.Status(); st.EventsLost != 7 {
		t.Errorf("events lost %d, want 7", st.EventsLost)
	}
}

func TestKeyMismatch(t *testing.T) {
	a1, a2 := loopbackPair()
	m := newNode(t, Config{Peers: []netip.Addr{a2}, LocalAddr: a1, Port: 41003, Key: []byte("key one")}, newFakeDP(1<<16), nil)
	m.s.SetMaster(true)
	b := newNode(t, Config{Peers: []netip.Addr{a1}, LocalAddr: a2, Port: 41003, Key: []byte("key two")}, newFakeDP(1<<16), nil)
	for i := range 50 {
		m.dp.connect(testConn(i, "ESTABLISHED"))
	}
	eventually(t, 3*time.Second, "rejections on both sides", func() bool {
		return b.s.Status().Rejected.BadMAC >= 3 && m.s.Status().Rejected.BadMAC >= 1
	})
	if b.s.Converged() || b.dp.len() != 0 {
		t.Fatalf("backup converged=%v with %d connections despite the wrong key", b.s.Converged(), b.dp.len())
	}
	bs := b.s.Status()
	if bs.ReceivedMessages != 0 || bs.InstalledEntries != 0 || bs.Rejected.BadMAC != bs.Rejected.Total() {
		t.Errorf("backup %+v", bs)
	}
	if ms := m.s.Status(); ms.ResyncRequestsReceived != 0 {
		t.Errorf("master accepted a request with the wrong key: %+v", ms)
	}
}

// TestReceiverRejects feeds a backup's receive path crafted datagrams.
func TestReceiverRejects(t *testing.T) {
	a1, _ := loopbackPair()
	dp := newFakeDP(16)
	s, err := New(Config{Peers: []netip.Addr{a1}, LocalAddr: a1, Port: 41004, Key: testKey}, dp, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &receiver{s: s, gen: ^uint64(0)}
	now := time.Now()
	r.sync(now)
	from := netip.MustParseAddrPort("127.0.0.9:8848")
	feed := func(h header, es []entry, key []byte) {
		t.Helper()
		r.handle(mustEncode(t, h, es, key), from, now)
	}
	one := func(i int) []entry { return []entry{{Kind: kindConn, Conn: testConn(i, "ESTABLISHED")}} }
	const e1, e2 = 0xe1, 0xe2

	feed(header{Type: msgUpdate, Epoch: e1, Seq: 1}, one(1), testKey) // accepted: a new session
	feed(header{Type: msgUpdate, Epoch: e1, Seq: 1}, one(2), testKey) // replay
	feed(header{Type: msgUpdate, Epoch: e1, Seq: 2}, one(3), []byte("wrong"))
	feed(header{Type: msgUpdate, Epoch: e1, Seq: 2}, one(4), nil) // unauthenticated
	b := mustEncode(t, header{Type: msgUpdate, Epoch: e1, Seq: 2}, one(5), testKey)
	b[1] = 2
	r.handle(b, from, now) // wrong version
	b = mustEncode(t, header{Type: msgUpdate, Epoch: e1, Seq: 2}, one(6), testKey)
	r.handle(b[:len(b)-40], from, now)                                // truncated
	r.handle(make([]byte, MaxMessage+100), from, now)                 // oversized
	feed(header{Type: msgUpdate, Epoch: e1, Seq: 2}, one(7), testKey) // accepted
	feed(header{Type: msgUpdate, Epoch: e2, Seq: 1}, one(8), testKey) // accepted: the master restarted
	feed(header{Type: msgUpdate, Epoch: e1, Seq: 3}, one(9), testKey) // old epoch
	feed(header{Type: msgUpdate, Epoch: e1, Seq: 1}, one(10), testKey)
	feed(header{Type: msgResync, Epoch: 0xbb, Seq: 1}, nil, testKey) // a backup ignores requests

	st := s.Status()
	want := Rejected{BadMAC: 2, Replay: 1, OldEpoch: 2, BadFormat: 2, WrongVersion: 1}
	if st.Rejected != want {
		t.Errorf("rejected %+v, want %+v", st.Rejected, want)
	}
	if st.ReceivedMessages != 3 || st.InstalledEntries != 3 || st.Ignored != 1 || st.PeerEpoch != e2 {
		t.Errorf("status %+v", st)
	}
	for i := 1; i <= 10; i++ {
		dp.mu.Lock()
		_, ok := dp.conns[testConn(i, "").ID()]
		dp.mu.Unlock()
		if ok != (i == 1 || i == 7 || i == 8) {
			t.Errorf("connection %d installed: %v", i, ok)
		}
	}

	// A master rejects replayed resync requests.
	s.SetMaster(true)
	r.sync(now)
	feed(header{Type: msgResync, Epoch: 0xbb, Seq: 1}, nil, testKey)
	feed(header{Type: msgResync, Epoch: 0xbb, Seq: 1}, nil, testKey)
	feed(header{Type: msgUpdate, Epoch: e2, Seq: 5}, one(11), testKey) // another master's data: ignored
	st = s.Status()
	if st.ResyncRequestsReceived != 1 || st.Rejected.Replay != 2 || st.Ignored != 2 {
		t.Errorf("master status %+v", st)
	}
}

// TestResyncRequestRestartsTransfer: a request naming the running
// transfer (the backup lost part of it) restarts it slower; any other
// request queues one more transfer after it.
func TestResyncRequestRestartsTransfer(t *testing.T) {
	a1, _ := loopbackPair()
	s, err := New(Config{Peers: []netip.Addr{a1}, LocalAddr: a1, Port: 41005}, newFakeDP(16), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetMaster(true)
	r := &receiver{s: s, gen: ^uint64(0)}
	now := time.Now()
	r.sync(now)
	from := netip.MustParseAddrPort("127.0.0.9:8848")
	s.mu.Lock()
	s.bulkActive = 4
	s.mu.Unlock()
	flags := func() (want, restart, lost bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		want, restart, lost = s.bulkWant, s.bulkRestart, s.bulkLost
		s.bulkWant, s.bulkRestart, s.bulkLost = false, false, false
		return
	}
	r.handle(mustEncode(t, header{Type: msgResync, Epoch: 0xbb, Seq: 1, Transfer: 3}, nil, nil), from, now)
	if w, rs, l := flags(); !w || rs || l {
		t.Errorf("request naming an older transfer: want %v restart %v lost %v", w, rs, l)
	}
	r.handle(mustEncode(t, header{Type: msgResync, Epoch: 0xbb, Seq: 2, Transfer: 4}, nil, nil), from, now)
	if w, rs, l := flags(); !w || !rs || !l {
		t.Errorf("request naming the running transfer: want %v restart %v lost %v", w, rs, l)
	}

	// The sender halves the pace of the lost transfer.
	p := &sender{s: s, bulkRate: newBucket(0, 0, now)}
	p.slowDown(&bulkSend{taken: now.Add(-time.Second), sent: 50000}, now)
	if p.bulkRate.rate != 25000 {
		t.Errorf("after losing a transfer sent at 50000/s: %v/s", p.bulkRate.rate)
	}
	p.slowDown(&bulkSend{taken: now.Add(-time.Second), sent: 100}, now)
	if p.bulkRate.rate != minBulkRate {
		t.Errorf("floor: %v/s", p.bulkRate.rate)
	}
}

func TestConfig(t *testing.T) {
	c := Config{Interface: "eth0"}
	if err := c.normalize(); err != nil {
		t.Fatal(err)
	}
	if c.Group != DefaultGroup || c.Port != DefaultPort {
		t.Errorf("defaults: group %s port %d", c.Group, c.Port)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "needs an interface"},
		{Config{Interface: "eth0", Group: netip.MustParseAddr("192.0.2.1")}, "not a multicast"},
		{Config{Peers: []netip.Addr{netip.MustParseAddr("224.0.0.81")}}, "not a unicast"},
		{Config{Peers: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")}}, "different families"},
		{Config{Peers: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, LocalAddr: netip.MustParseAddr("2001:db8::1")}, "different families"},
		{Config{Peers: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, Port: 70000}, "out of range"},
		{Config{Peers: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, MaxRate: -1}, "negative"},
	} {
		err := tc.cfg.normalize()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{}, newFakeDP(1), testLogger(t)); err == nil {
		t.Error("New accepted an invalid config")
	}
}

func TestInstallErrorsCounted(t *testing.T) {
	m, b := pair(t)
	b.dp.mu.Lock()
	b.dp.reals = map[netip.AddrPort]bool{netip.MustParseAddrPort("192.0.2.100:80"): true, netip.MustParseAddrPort("192.0.2.100:443"): true}
	b.dp.mu.Unlock()
	for i := range 20 {
		m.dp.connect(testConn(i, "ESTABLISHED")) // half go to 192.0.2.101, which the backup lacks
	}
	eventually(t, 3*time.Second, "install errors", func() bool { return b.s.Status().InstallErrors >= 10 })
	if n := b.dp.len(); n != 10 {
		t.Errorf("%d connections installed, want the 10 on a known real", n)
	}
}

func TestQueueCoalesces(t *testing.T) {
	q := newQueue(3)
	now := time.Now()
	c := testConn(1, "SYN_RECV")
	q.push(entry{Kind: kindConn, Conn: c}, now)
	c.State = "ESTABLISHED"
	q.push(entry{Kind: kindConn, Conn: c}, now.Add(time.Second))
	q.push(entry{Kind: kindConn, Conn: testConn(2, "SYN_RECV")}, now)
	if q.len() != 2 {
		t.Fatalf("len %d after a change of a queued connection", q.len())
	}
	q.push(entry{Kind: kindDelete, Flow: c.ID()}, now) // replaces the connection
	q.push(entry{Kind: kindConn, Conn: testConn(3, "SYN_RECV")}, now)
	if q.push(entry{Kind: kindConn, Conn: testConn(4, "SYN_RECV")}, now) {
		t.Fatal("pushed beyond max")
	}
	got := q.pop(nil, maxBody, 10, now.Add(2*time.Second))
	if len(got) != 3 || got[0].Kind != kindDelete || got[1].Conn.Client != testConn(2, "").Client || q.len() != 0 {
		t.Fatalf("popped %+v", got)
	}
	// Idle ages grow while queued.
	if got[1].Conn.Idle != testConn(2, "").Idle+2*time.Second {
		t.Errorf("idle %s", got[1].Conn.Idle)
	}
	// Room bounds a pop.
	for i := range 3 {
		q.push(entry{Kind: kindConn, Conn: testConn(10+i, "UDP")}, now)
	}
	if got := q.pop(nil, 2*connLen4+1, 10, now); len(got) != 2 || q.len() != 1 {
		t.Errorf("popped %d into room for 2, %d left", len(got), q.len())
	}
	q.track()
	q.push(entry{Kind: kindTemplate, Template: loader.Template{Service: loader.ServiceKey{Addr: vip4.Addr(), Port: 80, Proto: loader.TCP}, Client: client4.Addr(), Real: real4}}, now)
	if !q.changed(qkey{svc: loader.ServiceKey{Addr: vip4.Addr(), Port: 80, Proto: loader.TCP}, client: client4.Addr()}) || q.changed(qkey{flow: c.ID()}) {
		t.Error("dirty tracking")
	}
}

func TestBucket(t *testing.T) {
	now := time.Now()
	b := newBucket(1000, 100, now)
	if n := b.available(now); n != 100 {
		t.Fatalf("a new bucket holds %d", n)
	}
	b.take(100)
	if w := b.wait(50, now); w < 49*time.Millisecond || w > 51*time.Millisecond {
		t.Errorf("wait for 50 at 1000/s: %s", w)
	}
	if n := b.available(now.Add(20 * time.Millisecond)); n != 20 {
		t.Errorf("after 20 ms: %d", n)
	}
	if n := b.available(now.Add(time.Hour)); n != 100 {
		t.Errorf("burst not capped: %d", n)
	}
	u := newBucket(0, 0, now)
	if !u.unlimited() || u.wait(1e6, now) != 0 || u.available(now) < 1e6 {
		t.Error("unlimited bucket limits")
	}
}
