package sched

import (
	"fmt"
	"math"
	"time"
)

// SimReal is a real in a simulated service.
type SimReal struct {
	ID     int
	Weight int
	// Slowness multiplies the duration of every connection the real serves
	// (0 means 1): a slow real holds its connections longer.
	Slowness float64
}

// Arrival is a new connection offered to a simulated service.
type Arrival struct {
	At  time.Duration // since the start of the simulation
	Dur time.Duration // lifetime on a real with Slowness 1
}

// SimConfig describes a simulated lc or wlc service. Each connection counts
// as inactive for Handshake after it is scheduled (IPVS: SYN_RECV), then
// active until it ends, then inactive for Linger (IPVS: FIN_WAIT,
// TIME_WAIT), then it is gone. The dataplane's counts follow exactly that
// life in both simulators; they differ only in how a real is chosen.
type SimConfig struct {
	Algo      Algo // LC or WLC
	Reals     []SimReal
	Handshake time.Duration
	Linger    time.Duration
	// Tick is the table rebuild period of SimulateTicks (0 means 100 ms).
	Tick time.Duration
	// KeepPicksInactive makes SimulateTicks count every planned pick as
	// inactive for the whole plan (Options.EstablishAfter = MaxInt) instead
	// of deriving EstablishAfter from the arrival rate and Handshake; for
	// comparing the two models.
	KeepPicksInactive bool
}

// SimResult is what a simulation chose.
type SimResult struct {
	Picks []int32 // real ID chosen for each arrival, in arrival order
	New   []int   // new connections per real, in SimConfig.Reals order
	Ticks int     // tables built (SimulateTicks)
	// Wraps counts arrivals that found their tick's plan used up and took
	// a repeated entry (SimulateTicks; a single real's plan has length 1).
	Wraps int
}

// Share returns the fraction of all new connections real k (index in
// SimConfig.Reals) received.
func (r SimResult) Share(k int) float64 {
	if len(r.Picks) == 0 {
		return 0
	}
	return float64(r.New[k]) / float64(len(r.Picks))
}

// SimulateIPVS is the reference: IPVS's exact lc/wlc decision at every
// arrival, made from the counts at that instant.
func SimulateIPVS(cfg SimConfig, arrivals []Arrival) (SimResult, error) {
	s, err := newSim(cfg, arrivals)
	if err != nil {
		return SimResult{}, err
	}
	costs := make([]lcState, 0, len(cfg.Reals))
	pos := make([]int, 0, len(cfg.Reals)) // costs position → real index
	for _, a := range arrivals {
		s.advance(a.At)
		costs, pos = costs[:0], pos[:0]
		for k, r := range cfg.Reals {
			if r.Weight <= 0 {
				continue
			}
			w := uint64(1)
			if cfg.Algo == WLC {
				w = uint64(r.Weight)
			}
			costs = append(costs, lcState{overhead: overhead(s.active[k], s.inactive[k]), weight: w})
			pos = append(pos, k)
		}
		s.admit(a, pos[ipvsPick(cfg.Algo, costs)])
	}
	return s.res, nil
}

// SimulateTicks runs the same arrivals through xlb's tick-based tables: at
// time 0 and every Tick a plan is built with Build from the counts the
// dataplane holds at that instant and an Estimator fed with the previous
// tick's arrivals, with EstablishAfter = last tick's arrival rate ×
// Handshake; each arrival takes the next plan entry, wrapping around.
func SimulateTicks(cfg SimConfig, arrivals []Arrival) (SimResult, error) {
	s, err := newSim(cfg, arrivals)
	if err != nil {
		return SimResult{}, err
	}
	tick := cfg.Tick
	if tick <= 0 {
		tick = 100 * time.Millisecond
	}
	byID := make(map[int]int, len(cfg.Reals))
	for k, r := range cfg.Reals {
		byID[r.ID] = k
	}
	var (
		b       Builder
		est     Estimator
		reals   = make([]Real, len(cfg.Reals))
		table   Table
		cursor  int
		inTick  int
		nextRun time.Duration
	)
	rebuild := func() error {
		for k, r := range cfg.Reals {
			reals[k] = Real{ID: r.ID, Weight: r.Weight, Active: s.active[k], Inactive: s.inactive[k]}
		}
		// New connections expected during one handshake, from the last tick.
		establish := int(float64(inTick) * float64(cfg.Handshake) / float64(tick))
		if cfg.KeepPicksInactive {
			establish = math.MaxInt
		}
		opts := Options{ExpectedNew: est.Next(inTick), EstablishAfter: establish}
		t, err := b.Build(table.Entries, cfg.Algo, reals, opts)
		if err != nil {
			return err
		}
		table, cursor, inTick = t, 0, 0
		s.res.Ticks++
		return nil
	}
	for _, a := range arrivals {
		for nextRun <= a.At {
			s.advance(nextRun)
			if err := rebuild(); err != nil {
				return SimResult{}, fmt.Errorf("simulate tick at %v: %w", nextRun, err)
			}
			nextRun += tick
		}
		s.advance(a.At)
		if cursor >= len(table.Entries) {
			s.res.Wraps++
		}
		id := table.Entries[cursor%len(table.Entries)]
		cursor++
		inTick++
		s.admit(a, byID[int(id)])
	}
	return s.res, nil
}

