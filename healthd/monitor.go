package healthd

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/xlb/xlb/internal/notify"
)

// ErrRunning is returned by Run when the Monitor already runs.
var ErrRunning = errors.New("healthd: monitor already running")

// DefaultShutdownTimeout bounds the omega scripts and mails run at stop.
const DefaultShutdownTimeout = 5 * time.Second

// dispatchSlack lets the scheduler start checks due within this much time
// in one wake-up instead of one wake-up each.
const dispatchSlack = time.Millisecond

// Options configure a Monitor.
type Options struct {
	// OnEvent receives every RealEvent and QuorumEvent, in order, from the
	// Run goroutine. It must return promptly: checks are not scheduled
	// while it runs. Nil drops events.
	OnEvent func(Event)
	// MaxConcurrent bounds the checks in flight; due checks wait for a
	// free slot. 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// ScriptWorkers bounds the notify scripts and mails running at once.
	// 0 means DefaultScriptWorkers.
	ScriptWorkers int
	// ScriptTimeout bounds one notify or quorum script; 0 means
	// notify.DefaultTimeout.
	ScriptTimeout time.Duration
	// ShutdownTimeout bounds the omega notifications at stop; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Mailer sends smtp_alert mail; nil sends none.
	Mailer Mailer
	// RouterID prefixes mail subjects, as keepalived's router_id.
	RouterID string
}

// Monitor runs the checkers of every real and turns their results into
// events.
type Monitor struct {
	// immutable after New
	opts     Options
	logger   *slog.Logger
	notifier *notifier
	wake     chan struct{} // cap 1: nudges the Run loop

	epoch    time.Time      // due times are nanoseconds since epoch (monotonic)
	results  chan result    // from probe workers to the Run loop; holds MaxConcurrent
	workerWG sync.WaitGroup // probe workers

	mu       sync.Mutex // guards everything below
	services map[string]*service
	order    []*service
	queue    checkHeap // checkers waiting for their next run
	inflight int
	workers  int       // probe workers alive
	idle     []*worker // idle probe workers, most recently idle last
	pending  []Event   // for OnEvent, delivered by the Run loop
	jobs     []job     // for the notifier, handed over by the Run loop
	running  bool
	stopping bool
	nextID   uint64
	everSet  bool // Set has succeeded once (init_file overwrites only before)
}

// service is one VirtualServer's state; guarded by Monitor.mu.
type service struct {
	cfg        VirtualServer // Reals cleared
	quorum     int
	quorumUp   bool
	weightSum  int
	upCmd      *notify.Command // quorum_up
	downCmd    *notify.Command // quorum_down
	reals      map[string]*realServer
	order      []*realServer
	hasStarted bool
}

// realServer is one Real's state; guarded by Monitor.mu.
type realServer struct {
	svc      *service
	cfg      Real // Checks cleared
	inhibit  bool
	upCmd    *notify.Command
	downCmd  *notify.Command
	checkers []*checker
	up       bool
	weight   int // effective weight while up, 0 while down
}

// checker is one Check of a real; guarded by Monitor.mu. The probe
// goroutine gets impl as an argument and touches nothing else unlocked.
type checker struct {
	id   uint64
	real *realServer
	s    spec
	fp   string
	impl Checker

	up        bool
	retryIt   int
	dynWeight int // weight reported by misc_dynamic, -1 for none
	offset    int // FILE_CHECK: added to the real's weight while up
	consecErr int
	lastCheck time.Time
	lastFail  time.Time
	lastErr   string
	checks    uint64
	failures  uint64

	due     int64 // next run, in Monitor.epoch nanoseconds
	hidx    int   // index in Monitor.queue, -1 when not queued
	running bool
	removed bool
}

