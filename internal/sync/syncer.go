package sync

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/xlb/xlb/loader"
)

// EventReader is the dataplane's stream of flow table changes
// (*loader.SyncReader).
type EventReader interface {
	Read() (loader.SyncEvent, error)
	SetDeadline(time.Time)
	Close() error
}

// Dataplane is what a Syncer needs of the dataplane; *loader.Dataplane
// (opened with SyncEvents) satisfies it.
type Dataplane[R EventReader] interface {
	SyncReader() (R, error)
	Conns(keep func(*loader.Conn) bool, limit int) ([]loader.Conn, error)
	Templates() ([]loader.Template, error)
	InstallConn(loader.Conn) error
	InstallTemplate(loader.Template) error
	DeleteConn(loader.FlowID) error
	DeleteTemplate(loader.Template) error
}

// table is Dataplane without the event stream.
type table interface {
	Conns(keep func(*loader.Conn) bool, limit int) ([]loader.Conn, error)
	Templates() ([]loader.Template, error)
	InstallConn(loader.Conn) error
	InstallTemplate(loader.Template) error
	DeleteConn(loader.FlowID) error
	DeleteTemplate(loader.Template) error
}

// lostCounter is the dataplane's count of changes it could not report
// (its sync_events ring was full); *loader.Dataplane has it.
type lostCounter interface {
	Counters() (map[string]uint64, error)
}

// tuning are timings and sizes; tests shorten them before Run.
type tuning struct {
	heartbeat  time.Duration // master: send at least this often
	silence    time.Duration // backup: master considered gone after this quiet
	retry      time.Duration // backup: repeat a resync request after this
	minRequest time.Duration // backup: at most one request per this
	tick       time.Duration // backup: timer resolution
	flushDelay time.Duration // master: wait this long to fill a batch
	queueMax   int           // master: queued changes before overflow
	lostPoll   time.Duration // master: how often to check for lost events
	bulkGap    time.Duration // master: at most one bulk snapshot per this
	eventBatch time.Duration // how often a busy event stream is collected
	// drop, if set, drops outgoing master messages (header, number of
	// entries) it returns true for: tests inject loss with it. Called
	// from the send goroutine.
	drop func(h header, entries int) bool
}

func defaultTuning() tuning {
	return tuning{
		heartbeat:  time.Second,
		silence:    3500 * time.Millisecond,
		retry:      2 * time.Second,
		minRequest: 100 * time.Millisecond,
		tick:       100 * time.Millisecond,
		flushDelay: 2 * time.Millisecond,
		queueMax:   1 << 16,
		lostPoll:   time.Second,
		bulkGap:    time.Second,
		eventBatch: 2 * time.Millisecond,
	}
}

// Syncer synchronises the flow table with the peer directors: as master
// it sends the dataplane's changes and answers resync requests with bulk
// transfers; as backup it installs what the master sends.
type Syncer struct {
	// Immutable after New.
	cfg    Config
	dp     table
	events func() (EventReader, error)
	lost   lostCounter // nil: the dataplane cannot tell
	logger *slog.Logger
	conn   *net.UDPConn
	dests  []netip.AddrPort
	self   uint64 // instance id: the epoch of this director's resync requests
	tune   tuning // set before Run

	wake      chan struct{} // pokes the send goroutine
	running   atomic.Bool
	closeOnce gosync.Once
	closeErr  error
	c         counters
	logLimit  logLimiter

	mu gosync.Mutex // guards everything below
	// Role.
	master bool
	gen    uint64 // bumped at every role change
	// Master side.
	epoch       uint64 // this master session; 0 as backup
	seq         uint64 // last sequence number sent in epoch
	q           *queue
	bulkWant    bool   // a bulk transfer is wanted
	bulkRestart bool   // abort the running transfer and start again
	bulkLost    bool   // a receiver lost part of the running transfer: slow down
	bulkReset   bool   // the next transfer tells receivers their table is stale
	bulkActive  uint32 // transfer being sent; 0: none
	// Backup side, for Status.
	converged bool
	convCh    chan struct{} // closed at the next change of converged
	peer      netip.AddrPort
	peerEpoch uint64
}

