package sync

// windowSize is how far behind the newest sequence number a late
// message is still accepted (once).
const windowSize = 64

// window is a sliding replay window over one sender's sequence numbers,
// as IPsec's: the newest number seen and a bitmap of the windowSize
// numbers below it.
type window struct {
	top  uint64 // newest accepted; 0: none yet
	seen uint64 // bit i: top-i was accepted
}

// check says whether seq is acceptable (new, or late but unseen inside
// the window) and whether accepting it skips numbers (a gap: messages
// lost, or still to come out of order). It changes nothing.
func (w *window) check(seq uint64) (ok, gap bool) {
	switch {
	case w.top == 0:
		return true, false
	case seq > w.top:
		return true, seq > w.top+1
	case w.top-seq >= windowSize:
		return false, false
	default:
		return w.seen&(1<<(w.top-seq)) == 0, false
	}
}

// accept records seq, which check allowed.
func (w *window) accept(seq uint64) {
	switch {
	case w.top == 0:
		w.top, w.seen = seq, 1
	case seq > w.top:
		shift := seq - w.top
		if shift >= windowSize {
			w.seen = 0
		} else {
			w.seen <<= shift
		}
		w.seen |= 1
		w.top = seq
	default:
		w.seen |= 1 << (w.top - seq)
	}
}