// New returns a Monitor with no services; call Set, then Run.
func New(opts Options, logger *slog.Logger) *Monitor {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.ScriptWorkers <= 0 {
		opts.ScriptWorkers = DefaultScriptWorkers
	}
	if opts.ScriptTimeout <= 0 {
		opts.ScriptTimeout = notify.DefaultTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{
		opts:     opts,
		logger:   logger,
		notifier: newNotifier(logger, opts.Mailer, opts.ScriptWorkers),
		wake:     make(chan struct{}, 1),
		epoch:    time.Now(),
		services: map[string]*service{},
		results:  make(chan result, opts.MaxConcurrent),
	}
}

// at converts t to the scheduler's clock.
func (m *Monitor) at(t time.Time) int64 { return int64(t.Sub(m.epoch)) }

func (m *Monitor) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// builtVS and friends hold what Set prepares before it takes the lock.
type builtVS struct {
	cfg            VirtualServer
	upCmd, downCmd *notify.Command
	reals          []builtReal
}

type builtReal struct {
	cfg            Real
	upCmd, downCmd *notify.Command
	checks         []builtCheck
}

type builtCheck struct {
	s    spec
	fp   string
	impl Checker
	// FILE_CHECK's first reading, the checker's initial state: keepalived
	// knows a file's state from the start, alpha or not.
	initial *result
}

// Set makes vss the monitored configuration. Checkers whose definition did
// not change keep their state and schedule (a reload does not flap them),
// even when only their scheduling options changed; new checkers start down
// with alpha and up without, as keepalived; removed ones stop. Nothing
// changes if vss is invalid. Set may be called before or during Run.
func (m *Monitor) Set(vss []VirtualServer) error {
	if err := Validate(vss); err != nil {
		return fmt.Errorf("health check config: %w", err)
	}
	m.mu.Lock()
	firstSet := !m.everSet
	m.mu.Unlock()
	built, err := m.build(vss, firstSet)
	if err != nil {
		return fmt.Errorf("health check config: %w", err)
	}

	m.mu.Lock()
	m.everSet = true
	now := time.Now()
	services := make(map[string]*service, len(built))
	order := make([]*service, 0, len(built))
	for _, b := range built {
		s := m.reconcileServiceLocked(b, now)
		services[s.cfg.Key] = s
		order = append(order, s)
	}
	for key, s := range m.services {
		if services[key] != s {
			for _, r := range s.order {
				m.removeRealLocked(r, "its virtual server was removed")
			}
			m.logger.Info("virtual server removed", "service", key)
		}
	}
	m.services, m.order = services, order
	m.mu.Unlock()
	m.nudge()
	return nil
}

// build compiles scripts and checkers, the parts of Set that can fail. It
// also initialises FILE_CHECK files (init_file) and reads them.
func (m *Monitor) build(vss []VirtualServer, firstSet bool) ([]builtVS, error) {
	script := func(line string) (*notify.Command, error) {
		if line == "" {
			return nil, nil
		}
		return notify.Script{Line: line, Timeout: m.opts.ScriptTimeout}.Compile()
	}
	var errs []error
	out := make([]builtVS, 0, len(vss))
	for _, vs := range vss {
		b := builtVS{cfg: vs}
		b.cfg.Reals = nil
		var err1, err2 error
		b.upCmd, err1 = script(vs.QuorumUp)
		b.downCmd, err2 = script(vs.QuorumDown)
		errs = append(errs, err1, err2)
		for _, r := range vs.Reals {
			br := builtReal{cfg: r}
			br.cfg.Checks = nil
			br.upCmd, err1 = script(r.NotifyUp)
			br.downCmd, err2 = script(r.NotifyDown)
			errs = append(errs, err1, err2)
			for i, c := range r.Checks {
				s := normalize(c, vs.DelayLoop, r.Addr)
				impl, err := s.build()
				if err != nil {
					errs = append(errs, fmt.Errorf("virtual_server %q real_server %q check %d (%v): %w", vs.Key, r.Key, i, c.Type, err))
					continue
				}
				bc := builtCheck{s: s, fp: s.fingerprint(), impl: impl}
				if s.Type == FileCheck {
					if s.InitFile {
						if err := initTrackFile(s.FilePath, s.InitValue, s.InitOverwrite, firstSet); err != nil {
							m.logger.Warn("track file not initialised", "track_file", s.TrackFile, "err", err)
						}
					}
					w, err := impl.Check(context.Background())
					bc.initial = &result{weight: w, err: err, at: time.Now()}
				}
				br.checks = append(br.checks, bc)
			}
			b.reals = append(b.reals, br)
		}
		out = append(out, b)
	}
	return out, errors.Join(errs...)
}

func (m *Monitor) reconcileServiceLocked(b builtVS, now time.Time) *service {
	s := m.services[b.cfg.Key]
	isNew := s == nil
	if isNew {
		s = &service{reals: map[string]*realServer{}}
		m.logger.Info("virtual server added", "service", b.cfg.Key, "reals", len(b.reals))
	}
	s.cfg = b.cfg
	s.quorum = max(1, b.cfg.Quorum)
	s.upCmd, s.downCmd = b.upCmd, b.downCmd

	reals := make(map[string]*realServer, len(b.reals))
	order := make([]*realServer, 0, len(b.reals))
	for _, br := range b.reals {
		r := s.reals[br.cfg.Key]
		realIsNew := r == nil
		if realIsNew {
			r = &realServer{svc: s}
		}
		r.cfg = br.cfg
		r.inhibit = s.cfg.InhibitOnFailure || br.cfg.InhibitOnFailure
		r.upCmd, r.downCmd = br.upCmd, br.downCmd
		m.reconcileCheckersLocked(r, br.checks, now)
		if realIsNew {
			r.up, r.weight = r.evaluate()
			reason := "initial state"
			switch {
			case len(r.checkers) == 0:
				reason = "initial state: no checks"
			case !r.up:
				reason = "initial state: alpha, down until the first success"
				for _, c := range r.checkers {
					if !c.up && c.lastErr != "" {
						reason = "initial state: " + c.s.String() + ": " + c.lastErr
						break
					}
				}
			}
			m.emitLocked(r.event(reason))
			m.logger.Info("real server added", "service", s.cfg.Key, "real", r.cfg.Key, "addr", r.cfg.Addr, "up", r.up, "weight", r.weight)
		} else {
			m.updateRealLocked(r, "configuration changed", nil, nil)
		}
		reals[r.cfg.Key] = r
		order = append(order, r)
	}
	for key, r := range s.reals {
		if reals[key] != r {
			m.removeRealLocked(r, "removed from the configuration")
		}
	}
	s.reals, s.order = reals, order
	m.updateQuorumLocked(s, isNew, "configuration changed")
	return s
}

// reconcileCheckersLocked keeps the checkers of r whose fingerprint is in
// checks, starts the new ones and stops the rest.
func (m *Monitor) reconcileCheckersLocked(r *realServer, checks []builtCheck, now time.Time) {
	old := map[string][]*checker{}
	for _, c := range r.checkers {
		old[c.fp] = append(old[c.fp], c)
	}
	cs := make([]*checker, 0, len(checks))
	for _, bc := range checks {
		if l := old[bc.fp]; len(l) > 0 {
			c := l[0]
			old[bc.fp] = l[1:]
			m.retuneLocked(c, bc, now)
			cs = append(cs, c)
			continue
		}
		m.nextID++
		c := &checker{
			id:        m.nextID,
			real:      r,
			s:         bc.s,
			fp:        bc.fp,
			impl:      bc.impl,
			up:        !r.svc.cfg.Alpha,
			dynWeight: -1,
			hidx:      -1,
			due:       m.at(now) + int64(jitter(bc.s.Warmup)),
		}
		if in := bc.initial; in != nil {
			c.up, c.lastCheck, c.checks = in.err == nil, in.at, 1
			c.due = m.at(now) + int64(bc.s.DelayLoop)
			if in.err == nil {
				c.offset = in.weight
			} else {
				c.failures, c.consecErr, c.lastFail, c.lastErr = 1, 1, in.at, reasonOf(in.err)
			}
		}
		heap.Push(&m.queue, c)
		cs = append(cs, c)
	}
	for _, l := range old {
		for _, c := range l {
			m.dropCheckerLocked(c)
		}
	}
	r.checkers = cs
}

// retuneLocked adopts new scheduling options and timeouts for a kept
// checker (a probe in flight finishes with the old ones).
func (m *Monitor) retuneLocked(c *checker, bc builtCheck, now time.Time) {
	s := bc.s
	c.s, c.impl = s, bc.impl
	c.retryIt = min(c.retryIt, s.Retry)
	if c.hidx >= 0 && c.due > m.at(now)+int64(s.DelayLoop) {
		c.due = m.at(now) + int64(jitter(s.DelayLoop))
		heap.Fix(&m.queue, c.hidx)
	}
}

func (m *Monitor) dropCheckerLocked(c *checker) {
	c.removed = true
	if c.hidx >= 0 {
		heap.Remove(&m.queue, c.hidx)
	}
}

// removeRealLocked stops r's checkers; a real that was up gets its
// notify_down script and mail, as keepalived does on reload.
func (m *Monitor) removeRealLocked(r *realServer, why string) {
	for _, c := range r.checkers {
		m.dropCheckerLocked(c)
	}
	r.checkers = nil
	m.logger.Info("real server removed", "service", r.svc.cfg.Key, "real", r.cfg.Key, "addr", r.cfg.Addr, "was_up", r.up, "cause", why)
	if r.up {
		m.realJobsLocked(r, false, "=> Removing <=")
	}
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// evaluate returns whether r is up (every checker up) and its weight: the
// configured weight moved by what misc_dynamic checkers reported (one such
// checker sets the weight to its exit code - 2) and by what FILE_CHECKs
// add, within 0 and the largest IPVS weight, as keepalived.
func (r *realServer) evaluate() (bool, int) {
	w := int64(r.cfg.Weight)
	for _, c := range r.checkers {
		if !c.up {
			return false, 0
		}
		if c.dynWeight >= 0 {
			w += int64(c.dynWeight - r.cfg.Weight)
		}
		w += int64(c.offset)
	}
	return true, int(max(0, min(w, math.MaxInt32)))
}

func (r *realServer) event(reason string) RealEvent {
	return RealEvent{
		Service:   r.svc.cfg.Key,
		Real:      r.cfg.Key,
		Up:        r.up,
		Weight:    r.weight,
		Inhibited: !r.up && r.inhibit,
		Reason:    reason,
	}
}

func (m *Monitor) emitLocked(ev Event) {
	if m.opts.OnEvent != nil {
		m.pending = append(m.pending, ev)
	}
}

// Run schedules checks until ctx ends, then waits for the checks in flight,
// runs the omega notifications and returns nil.
//
// The Run goroutine owns scheduling: it dispatches due checks to probe
// workers and applies their results, which come back over a channel and
// are applied in batches under one lock, so thousands of results a second
// do not queue the workers on the Monitor's mutex.
func (m *Monitor) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return ErrRunning
	}
	m.running, m.stopping = true, false
	m.mu.Unlock()

	// Probes are cancelled by shutdown, after it has marked the stop, so a
	// cancelled probe is never taken for a failed one.
	probeCtx, cancelProbes := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProbes()
	var notifierDone sync.WaitGroup
	notifierDone.Go(func() { m.notifier.run(ctx) })

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	batch := make([]result, 0, 64)
	for {
		m.mu.Lock()
		for _, r := range batch {
			m.finishLocked(r)
		}
		clear(batch)
		batch = batch[:0]
		now := time.Now()
		wait := m.dispatchLocked(probeCtx, m.at(now))
		events, jobs := m.pending, m.jobs
		m.pending, m.jobs = nil, nil
		m.mu.Unlock()

		for _, ev := range events {
			m.opts.OnEvent(ev)
		}
		m.notifier.enqueue(jobs)
		if wait >= 0 {
			timer.Reset(time.Until(now.Add(wait)))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			m.shutdown(ctx, cancelProbes, &notifierDone)
			return nil
		case <-timer.C:
		case <-m.wake:
		case r := <-m.results:
			batch = append(batch, r)
		drain:
			for len(batch) < cap(batch) {
				select {
				case r := <-m.results:
					batch = append(batch, r)
				default:
					break drain
				}
			}
		}
	}
}