// New checks cfg and opens the sync socket (so a bad interface or a port
// in use is reported now). Run does the work; Close releases the socket
// of a Syncer that never runs. A new Syncer is a backup.
func New[R EventReader](cfg Config, dp Dataplane[R], logger *slog.Logger) (*Syncer, error) {
	if err := cfg.normalize(); err != nil {
		return nil, fmt.Errorf("sync config: %w", err)
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	cfg.Peers = append([]netip.Addr(nil), cfg.Peers...)
	conn, err := listen(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Syncer{
		cfg:    cfg,
		dp:     dp,
		events: func() (EventReader, error) { return dp.SyncReader() },
		logger: logger,
		conn:   conn,
		self:   randomID(),
		tune:   defaultTuning(),
		wake:   make(chan struct{}, 1),
		convCh: make(chan struct{}),
	}
	if lc, ok := any(dp).(lostCounter); ok {
		s.lost = lc
	}
	if len(cfg.Peers) == 0 {
		s.dests = []netip.AddrPort{netip.AddrPortFrom(cfg.Group, uint16(cfg.Port))}
	}
	for _, p := range cfg.Peers {
		s.dests = append(s.dests, netip.AddrPortFrom(p, uint16(cfg.Port)))
	}
	s.q = newQueue(s.tune.queueMax)
	return s, nil
}

// randomID is a random non-zero 64-bit id.
func randomID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// Close releases the socket. Run calls it when it returns.
func (s *Syncer) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.conn.Close() })
	return s.closeErr
}

// LocalAddr is the address and port the sync socket is bound to.
func (s *Syncer) LocalAddr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Run syncs until ctx ends: it reads the dataplane's changes, sends them
// while master, and receives and installs the master's while backup.
// It returns nil when ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sync: Run called twice")
	}
	defer s.Close()
	s.mu.Lock()
	s.q.max = s.tune.queueMax
	s.mu.Unlock()
	rd, err := s.events()
	if err != nil {
		return fmt.Errorf("open sync events: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-ctx.Done()
		rd.Close()
		s.Close()
		return nil
	})
	g.Go(func() error { return s.readEvents(ctx, rd) })
	g.Go(func() error { return s.receive(ctx) })
	g.Go(func() error { return s.send(ctx) })
	s.logger.Info("connection sync running", "local", s.LocalAddr(), "dests", fmt.Sprint(s.dests), "authenticated", len(s.cfg.Key) > 0)
	return g.Wait()
}

// SetMaster sets the role. A master starts a new session (epoch) and
// sends; a backup forgets what it followed, asks the master for its
// table and is not converged until it has it.
func (s *Syncer) SetMaster(master bool) {
	s.mu.Lock()
	if s.master == master {
		s.mu.Unlock()
		return
	}
	s.master = master
	s.gen++
	s.q.reset()
	s.q.untrack()
	s.bulkWant, s.bulkRestart, s.bulkLost, s.bulkReset, s.bulkActive = false, false, false, false, 0
	s.peer, s.peerEpoch = netip.AddrPort{}, 0
	if master {
		s.epoch, s.seq = randomID(), 0
	} else {
		s.epoch, s.seq = 0, 0
	}
	s.setConvergedLocked(master)
	epoch := s.epoch
	s.mu.Unlock()
	s.poke()
	if master {
		s.logger.Info("sync role master", "epoch", epoch)
	} else {
		s.logger.Info("sync role backup")
	}
}

// Expired queues the deletion of connections the master's GC expired
// (GCResult.ExpiredFlows). A backup ignores it.
func (s *Syncer) Expired(flows []loader.FlowID) {
	if len(flows) == 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.master {
		for _, f := range flows {
			s.enqueueLocked(entry{Kind: kindDelete, Flow: f}, now)
		}
	}
	s.mu.Unlock()
	s.poke()
}

// ExpiredTemplates passes the persistence templates the master's GC
// deleted (loader.GCResult.DroppedTemplates), to be deleted on the
// backups too. A backup ignores them.
func (s *Syncer) ExpiredTemplates(ts []loader.Template) {
	if len(ts) == 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.master {
		for _, t := range ts {
			s.enqueueLocked(entry{Kind: kindDropTmpl, Template: t}, now)
		}
	}
	s.mu.Unlock()
	s.poke()
}

