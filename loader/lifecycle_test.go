package loader

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
	"github.com/xlb/xlb/internal/xdptest"
)

func TestGC(t *testing.T) {
	f := newFixture(t)
	key := ServiceKey{Addr: vip, Port: 80, Proto: TCP}
	f.service(t, Service{Key: key, Sched: SchedRR, PersistTimeout: time.Hour}, web1, web2)
	for port := range uint16(4) {
		src := netip.AddrPortFrom(client.Addr(), 40000+port)
		f.run(t, xdptest.Frame{Src: src, Dst: vip80, Flags: "S"}.Bytes(t), f.pub)
		if port < 2 {
			f.run(t, xdptest.Frame{Src: src, Dst: vip80, Flags: "A"}.Bytes(t), f.pub)
		}
	}
	long := Timeouts{TCP: time.Hour, TCPFin: time.Hour, TCPSyn: time.Hour, UDP: time.Hour}

	t.Run("nothing_expires_before_its_timeout_and_counts_are_exact", func(t *testing.T) {
		res, err := f.dp.GC(long)
		if err != nil {
			t.Fatal(err)
		}
		if res.Conns != 4 || res.Expired != 0 || res.Templates != 1 {
			t.Errorf("gc %+v, want 4 conns, 1 template, nothing expired", res)
		}
		cc, _ := f.dp.RealConns(key)
		// Persistence sends the client's 4 connections to web1: 2
		// established, 2 half-open.
		if cc[web1].Active != 2 || cc[web1].Inactive != 2 || cc[web2] != (ConnCounts{}) {
			t.Errorf("counts %+v", cc)
		}
	})

	t.Run("a_removed_real_is_retired_until_its_connections_end", func(t *testing.T) {
		if err := f.dp.SetService(Service{Key: key, Sched: SchedRR, PersistTimeout: time.Hour}, []Real{{Addr: web2, Available: true}}); err != nil {
			t.Fatal(err)
		}
		// Its established connection still flows.
		ret, out := f.run(t, xdptest.Frame{Src: netip.AddrPortFrom(client.Addr(), 40000), Dst: vip80, Flags: "A"}.Bytes(t), f.pub)
		xdptest.WantVerdict(t, ret, xdptest.Redirect)
		if d := xdptest.Decode(t, out); d.Dst != web1 {
			t.Fatalf("established connection went to %s", d.Dst)
		}
		res, err := f.dp.GC(long)
		if err != nil {
			t.Fatal(err)
		}
		if res.FreedReals != 0 {
			t.Errorf("freed %d reals with connections", res.FreedReals)
		}
	})

	t.Run("idle_connections_expire_and_free_the_retired_real", func(t *testing.T) {
		time.Sleep(2100 * time.Millisecond) // the dataplane clock counts seconds
		short := Timeouts{TCP: time.Second, TCPFin: time.Second, TCPSyn: time.Second, UDP: time.Second}
		res, err := f.dp.GC(short)
		if err != nil {
			t.Fatal(err)
		}
		if res.Expired != 4 || res.FreedReals != 1 {
			t.Errorf("gc %+v, want 4 expired, 1 real freed", res)
		}
		if cs, _ := f.dp.Conns(nil, 0); len(cs) != 0 {
			t.Errorf("%d connections left", len(cs))
		}
		// The reply path of the freed real is gone too.
		ret, _ := f.run(t, xdptest.Frame{Src: web1, Dst: client, Flags: "A"}.Bytes(t), f.farm)
		xdptest.WantVerdict(t, ret, xdptest.Pass)
	})

	t.Run("templates_expire_after_their_timeout", func(t *testing.T) {
		svc := Service{Key: key, Sched: SchedRR, PersistTimeout: time.Second}
		if err := f.dp.SetService(svc, []Real{{Addr: web2, Available: true}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2100 * time.Millisecond)
		res, err := f.dp.GC(long)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExpiredTemplates != 1 || len(res.DroppedTemplates) != 1 || res.DroppedTemplates[0].Client != client.Addr() || res.DroppedTemplates[0].Service != key {
			t.Errorf("gc %+v, want the template expired and listed", res)
		}
	})
}

// TestPinnedRestart: a second Open on the same pin directory adopts the
// services, reals and connections of the first, and its Attach replaces
// the program of the pinned link.
func TestPinnedRestart(t *testing.T) {
	testutil.RequireNetNSTests(t)
	ns := testutil.NewNS(t, "xlbt-pin-")
	testutil.Must(t, lab.Veth(ns, "eth0", ns, "peer0"))
	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xlbt-"))
	t.Cleanup(func() { os.RemoveAll(dir) })
	opts := Options{PinDir: dir, ConntrackMax: 1024, PersistenceMax: 64, MaxServices: 8, MaxReals: 32}
	logger := slog.New(slog.DiscardHandler)
	key := ServiceKey{Addr: vip, Port: 80, Proto: TCP}

	dp1, err := Open(opts, logger)
	testutil.Must(t, err)
	testutil.Must(t, dp1.SetService(Service{Key: key, Sched: SchedWLC}, []Real{{Addr: web1, Available: true}, {Addr: web2}}))
	testutil.Must(t, ns.Do(func() error { return dp1.Attach("eth0", XDPNative) }))
	var fk = flowKeyOf(client, vip80, TCP)
	testutil.Must(t, dp1.objs.Conntrack.Put(&fk, &xlbConn{RealId: 0, State: xlbConnStateCONN_ESTABLISHED, LastSeen: monotonicSeconds()}))
	prog1, _ := dp1.Program().Info()
	testutil.Must(t, dp1.Close())

	dp2, err := Open(opts, logger)
	testutil.Must(t, err)
	defer dp2.Remove()
	if keys := dp2.ServiceKeys(); len(keys) != 1 || keys[0] != key {
		t.Fatalf("adopted services %v", keys)
	}
	if s := dp2.services[key]; s.svc.Sched != SchedWLC || len(s.members) != 2 || !dp2.reals[s.members[web1]].avail || dp2.reals[s.members[web2]].avail {
		t.Errorf("adopted service %+v", s)
	}
	if cs, _ := dp2.Conns(nil, 0); len(cs) != 1 || cs[0].Client != client {
		t.Errorf("connections after restart: %+v", cs)
	}
	testutil.Must(t, ns.Do(func() error { return dp2.Attach("eth0", XDPNative) }))
	l, _ := ns.Netlink().LinkByName("eth0")
	prog2, _ := dp2.Program().Info()
	id1, _ := prog1.ID()
	id2, _ := prog2.ID()
	if l.Attrs().Xdp == nil || l.Attrs().Xdp.ProgId != uint32(id2) || id1 == id2 {
		t.Errorf("eth0 runs program %+v, want the new one %d (old %d)", l.Attrs().Xdp, id2, id1)
	}

	t.Run("maps_of_another_size_are_refused_without_reset", func(t *testing.T) {
		bigger := opts
		bigger.ConntrackMax = 2048
		_, err := Open(bigger, logger)
		if !errors.Is(err, ErrIncompatibleMaps) {
			t.Errorf("open with another conntrack size: %v, want ErrIncompatibleMaps", err)
		}
	})

	t.Run("remove_detaches_and_unpins", func(t *testing.T) {
		testutil.Must(t, dp2.Remove())
		l, _ := ns.Netlink().LinkByName("eth0")
		if l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached {
			t.Errorf("still attached")
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pin dir left: %v", err)
		}
	})
}