// dispatchLocked starts every due checker while there is room and returns
// how long until the next one is due, or -1 when the loop should wait for
// a result or a nudge (nothing queued, or no room).
func (m *Monitor) dispatchLocked(ctx context.Context, now int64) time.Duration {
	for len(m.queue) > 0 {
		c := m.queue[0]
		if d := time.Duration(c.due - now); d > dispatchSlack {
			return d
		}
		if m.inflight >= m.opts.MaxConcurrent {
			return -1
		}
		heap.Pop(&m.queue)
		c.running = true
		m.inflight++
		j := probeJob{c: c, impl: c.impl}
		if n := len(m.idle); n > 0 {
			w := m.idle[n-1]
			m.idle[n-1] = nil
			m.idle = m.idle[:n-1]
			w.jobs <- j
			continue
		}
		w := &worker{jobs: make(chan probeJob, 1)}
		m.workers++
		m.workerWG.Go(func() { m.work(ctx, w, j) })
	}
	return -1
}

// probeJob is one check for a worker.
type probeJob struct {
	c    *checker
	impl Checker
}

// result is a finished check, on its way back to the Run loop.
type result struct {
	w      *worker
	c      *checker
	weight int
	err    error
	at     time.Time
}

// workerIdle is how long a probe worker waits for work before it exits.
const workerIdle = 5 * time.Second

