package sync

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/testutil"
	"github.com/xlb/xlb/loader"
)

var labSizes = loader.Options{ConntrackMax: 4096, PersistenceMax: 1024, MaxServices: 16, MaxReals: 64, SyncEvents: true}

// tables lists a dataplane's connections and templates as comparable
// strings (idle ages left out).
func tables(t testing.TB, dp *loader.Dataplane) (conns, templates []string) {
	t.Helper()
	cs, err := dp.Conns(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		conns = append(conns, fmt.Sprintf("%s %s->%s real %s %s", c.Proto, c.Client, c.VIP, c.Real, c.State))
	}
	ts, err := dp.Templates()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range ts {
		templates = append(templates, fmt.Sprintf("%s %s real %s", tp.Service, tp.Client, tp.Real))
	}
	slices.Sort(conns)
	slices.Sort(templates)
	return conns, templates
}

// sameDataplanes waits until b's tables equal a's.
func sameDataplanes(t testing.TB, a, b *loader.Dataplane, timeout time.Duration) {
	t.Helper()
	var ac, at, bc, bt []string
	end := time.Now().Add(timeout)
	for {
		ac, at = tables(t, a)
		bc, bt = tables(t, b)
		if slices.Equal(ac, bc) && slices.Equal(at, bt) {
			return
		}
		if time.Now().After(end) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tables differ after %s: %d/%d connections, %d/%d templates; first differences: %v %v",
		timeout, len(ac), len(bc), len(at), len(bt), firstDiff(ac, bc), firstDiff(at, bt))
}

