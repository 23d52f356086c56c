package sched

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
)

// sh appends the source-hashing bucket table.
func (b *Builder) sh(dst []int32, reals []Real, size, maxEntries int) ([]int32, error) {
	m := len(b.avail)
	if size == 0 {
		size = DefaultSHSize
		if n := SHSlotsPerReal * len(reals); n > size {
			size = NextPrime(n)
		}
	}
	if size < m {
		return dst, fmt.Errorf("%w: %d buckets for %d reals", ErrTableSize, size, m)
	}
	if size > maxEntries {
		return dst, fmt.Errorf("%w: %d buckets exceed %d entries", ErrTableSize, size, maxEntries)
	}
	b.w = grow(b.w, m)
	for k, i := range b.avail {
		b.w[k] = int64(reals[i].Weight)
	}
	sum := fitWeights(b.w, size)
	// One interleaved cycle, repeated to fill the table: in any prefix of
	// the periodic sequence each real is within one bucket of its share.
	start := len(dst)
	dst = b.interleave(dst, reals, b.w, sum)
	for j := 0; len(dst)-start < size; j++ {
		dst = append(dst, dst[start+j])
	}
	return dst, nil
}

// mhState is one available real's walk through its Maglev permutation.
type mhState struct {
	next, skip int   // next slot to try, step
	turns      int   // slots claimed per round
	id         int32 // real ID
}

// maglev appends the Maglev lookup table.
func (b *Builder) maglev(dst []int32, reals []Real, size, maxEntries int) ([]int32, error) {
	minSize := MHSlotsPerReal * len(reals)
	if size == 0 {
		size = DefaultMHSize
		if minSize > size {
			size = NextPrime(minSize)
		}
	} else if size < minSize || !isPrime(size) {
		return dst, fmt.Errorf("%w: mh needs a prime of at least %d×%d reals, got %d", ErrTableSize, MHSlotsPerReal, len(reals), size)
	}
	if size > maxEntries {
		return dst, fmt.Errorf("%w: %d slots exceed %d entries", ErrTableSize, size, maxEntries)
	}
	for _, i := range b.avail {
		if !reals[i].Addr.Addr().IsValid() {
			return dst, fmt.Errorf("real %d: %w: mh needs its address", reals[i].ID, ErrInvalidReal)
		}
	}
	// Order by address so the table depends only on the set of reals.
	slices.SortFunc(b.avail, func(x, y int32) int { return mhKey(reals[x].Addr).Compare(mhKey(reals[y].Addr)) })
	for k := 1; k < len(b.avail); k++ {
		if mhKey(reals[b.avail[k]].Addr) == mhKey(reals[b.avail[k-1]].Addr) {
			return dst, fmt.Errorf("real %d: %w: duplicate address %v", reals[b.avail[k]].ID, ErrInvalidReal, reals[b.avail[k]].Addr)
		}
	}

	// Turns as IPVS mh: weight/gcd, shifted right so that the largest fits
	// in half the bits of the table size, but never below one.
	var g, mw int64
	for _, i := range b.avail {
		w := int64(reals[i].Weight)
		g = gcd(w, g)
		mw = max(mw, w)
	}
	shift := max(0, bits.Len64(uint64(mw/g))-bits.Len(uint(size))/2)

	b.mh = grow(b.mh, len(b.avail))
	for k, i := range b.avail {
		r := &reals[i]
		b.mh[k] = mhState{
			next:  int(addrHash(r.Addr, mhSeed1) % uint64(size)),
			skip:  int(addrHash(r.Addr, mhSeed2)%uint64(size-1)) + 1,
			turns: max(1, int((int64(r.Weight)/g)>>shift)),
			id:    int32(r.ID),
		}
	}

	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	table := dst[start:]
	for j := range table {
		table[j] = -1
	}
	filled := 0
	for {
		for k := range b.mh {
			s := &b.mh[k]
			for range s.turns {
				c := s.next
				for table[c] >= 0 {
					c += s.skip
					if c >= size {
						c -= size
					}
				}
				table[c] = s.id
				s.next = c
				if filled++; filled == size {
					return dst, nil
				}
			}
		}
	}
}

// Seeds of the two Maglev hashes. They are part of the table layout: every
// xlb version and both directors must use the same ones, or clients move.
const (
	mhSeed1 = 0xcbf29ce484222325 // FNV-1a offset basis
	mhSeed2 = 0x9e3779b97f4a7c15 // golden ratio
)

// mhKey is the identity mh hashes and orders by: the address without zone,
// IPv4-mapped IPv6 as IPv4, and the port.
func mhKey(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}

// addrHash hashes a real's mhKey: FNV-1a over the 16-byte address and
// big-endian port from seed, finished with the splitmix64 mixer.
func addrHash(ap netip.AddrPort, seed uint64) uint64 {
	const prime = 0x100000001b3
	a := ap.Addr().Unmap().As16()
	h := uint64(seed)
	for _, c := range a {
		h = (h ^ uint64(c)) * prime
	}
	p := ap.Port()
	h = (h ^ uint64(p>>8)) * prime
	h = (h ^ uint64(p&0xff)) * prime
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

// NextPrime returns the smallest prime ≥ n (2 for n ≤ 2).
func NextPrime(n int) int {
	if n <= 2 {
		return 2
	}
	if n%2 == 0 {
		n++
	}
	for !isPrime(n) {
		n += 2
	}
	return n
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 || n%3 == 0 {
		return n == 2 || n == 3
	}
	for d := 5; d*d <= n; d += 6 {
		if n%d == 0 || n%(d+2) == 0 {
			return false
		}
	}
	return true
}