// worker is a probe goroutine. Workers start on demand, up to
// MaxConcurrent, and are reused most recently idle first, so a burst's
// extra workers expire after workerIdle while the rest keep their grown
// stacks instead of growing a fresh one for every check.
type worker struct {
	jobs chan probeJob // cap 1; the dispatcher sends only to an idle worker
}

func (m *Monitor) work(ctx context.Context, w *worker, j probeJob) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		weight, err := j.impl.Check(ctx)
		// Never blocks: the channel holds MaxConcurrent results.
		m.results <- result{w: w, c: j.c, weight: weight, err: err, at: time.Now()}
		idle.Reset(workerIdle)
	wait:
		for {
			select {
			case j = <-w.jobs:
				break wait
			case <-idle.C:
				if m.retire(w, false) {
					return
				}
				idle.Reset(workerIdle)
			case <-ctx.Done():
				m.retire(w, true)
				return
			}
		}
	}
}

// retire takes w out of the pool if it is idle, or in any case with force
// (at stop, when nothing is dispatched any more).
func (m *Monitor) retire(w *worker, force bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.Index(m.idle, w)
	if i < 0 && !force {
		return false // its result is not in yet, or a job is on its way
	}
	if i >= 0 {
		m.idle = slices.Delete(m.idle, i, i+1)
	}
	m.workers--
	return true
}

