package daemon

import (
	"container/heap"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/config"
	"github.com/xlb/xlb/internal/sched"
	"github.com/xlb/xlb/internal/xdptest"
	"github.com/xlb/xlb/loader"
)

// TestWLCMatchesIPVS feeds the same connection arrivals and durations to
// the exact IPVS wlc simulator and to the real thing: the XDP program
// (BPF_PROG_TEST_RUN) choosing from the tables this daemon builds every
// 100 ms tick from the dataplane's own connection counts. Reals have
// weights 1 and 3, and the weight-3 real is slow: it accumulates
// connections and must receive fewer new ones than its weight alone says.
// Each real's share of new connections must be within 5 points of IPVS's.
func TestWLCMatchesIPVS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		slowness  float64
		rate      int // arrivals per second
		meanDur   time.Duration
		algo      string
		simAlgo   sched.Algo
		weightTwo int
	}{
		{"weights_1_3_equal_speed", 1, 200, time.Second, "wlc", sched.WLC, 3},
		{"weights_1_3_weight_3_real_8x_slower", 8, 200, time.Second, "wlc", sched.WLC, 3},
		{"lc_one_real_4x_slower", 4, 300, 500 * time.Millisecond, "lc", sched.LC, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := xdptest.NewLab(t)
			dp, err := loader.Open(loader.Options{ConntrackMax: 16384, MaxServices: 4, MaxReals: 16}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer dp.Close()
			d := &Daemon{dp: dp, logger: slog.New(slog.DiscardHandler), services: map[loader.ServiceKey]*service{}}
			vs := config.VirtualServer{Address: xdptest.VIP, Port: 80, Protocol: "TCP", LBAlgo: tc.algo, Quorum: 1,
				RealServers: []config.RealServer{
					{Address: xdptest.Web1.Addr(), Port: int(xdptest.Web1.Port()), Weight: 1},
					{Address: xdptest.Web2.Addr(), Port: int(xdptest.Web2.Port()), Weight: tc.weightTwo},
				}}
			s, err := newService(vs, nil)
			if err != nil {
				t.Fatal(err)
			}
			d.services[s.key] = s

			// The arrivals: Poisson at rate for 10 s, exponential durations.
			rng := rand.New(rand.NewPCG(7, uint64(tc.rate)))
			var arrivals []sched.Arrival
			for at := time.Duration(0); at < 10*time.Second; {
				at += time.Duration(rng.ExpFloat64() * float64(time.Second) / float64(tc.rate))
				arrivals = append(arrivals, sched.Arrival{At: at, Dur: time.Duration(rng.ExpFloat64() * float64(tc.meanDur))})
			}
			slow := map[netip.AddrPort]float64{xdptest.Web1: 1, xdptest.Web2: tc.slowness}
			ref, err := sched.SimulateIPVS(sched.SimConfig{Algo: tc.simAlgo, Handshake: time.Millisecond, Linger: time.Hour,
				Reals: []sched.SimReal{{ID: 0, Weight: 1, Slowness: 1}, {ID: 1, Weight: tc.weightTwo, Slowness: tc.slowness}}}, arrivals)
			if err != nil {
				t.Fatal(err)
			}

			// The dataplane: SYN at arrival, ACK 1 ms later, FIN at the
			// end; a table rebuild every 100 ms.
			events := &eventQueue{}
			for i, a := range arrivals {
				heap.Push(events, event{a.At, i, "S"})
				heap.Push(events, event{a.At + time.Millisecond, i, "A"})
			}
			picks := make([]netip.AddrPort, len(arrivals))
			src := func(i int) netip.AddrPort {
				return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i/60000)}), uint16(1024+i%60000))
			}
			send := func(i int, flags string) netip.AddrPort {
				ret, out := lab.Run(t, dp.Program(), xdptest.Frame{Src: src(i), Dst: netip.AddrPortFrom(xdptest.VIP, 80), Flags: flags}.Bytes(t), lab.Pub)
				xdptest.WantVerdict(t, ret, xdptest.Redirect)
				return xdptest.Decode(t, out).Dst
			}
			nextTick := time.Duration(0)
			for events.Len() > 0 {
				ev := heap.Pop(events).(event)
				for nextTick <= ev.at {
					if err := d.syncServiceLocked(s); err != nil {
						t.Fatal(err)
					}
					nextTick += 100 * time.Millisecond
				}
				real := send(ev.i, ev.flags)
				switch ev.flags {
				case "S":
					picks[ev.i] = real
					dur := time.Duration(float64(arrivals[ev.i].Dur) * slow[real])
					heap.Push(events, event{ev.at + time.Millisecond + dur, ev.i, "FA"})
				case "A", "FA":
					if real != picks[ev.i] {
						t.Fatalf("connection %d moved from %s to %s", ev.i, picks[ev.i], real)
					}
				}
			}
			got := map[netip.AddrPort]int{}
			for _, p := range picks {
				got[p]++
			}
			n := float64(len(arrivals))
			for k, addr := range []netip.AddrPort{xdptest.Web1, xdptest.Web2} {
				want := ref.Share(k)
				share := float64(got[addr]) / n
				t.Logf("%s: xlb %.1f%% of %d new connections, exact IPVS %s %.1f%% (gap %.2f points)", addr, 100*share, len(arrivals), tc.algo, 100*want, 100*(share-want))
				if d := share - want; d > 0.05 || d < -0.05 {
					t.Errorf("%s share %.3f, IPVS %.3f: more than 5 points apart", addr, share, want)
				}
			}
		})
	}
}

// event is a packet of the simulated clients, due at a time.
type event struct {
	at    time.Duration
	i     int
	flags string
}

// eventQueue orders events by time (then connection, then SYN before ACK).
type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(a, b int) bool {
	if q[a].at != q[b].at {
		return q[a].at < q[b].at
	}
	return q[a].i < q[b].i
}
func (q eventQueue) Swap(a, b int) { q[a], q[b] = q[b], q[a] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
