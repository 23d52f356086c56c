package sync

import (
	"net/netip"
	"time"

	"github.com/xlb/xlb/loader"
)

// qkey names what an entry is about: a connection (changed or deleted)
// or a template. A later entry with the same key replaces an earlier one
// still queued.
type qkey struct {
	flow   loader.FlowID     // connections and deletions
	svc    loader.ServiceKey // templates
	client netip.Addr        // templates
}

func keyOf(e *entry) qkey {
	switch e.Kind {
	case kindConn:
		return qkey{flow: e.Conn.ID()}
	case kindDelete:
		return qkey{flow: e.Flow}
	default:
		return qkey{svc: e.Template.Service, client: e.Template.Client}
	}
}

// queued is an entry waiting to be sent and when it was queued (its idle
// age grows while it waits).
type queued struct {
	e  entry
	at time.Time
}

// queue holds the changes a master has yet to send: first in, first out,
// at most max of them, one per key (the newest). While a bulk transfer
// is running it also remembers which keys changed after its snapshot
// (dirty): the transfer skips those, since the queue carries newer
// state. Not safe for concurrent use; the Syncer guards it.
type queue struct {
	max   int
	items []queued // items[head:] are queued; a zero Kind is a hole
	head  int
	index map[qkey]int // key → position in items
	dirty map[qkey]struct{}
}

func newQueue(max int) *queue {
	return &queue{max: max, index: make(map[qkey]int)}
}

func (q *queue) len() int { return len(q.index) }

// push queues e, replacing a queued entry with the same key. It returns
// false, and queues nothing, when the queue is full.
func (q *queue) push(e entry, now time.Time) bool {
	k := keyOf(&e)
	if q.dirty != nil {
		q.dirty[k] = struct{}{}
	}
	if i, ok := q.index[k]; ok {
		q.items[i].e = e
		return true
	}
	if len(q.index) >= q.max {
		return false
	}
	if q.head > 0 && q.head >= len(q.items)/2 {
		q.compact()
	}
	q.index[k] = len(q.items)
	q.items = append(q.items, queued{e: e, at: now})
	return true
}

// compact moves the queued entries to the front.
func (q *queue) compact() {
	n := copy(q.items, q.items[q.head:])
	clear(q.items[n:])
	q.items = q.items[:n]
	q.head = 0
	for i := range q.items {
		q.index[keyOf(&q.items[i].e)] = i
	}
}

// oldest is when the entry at the head was queued (zero if empty).
func (q *queue) oldest() time.Time {
	if q.head < len(q.items) {
		return q.items[q.head].at
	}
	return time.Time{}
}

// pop takes entries from the head while their encoded sizes fit in room
// bytes, at most n of them, with their idle ages advanced to now.
func (q *queue) pop(dst []entry, room, n int, now time.Time) []entry {
	for q.head < len(q.items) && n > 0 {
		it := &q.items[q.head]
		sz := it.e.size()
		if sz > room {
			break
		}
		e := it.e
		age := now.Sub(it.at)
		switch e.Kind {
		case kindConn:
			e.Conn.Idle += age
		case kindTemplate:
			e.Template.Idle += age
		}
		dst = append(dst, e)
		delete(q.index, keyOf(&it.e))
		*it = queued{}
		q.head++
		room -= sz
		n--
	}
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return dst
}

// reset empties the queue.
func (q *queue) reset() {
	clear(q.items)
	q.items = q.items[:0]
	q.head = 0
	clear(q.index)
}

// track starts (or restarts) remembering changed keys for a bulk
// transfer; untrack stops it.
func (q *queue) track()   { q.dirty = make(map[qkey]struct{}) }
func (q *queue) untrack() { q.dirty = nil }

// changed says whether k changed since track.
func (q *queue) changed(k qkey) bool {
	_, ok := q.dirty[k]
	return ok
}