// finishLocked takes a result in: the worker goes back to the idle pool
// and the check's outcome is applied.
func (m *Monitor) finishLocked(r result) {
	m.inflight--
	m.idle = append(m.idle, r.w)
	c := r.c
	c.running = false
	switch {
	case c.removed:
	case m.stopping:
		// Cancelled by the stop, not failed: run it first next time.
		c.due = m.at(r.at)
		heap.Push(&m.queue, c)
	default:
		m.applyLocked(c, r.weight, r.err, r.at)
	}
}

// applyLocked records one result with keepalived's semantics: a success
// brings the checker up; a failure of an up checker is retried Retry times,
// DelayBeforeRetry apart, and the next failure brings it down; a down
// checker is simply checked again after the delay loop.
func (m *Monitor) applyLocked(c *checker, weight int, err error, now time.Time) {
	c.lastCheck = now
	c.checks++
	r := c.real
	if err == nil {
		c.consecErr = 0
		c.retryIt = 0
		c.due = m.at(now) + int64(c.s.DelayLoop)
		wasUp, oldWeight, oldOffset := c.up, c.dynWeight, c.offset
		c.up = true
		c.dynWeight = -1
		c.offset = 0
		switch {
		case c.s.MiscDynamic:
			c.dynWeight = weight
		case c.s.Type == FileCheck:
			c.offset = weight
		}
		heap.Push(&m.queue, c)
		cause := ""
		switch {
		case !wasUp && c.offset != 0:
			cause = fmt.Sprintf("%v succeeded, adding %d to the weight", c.s, c.offset)
		case !wasUp:
			cause = c.s.String() + " succeeded"
		case oldWeight != c.dynWeight && c.dynWeight >= 0:
			cause = fmt.Sprintf("%v reported weight %d", c.s, c.dynWeight)
		case oldWeight != c.dynWeight:
			cause = c.s.String() + " succeeded with exit code 0: configured weight"
		case oldOffset != c.offset:
			cause = fmt.Sprintf("%v now adds %d to the weight", c.s, c.offset)
		default:
			return
		}
		if m.updateRealLocked(r, cause, c, nil) {
			m.updateQuorumLocked(r.svc, false, cause)
		}
		return
	}

	reason := reasonOf(err)
	c.failures++
	c.consecErr++
	c.lastFail = now
	c.lastErr = reason
	if c.up && c.retryIt < c.s.Retry {
		c.retryIt++
		c.due = m.at(now) + int64(c.s.DelayBeforeRetry)
		heap.Push(&m.queue, c)
		m.logger.Debug("check failed, retrying", "service", r.svc.cfg.Key, "real", r.cfg.Key,
			"check", c.s.String(), "reason", reason, "retry", c.retryIt, "of", c.s.Retry, "err", err)
		return
	}
	c.retryIt = 0
	c.due = m.at(now) + int64(c.s.DelayLoop)
	heap.Push(&m.queue, c)
	wasUp := c.up
	c.up = false
	c.dynWeight = -1
	c.offset = 0
	if !wasUp {
		return
	}
	cause := c.s.String() + ": " + reason
	if m.updateRealLocked(r, cause, c, err) {
		m.updateQuorumLocked(r.svc, false, cause)
	}
}

