package loader

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/xdptest"
)

func TestSyncEvents(t *testing.T) {
	f := newFixture(t)
	f.dp.Close()
	dp, err := Open(Options{ConntrackMax: 1024, PersistenceMax: 256, MaxServices: 16, MaxReals: 64, SyncEvents: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	f.dp = dp
	key := ServiceKey{Addr: vip, Port: 80, Proto: TCP}
	f.service(t, Service{Key: key, Sched: SchedRR, PersistTimeout: time.Minute}, web1, web2)
	rd, err := dp.SyncReader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	f.run(t, xdptest.Frame{Src: client, Dst: vip80, Flags: "S"}.Bytes(t), f.pub)
	f.run(t, xdptest.Frame{Src: client, Dst: vip80, Flags: "A"}.Bytes(t), f.pub)
	var got []SyncEvent
	rd.SetDeadline(time.Now().Add(2 * time.Second))
	for len(got) < 3 {
		ev, err := rd.Read()
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		got = append(got, ev)
	}
	if got[0].Kind != SyncTemplateNew || got[0].Template.Real != web1 || got[0].Template.Client != client.Addr() || got[0].Template.Service != key {
		t.Errorf("first event %+v, want the template", got[0])
	}
	if got[1].Kind != SyncConnNew || got[1].Conn.Client != client || got[1].Conn.Real != web1 || got[1].Conn.State != "SYN_RECV" {
		t.Errorf("second event %+v, want the new connection", got[1])
	}
	if got[2].Kind != SyncConnState || got[2].Conn.State != "ESTABLISHED" {
		t.Errorf("third event %+v, want ESTABLISHED", got[2])
	}

	t.Run("a_peer_installs_what_it_learns", func(t *testing.T) {
		peer, err := Open(Options{ConntrackMax: 1024, PersistenceMax: 256, MaxServices: 16, MaxReals: 64}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		// The peer numbers its reals differently: web2 first.
		svc := Service{Key: key, Sched: SchedRR, PersistTimeout: time.Minute}
		if err := peer.SetService(svc, []Real{{Addr: web2, Available: true}, {Addr: web1, Available: true}}); err != nil {
			t.Fatal(err)
		}
		if err := peer.InstallTemplate(got[0].Template); err != nil {
			t.Fatal(err)
		}
		c := got[2].Conn
		c.Idle = 30 * time.Second
		if err := peer.InstallConn(c); err != nil {
			t.Fatal(err)
		}
		cs, _ := peer.Conns(nil, 0)
		if len(cs) != 1 || cs[0].Real != web1 || cs[0].State != "ESTABLISHED" || cs[0].Idle < 29*time.Second {
			t.Fatalf("peer connections %+v", cs)
		}
		res, _ := peer.GC(Timeouts{TCP: time.Second, TCPFin: time.Second, TCPSyn: time.Second, UDP: time.Second, Hold: true})
		if res.Expired != 0 {
			t.Errorf("a holding GC expired %d", res.Expired)
		}
		cc, _ := peer.RealConns(key)
		if cc[web1].Active != 1 {
			t.Errorf("peer counts %+v", cc)
		}
		if err := peer.Touch(); err != nil {
			t.Fatal(err)
		}
		if cs, _ := peer.Conns(nil, 0); cs[0].Idle > time.Second {
			t.Errorf("idle %s after Touch", cs[0].Idle)
		}
		ts, _ := peer.Templates()
		if len(ts) != 1 || ts[0].Real != web1 {
			t.Errorf("peer templates %+v", ts)
		}
		if err := peer.DeleteTemplate(ts[0]); err != nil {
			t.Fatal(err)
		}
		if ts, _ := peer.Templates(); len(ts) != 0 {
			t.Errorf("template not deleted: %+v", ts)
		}
		if err := peer.DeleteConn(c.ID()); err != nil {
			t.Fatal(err)
		}
		if cs, _ := peer.Conns(nil, 0); len(cs) != 0 {
			t.Errorf("connection not deleted")
		}
		if err := peer.InstallConn(Conn{Proto: TCP, Client: client, VIP: vip80, Real: netip.MustParseAddrPort("192.0.2.99:80"), State: "ESTABLISHED"}); err == nil {
			t.Errorf("installed a connection to an unknown real")
		}
	})
}
