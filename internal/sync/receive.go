package sync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/xlb/xlb/loader"
)

const (
	// retiredEpochs is how many replaced master sessions a backup
	// remembers, to reject their messages if they are replayed.
	retiredEpochs = 16
	// maxRequesters bounds the backups whose request sequence numbers a
	// master tracks.
	maxRequesters = 16
)

// flowKey is a compact FlowID, for the set of connections a bulk
// transfer delivered.
type flowKey struct {
	client, vip  [16]byte
	cport, vport uint16
	proto        loader.Proto
}

func flowKeyOf(f loader.FlowID) flowKey {
	return flowKey{
		client: f.Client.Addr().As16(), vip: f.VIP.Addr().As16(),
		cport: f.Client.Port(), vport: f.VIP.Port(), proto: f.Proto,
	}
}

// requester is a backup whose resync requests a master has seen.
type requester struct {
	win  window
	last time.Time
}

// receiver is the state of the receive goroutine: as backup, the master
// session it follows and the bulk transfer it is receiving; as master,
// the backups that asked for transfers.
type receiver struct {
	s      *Syncer
	gen    uint64
	master bool

	// Backup: the followed session.
	epoch     uint64
	win       window
	from      netip.AddrPort
	lastHeard time.Time
	retired   [retiredEpochs]uint64
	nretired  int
	silent    bool
	// Backup: the bulk transfer being received.
	inBulk   bool
	bulkOK   bool // no message lost since its start
	transfer uint32
	count    uint32
	seen     map[flowKey]struct{}
	started  time.Time
	// Backup: resync requests.
	wantResync bool
	lostIn     uint32 // transfer of which a message was lost (0: none)
	lastReq    time.Time
	reqSeq     uint64
	buf        []byte

	// Master: the backups asking.
	requesters map[uint64]*requester
}

// receive is the receive goroutine.
func (s *Syncer) receive(ctx context.Context) error {
	r := &receiver{s: s, gen: ^uint64(0), buf: make([]byte, 0, MaxMessage)}
	buf := make([]byte, 2*MaxMessage) // larger, to tell oversized datagrams
	var lastTick time.Time
	for {
		if ctx.Err() != nil {
			return nil
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(s.tune.tick))
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if s.logLimit.allow("receive", now) {
				s.logger.Warn("sync receive failed", "err", err)
			}
			time.Sleep(s.tune.tick)
			continue
		}
		r.sync(now)
		if err == nil {
			r.handle(buf[:n], from, now)
		}
		if r.wantResync || now.Sub(lastTick) >= s.tune.tick {
			lastTick = now
			r.tick(now)
		}
	}
}

// sync catches up with a role change.
func (r *receiver) sync(now time.Time) {
	r.s.mu.Lock()
	master, gen := r.s.master, r.s.gen
	r.s.mu.Unlock()
	if gen == r.gen {
		return
	}
	r.gen, r.master = gen, master
	r.retire()
	r.epoch, r.win, r.from, r.silent = 0, window{}, netip.AddrPort{}, false
	r.inBulk, r.seen = false, nil
	r.requesters = nil
	r.wantResync = !master
	r.lastReq = time.Time{}
}

// retire remembers the followed session as replaced.
func (r *receiver) retire() {
	if r.epoch == 0 {
		return
	}
	r.retired[r.nretired%retiredEpochs] = r.epoch
	r.nretired++
}

func (r *receiver) isRetired(epoch uint64) bool {
	for _, e := range r.retired {
		if e == epoch {
			return true
		}
	}
	return false
}

func (r *receiver) reject(err error, from netip.AddrPort, now time.Time) {
	s := r.s
	s.c.reject(err)
	s.logger.Debug("sync message rejected", "from", from, "err", err)
	if s.logLimit.allow("reject", now) {
		s.logger.Warn("sync message rejected", "from", from, "err", err)
	}
}

func (r *receiver) handle(b []byte, from netip.AddrPort, now time.Time) {
	s := r.s
	msg, err := decode(b, s.cfg.Key)
	if err != nil {
		r.reject(err, from, now)
		return
	}
	s.mu.Lock()
	own := s.epoch
	s.mu.Unlock()
	if msg.Epoch == s.self || msg.Epoch == own {
		return // our own, looped back
	}
	if msg.Type == msgResync {
		if !r.master {
			s.c.ignored.Add(1)
			return
		}
		r.handleResync(msg, from, now)
		return
	}
	if r.master {
		s.c.ignored.Add(1)
		return
	}
	r.handleData(msg, from, now)
}