// updateRealLocked re-evaluates r after one of its checkers changed (c, nil
// for a reload), reports a transition or a weight change and returns whether
// there was one. The caller updates the quorum.
func (m *Monitor) updateRealLocked(r *realServer, cause string, c *checker, err error) bool {
	up, weight := r.evaluate()
	if up == r.up && weight == r.weight {
		return false
	}
	transition := up != r.up
	r.up, r.weight = up, weight
	m.emitLocked(r.event(cause))
	log := m.logger.With("service", r.svc.cfg.Key, "real", r.cfg.Key, "addr", r.cfg.Addr)
	if c != nil {
		log = log.With("check", c.s.String())
	}
	switch {
	case !transition:
		log.Info("real server weight changed", "weight", weight, "reason", cause)
	case up:
		log.Info("real server up", "weight", weight, "reason", cause)
		m.realJobsLocked(r, true, "=> "+cause+" <=")
	default:
		reason := cause
		if c != nil {
			reason = c.lastErr
		}
		if err != nil {
			log = log.With("err", err)
		}
		log.Warn("real server down", "reason", reason, "inhibited", r.inhibit, "failures", failuresOf(c))
		m.realJobsLocked(r, false, "=> "+cause+" <=")
	}
	return true
}

func failuresOf(c *checker) int {
	if c == nil {
		return 0
	}
	return c.consecErr
}

// realJobsLocked queues r's notify_up or notify_down script and its mail.
func (m *Monitor) realJobsLocked(r *realServer, up bool, detail string) {
	s := r.svc
	cmd, what, state := r.downCmd, "notify_down", "DOWN"
	if up {
		cmd, what, state = r.upCmd, "notify_up", "UP"
	}
	if cmd != nil {
		m.jobs = append(m.jobs, job{what: what, service: s.cfg.Key, real: r.cfg.Key, cmd: cmd})
	}
	if r.cfg.SMTPAlert && m.opts.Mailer != nil {
		m.jobs = append(m.jobs, job{
			what:    "mail",
			service: s.cfg.Key,
			real:    r.cfg.Key,
			subject: fmt.Sprintf("[%s] Realserver %s (%v) of virtual server %s - %s", m.routerID(), r.cfg.Key, r.cfg.Addr, s.cfg.Key, state),
			body:    fmt.Sprintf("%s\n\nservice: %s\nreal server: %s (%v)\nstate: %s\ntime: %s\n", detail, s.cfg.Key, r.cfg.Key, r.cfg.Addr, state, time.Now().Format(time.RFC3339)),
		})
	}
}

func (m *Monitor) routerID() string {
	if m.opts.RouterID != "" {
		return m.opts.RouterID
	}
	return "xlb"
}

// updateQuorumLocked recomputes s's weight sum and quorum with keepalived's
// hysteresis: quorum is gained at quorum+hysteresis and lost below
// quorum-hysteresis or when no weight is left. init sets the first state
// without scripts.
func (m *Monitor) updateQuorumLocked(s *service, init bool, cause string) {
	sum := 0
	for _, r := range s.order {
		if r.up {
			sum += r.weight
		}
	}
	s.weightSum = sum
	if init || !s.hasStarted {
		s.hasStarted = true
		s.quorumUp = sum >= s.quorum+s.cfg.Hysteresis
		m.emitLocked(QuorumEvent{Service: s.cfg.Key, Up: s.quorumUp, WeightSum: sum, Reason: "initial state"})
		return
	}
	threshold := s.quorum + s.cfg.Hysteresis
	if s.quorumUp {
		threshold = s.quorum - s.cfg.Hysteresis
	}
	var gained bool
	switch {
	case !s.quorumUp && sum >= threshold:
		gained = true
	case s.quorumUp && (sum == 0 || sum < threshold):
		gained = false
	default:
		return
	}
	s.quorumUp = gained
	reason := fmt.Sprintf("weight sum %d, quorum %d, hysteresis %d (%s)", sum, s.quorum, s.cfg.Hysteresis, cause)
	m.emitLocked(QuorumEvent{Service: s.cfg.Key, Up: gained, WeightSum: sum, Reason: reason})
	if gained {
		m.logger.Info("quorum gained", "service", s.cfg.Key, "weight_sum", sum, "quorum", s.quorum, "hysteresis", s.cfg.Hysteresis)
	} else {
		m.logger.Warn("quorum lost", "service", s.cfg.Key, "weight_sum", sum, "quorum", s.quorum, "hysteresis", s.cfg.Hysteresis)
	}
	m.quorumJobsLocked(s, gained, reason)
}

