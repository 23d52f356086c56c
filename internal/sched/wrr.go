package sched

import "fmt"

// wrr appends one weighted round-robin cycle over the available reals.
func (b *Builder) wrr(dst []int32, reals []Real, maxEntries int) ([]int32, error) {
	m := len(b.avail)
	if m > maxEntries {
		return dst, fmt.Errorf("%d reals: %w: exceeds %d entries", m, ErrTableSize, maxEntries)
	}
	b.w = grow(b.w, m)
	for k, i := range b.avail {
		b.w[k] = int64(reals[i].Weight)
	}
	sum := fitWeights(b.w, maxEntries)
	return b.interleave(dst, reals, b.w, sum), nil
}

// interleave appends one cycle of length sum in which available real k
// appears exactly w[k] times (sum = Σw), in worst-case fair weighted fair
// queueing (WF²Q) order: real k's j-th pick becomes eligible at time
// j/w[k] of the cycle and, among eligible reals, the one whose pick is due
// first ((j+1)/w[k]) goes next, ties to the earlier real. At every step t
// each real has received within one pick of t×w[k]/sum, and the cycle
// repeats seamlessly, which bounds bursts.
func (b *Builder) interleave(dst []int32, reals []Real, w []int64, sum int64) []int32 {
	m := len(w)
	picks := grow(b.n, m)
	clear(picks)
	b.n = picks
	elig := wf2qFinish{picks, w}
	pend := wf2qStart{picks, w}

	eligible := grow(b.heap, m)
	for k := range eligible {
		eligible[k] = int32(k) // all start at time 0
	}
	heapInit(eligible, elig)
	pending := b.heap2[:0]
	for t := int64(0); t < sum; t++ {
		for len(pending) > 0 && picks[pending[0]]*sum <= t*w[pending[0]] {
			var k int32
			pending, k = heapPop(pending, pend)
			eligible = heapPush(eligible, k, elig)
		}
		if len(eligible) == 0 { // cannot happen: some real is always at or behind its share
			var k int32
			pending, k = heapPop(pending, pend)
			eligible = heapPush(eligible, k, elig)
		}
		var k int32
		eligible, k = heapPop(eligible, elig)
		dst = append(dst, int32(reals[b.avail[k]].ID))
		picks[k]++
		if picks[k] < w[k] {
			pending = heapPush(pending, k, pend)
		}
	}
	b.heap, b.heap2 = eligible, pending
	return dst
}

// wf2qFinish orders reals by when their next pick is due, (picks+1)/w.
type wf2qFinish struct{ picks, w []int64 }

func (o wf2qFinish) less(a, b int32) bool {
	x, y := (o.picks[a]+1)*o.w[b], (o.picks[b]+1)*o.w[a]
	return x < y || x == y && a < b
}

// wf2qStart orders reals by when their next pick becomes eligible, picks/w.
type wf2qStart struct{ picks, w []int64 }

func (o wf2qStart) less(a, b int32) bool {
	x, y := o.picks[a]*o.w[b], o.picks[b]*o.w[a]
	return x < y || x == y && a < b
}
