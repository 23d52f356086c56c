package sched

import "math"

// lcState is one available real during lc/wlc planning.
type lcState struct {
	overhead uint64 // active*256 + inactive, saturating
	weight   uint64 // 1 for lc
}

// overhead is IPVS's connection overhead: an active connection costs 256
// times an inactive one. It saturates instead of wrapping, so a counter that
// underflowed in the dataplane makes its real least preferred, not most.
func overhead(active, inactive uint64) uint64 {
	if active > (math.MaxUint64-inactive)>>8 {
		return math.MaxUint64
	}
	return active<<8 + inactive
}

// lcOrder orders reals by overhead/weight (cross-multiplied, exact), ties to
// the earlier real: the order in which IPVS lc/wlc would pick them.
type lcOrder []lcState

func (o lcOrder) less(a, b int32) bool {
	c := cmpMul(o[a].overhead, o[b].weight, o[b].overhead, o[a].weight)
	return c < 0 || c == 0 && a < b
}

// plan appends the lc/wlc plan: K successive IPVS choices, each counted as a
// new inactive connection of the chosen real.
func (b *Builder) plan(dst []int32, algo Algo, reals []Real, expected, maxEntries int) ([]int32, error) {
	m := len(b.avail)
	if m == 1 {
		return append(dst, int32(reals[b.avail[0]].ID)), nil
	}
	k := max(expected, MinPlan)
	k = min(k, maxEntries)
	b.loadCosts(algo, reals)
	o := lcOrder(b.cost)
	h := grow(b.heap, m)
	for i := range h {
		h[i] = int32(i)
	}
	heapInit(h, o)
	for range k {
		top := h[0]
		dst = append(dst, int32(reals[b.avail[top]].ID))
		if b.cost[top].overhead < math.MaxUint64 {
			b.cost[top].overhead++
		}
		heapDown(h, 0, o)
	}
	b.heap = h
	return dst, nil
}

func (b *Builder) loadCosts(algo Algo, reals []Real) {
	b.cost = grow(b.cost, len(b.avail))
	for k, i := range b.avail {
		r := &reals[i]
		w := uint64(1)
		if algo == WLC {
			w = uint64(r.Weight)
		}
		b.cost[k] = lcState{overhead: overhead(r.Active, r.Inactive), weight: w}
	}
}

// ipvsPick is the reference: one IPVS lc/wlc decision by a linear scan in
// list order, replacing the current choice only when another real is
// strictly better (for wlc: loh*dw > doh*lw). It returns a position in
// costs; every weight must be positive.
func ipvsPick(algo Algo, costs []lcState) int {
	least := 0
	for d := 1; d < len(costs); d++ {
		l, c := costs[least], costs[d]
		if algo == LC {
			if c.overhead < l.overhead {
				least = d
			}
			continue
		}
		if cmpMul(l.overhead, c.weight, c.overhead, l.weight) > 0 {
			least = d
		}
	}
	return least
}