func (m *Monitor) quorumJobsLocked(s *service, up bool, detail string) {
	cmd, what, state := s.downCmd, "quorum_down", "DOWN"
	if up {
		cmd, what, state = s.upCmd, "quorum_up", "UP"
	}
	if cmd != nil {
		m.jobs = append(m.jobs, job{what: what, service: s.cfg.Key, cmd: cmd})
	}
	if s.cfg.SMTPAlert && m.opts.Mailer != nil {
		m.jobs = append(m.jobs, job{
			what:    "mail",
			service: s.cfg.Key,
			subject: fmt.Sprintf("[%s] Virtual server %s - quorum %s", m.routerID(), s.cfg.Key, state),
			body:    fmt.Sprintf("=> %s <=\n\nservice: %s\nquorum: %s\ntime: %s\n", detail, s.cfg.Key, state, time.Now().Format(time.RFC3339)),
		})
	}
}

// shutdown stops the checks in flight and the notifier, then runs the omega
// notifications.
func (m *Monitor) shutdown(ctx context.Context, cancelProbes context.CancelFunc, notifierDone *sync.WaitGroup) {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	cancelProbes()
	m.workerWG.Wait()
	notifierDone.Wait()

	m.mu.Lock()
	for len(m.results) > 0 {
		m.finishLocked(<-m.results)
	}
	m.idle = nil
	m.pending = nil
	m.jobs = nil
	for _, s := range m.order {
		if !s.cfg.Omega {
			continue
		}
		for _, r := range s.order {
			if r.up {
				m.realJobsLocked(r, false, "=> Shutting down <=")
			}
		}
		if s.quorumUp {
			m.quorumJobsLocked(s, false, "Shutting down")
		}
	}
	omega := m.jobs
	m.jobs = nil
	m.running = false
	m.mu.Unlock()

	if len(omega) > 0 {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.ShutdownTimeout)
		defer cancel()
		m.logger.Info("running omega notifications", "count", len(omega))
		m.notifier.runAll(sctx, omega)
	}
}

// Status returns a snapshot of every service and real, in configuration
// order.
func (m *Monitor) Status() []ServiceStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ServiceStatus, 0, len(m.order))
	for _, s := range m.order {
		ss := ServiceStatus{Service: s.cfg.Key, QuorumUp: s.quorumUp, WeightSum: s.weightSum, Quorum: s.quorum, Reals: make([]RealStatus, 0, len(s.order))}
		for _, r := range s.order {
			rs := RealStatus{Real: r.cfg.Key, Addr: r.cfg.Addr, Up: r.up, Weight: r.weight, Checks: make([]CheckStatus, 0, len(r.checkers))}
			var lastFail time.Time
			for _, c := range r.checkers {
				rs.Checks = append(rs.Checks, CheckStatus{
					Type:                c.s.Type,
					Target:              c.target(),
					Up:                  c.up,
					LastCheck:           c.lastCheck,
					LastError:           c.lastErr,
					ConsecutiveFailures: c.consecErr,
					Checks:              c.checks,
					Failures:            c.failures,
				})
				if c.lastCheck.After(rs.LastCheck) {
					rs.LastCheck = c.lastCheck
				}
				rs.ConsecutiveFailures = max(rs.ConsecutiveFailures, c.consecErr)
				switch {
				case !r.up && !c.up && rs.LastError == "":
					rs.LastError = c.lastErr
				case r.up && c.lastFail.After(lastFail):
					lastFail = c.lastFail
					rs.LastError = c.lastErr
				}
			}
			ss.Reals = append(ss.Reals, rs)
		}
		out = append(out, ss)
	}
	return out
}

func (c *checker) target() string { return c.s.target() }
