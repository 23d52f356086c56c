package healthd

// checkHeap orders checkers by their next run time; it implements
// heap.Interface and keeps each checker's index for heap.Remove and
// heap.Fix.
type checkHeap []*checker

func (h checkHeap) Len() int { return len(h) }

func (h checkHeap) Less(i, j int) bool {
	if h[i].due == h[j].due {
		return h[i].id < h[j].id
	}
	return h[i].due < h[j].due
}

func (h checkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}

func (h *checkHeap) Push(x any) {
	c := x.(*checker)
	c.hidx = len(*h)
	*h = append(*h, c)
}

func (h *checkHeap) Pop() any {
	old := *h
	n := len(old)
	c := old[n-1]
	old[n-1] = nil
	c.hidx = -1
	*h = old[:n-1]
	return c
}
