package sched

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"
)

// realsW returns reals with IDs 0..n-1, the given weights and documentation
// addresses 192.0.2.x:80.
func realsW(weights ...int) []Real {
	rs := make([]Real, len(weights))
	for i, w := range weights {
		rs[i] = Real{ID: i, Weight: w, Addr: farmAddr(i)}
	}
	return rs
}

// farmAddr returns a distinct address in 192.0.2.0/24 (and 2001:db8:: for
// more than 250 reals), port 80.
func farmAddr(i int) netip.AddrPort {
	if i < 250 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 2)}), 80)
	}
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8}
	a[14], a[15] = byte(i>>8), byte(i)
	return netip.AddrPortFrom(netip.AddrFrom16(a), 80)
}

// sparseIDs returns n reals with IDs far beyond any reals array.
func sparseIDs(n int) []Real {
	rs := realsW(slices.Repeat([]int{1}, n)...)
	for i := range rs {
		rs[i].ID += 1 << 25
	}
	return rs
}

func counts(entries []int32) map[int32]int {
	c := make(map[int32]int)
	for _, e := range entries {
		c[e]++
	}
	return c
}

func TestBuildRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		algo  Algo
		reals []Real
		opts  Options
		want  error
	}{
		{"unknown algo", Algo(0), realsW(1), Options{}, ErrUnknownAlgo},
		{"no reals", WLC, nil, Options{}, ErrNoReals},
		{"all quiescent", RR, realsW(0, 0), Options{}, ErrNoReals},
		{"negative weight", WRR, realsW(1, -1), Options{}, ErrInvalidReal},
		{"weight beyond ipvs range", WLC, realsW(1, MaxWeight+1), Options{}, ErrInvalidReal},
		{"sh beyond the size bound", SH, realsW(1), Options{TableSize: MaxTableSize + 1}, ErrTableSize},
		{"duplicate id", LC, []Real{{ID: 3, Weight: 1}, {ID: 3, Weight: 2}}, Options{}, ErrInvalidReal},
		{"id beyond int32", RR, []Real{{ID: math.MaxInt32 + 1, Weight: 1}}, Options{}, ErrInvalidReal},
		{"duplicate id in a large service", RR, append(realsW(slices.Repeat([]int{1}, 40)...), Real{ID: 7, Weight: 1}), Options{}, ErrInvalidReal},
		{"duplicate huge id in a large service", RR, append(sparseIDs(40), Real{ID: 1<<25 + 7, Weight: 1}), Options{}, ErrInvalidReal},
		{"mh without address", MH, []Real{{ID: 1, Weight: 1}}, Options{}, ErrInvalidReal},
		{"mh duplicate address", MH, []Real{{ID: 1, Weight: 1, Addr: farmAddr(1)}, {ID: 2, Weight: 1, Addr: farmAddr(1)}}, Options{}, ErrInvalidReal},
		{"mh same address written as mapped ipv6", MH, []Real{{ID: 1, Weight: 1, Addr: netip.MustParseAddrPort("192.0.2.9:80")},
			{ID: 2, Weight: 1, Addr: netip.MustParseAddrPort("[::ffff:192.0.2.9]:80")}}, Options{}, ErrInvalidReal},
		{"mh size not prime", MH, realsW(1, 1), Options{TableSize: 1000}, ErrTableSize},
		{"mh size below 100 per real", MH, realsW(1, 1, 1), Options{TableSize: 251}, ErrTableSize},
		{"mh over max entries", MH, realsW(1, 1), Options{MaxEntries: 4096}, ErrTableSize},
		{"sh fewer buckets than reals", SH, realsW(1, 1, 1), Options{TableSize: 2}, ErrTableSize},
		{"rr over max entries", RR, realsW(1, 1, 1), Options{MaxEntries: 2}, ErrTableSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Build(tc.algo, tc.reals, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(tab.Entries) != 0 {
				t.Errorf("failed build returned %d entries", len(tab.Entries))
			}
		})
	}
}

func TestBuildAcceptsDistinctIDs(t *testing.T) {
	for name, reals := range map[string][]Real{
		"dense":  realsW(slices.Repeat([]int{1}, 100)...),
		"sparse": sparseIDs(100),
	} {
		var b Builder
		for range 2 { // the second build must see a clean ID set
			if _, err := b.Build(nil, RR, reals, Options{}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestRRTakesEachAvailableRealOnceInOrder(t *testing.T) {
	reals := []Real{{ID: 7, Weight: 1}, {ID: 3, Weight: 0}, {ID: 5, Weight: 9}, {ID: 1, Weight: 2}}
	tab, err := Build(RR, reals, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{7, 5, 1}; !slices.Equal(tab.Entries, want) || tab.Mode != ModeCursor {
		t.Errorf("rr = %v %v, want cursor %v", tab.Mode, tab.Entries, want)
	}
}

func TestBuilderReusesMemory(t *testing.T) {
	var b Builder
	reals := realsW(1, 2, 3, 4, 5)
	for i := range reals {
		reals[i].Active = uint64(10 * i)
	}
	for _, algo := range []Algo{RR, WRR, LC, WLC, SH, MH} {
		t.Run(algo.String(), func(t *testing.T) {
			want, err := Build(algo, reals, Options{ExpectedNew: 500})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]int32, 0, 70000)
			allocs := testing.AllocsPerRun(10, func() {
				tab, err := b.Build(buf, algo, reals, Options{ExpectedNew: 500})
				if err != nil || !slices.Equal(tab.Entries, want.Entries) {
					panic(fmt.Sprintf("builder differs from Build: %v", err))
				}
			})
			t.Logf("%v: %d entries, %.0f allocs per steady-state rebuild", algo, len(want.Entries), allocs)
			if allocs > 1 {
				t.Errorf("%v: %.0f allocs per rebuild, want ≤ 1", algo, allocs)
			}
		})
	}
}
