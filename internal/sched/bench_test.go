package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchReals returns n reals with weights 1..100 and connection counts.
func benchReals(n int) []Real {
	rng := rand.New(rand.NewPCG(11, uint64(n)))
	reals := make([]Real, n)
	for i := range reals {
		reals[i] = Real{ID: i, Addr: farmAddr(i), Weight: 1 + rng.IntN(100),
			Active: uint64(rng.IntN(5000)), Inactive: uint64(rng.IntN(50000))}
	}
	return reals
}

// BenchmarkBuild measures a steady-state rebuild with a reused Builder and
// buffer, as the daemon does every tick (lc/wlc plan 1000 picks).
func BenchmarkBuild(b *testing.B) {
	for _, algo := range []Algo{RR, WRR, LC, WLC, SH, MH} {
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%v/reals=%d", algo, n), func(b *testing.B) {
				reals := benchReals(n)
				opts := Options{ExpectedNew: 1000}
				var bld Builder
				tab, err := bld.Build(nil, algo, reals, opts)
				if err != nil {
					b.Fatal(err)
				}
				buf := tab.Entries
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					tab, err = bld.Build(buf, algo, reals, opts)
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(tab.Entries)), "entries")
			})
		}
	}
}

// BenchmarkBuildFunc measures the package-level Build, which allocates the
// returned entries.
func BenchmarkBuildFunc(b *testing.B) {
	for _, algo := range []Algo{WLC, MH} {
		b.Run(algo.String(), func(b *testing.B) {
			reals := benchReals(10)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(algo, reals, Options{ExpectedNew: 1000}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMH65537 measures Maglev population of a 65537-slot table.
func BenchmarkMH65537(b *testing.B) {
	for _, n := range []int{10, 100, 655} {
		b.Run(fmt.Sprintf("reals=%d", n), func(b *testing.B) {
			reals := benchReals(n)
			var bld Builder
			var buf []int32
			b.ReportAllocs()
			for b.Loop() {
				tab, err := bld.Build(buf, MH, reals, Options{TableSize: 65537})
				if err != nil {
					b.Fatal(err)
				}
				buf = tab.Entries
			}
		})
	}
}
