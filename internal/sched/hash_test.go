package sched

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNextPrime(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-5, 2}, {0, 2}, {2, 2}, {3, 3}, {4, 5}, {9, 11}, {24, 29}, {100, 101},
		{4093, 4093}, {65536, 65537}, {65537, 65537}, {100000, 100003},
	} {
		if got := NextPrime(tc.in); got != tc.want {
			t.Errorf("NextPrime(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
	for n := 0; n < 3000; n++ {
		if isPrime(n) != big.NewInt(int64(n)).ProbablyPrime(20) {
			t.Fatalf("isPrime(%d) = %v", n, isPrime(n))
		}
	}
}

func TestSHWeightedBuckets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		size    int
		want    int // table size
	}{
		{"default size", []int{1, 3}, 0, DefaultSHSize},
		{"ipvs size", []int{1, 2, 3}, 256, 256},
		{"extreme weights keep a bucket each", []int{1, 1_000_000, 500_000}, 0, DefaultSHSize},
		{"many reals get a larger prime", slices.Repeat([]int{2}, 300), 0, NextPrime(300 * SHSlotsPerReal)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Build(SH, realsW(tc.weights...), Options{TableSize: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			if tab.Mode != ModeHash || len(tab.Entries) != tc.want {
				t.Fatalf("mode %v, %d buckets; want hash, %d", tab.Mode, len(tab.Entries), tc.want)
			}
			if tc.size == 0 && !isPrime(len(tab.Entries)) {
				t.Errorf("default size %d is not prime", len(tab.Entries))
			}
			c := counts(tab.Entries)
			var sum float64
			for _, w := range tc.weights {
				sum += float64(w)
			}
			for id, w := range tc.weights {
				ideal := float64(len(tab.Entries)) * float64(w) / sum
				got := float64(c[int32(id)])
				if got < 1 {
					t.Errorf("real %d has no bucket", id)
				}
				// Within one bucket of its share, unless lifted to one bucket or
				// scaled down with huge weights.
				if math.Abs(got-ideal) > 1 && !(ideal < 1 && got == 1) && sum <= float64(len(tab.Entries)) {
					t.Errorf("real %d: %v buckets, ideal %.2f", id, got, ideal)
				}
			}
			if tc.name == "extreme weights keep a bucket each" {
				if r := float64(c[1]) / float64(c[2]); r < 1.99 || r > 2.01 {
					t.Errorf("2:1 weights got %d:%d buckets", c[1], c[2])
				}
			}
		})
	}
}

func TestMHTableSize(t *testing.T) {
	for _, n := range []int{1, 10, 655, 656, 1000} {
		tab, err := Build(MH, realsW(slices.Repeat([]int{1}, n)...), Options{})
		if err != nil {
			t.Fatal(err)
		}
		m := len(tab.Entries)
		if m < MHSlotsPerReal*n || !big.NewInt(int64(m)).ProbablyPrime(20) {
			t.Errorf("%d reals: table size %d, want a prime ≥ %d", n, m, MHSlotsPerReal*n)
		}
		if n <= 655 && m != DefaultMHSize {
			t.Errorf("%d reals: table size %d, want default %d", n, m, DefaultMHSize)
		}
		if slices.Contains(tab.Entries, -1) {
			t.Fatalf("%d reals: table has empty slots", n)
		}
	}
	// An explicit prime (IPVS's default) is honoured.
	tab, err := Build(MH, realsW(slices.Repeat([]int{1}, 40)...), Options{TableSize: 4093})
	if err != nil || len(tab.Entries) != 4093 {
		t.Errorf("explicit size: %d entries, %v", len(tab.Entries), err)
	}
}

func TestMHWeightedShares(t *testing.T) {
	for _, weights := range [][]int{
		slices.Repeat([]int{1}, 10),
		{1, 2, 3, 4},
		{1, 3},
		{100, 150, 250, 500},
		{1, 1000}, // compressed by the IPVS turn shift; logged, not asserted tightly
	} {
		tab, err := Build(MH, realsW(weights...), Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := counts(tab.Entries)
		var sum float64
		for _, w := range weights {
			sum += float64(w)
		}
		worst := 0.0
		for id, w := range weights {
			share := float64(c[int32(id)]) / float64(len(tab.Entries))
			worst = max(worst, math.Abs(share-float64(w)/sum))
		}
		t.Logf("mh weights %v: M=%d worst share error %.3f pp", weights, len(tab.Entries), 100*worst)
		limit := 0.005 // half a percentage point
		if weights[1] == 1000 {
			limit = 0.01 // turns 1:250 stand for 1:1000
		}
		if worst > limit {
			t.Errorf("weights %v: share off by %.3f pp", weights, 100*worst)
		}
	}
}

func diffFraction(a, b []int32) float64 {
	d := 0
	for i := range a {
		if a[i] != b[i] {
			d++
		}
	}
	return float64(d) / float64(len(a))
}

func TestMHDisruption(t *testing.T) {
	for _, n := range []int{3, 5, 10, 50, 100} {
		reals := realsW(slices.Repeat([]int{1}, n)...)
		before, err := Build(MH, reals, Options{})
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for _, gone := range []int{0, n / 2, n - 1} {
			after := slices.Clone(reals)
			after[gone].Weight = 0 // health check failed
			tab, err := Build(MH, after, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i, id := range tab.Entries {
				if id == int32(gone) {
					t.Fatalf("slot %d still maps to removed real", i)
				}
			}
			worst = max(worst, diffFraction(before.Entries, tab.Entries))
			// Dropping the real from the list instead of weight 0 gives the same
			// table while the size stays the same.
			dropped, err := Build(MH, slices.Delete(slices.Clone(reals), gone, gone+1), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dropped.Entries, tab.Entries) {
				t.Errorf("n=%d: weight 0 and removal differ", n)
			}
		}
		limit := 1/float64(n) + 0.01
		t.Logf("mh n=%d M=%d: one real leaves → %.2f%% of slots move (ideal %.2f%%, limit %.2f%%)", n, len(before.Entries), 100*worst, 100/float64(n), 100*limit)
		if worst > limit {
			t.Errorf("n=%d: %.4f of slots moved, limit %.4f", n, worst, limit)
		}
	}
	// Weighted: a heavy real leaving moves about its share.
	reals := realsW(1, 2, 3, 4)
	before, _ := Build(MH, reals, Options{})
	after := slices.Clone(reals)
	after[3].Weight = 0
	tab, err := Build(MH, after, Options{})
	if err != nil {
		t.Fatal(err)
	}
	moved := diffFraction(before.Entries, tab.Entries)
	t.Logf("mh weights 1,2,3,4: the weight-4 real leaves → %.2f%% of slots move (its share 40%%)", 100*moved)
	if moved > 0.4+0.01 {
		t.Errorf("weighted removal moved %.4f", moved)
	}
}

func TestMHStable(t *testing.T) {
	reals := realsW(3, 1, 4, 1, 5, 9, 2, 6)
	a, err := Build(MH, reals, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(MH, reals, Options{})
	if !slices.Equal(a.Entries, b.Entries) {
		t.Fatal("same input, different tables")
	}
	// Order of the list does not matter.
	shuffled := slices.Clone(reals)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	c, _ := Build(MH, shuffled, Options{})
	if !slices.Equal(a.Entries, c.Entries) {
		t.Error("reordered reals give a different table")
	}
	// Slot indices (IDs) do not matter either: after a restart that numbers
	// the reals differently, every client keeps its real.
	renumbered := slices.Clone(reals)
	for i := range renumbered {
		renumbered[i].ID = 1000 - i
	}
	d, _ := Build(MH, renumbered, Options{})
	for i := range d.Entries {
		if 1000-int(d.Entries[i]) != int(a.Entries[i]) {
			t.Fatalf("slot %d: real %d after renumbering, %d before", i, 1000-d.Entries[i], a.Entries[i])
		}
	}
	// Golden prefix: the permutation hashes are a compatibility contract
	// between xlb versions and between the two directors.
	want := []int32{7, 4, 5, 7, 5, 0, 7, 5, 4, 7, 2, 5, 7, 5, 5, 2}
	if got := a.Entries[:len(want)]; !slices.Equal(got, want) {
		t.Errorf("table prefix %v, want %v: the mh layout changed", got, want)
	}
}
