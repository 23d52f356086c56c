package sync

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/xlb/xlb/loader"
)

const (
	// fullBatch queued changes are sent at once; fewer wait up to
	// flushDelay for company.
	fullBatch = 32
	// burstMessages caps the messages one round of the send loop writes
	// before it looks at its timers and the role again.
	burstMessages = 64
	// minBulkRate is the floor of a bulk transfer slowed down by losses
	// (entries/s).
	minBulkRate = 1000
)

// bulkSend is a bulk transfer being sent: a snapshot of the table,
// streamed in batches.
type bulkSend struct {
	transfer  uint32
	conns     []loader.Conn
	templates []loader.Template
	next      int // index into templates, then conns
	taken     time.Time
	sent      int // entries sent
}

func (b *bulkSend) done() bool { return b.next >= len(b.templates)+len(b.conns) }

// at returns the i-th entry of the snapshot (templates first, so that a
// connection's client finds its template when it lands).
func (b *bulkSend) at(i int, age time.Duration) entry {
	if i < len(b.templates) {
		t := b.templates[i]
		t.Idle += age
		return entry{Kind: kindTemplate, Template: t}
	}
	c := b.conns[i-len(b.templates)]
	c.Idle += age
	return entry{Kind: kindConn, Conn: c}
}

// sender is the state of the send goroutine, which sends everything a
// master sends.
type sender struct {
	s        *Syncer
	gen      uint64
	master   bool
	global   *bucket // max_rate over everything
	bulkRate *bucket // a bulk transfer's own pace, slowed by losses
	bulk     *bulkSend
	transfer uint32 // last transfer id of this session
	lastSent time.Time
	lastBulk time.Time // when the last snapshot was taken
	lostBase uint64
	lostOK   bool
	lastPoll time.Time
	buf      []byte
	batch    []entry
}

func burstFor(rate float64) int {
	return max(int(rate/20), maxEntries)
}