// handleResync takes a backup's request for a bulk transfer.
func (r *receiver) handleResync(msg *message, from netip.AddrPort, now time.Time) {
	s := r.s
	if r.requesters == nil {
		r.requesters = make(map[uint64]*requester)
	}
	q := r.requesters[msg.Epoch]
	if q == nil {
		if len(r.requesters) >= maxRequesters {
			var oldest uint64
			for id, o := range r.requesters {
				if oldest == 0 || o.last.Before(r.requesters[oldest].last) {
					oldest = id
				}
			}
			delete(r.requesters, oldest)
		}
		q = &requester{}
		r.requesters[msg.Epoch] = q
	}
	if ok, _ := q.win.check(msg.Seq); !ok {
		r.reject(fmt.Errorf("%w: request %d from %s", ErrReplay, msg.Seq, from), from, now)
		return
	}
	q.win.accept(msg.Seq)
	q.last = now
	s.c.recvMsgs.Add(1)
	s.c.requestsReceived.Add(1)
	s.mu.Lock()
	if s.bulkActive != 0 && msg.Transfer == s.bulkActive {
		s.bulkRestart, s.bulkLost = true, true // it lost part of the running transfer
	}
	s.bulkWant = true
	s.mu.Unlock()
	s.poke()
	s.logger.Debug("sync resync requested", "from", from, "transfer", msg.Transfer)
}

// handleData takes a master's message: checks its session and sequence,
// installs its entries and follows bulk transfers.
func (r *receiver) handleData(msg *message, from netip.AddrPort, now time.Time) {
	s := r.s
	switch {
	case msg.Epoch == r.epoch:
		ok, gap := r.win.check(msg.Seq)
		if !ok {
			r.reject(fmt.Errorf("%w: sequence %d from %s", ErrReplay, msg.Seq, from), from, now)
			return
		}
		r.win.accept(msg.Seq)
		if gap {
			s.c.gaps.Add(1)
			r.lose("sequence gap", now)
		}
	case r.isRetired(msg.Epoch):
		r.reject(fmt.Errorf("%w: epoch %x from %s", ErrOldEpoch, msg.Epoch, from), from, now)
		return
	default: // a new master session
		r.retire()
		r.epoch, r.win = msg.Epoch, window{}
		r.win.accept(msg.Seq)
		r.inBulk, r.seen = false, nil
		r.wantResync = true
		r.lastReq = time.Time{}
		r.setConverged(false)
		s.logger.Info("sync following master", "peer", from, "epoch", msg.Epoch)
	}
	s.c.recvMsgs.Add(1)
	r.from, r.lastHeard = from, now
	if r.silent {
		r.silent = false
		s.logger.Info("sync master heard again", "peer", from)
	}
	s.mu.Lock()
	s.peer, s.peerEpoch = from, r.epoch
	s.mu.Unlock()

	switch msg.Type {
	case msgUpdate:
		r.install(msg.Entries)
	case msgBulkStart:
		// Whatever was lost before is older than this transfer's
		// snapshot: the transfer covers it.
		r.inBulk, r.bulkOK, r.transfer, r.count = true, true, msg.Transfer, 0
		r.seen = make(map[flowKey]struct{})
		r.started = now
		r.wantResync, r.lostIn = false, 0
		if msg.Flags&flagReset != 0 {
			r.setConverged(false)
		}
	case msgBulk:
		if r.inBulk && msg.Transfer == r.transfer {
			r.count += uint32(len(msg.Entries))
		}
		r.install(msg.Entries)
	case msgBulkEnd:
		if !r.inBulk || msg.Transfer != r.transfer {
			return // the end of a transfer whose start this backup missed
		}
		complete := r.bulkOK && r.count == msg.Total
		seen := r.seen
		r.inBulk, r.seen = false, nil
		if !complete {
			r.wantResync = true
			return
		}
		swept := r.sweep(seen)
		s.c.bulkReceived.Add(1)
		r.setConverged(true)
		s.logger.Info("sync bulk transfer received", "peer", from, "entries", r.count, "swept", swept, "took", now.Sub(r.started))
	}
}

