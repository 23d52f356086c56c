package sched

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
)

// Real is one real server of a virtual service as the scheduler sees it.
type Real struct {
	// ID is the real's index in the dataplane's reals array; tables hold IDs.
	ID int
	// Addr identifies the real stably (its address and port). mh derives
	// the real's Maglev permutation from it, so mh tables survive restarts
	// and agree between directors; the other algorithms ignore it.
	Addr netip.AddrPort
	// Weight as in keepalived. 0 is quiescent: the real is never chosen.
	// Callers pass down or drained reals with weight 0 (or leave them out).
	Weight int
	// Active and Inactive are the real's current connection counts as the
	// dataplane keeps them (IPVS activeconns/inactconns); lc and wlc use them.
	Active, Inactive uint64
	// Departures is how many of the real's active connections are expected
	// to end for each new connection the service receives (its recent
	// ending rate over the service's arrival rate). An lc/wlc plan moves
	// that many from active to inactive between its picks, so a real whose
	// connections are short wins its picks back within the tick, as IPVS,
	// which sees every end at once, would give them. 0: no ends foreseen.
	Departures float64
}

// Table is a complete selection table for one virtual service.
type Table struct {
	Mode    Mode
	Entries []int32 // real IDs
}

// Limits and defaults.
const (
	// DefaultMaxEntries caps cursor-mode tables (wrr cycles, lc/wlc plans)
	// when Options.MaxEntries is 0.
	DefaultMaxEntries = 65536
	// MinPlan is the smallest lc/wlc plan, whatever Options.ExpectedNew says.
	MinPlan = 64
	// DefaultMHSize is the default Maglev table size (prime); larger
	// services get NextPrime(100 × reals).
	DefaultMHSize = 65537
	// MHSlotsPerReal is the minimum Maglev table size per real.
	MHSlotsPerReal = 100
	// DefaultSHSize is the default sh bucket count (prime; IPVS uses 256).
	// Services with more than 255 reals get NextPrime(16 × reals).
	DefaultSHSize = 4093
	// SHSlotsPerReal is the minimum default sh table size per real.
	SHSlotsPerReal = 16
	// MaxTableSize bounds every table (64 MiB of entries) whatever
	// Options say.
	MaxTableSize = 1 << 24
	// MaxWeight is the largest weight, as in IPVS (a signed 32-bit int).
	MaxWeight = math.MaxInt32
)

// Options tune Build. The zero value is valid.
type Options struct {
	// ExpectedNew is the number of new connections the caller expects the
	// service to receive before the next lc/wlc rebuild (see [Estimator]).
	// It is the plan length, clamped to [MinPlan, MaxEntries]. Err high: a
	// longer plan costs build time only, while a plan shorter than the
	// arrivals makes the cursor wrap and repeat it.
	ExpectedNew int
	// EstablishAfter is how many of the following lc/wlc picks still see a
	// planned connection as inactive before it counts as active. IPVS counts
	// a new TCP connection as inactive until its handshake completes, so
	// the right value is the number of new connections expected during one
	// handshake (arrival rate × round-trip time), usually 0 or a few; 0
	// (also for UDP, which IPVS counts active at once) means the next pick
	// already sees it active. A value ≥ the plan length keeps every planned
	// pick inactive for the whole plan.
	EstablishAfter int
	// TableSize is the sh or mh table size; 0 picks the default. mh needs a
	// prime of at least MHSlotsPerReal × len(reals); sh needs at least one
	// bucket per real. Other algorithms ignore it.
	TableSize int
	// MaxEntries bounds len(Entries): wrr and lc/wlc shrink their tables to
	// fit (0 means DefaultMaxEntries); sh and mh fail with ErrTableSize when
	// their table would be larger (0 means MaxTableSize, the bound for all).
	MaxEntries int
}

