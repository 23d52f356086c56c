package sched

import (
	"math/rand/v2"
	"testing"
)

// ipvsWRR is IPVS wrr's sequence for one cycle (max-weight stepping), used
// only to compare burst lengths in the log.
func ipvsWRR(w []int) []int32 {
	var g, mw, sum int
	for _, x := range w {
		g = int(gcd(int64(x), int64(g)))
		mw = max(mw, x)
		sum += x
	}
	var out []int32
	cw, i := 0, -1
	for len(out) < sum/g {
		i = (i + 1) % len(w)
		if i == 0 {
			cw -= g
			if cw <= 0 {
				cw = mw
			}
		}
		if w[i] >= cw {
			out = append(out, int32(i))
		}
	}
	return out
}

// longestCyclicRun returns, per value, the longest run of it in the
// sequence repeated forever.
func longestCyclicRun(seq []int32) map[int32]int {
	runs := make(map[int32]int)
	n := len(seq)
	for start := range n {
		if seq[start] == seq[(start+n-1)%n] && n > 1 {
			continue // not the start of a run
		}
		l := 1
		for l < n && seq[(start+l)%n] == seq[start] {
			l++
		}
		runs[seq[start]] = max(runs[seq[start]], l)
	}
	if len(runs) == 0 && n > 0 { // one value only
		runs[seq[0]] = n
	}
	return runs
}

func TestWRRCycle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][]int{
		{1, 3},
		{4, 3, 2},
		{5, 1, 1},
		{100, 1},
		{2, 4, 6, 8},
		{10, 10, 10},
		{1000, 999, 1, 1, 1},
		{7, 0, 3},
	}
	for range 20 {
		w := make([]int, 2+rng.IntN(8))
		for i := range w {
			w[i] = 1 + rng.IntN(50)
		}
		cases = append(cases, w)
	}
	for _, w := range cases {
		tab, err := Build(WRR, realsW(w...), Options{})
		if err != nil {
			t.Fatalf("%v: %v", w, err)
		}
		var g, sum int64
		for _, x := range w {
			g = gcd(int64(x), g)
		}
		for _, x := range w {
			sum += int64(x) / g
		}
		if int64(len(tab.Entries)) != sum {
			t.Fatalf("%v: cycle length %d, want %d", w, len(tab.Entries), sum)
		}
		// Exact proportions over one cycle.
		c := counts(tab.Entries)
		for id, x := range w {
			if want := int64(x) / g; int64(c[int32(id)]) != want {
				t.Errorf("%v: real %d appears %d times, want %d", w, id, c[int32(id)], want)
			}
		}
		// Smoothness: after every prefix each real is within one pick of its share.
		seen := make([]int64, len(w))
		for pos, id := range tab.Entries {
			seen[id]++
			for k, x := range w {
				dev := seen[k]*sum - int64(pos+1)*int64(x)/g
				if dev <= -sum || dev >= sum {
					t.Fatalf("%v: after %d picks real %d has %d, ideal %.2f", w, pos+1, k, seen[k], float64(pos+1)*float64(x)/float64(g)/float64(sum))
				}
			}
		}
		// Bursts: a real with reduced weight x out of sum cannot avoid runs
		// of ceil(x/(sum-x)); allow one more, across the cycle boundary too.
		runs := longestCyclicRun(tab.Entries)
		ipvsRuns := longestCyclicRun(ipvsWRR(w))
		for id, x := range w {
			x := int64(x) / g
			if x == 0 || x == sum {
				continue
			}
			bound := int((x+sum-x-1)/(sum-x)) + 1
			if runs[int32(id)] > bound {
				t.Errorf("%v: real %d has a run of %d, bound %d", w, id, runs[int32(id)], bound)
			}
		}
		if len(w) <= 5 {
			t.Logf("weights %v: longest runs xlb %v, ipvs wrr %v (by real index)", w, runs, ipvsRuns)
		}
	}
}

func TestWRRFirstPickIsHeaviest(t *testing.T) {
	tab, err := Build(WRR, realsW(1, 5, 3), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Entries[0] != 1 {
		t.Errorf("first pick %d, want the heaviest real 1: %v", tab.Entries[0], tab.Entries)
	}
}

func TestWRRScalesHugeWeightsToMaxEntries(t *testing.T) {
	w := []int{1_000_000, 333_333, 1}
	for _, limit := range []int{0, 1000} {
		tab, err := Build(WRR, realsW(w...), Options{MaxEntries: limit})
		if err != nil {
			t.Fatal(err)
		}
		cap := limit
		if cap == 0 {
			cap = DefaultMaxEntries
		}
		if len(tab.Entries) > cap {
			t.Fatalf("limit %d: %d entries", limit, len(tab.Entries))
		}
		c := counts(tab.Entries)
		if c[2] < 1 {
			t.Errorf("limit %d: light real lost its slot", limit)
		}
		ratio := float64(c[0]) / float64(c[1])
		if ratio < 2.9 || ratio > 3.1 {
			t.Errorf("limit %d: ratio %.3f, want ≈3", limit, ratio)
		}
		t.Logf("weights %v, limit %d: %d entries, counts %v", w, cap, len(tab.Entries), c)
	}
}