// Converged reports whether this director's table is a complete copy of
// the master's: a backup becomes converged when a bulk transfer from the
// current master session has arrived whole, and stops being so when it
// loses a message, the master goes silent or a new session starts. A
// master is converged (its table is the reference).
func (s *Syncer) Converged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.converged
}

// Convergence returns Converged and a channel closed at its next change.
func (s *Syncer) Convergence() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.converged, s.convCh
}

func (s *Syncer) setConvergedLocked(v bool) {
	if s.converged == v {
		return
	}
	s.converged = v
	close(s.convCh)
	s.convCh = make(chan struct{})
}

func (s *Syncer) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueueLocked queues a change to send; a full queue is emptied and a
// bulk transfer (telling receivers they missed changes) replaces it.
func (s *Syncer) enqueueLocked(e entry, now time.Time) {
	if e.size() == 0 {
		s.c.unencodable.Add(1)
		return
	}
	if s.q.push(e, now) {
		return
	}
	s.q.reset()
	s.c.overflows.Add(1)
	s.bulkWant, s.bulkRestart, s.bulkReset = true, true, true
	if s.logLimit.allow("overflow", now) {
		s.logger.Warn("sync queue overflow, falling back to a bulk transfer", "queue_max", s.q.max)
	}
}

// readEvents turns the dataplane's changes into queued entries while
// master, and drains them while backup.
func (s *Syncer) readEvents(ctx context.Context, rd EventReader) error {
	return drainEvents(ctx, rd, s.tune.eventBatch, func(ev loader.SyncEvent, err error) {
		if err != nil {
			s.c.eventErrors.Add(1)
			if s.logLimit.allow("event", time.Now()) {
				s.logger.Warn("sync event unreadable", "err", err)
			}
			return
		}
		var e entry
		switch ev.Kind {
		case loader.SyncConnNew, loader.SyncConnState:
			e = entry{Kind: kindConn, Conn: ev.Conn}
		case loader.SyncTemplateNew:
			e = entry{Kind: kindTemplate, Template: ev.Template}
		default:
			return
		}
		s.c.events.Add(1)
		s.mu.Lock()
		master := s.master
		if master {
			s.enqueueLocked(e, time.Now())
		}
		s.mu.Unlock()
		if master {
			s.poke()
		}
	})
}

// drainEvents reads the dataplane's changes into fn until ctx ends or
// the reader is closed. It blocks for the first change after a quiet
// spell; then, while changes keep coming, it collects them every batch
// without blocking in the ring's poll: the dataplane wakes a blocked
// reader for every record it submits to an empty ring, which costs the
// fast path microseconds per new connection on a busy director; a
// reader that is behind is not woken.
func drainEvents(ctx context.Context, rd EventReader, batch time.Duration, fn func(loader.SyncEvent, error)) error {
	past := time.Unix(1, 0)
	timer := time.NewTimer(batch)
	defer timer.Stop()
	// read returns false when reading must stop or pause.
	read := func() (got, stop bool) {
		ev, err := rd.Read()
		switch {
		case err == nil:
			fn(ev, nil)
			return true, false
		case ctx.Err() != nil || errors.Is(err, loader.ErrClosed):
			return false, true
		case errors.Is(err, os.ErrDeadlineExceeded):
			return false, false
		default:
			fn(ev, err)
			return true, false
		}
	}
	for {
		rd.SetDeadline(time.Time{})
		if _, stop := read(); stop {
			return nil
		}
		for {
			timer.Reset(batch)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			rd.SetDeadline(past)
			n := 0
			for {
				got, stop := read()
				if stop {
					return nil
				}
				if !got {
					break
				}
				n++
			}
			if n == 0 {
				break
			}
		}
	}
}

// logLimiter lets a kind of log line through once per logEvery.
type logLimiter struct {
	mu   gosync.Mutex
	last map[string]time.Time
}

const logEvery = 10 * time.Second

func (l *logLimiter) allow(kind string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = make(map[string]time.Time)
	}
	if t, ok := l.last[kind]; ok && now.Sub(t) < logEvery {
		return false
	}
	l.last[kind] = now
	return true
}

// The loader's dataplane is a Dataplane.
var _ Dataplane[*loader.SyncReader] = (*loader.Dataplane)(nil)