// sim holds the connection life cycle shared by both simulators.
type sim struct {
	cfg              SimConfig
	active, inactive []uint64
	events           []simEvent // min-heap by (at, seq)
	seq              uint64
	res              SimResult
}

// simEvent changes a real's counts at a point in time.
type simEvent struct {
	at     time.Duration
	seq    uint64
	real   int
	dA, dI int8
}

func newSim(cfg SimConfig, arrivals []Arrival) (*sim, error) {
	if cfg.Algo != LC && cfg.Algo != WLC {
		return nil, fmt.Errorf("simulate %v: %w: only lc and wlc", cfg.Algo, ErrUnsupportedAlgo)
	}
	avail := false
	for _, r := range cfg.Reals {
		if r.Weight < 0 {
			return nil, fmt.Errorf("simulate: real %d: %w: negative weight", r.ID, ErrInvalidReal)
		}
		avail = avail || r.Weight > 0
	}
	if !avail {
		return nil, fmt.Errorf("simulate: %w", ErrNoReals)
	}
	for i := 1; i < len(arrivals); i++ {
		if arrivals[i].At < arrivals[i-1].At {
			return nil, fmt.Errorf("simulate: arrival %d at %v before arrival %d at %v", i, arrivals[i].At, i-1, arrivals[i-1].At)
		}
	}
	n := len(cfg.Reals)
	return &sim{
		cfg:      cfg,
		active:   make([]uint64, n),
		inactive: make([]uint64, n),
		res:      SimResult{Picks: make([]int32, 0, len(arrivals)), New: make([]int, n)},
	}, nil
}

// advance applies every count change due at or before now.
func (s *sim) advance(now time.Duration) {
	for len(s.events) > 0 && s.events[0].at <= now {
		e := s.events[0]
		s.pop()
		s.active[e.real] = uint64(int64(s.active[e.real]) + int64(e.dA))
		s.inactive[e.real] = uint64(int64(s.inactive[e.real]) + int64(e.dI))
	}
}

// admit records that arrival a went to real k and schedules its life.
func (s *sim) admit(a Arrival, k int) {
	s.res.Picks = append(s.res.Picks, int32(s.cfg.Reals[k].ID))
	s.res.New[k]++
	dur := a.Dur
	if sl := s.cfg.Reals[k].Slowness; sl > 0 {
		dur = time.Duration(float64(dur) * sl)
	}
	hs := min(s.cfg.Handshake, dur)
	end := a.At + dur
	if hs >= dur { // never established: inactive until it lingers out
		s.inactive[k]++
		s.push(end+s.cfg.Linger, k, 0, -1)
		return
	}
	if hs > 0 {
		s.inactive[k]++
		s.push(a.At+hs, k, +1, -1)
	} else {
		s.active[k]++
	}
	if s.cfg.Linger > 0 {
		s.push(end, k, -1, +1)
		s.push(end+s.cfg.Linger, k, 0, -1)
	} else {
		s.push(end, k, -1, 0)
	}
}

func (s *sim) push(at time.Duration, k int, dA, dI int8) {
	s.seq++
	s.events = append(s.events, simEvent{at: at, seq: s.seq, real: k, dA: dA, dI: dI})
	h := s.events
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].before(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *sim) pop() {
	h := s.events
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].before(h[l]) {
			m = r
		}
		if !h[m].before(h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.events = h
}

func (e simEvent) before(o simEvent) bool {
	return e.at < o.at || e.at == o.at && e.seq < o.seq
}
