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
// new inactive connection of the chosen real for the next `establish` picks
// and as an active one after that.
func (b *Builder) plan(dst []int32, algo Algo, reals []Real, expected, establish, maxEntries int) ([]int32, error) {
	m := len(b.avail)
	if m == 1 {
		return append(dst, int32(reals[b.avail[0]].ID)), nil
	}
	k := max(expected, MinPlan)
	k = min(k, maxEntries)
	establish = max(establish, 0)
	b.loadCosts(algo, reals)
	h := lcHeap{o: lcOrder(b.cost), h: grow(b.heap, m), pos: grow(b.pos, m)}
	for i := range h.h {
		h.h[i], h.pos[i] = int32(i), int32(i)
	}
	h.init()
	depart := b.departures(reals)
	if establish == 0 { // established before the next pick: +256 at once
		for range k {
			top := h.h[0]
			dst = append(dst, int32(reals[b.avail[top]].ID))
			h.o[top].overhead = satAdd(h.o[top].overhead, 256)
			h.down(0)
			depart.step(&h)
		}
		b.heap, b.pos = h.h, h.pos
		return dst, nil
	}
	for j := range k {
		depart.step(&h)
		if e := j - establish - 1; e >= 0 && establish < k {
			// Pick e's handshake has completed: inactive → active.
			p := h.pos[b.picked[e]]
			h.o[h.h[p]].overhead = satAdd(h.o[h.h[p]].overhead, 255)
			h.down(int(p))
		}
		top := h.h[0]
		dst = append(dst, int32(reals[b.avail[top]].ID))
		if establish < k {
			b.picked = append(b.picked[:j], top)
		}
		h.o[top].overhead = satAdd(h.o[top].overhead, 1)
		h.down(0)
	}
	b.heap, b.pos = h.h, h.pos
	return dst, nil
}

// departing accounts the connections expected to end while a plan is
// consumed: per pick, each real's share of an ending, accumulated until a
// whole connection turns from active to inactive (overhead - 255).
type departing struct {
	on   bool
	rate []float64 // per position in the heap's order
	acc  []float64
	left []uint64 // active connections that can still end
}

// departures prepares the accounting, in the Builder's memory; without
// departures it is a no-op.
func (b *Builder) departures(reals []Real) *departing {
	d := &b.dep
	d.on = false
	for _, i := range b.avail {
		if reals[i].Departures > 0 {
			d.on = true
		}
	}
	if !d.on {
		return d
	}
	m := len(b.avail)
	d.rate, d.acc, d.left = grow(d.rate, m), grow(d.acc, m), grow(d.left, m)
	for k, j := range b.avail {
		d.rate[k], d.acc[k], d.left[k] = reals[j].Departures, 0, reals[j].Active
	}
	return d
}

func (d *departing) step(h *lcHeap) {
	if !d.on {
		return
	}
	changed := false
	for k := range d.rate {
		d.acc[k] += d.rate[k]
		for d.acc[k] >= 1 && d.left[k] > 0 {
			d.acc[k]--
			d.left[k]--
			if h.o[k].overhead >= 255 {
				h.o[k].overhead -= 255
			}
			changed = true
		}
	}
	if changed {
		h.init()
	}
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// lcHeap is a binary min-heap of positions in o that tracks where each
// position sits, so a key can grow anywhere in the heap.
type lcHeap struct {
	o   lcOrder
	h   []int32 // heap of positions
	pos []int32 // position → index in h
}

func (q *lcHeap) init() {
	for i := len(q.h)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

// down restores the heap below i after the key at h[i] grew.
func (q *lcHeap) down(i int) {
	n := len(q.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.o.less(q.h[r], q.h[l]) {
			m = r
		}
		if !q.o.less(q.h[m], q.h[i]) {
			return
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		q.pos[q.h[i]], q.pos[q.h[m]] = int32(i), int32(m)
		i = m
	}
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