// send is the send goroutine.
func (s *Syncer) send(ctx context.Context) error {
	now := time.Now()
	p := &sender{
		s:        s,
		gen:      ^uint64(0),
		global:   newBucket(float64(s.cfg.MaxRate), burstFor(float64(s.cfg.MaxRate)), now),
		bulkRate: newBucket(0, 0, now),
		buf:      make([]byte, 0, MaxMessage),
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
		next := p.step(time.Now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// step does what is due and says when to look again.
func (p *sender) step(now time.Time) time.Duration {
	s := p.s
	s.mu.Lock()
	master, gen := s.master, s.gen
	s.mu.Unlock()
	if gen != p.gen {
		p.gen, p.master = gen, master
		p.bulk, p.transfer = nil, 0
		p.lastSent, p.lastBulk = time.Time{}, time.Time{}
		p.lostOK = false
		p.bulkRate.set(0, 0, now)
	}
	if !master {
		return time.Hour // SetMaster pokes
	}
	p.pollLost(now)
	next := s.tune.heartbeat

	// Changes first: they are what keeps the backup current.
	wait, more := p.flushQueue(now)
	if more {
		next = min(next, wait)
	}
	if d := p.controlBulk(now); d > 0 {
		next = min(next, d)
	}
	if p.bulk != nil && !more {
		next = min(next, p.sendBulk(now))
	}
	if p.bulk != nil {
		next = min(next, s.tune.heartbeat/4)
	}
	if now.Sub(p.lastSent) >= s.tune.heartbeat {
		p.sendMsg(now, header{Type: msgUpdate}, nil)
	}
	next = min(next, s.tune.heartbeat-now.Sub(p.lastSent), s.tune.lostPoll)
	return max(next, 0)
}

// pollLost turns a rise of the dataplane's lost-event counter into a
// bulk transfer telling receivers they missed changes.
func (p *sender) pollLost(now time.Time) {
	s := p.s
	if s.lost == nil || now.Sub(p.lastPoll) < s.tune.lostPoll {
		return
	}
	p.lastPoll = now
	cs, err := s.lost.Counters()
	if err != nil {
		return
	}
	v := cs["sync_lost"]
	if p.lostOK && v > p.lostBase {
		s.c.eventsLost.Add(v - p.lostBase)
		s.mu.Lock()
		s.bulkWant, s.bulkRestart, s.bulkReset = true, true, true
		s.mu.Unlock()
		if s.logLimit.allow("lost", now) {
			s.logger.Warn("dataplane lost sync events, falling back to a bulk transfer", "lost", v-p.lostBase)
		}
	}
	p.lostBase, p.lostOK = v, true
}

// flushQueue sends queued changes while the rate allows. more is true
// when some remain, to be sent after wait.
func (p *sender) flushQueue(now time.Time) (wait time.Duration, more bool) {
	s := p.s
	for range burstMessages {
		s.mu.Lock()
		n := s.q.len()
		if n == 0 {
			s.mu.Unlock()
			return 0, false
		}
		if n < fullBatch {
			if d := s.tune.flushDelay - now.Sub(s.q.oldest()); d > 0 {
				s.mu.Unlock()
				return d, true
			}
		}
		avail := p.global.available(now)
		if avail < 1 {
			s.mu.Unlock()
			return p.global.wait(min(n, fullBatch), now), true
		}
		p.batch = s.q.pop(p.batch[:0], maxBody, min(avail, maxEntries), now)
		s.mu.Unlock()
		p.global.take(len(p.batch))
		p.sendMsg(now, header{Type: msgUpdate}, p.batch)
	}
	return 0, true
}

// controlBulk starts or restarts bulk transfers as requested, at most
// one snapshot per bulkGap (a snapshot reads the whole table). It
// returns how long a wanted start must wait.
func (p *sender) controlBulk(now time.Time) time.Duration {
	s := p.s
	s.mu.Lock()
	want, restart, lost, reset := s.bulkWant, s.bulkRestart, s.bulkLost, s.bulkReset
	start := (p.bulk == nil && want) || (p.bulk != nil && restart)
	if wait := s.tune.bulkGap - now.Sub(p.lastBulk); start && wait > 0 {
		s.mu.Unlock()
		return wait
	}
	if start {
		s.bulkWant, s.bulkRestart, s.bulkLost, s.bulkReset = false, false, false, false
		s.q.track() // before the snapshot: what changes after it is in the queue
	}
	s.mu.Unlock()
	if !start {
		return 0
	}
	p.lastBulk = now
	if old := p.bulk; old != nil {
		s.c.bulkAborted.Add(1)
		if lost {
			p.slowDown(old, now)
		}
	}
	p.bulk = nil
	templates, err := s.dp.Templates()
	var conns []loader.Conn
	if err == nil {
		conns, err = s.dp.Conns(nil, 0)
	}
	if err != nil {
		s.mu.Lock()
		s.q.untrack()
		s.bulkWant, s.bulkReset = true, s.bulkReset || reset
		s.mu.Unlock()
		if s.logLimit.allow("snapshot", now) {
			s.logger.Warn("sync bulk transfer: cannot read the flow table", "err", err)
		}
		return s.tune.bulkGap
	}
	p.transfer++
	p.bulk = &bulkSend{transfer: p.transfer, conns: conns, templates: templates, taken: now}
	s.mu.Lock()
	s.bulkActive = p.transfer
	s.mu.Unlock()
	var flags uint8
	if reset {
		flags = flagReset
	}
	p.sendMsg(now, header{Type: msgBulkStart, Flags: flags, Transfer: p.transfer}, nil)
	s.logger.Debug("sync bulk transfer started", "transfer", p.transfer, "conns", len(conns), "templates", len(templates))
	return 0
}

// slowDown halves a bulk transfer's pace after a receiver lost part of
// it: the next one goes at half the rate the lost one achieved.
func (p *sender) slowDown(b *bulkSend, now time.Time) {
	el := now.Sub(b.taken).Seconds()
	if el <= 0 || b.sent == 0 {
		return
	}
	rate := math.Max(float64(b.sent)/el/2, minBulkRate)
	if !p.bulkRate.unlimited() {
		rate = math.Max(math.Min(rate, p.bulkRate.rate/2), minBulkRate)
	}
	if p.s.cfg.MaxRate > 0 {
		rate = math.Min(rate, float64(p.s.cfg.MaxRate))
	}
	p.bulkRate.set(rate, burstFor(rate), now)
	p.s.logger.Info("sync bulk transfer lost messages, slowing down", "entries_per_s", int(rate))
}

// sendBulk sends batches of the running transfer while the rates allow,
// and its end marker after the last. It returns when to look again.
func (p *sender) sendBulk(now time.Time) time.Duration {
	s := p.s
	b := p.bulk
	total := len(b.templates) + len(b.conns)
	for range burstMessages {
		if b.done() {
			p.sendMsg(now, header{Type: msgBulkEnd, Transfer: b.transfer, Total: uint32(b.sent)}, nil)
			s.mu.Lock()
			s.q.untrack()
			s.bulkActive = 0
			s.mu.Unlock()
			s.c.bulkSent.Add(1)
			s.logger.Debug("sync bulk transfer sent", "transfer", b.transfer, "entries", b.sent, "took", now.Sub(b.taken))
			p.bulk = nil
			return 0
		}
		want := min(total-b.next, maxEntries)
		avail := min(p.global.available(now), p.bulkRate.available(now))
		if avail < min(want, 8) {
			return max(p.global.wait(min(want, 8), now), p.bulkRate.wait(min(want, 8), now), time.Millisecond)
		}
		age := now.Sub(b.taken)
		p.batch = p.batch[:0]
		room := maxBody
		s.mu.Lock()
		for b.next < total && len(p.batch) < avail {
			e := b.at(b.next, age)
			if s.q.changed(keyOf(&e)) {
				b.next++ // the queue carries its newer state
				continue
			}
			sz := e.size()
			if sz == 0 {
				b.next++
				continue
			}
			if sz > room {
				break
			}
			room -= sz
			p.batch = append(p.batch, e)
			b.next++
		}
		s.mu.Unlock()
		if len(p.batch) == 0 {
			continue
		}
		p.global.take(len(p.batch))
		p.bulkRate.take(len(p.batch))
		b.sent += len(p.batch)
		p.sendMsg(now, header{Type: msgBulk, Transfer: b.transfer}, p.batch)
		now = time.Now()
	}
	return 0
}

// sendMsg numbers, encodes and sends a master message to every
// destination.
func (p *sender) sendMsg(now time.Time, h header, entries []entry) {
	s := p.s
	s.mu.Lock()
	if !s.master || s.gen != p.gen {
		s.mu.Unlock()
		return
	}
	s.seq++
	h.Epoch, h.Seq = s.epoch, s.seq
	s.mu.Unlock()
	b, err := encode(p.buf, h, entries, s.cfg.Key)
	if err != nil {
		// Entries are checked when queued; this is a bug.
		s.logger.Error("sync message not encodable", "type", h.Type, "err", err)
		return
	}
	p.buf = b[:0]
	p.lastSent = now
	s.c.sentMsgs.Add(1)
	s.c.sentEntries.Add(uint64(len(entries)))
	if s.tune.drop != nil && s.tune.drop(h, len(entries)) {
		return
	}
	s.write(b)
}

// write sends a datagram to every destination.
func (s *Syncer) write(b []byte) {
	for _, d := range s.dests {
		s.writeTo(b, d)
	}
}

func (s *Syncer) writeTo(b []byte, d netip.AddrPort) {
	if _, err := s.conn.WriteToUDPAddrPort(b, d); err != nil && !errors.Is(err, net.ErrClosed) {
		s.c.sendErrors.Add(1)
		if s.logLimit.allow("send", time.Now()) {
			s.logger.Warn("sync send failed", "dest", d, "err", err)
		}
	}
}