// lose notes a lost message: the table may miss changes until a bulk
// transfer arrives whole.
func (r *receiver) lose(why string, now time.Time) {
	r.bulkOK = false
	r.wantResync = true
	if r.inBulk {
		r.lostIn = r.transfer
	}
	if r.setConverged(false) {
		r.s.logger.Info("sync lost messages, asking for a bulk transfer", "reason", why)
	}
}

// setConverged sets the Syncer's convergence unless the role changed
// since this receiver caught up with it. It says whether it changed.
func (r *receiver) setConverged(v bool) bool {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != r.gen || s.converged == v {
		return false
	}
	s.setConvergedLocked(v)
	return true
}

// install applies entries to the dataplane. During a bulk transfer it
// records the connections delivered (by the transfer or by changes sent
// alongside), for the sweep at its end.
func (r *receiver) install(entries []entry) {
	s := r.s
	s.c.recvEntries.Add(uint64(len(entries)))
	for i := range entries {
		e := &entries[i]
		var err error
		switch e.Kind {
		case kindConn:
			err = s.dp.InstallConn(e.Conn)
			if r.seen != nil {
				r.seen[flowKeyOf(e.Conn.ID())] = struct{}{}
			}
		case kindTemplate:
			err = s.dp.InstallTemplate(e.Template)
		case kindDropTmpl:
			err = s.dp.DeleteTemplate(e.Template)
		case kindDelete:
			err = s.dp.DeleteConn(e.Flow)
			if r.seen != nil {
				delete(r.seen, flowKeyOf(e.Flow))
			}
		}
		if err != nil {
			s.c.installErrs.Add(1)
			if s.logLimit.allow("install", time.Now()) {
				s.logger.Warn("sync entry not installed", "err", err)
			}
			continue
		}
		s.c.installed.Add(1)
	}
}

// sweep deletes the connections the master's complete transfer did not
// mention: it no longer has them.
func (r *receiver) sweep(seen map[flowKey]struct{}) int {
	s := r.s
	stale, err := s.dp.Conns(func(c *loader.Conn) bool {
		_, ok := seen[flowKeyOf(c.ID())]
		return !ok
	}, 0)
	if err != nil {
		s.logger.Warn("sync sweep: cannot read the flow table", "err", err)
		return 0
	}
	n := 0
	for _, c := range stale {
		if err := s.dp.DeleteConn(c.ID()); err == nil {
			n++
		}
	}
	s.c.swept.Add(uint64(n))
	return n
}

// tick runs a backup's timers: a silent master, resync requests and
// their retries.
func (r *receiver) tick(now time.Time) {
	s := r.s
	if r.master {
		return
	}
	if r.epoch != 0 && !r.silent && now.Sub(r.lastHeard) > s.tune.silence {
		r.silent = true
		r.inBulk, r.seen = false, nil
		r.wantResync = true
		r.setConverged(false)
		s.logger.Info("sync master silent", "peer", r.from, "for", now.Sub(r.lastHeard))
	}
	// A transfer under way needs no reminder: a lost message shows as a
	// gap at the latest with the next heartbeat, a dead master as silence.
	due := r.wantResync && now.Sub(r.lastReq) >= s.tune.minRequest
	stalled := !r.inBulk && !s.Converged() && now.Sub(r.lastReq) >= s.tune.retry
	if due || stalled {
		r.request(now)
	}
}

// request asks the master for a bulk transfer: unicast to the master it
// heard, or to every configured peer before it heard one. With multicast
// and no master heard yet it waits for the master's heartbeat.
func (r *receiver) request(now time.Time) {
	s := r.s
	var dests []netip.AddrPort
	switch {
	case r.from.IsValid():
		dests = []netip.AddrPort{r.from}
	case len(s.cfg.Peers) > 0:
		dests = s.dests
	default:
		return
	}
	r.reqSeq++
	// Naming the transfer that lost a message makes the master restart
	// it (slower); otherwise a running transfer is followed by another.
	transfer := r.lostIn
	b, err := encode(r.buf, header{Type: msgResync, Epoch: s.self, Seq: r.reqSeq, Transfer: transfer}, nil, s.cfg.Key)
	if err != nil {
		s.logger.Error("sync request not encodable", "err", err)
		return
	}
	r.buf = b[:0]
	for _, d := range dests {
		s.writeTo(b, d)
	}
	r.lastReq = now
	r.wantResync, r.lostIn = false, 0
	s.c.requestsSent.Add(1)
	s.logger.Debug("sync resync request sent", "dests", fmt.Sprint(dests), "transfer", transfer)
}
