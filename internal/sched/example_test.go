package sched_test

import (
	"fmt"
	"net/netip"

	"github.com/xlb/xlb/internal/sched"
)

// A wlc service rebuilt on a tick: the counts come from the dataplane, the
// plan length from the previous tick's new connections.
func ExampleBuilder_Build() {
	var (
		b   sched.Builder
		est sched.Estimator
		buf []int32
	)
	reals := []sched.Real{
		{ID: 0, Addr: netip.MustParseAddrPort("192.0.2.100:80"), Weight: 1, Active: 12},
		{ID: 1, Addr: netip.MustParseAddrPort("192.0.2.101:80"), Weight: 3, Active: 30, Inactive: 40},
	}
	newLastTick := 20
	tab, err := b.Build(buf, sched.WLC, reals, sched.Options{ExpectedNew: est.Next(newLastTick)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tab.Mode, len(tab.Entries), tab.Entries[:12])
	// Output: cursor 64 [1 1 1 1 1 1 0 1 1 1 0 1]
}

func ExampleBuild_maglev() {
	reals := []sched.Real{
		{ID: 0, Addr: netip.MustParseAddrPort("192.0.2.100:443"), Weight: 1},
		{ID: 1, Addr: netip.MustParseAddrPort("192.0.2.101:443"), Weight: 1},
		{ID: 2, Addr: netip.MustParseAddrPort("192.0.2.102:443"), Weight: 2},
	}
	tab, err := sched.Build(sched.MH, reals, sched.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := make([]int, len(reals))
	for _, id := range tab.Entries {
		n[id]++
	}
	fmt.Println(tab.Mode, len(tab.Entries), n)
	// Output: hash 65537 [16385 16384 32768]
}