// labNode starts a Syncer for director d, its socket opened in d's
// namespace.
func labNode(t testing.TB, d *director, cfg Config) *Syncer {
	t.Helper()
	var s *Syncer
	if err := d.ns.Do(func() (err error) {
		s, err = New(cfg, d.dp, testLogger(t))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.tune.heartbeat = 100 * time.Millisecond
	s.tune.silence = 500 * time.Millisecond
	s.tune.retry = 300 * time.Millisecond
	return s
}

func runNode(t testing.TB, s *Syncer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestDataplanesInSync syncs two real dataplanes, each in its own
// namespace, over UDP on a veth between them: connections made by the
// master's XDP program (run with BPF_PROG_TEST_RUN) appear in the
// backup's maps, with the backup's own real ids.
func TestDataplanesInSync(t *testing.T) {
	testutil.RequireNetNSTests(t)
	for _, mode := range []string{"multicast", "unicast", "unicast_ipv6"} {
		t.Run(mode, func(t *testing.T) {
			ds := newDirectors(t, labSizes)
			master, backup := ds[0], ds[1]
			addrs := syncAddr
			if mode == "unicast_ipv6" {
				addrs = syncAddr6
			}
			cfg := func(i int, key string) Config {
				c := Config{Interface: "sync0", Key: []byte(key), LocalAddr: addrs[i]}
				if mode != "multicast" {
					c.Peers = []netip.Addr{addrs[1-i]}
				}
				return c
			}
			ms := labNode(t, master, cfg(0, "seed secret"))
			ms.SetMaster(true)
			runNode(t, ms)
			run := master.runner()

			// Connections made before the backup starts: its bulk
			// transfer brings them.
			tcpStates := []string{"SYN_RECV", "ESTABLISHED", "FIN_WAIT"}
			for i := range 60 {
				run.connect(t, i, loader.TCP, tcpStates[i%3])
			}
			for i := 60; i < 80; i++ {
				run.connect(t, i, loader.UDP, "UDP")
			}
			bs := labNode(t, backup, cfg(1, "seed secret"))
			stopBackup := runNode(t, bs)
			waitConverged(t, bs, 5*time.Second)
			sameDataplanes(t, master.dp, backup.dp, 2*time.Second)

			// Connections made since: sent as changes.
			for i := 100; i < 200; i++ {
				run.connect(t, i, loader.TCP, tcpStates[i%3])
			}
			for i := 200; i < 220; i++ {
				run.connect(t, i, loader.UDP, "UDP")
			}
			sameDataplanes(t, master.dp, backup.dp, 3*time.Second)
			if !bs.Converged() {
				t.Error("backup not converged after changes")
			}
			// 200 connections: 53 SYN_RECV, 54 ESTABLISHED, 53 FIN_WAIT,
			// 40 UDP; a template for each of the 160 TCP clients.
			conns, templates := tables(t, backup.dp)
			if len(conns) != 200 || len(templates) != 160 {
				t.Errorf("backup has %d connections and %d templates, want 200 and 160", len(conns), len(templates))
			}
			if _, err := backup.dp.GC(loader.Timeouts{Hold: true}); err != nil {
				t.Fatal(err)
			}
			cc, err := backup.dp.RealConns(labTCP.Key)
			if err != nil {
				t.Fatal(err)
			}
			if a := cc[netip.AddrPortFrom(labWeb1, 80)].Active + cc[netip.AddrPortFrom(labWeb2, 80)].Active; a != 54 {
				t.Errorf("backup counts %+v, want 54 active", cc)
			}

			// The master's GC expires the connections that never
			// completed their handshake; the backup deletes them.
			time.Sleep(1100 * time.Millisecond) // idle ages are whole seconds
			res, err := master.dp.GC(loader.Timeouts{TCP: time.Hour, TCPFin: time.Hour, TCPSyn: 500 * time.Millisecond, UDP: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if res.Expired != 53 {
				t.Fatalf("GC expired %d, want the 53 SYN_RECV", res.Expired)
			}
			ms.Expired(res.ExpiredFlows)
			sameDataplanes(t, master.dp, backup.dp, 3*time.Second)
			// A backup's GC holds what it learnt.
			if res, err := backup.dp.GC(loader.Timeouts{TCPSyn: time.Millisecond, TCP: time.Millisecond, TCPFin: time.Millisecond, UDP: time.Millisecond, Hold: true}); err != nil || res.Expired != 0 {
				t.Fatalf("holding GC expired %d: %v", res.Expired, err)
			}

			// The backup restarts (a new syncer on the same maps): while
			// it is away the master makes and expires connections, and
			// the bulk transfer covers both.
			stopBackup()
			for i := 300; i < 340; i++ {
				run.connect(t, i, loader.TCP, []string{"ESTABLISHED", "FIN_WAIT"}[i%2])
			}
			var gone []loader.FlowID // ten the backup knows (port 20000: made before)
			cs, _ := master.dp.Conns(func(c *loader.Conn) bool { return c.State == "FIN_WAIT" && c.Client.Port() == 20000 }, 10)
			for _, c := range cs {
				if err := master.dp.DeleteConn(c.ID()); err != nil {
					t.Fatal(err)
				}
				gone = append(gone, c.ID())
			}
			ms.Expired(gone)
			eventually(t, time.Second, "deletions sent to nobody", func() bool { return ms.Status().Queued == 0 })
			time.Sleep(20 * time.Millisecond)
			bs2 := labNode(t, backup, cfg(1, "seed secret"))
			stopBackup = runNode(t, bs2)
			waitConverged(t, bs2, 5*time.Second)
			sameDataplanes(t, master.dp, backup.dp, 2*time.Second)
			st := bs2.Status()
			if st.BulkReceived != 1 || st.SweptEntries != 10 || st.Rejected.Total() != 0 || st.InstallErrors != 0 {
				t.Errorf("restarted backup %+v", st)
			}

			// A director with another key (on empty maps) installs
			// nothing, and both sides count what they reject.
			stopBackup()
			before := ms.Status().Rejected
			other := &director{ns: backup.ns, dp: labDataplane(t, labSizes, true)}
			bad := labNode(t, other, cfg(1, "not the seed secret"))
			runNode(t, bad)
			for i := 400; i < 420; i++ {
				run.connect(t, i, loader.TCP, "ESTABLISHED")
			}
			eventually(t, 3*time.Second, "rejections", func() bool { return bad.Status().Rejected.BadMAC >= 5 })
			if conns, templates := tables(t, other.dp); len(conns) != 0 || len(templates) != 0 || bad.Converged() {
				t.Errorf("with the wrong key: %d connections, %d templates, converged %v", len(conns), len(templates), bad.Converged())
			}
			if st := bad.Status(); st.ReceivedMessages != 0 || st.Rejected.Total() != st.Rejected.BadMAC {
				t.Errorf("wrong-key backup %+v", st)
			}
			if mode != "multicast" { // with multicast it never learns where to ask
				eventually(t, 3*time.Second, "master rejecting requests", func() bool { return ms.Status().Rejected.BadMAC > before.BadMAC })
			}
			if st := ms.Status(); st.Rejected.Total()-st.Rejected.BadMAC != before.Total()-before.BadMAC {
				t.Errorf("master rejected %+v", st.Rejected)
			}
		})
	}
}
