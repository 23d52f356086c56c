package sched

import "math/bits"

// orderer is a strict total order over positions in a Builder's state.
type orderer interface{ less(a, b int32) bool }

func heapUp[O orderer](h []int32, i int, o O) {
	for i > 0 {
		p := (i - 1) / 2
		if !o.less(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func heapDown[O orderer](h []int32, i int, o O) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && o.less(h[r], h[l]) {
			m = r
		}
		if !o.less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func heapInit[O orderer](h []int32, o O) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapDown(h, i, o)
	}
}

func heapPush[O orderer](h []int32, x int32, o O) []int32 {
	h = append(h, x)
	heapUp(h, len(h)-1, o)
	return h
}

func heapPop[O orderer](h []int32, o O) ([]int32, int32) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	heapDown(h, 0, o)
	return h, top
}

// cmpMul compares a*b with c*d exactly (128-bit products): -1, 0 or +1.
func cmpMul(a, b, c, d uint64) int {
	hi1, lo1 := bits.Mul64(a, b)
	hi2, lo2 := bits.Mul64(c, d)
	switch {
	case hi1 < hi2 || hi1 == hi2 && lo1 < lo2:
		return -1
	case hi1 == hi2 && lo1 == lo2:
		return 0
	}
	return 1
}

// mulDiv returns floor(a*b/c); it requires a*b/c < 2^64.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}
