package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/sched"
)

// TestWLCWithRealTCP: reals with weights 1 and 3, the weight-3 one 6×
// slower, real TCP connections through the VIP arriving at random; each
// real's share of new connections must be within 5 points of what exact
// IPVS wlc picks for the same arrivals and durations.
func TestWLCWithRealTCP(t *testing.T) {
	const slowness = 6
	e := newEnv(t, 1, false, 1, slowness)
	e.startXlbd(0, e.config("xlb.toml",
		`persistence_timeout = "50s"`, `persistence_timeout = 0`,
		`address = "192.0.2.101"`+"\nport = 80\nweight = 1", `address = "192.0.2.101"`+"\nport = 80\nweight = 3"))
	e.waitUp(10 * time.Second)

	rng := rand.New(rand.NewPCG(11, 3))
	var arrivals []sched.Arrival
	// 100 connections a second for 8 s: enough that sampling noise (about
	// 1.7 points for 800 connections) stays well inside the bound.
	for at := time.Duration(0); at < 8*time.Second; {
		at += time.Duration(rng.ExpFloat64() * float64(time.Second) / 100)
		arrivals = append(arrivals, sched.Arrival{At: at, Dur: time.Duration((0.05 + rng.ExpFloat64()*0.3) * float64(time.Second))})
	}
	picks := make([]string, len(arrivals))
	started := make([]time.Duration, len(arrivals)) // when each connect really began
	var wg sync.WaitGroup
	start := time.Now()
	client := httpClient(e.topo.Client, 30*time.Second)
	for i, a := range arrivals {
		time.Sleep(time.Until(start.Add(a.At)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			started[i] = time.Since(start)
			resp, err := client.Get(fmt.Sprintf("%swork?ms=%d", vipURL, a.Dur.Milliseconds()))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			picks[i] = string(b)
		}()
	}
	wg.Wait()
	// The reference sees the arrivals when they really happened.
	for i := range arrivals {
		arrivals[i].At = started[i]
	}
	sort.SliceStable(arrivals, func(a, b int) bool { return arrivals[a].At < arrivals[b].At })
	ref, err := sched.SimulateIPVS(sched.SimConfig{Algo: sched.WLC, Handshake: time.Millisecond, Linger: time.Hour,
		Reals: []sched.SimReal{{ID: 0, Weight: 1, Slowness: 1}, {ID: 1, Weight: 3, Slowness: slowness}}}, arrivals)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, p := range picks {
		got[p]++
	}
	for k, name := range []string{"web1", "web2"} {
		share, want := float64(got[name])/float64(len(arrivals)), ref.Share(k)
		t.Logf("%s (%s): xlb %.1f%% of %d connections, exact IPVS wlc %.1f%% (gap %.2f points)", name, lab.WebAddrs[k], 100*share, len(arrivals), 100*want, 100*(share-want))
		if d := share - want; d > 0.05 || d < -0.05 {
			t.Errorf("%s share %.3f, IPVS %.3f: more than 5 points apart", name, share, want)
		}
	}
}