// Build computes the selection table for algo over reals. Reals are taken
// in the order given, as IPVS walks its destination list (pass them in
// configuration order); mh alone orders them by Addr so that its table
// depends only on the set of reals. Reals with weight 0 are never chosen;
// if no real has a positive weight Build returns ErrNoReals.
//
//   - rr: each available real once, in order.
//   - wrr: one cycle of IPVS wrr proportions: weights divided by their gcd,
//     every real appearing exactly weight/gcd times. Within the cycle the
//     picks are interleaved as evenly as possible (worst-case fair weighted
//     fair queueing order): at every point of the cycle each real is less
//     than one pick away from its exact weighted share, so no real gets a
//     long burst (IPVS's max-weight stepping can give the heaviest real
//     several picks in a row where this spreads them). The first pick goes
//     to the heaviest real, as in IPVS. If the reduced weights sum to more
//     than MaxEntries (default 65536), each weight w becomes
//     1 + floor(w × (MaxEntries − n) / sum) for n reals, so the cycle fits,
//     every real keeps at least one slot, and each share moves by about
//     n/MaxEntries at most.
//   - lc, wlc: a plan for the next tick; see [Builder.Build] for why it
//     approximates IPVS.
//   - sh: a bucket table (default DefaultSHSize, a prime, where IPVS has
//     256) in which each real holds a share of buckets proportional to its
//     weight (within one bucket; at least one bucket each), interleaved.
//     The dataplane maps hash(client) % len to a bucket. Like IPVS sh, a
//     change to the set of reals remaps most clients; use mh for
//     consistency.
//   - mh: Maglev hashing as IPVS mh does it, with a prime table of at least
//     100 slots per real (DefaultMHSize = 65537 up to 655 reals). Each real
//     walks its own permutation of the slots, derived from two hashes of its
//     Addr, claiming weight/gcd slots per round, so shares follow weights
//     and removing one of N reals moves little more than 1/N of the
//     clients. As in IPVS, the slots per round are shifted right until the
//     largest fits in half the bits of the table size (below 256 for
//     65537), never below one, so weight ratios beyond about 256:1 are
//     compressed.
//     The size depends on len(reals), not on how many are available, so
//     passing down reals with weight 0 keeps the table size (and therefore
//     every other client's slot) stable.
//
// Build allocates the returned Entries; use a [Builder] to reuse memory.
func Build(algo Algo, reals []Real, opts Options) (Table, error) {
	b := builderPool.Get().(*Builder)
	defer builderPool.Put(b)
	return b.Build(nil, algo, reals, opts)
}

var builderPool = sync.Pool{New: func() any { return new(Builder) }}

// Builder builds tables reusing its scratch memory. The zero value is ready
// to use. A Builder is not safe for concurrent use.
type Builder struct {
	avail  []int32   // indices into reals of the available reals, in order
	w      []int64   // per available real: weight used by the algorithm
	heap   []int32   // heap of positions in avail
	heap2  []int32   // second heap (wrr)
	pos    []int32   // heap index per available real (lc/wlc)
	picked []int32   // plan so far as positions in avail (lc/wlc)
	n      []int64   // per available real: picks so far (wrr)
	cost   []lcState // lc/wlc state
	dep    departing // lc/wlc expected connection ends
	mh     []mhState // mh permutation state
	ids    []uint64  // bitset of seen IDs, all zero between builds
	seen   map[int]struct{}
}

// Build is like the package-level [Build] but appends the entries to
// dst[:0] and reuses the Builder's scratch memory, so that a steady-state
// rebuild allocates nothing.
//
// lc and wlc build a plan rather than a static table. IPVS decides at each
// new connection, picking the real with the least active*256+inactive
// connections (wlc: per unit of weight, compared by cross-multiplication;
// ties go to the first real); the new connection then counts as one more
// inactive connection of that real until its handshake completes, and as an
// active one after that. Build replays exactly that decision K times from
// the counts the dataplane reports now, where K is Options.ExpectedNew
// clamped to [MinPlan, MaxEntries]: each pick counts as a new inactive
// connection for the next Options.EstablishAfter picks and as an active one
// from then on. The K picks in order are the table. The dataplane hands
// them out in arrival order, so during the next tick the n-th new
// connection goes where IPVS would have sent it had no connection ended
// since the rebuild and every handshake taken EstablishAfter arrivals.
//
// The approximation is refreshed every tick (and on every health, drain or
// weight event) from the real counts, so its error does not accumulate: it
// is bounded by what changes within one tick. The first k entries of a plan
// do not depend on K, so overestimating K is harmless; underestimating makes
// the cursor wrap and repeat the plan until the next rebuild. Counting every
// planned pick as inactive for the whole tick (EstablishAfter ≥ K) would
// overreact: a real that is one active connection behind then receives up
// to 256 picks instead of one. In the simulations of TestTickPlansTrackIPVS
// (100 ms ticks, 50 to 5000 new connections a second, slow reals, lingering
// inactive connections) that drifted up to 7.6 percentage points from
// IPVS's share of new connections per real, against 3.6 with the handshake
// modelled.
func (b *Builder) Build(dst []int32, algo Algo, reals []Real, opts Options) (Table, error) {
	t := Table{Mode: algo.Mode(), Entries: dst[:0]}
	if !algo.Valid() {
		return t, fmt.Errorf("build table: %w: %v", ErrUnknownAlgo, algo)
	}
	if err := b.collect(reals); err != nil {
		return t, fmt.Errorf("build %v table: %w", algo, err)
	}
	if len(b.avail) == 0 {
		return t, fmt.Errorf("build %v table: %w", algo, ErrNoReals)
	}
	maxEntries := opts.MaxEntries
	if maxEntries <= 0 && algo.Mode() == ModeCursor {
		maxEntries = DefaultMaxEntries
	}
	if maxEntries <= 0 || maxEntries > MaxTableSize {
		maxEntries = MaxTableSize
	}
	var err error
	switch algo {
	case RR:
		if len(b.avail) > maxEntries {
			return t, fmt.Errorf("build rr table: %d reals: %w: exceeds %d entries", len(b.avail), ErrTableSize, maxEntries)
		}
		for _, i := range b.avail {
			t.Entries = append(t.Entries, int32(reals[i].ID))
		}
	case WRR:
		t.Entries, err = b.wrr(t.Entries, reals, maxEntries)
	case LC, WLC:
		t.Entries, err = b.plan(t.Entries, algo, reals, opts.ExpectedNew, opts.EstablishAfter, maxEntries)
	case SH:
		t.Entries, err = b.sh(t.Entries, reals, opts.TableSize, maxEntries)
	case MH:
		t.Entries, err = b.maglev(t.Entries, reals, opts.TableSize, maxEntries)
	}
	if err != nil {
		return Table{Mode: t.Mode, Entries: t.Entries[:0]}, fmt.Errorf("build %v table: %w", algo, err)
	}
	return t, nil
}

