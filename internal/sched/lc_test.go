package sched

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// referencePlan replays IPVS's decision k times with a linear scan: each
// pick counts as a new inactive connection for the next `establish` picks
// and as an active one after that.
func referencePlan(algo Algo, reals []Real, k, establish int) []int32 {
	var costs []lcState
	var ids []int32
	for _, r := range reals {
		if r.Weight == 0 {
			continue
		}
		w := uint64(1)
		if algo == WLC {
			w = uint64(r.Weight)
		}
		costs = append(costs, lcState{overhead: overhead(r.Active, r.Inactive), weight: w})
		ids = append(ids, int32(r.ID))
	}
	out := make([]int32, 0, k)
	var picked []int
	for j := range k {
		if e := j - establish - 1; e >= 0 && establish < k {
			costs[picked[e]].overhead += 255
		}
		p := ipvsPick(algo, costs)
		out = append(out, ids[p])
		picked = append(picked, p)
		costs[p].overhead++
	}
	return out
}

func TestPlanMatchesIPVSDecisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		n := 1 + rng.IntN(12)
		reals := make([]Real, n)
		for i := range reals {
			reals[i] = Real{ID: 100 + i, Weight: rng.IntN(6), Active: uint64(rng.IntN(40)), Inactive: uint64(rng.IntN(600))}
		}
		reals[rng.IntN(n)].Weight = 1 + rng.IntN(5)
		if trial%5 == 0 { // many exact ties
			for i := range reals {
				reals[i].Active, reals[i].Inactive = 2, 0
			}
		}
		for _, algo := range []Algo{LC, WLC} {
			k := MinPlan + rng.IntN(2000)
			establish := []int{0, 1, 3, 17, math.MaxInt}[rng.IntN(5)]
			tab, err := Build(algo, reals, Options{ExpectedNew: k, EstablishAfter: establish})
			if err != nil {
				t.Fatal(err)
			}
			want := referencePlan(algo, reals, k, establish)
			if countAvail(reals) == 1 { // a single real's plan is just that real
				want = want[:1]
			}
			if !slices.Equal(tab.Entries, want) {
				t.Fatalf("trial %d %v establish %d %+v:\n got %v\nwant %v", trial, algo, establish, reals, tab.Entries[:min(20, len(tab.Entries))], want[:min(20, len(want))])
			}
		}
	}
}

func countAvail(reals []Real) int {
	n := 0
	for _, r := range reals {
		if r.Weight > 0 {
			n++
		}
	}
	return n
}

func TestPlanSemantics(t *testing.T) {
	const never = math.MaxInt // planned picks stay inactive for the whole plan
	for _, tc := range []struct {
		name      string
		algo      Algo
		reals     []Real
		establish int
		want      []int32 // prefix of the plan
	}{
		{"wlc weights 1 and 3 from idle, ties to the first", WLC, realsW(1, 3), 0, []int32{0, 1, 1, 1, 0, 1, 1, 1, 0}},
		{"wlc weights 1 and 3 from idle, picks kept inactive", WLC, realsW(1, 3), never, []int32{0, 1, 1, 1, 0, 1, 1, 1, 0}},
		{"lc ignores weights", LC, realsW(1, 3), 0, []int32{0, 1, 0, 1, 0, 1}},
		{"an active connection costs 256 inactive ones", LC,
			[]Real{{ID: 0, Weight: 1, Active: 1}, {ID: 1, Weight: 1, Inactive: 254}}, never, []int32{1, 1, 0, 1}},
		{"an inactive pick is cheap until it is established", LC,
			[]Real{{ID: 0, Weight: 1, Active: 1}, {ID: 1, Weight: 1, Inactive: 200}}, 2, []int32{1, 1, 1, 0, 0, 0, 0}},
		{"an established pick costs 256", LC,
			[]Real{{ID: 0, Weight: 1, Active: 1}, {ID: 1, Weight: 1, Inactive: 200}}, 0, []int32{1, 0, 1, 0}},
		{"the busy real waits until the others catch up", WLC,
			[]Real{{ID: 0, Weight: 2, Active: 4}, {ID: 1, Weight: 1, Active: 1, Inactive: 255}}, never, []int32{1, 0, 1, 0, 0}},
		{"quiescent real is never chosen", WLC,
			[]Real{{ID: 0, Weight: 0}, {ID: 1, Weight: 1, Active: 1000}, {ID: 2, Weight: 1, Active: 1000}}, 0, []int32{1, 2, 1, 2}},
		{"saturated counters make a real least preferred", WLC,
			[]Real{{ID: 0, Weight: 100, Active: math.MaxUint64}, {ID: 1, Weight: 1, Active: 1 << 40}}, 0, []int32{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Build(tc.algo, tc.reals, Options{EstablishAfter: tc.establish})
			if err != nil {
				t.Fatal(err)
			}
			if got := tab.Entries[:len(tc.want)]; !slices.Equal(got, tc.want) {
				t.Errorf("plan starts %v, want %v", got, tc.want)
			}
			if !slices.Equal(tab.Entries, referencePlan(tc.algo, tc.reals, len(tab.Entries), tc.establish)) {
				t.Errorf("plan differs from the reference")
			}
		})
	}
}

func TestPlanLength(t *testing.T) {
	reals := realsW(1, 2, 3)
	for _, tc := range []struct {
		expected, maxEntries, want int
	}{
		{0, 0, MinPlan},
		{10, 0, MinPlan},
		{1000, 0, 1000},
		{1 << 20, 0, DefaultMaxEntries},
		{1000, 200, 200},
	} {
		tab, err := Build(WLC, reals, Options{ExpectedNew: tc.expected, MaxEntries: tc.maxEntries})
		if err != nil {
			t.Fatal(err)
		}
		if len(tab.Entries) != tc.want {
			t.Errorf("ExpectedNew %d MaxEntries %d: %d entries, want %d", tc.expected, tc.maxEntries, len(tab.Entries), tc.want)
		}
	}
	one, err := Build(LC, []Real{{ID: 9, Weight: 1}, {ID: 4, Weight: 0}}, Options{ExpectedNew: 5000})
	if err != nil || !slices.Equal(one.Entries, []int32{9}) {
		t.Errorf("single available real: %v %v, want [9]", one.Entries, err)
	}
}

func TestPlanPrefixDoesNotDependOnLength(t *testing.T) {
	reals := []Real{{ID: 0, Weight: 1, Active: 30}, {ID: 1, Weight: 3, Active: 10, Inactive: 900}, {ID: 2, Weight: 2, Active: 41}}
	short, err := Build(WLC, reals, Options{ExpectedNew: 64})
	if err != nil {
		t.Fatal(err)
	}
	long, err := Build(WLC, reals, Options{ExpectedNew: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(short.Entries, long.Entries[:len(short.Entries)]) {
		t.Errorf("short plan is not a prefix of the long one")
	}
}

func TestEstimator(t *testing.T) {
	var e Estimator
	if got := e.Next(0); got < 1 {
		t.Errorf("idle estimate %d", got)
	}
	if got := e.Next(100); got < 200 {
		t.Errorf("after a tick of 100, estimate %d, want ≥ 200", got)
	}
	for range 20 {
		e.Next(100)
	}
	got := e.Next(10) // a sudden drop: keep room for the average
	if got < 150 {
		t.Errorf("after a drop to 10, estimate %d, want it to remember the average", got)
	}
	if e.Next(-5) < 1 {
		t.Errorf("negative counts must not produce a negative plan")
	}
}