// collect validates reals and records the available ones in b.avail.
func (b *Builder) collect(reals []Real) error {
	b.avail = b.avail[:0]
	for i := range reals {
		r := &reals[i]
		if r.Weight < 0 || r.Weight > MaxWeight {
			return fmt.Errorf("real %d: %w: weight %d outside 0..%d", r.ID, ErrInvalidReal, r.Weight, MaxWeight)
		}
		if r.ID < 0 || r.ID > math.MaxInt32 {
			return fmt.Errorf("real %d: %w: id out of range", r.ID, ErrInvalidReal)
		}
		if r.Weight > 0 {
			b.avail = append(b.avail, int32(i))
		}
	}
	// Duplicate IDs: pairwise for small services, otherwise a reused bitset
	// (IDs index the dataplane's reals array, so they are dense), cleared
	// again word by word.
	if len(reals) <= 32 {
		for i := range reals {
			for j := i + 1; j < len(reals); j++ {
				if reals[i].ID == reals[j].ID {
					return fmt.Errorf("real %d: %w: duplicate id", reals[i].ID, ErrInvalidReal)
				}
			}
		}
		return nil
	}
	maxID := 0
	for i := range reals {
		maxID = max(maxID, reals[i].ID)
	}
	if maxID >= 1<<24 {
		return b.collectSparse(reals)
	}
	b.ids = grow(b.ids, maxID/64+1)
	var dup error
	for i := range reals {
		id := reals[i].ID
		if b.ids[id/64]&(1<<(id%64)) != 0 {
			dup = fmt.Errorf("real %d: %w: duplicate id", id, ErrInvalidReal)
			break
		}
		b.ids[id/64] |= 1 << (id % 64)
	}
	for i := range reals {
		b.ids[reals[i].ID/64] = 0
	}
	return dup
}

// collectSparse checks for duplicate IDs with a set, for huge IDs.
func (b *Builder) collectSparse(reals []Real) error {
	if b.seen == nil {
		b.seen = make(map[int]struct{}, len(reals))
	}
	clear(b.seen)
	for i := range reals {
		if _, dup := b.seen[reals[i].ID]; dup {
			return fmt.Errorf("real %d: %w: duplicate id", reals[i].ID, ErrInvalidReal)
		}
		b.seen[reals[i].ID] = struct{}{}
	}
	return nil
}

// grow returns s resized to n elements, reusing its backing array.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// reduceWeights divides w by the gcd of its elements and returns their sum.
func reduceWeights(w []int64) int64 {
	var g int64
	for _, x := range w {
		g = gcd(x, g)
	}
	var sum int64
	for i := range w {
		w[i] /= g
		sum += w[i]
	}
	return sum
}

// fitWeights reduces w by its gcd and, if the sum still exceeds limit,
// scales every weight x to 1 + floor(x*(limit-n)/sum), which keeps each
// weight positive and the sum within limit (n = len(w) ≤ limit). It
// returns the resulting sum.
func fitWeights(w []int64, limit int) int64 {
	sum := reduceWeights(w)
	if sum <= int64(limit) {
		return sum
	}
	room := uint64(limit - len(w))
	for i := range w {
		// x*room can exceed 64 bits only for absurd weights; use 128 bits.
		w[i] = 1 + int64(mulDiv(uint64(w[i]), room, uint64(sum)))
	}
	return reduceWeights(w)
}
