package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// SyncKind says what a SyncEvent reports.
type SyncKind uint8

// Kinds of flow table changes, as enum sync_event_type.
const (
	SyncConnNew     SyncKind = SyncKind(xlbSyncEventTypeSYNC_CONN_NEW)
	SyncConnState   SyncKind = SyncKind(xlbSyncEventTypeSYNC_CONN_STATE)
	SyncTemplateNew SyncKind = SyncKind(xlbSyncEventTypeSYNC_TEMPLATE_NEW)
)

// FlowID names a connection as the client sent it.
type FlowID struct {
	Proto  Proto
	Client netip.AddrPort
	VIP    netip.AddrPort
}

// ID returns the connection's FlowID.
func (c Conn) ID() FlowID { return FlowID{Proto: c.Proto, Client: c.Client, VIP: c.VIP} }

// Template is a persistence template: a (masked) client stays on a real.
type Template struct {
	Service ServiceKey
	Client  netip.Addr // masked by the service's persistence granularity
	Real    netip.AddrPort
	Idle    time.Duration
}

// SyncEvent is one change of the flow table (Options.SyncEvents).
type SyncEvent struct {
	Kind     SyncKind
	Conn     Conn     // SyncConnNew, SyncConnState
	Template Template // SyncTemplateNew
}

// SyncReader reads the dataplane's flow table changes.
type SyncReader struct {
	d  *Dataplane
	rd *ringbuf.Reader
}

// SyncReader opens the stream of flow table changes; the dataplane must
// have been opened with Options.SyncEvents. Close it to stop a blocked Read.
func (d *Dataplane) SyncReader() (*SyncReader, error) {
	if !d.opts.SyncEvents {
		return nil, errors.New("dataplane opened without sync events")
	}
	rd, err := ringbuf.NewReader(d.objs.SyncEvents)
	if err != nil {
		return nil, fmt.Errorf("open sync_events: %w", err)
	}
	return &SyncReader{d: d, rd: rd}, nil
}

// Close stops the reader; a blocked Read returns ErrClosed.
func (r *SyncReader) Close() error { return r.rd.Close() }

// ErrClosed is returned by Read after Close.
var ErrClosed = ringbuf.ErrClosed

// SetDeadline makes Read return os.ErrDeadlineExceeded after t.
func (r *SyncReader) SetDeadline(t time.Time) { r.rd.SetDeadline(t) }

// Read blocks for the next change.
func (r *SyncReader) Read() (SyncEvent, error) {
	rec, err := r.rd.Read()
	if err != nil {
		return SyncEvent{}, err
	}
	var ev xlbSyncEvent
	if len(rec.RawSample) < int(unsafe.Sizeof(ev)) {
		return SyncEvent{}, fmt.Errorf("sync event of %d bytes", len(rec.RawSample))
	}
	ev = *(*xlbSyncEvent)(unsafe.Pointer(&rec.RawSample[0]))
	out := SyncEvent{Kind: SyncKind(ev.Type)}
	now := monotonicSeconds()
	switch out.Kind {
	case SyncConnNew, SyncConnState:
		r.d.mu.Lock()
		var real netip.AddrPort
		if rs := r.d.reals[ev.Conn.RealId]; rs != nil {
			real = rs.addr
		}
		r.d.mu.Unlock()
		out.Conn = r.d.connOf(now, map[uint32]netip.AddrPort{ev.Conn.RealId: real}, &ev.Flow, &ev.Conn)
	case SyncTemplateNew:
		t, ok := r.d.templateOf(now, &ev.Template, &ev.Persist)
		if !ok {
			return out, fmt.Errorf("template of unknown service %d", ev.Template.ServiceId)
		}
		out.Template = t
	default:
		return out, fmt.Errorf("unknown sync event type %d", ev.Type)
	}
	return out, nil
}

func (d *Dataplane) templateOf(now uint32, k *xlbPersistKey, v *xlbPersist) (Template, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rs, ok := d.reals[v.RealId]
	if !ok {
		return Template{}, false
	}
	for key, s := range d.services {
		if s.id == k.ServiceId {
			return Template{
				Service: key,
				Client:  addrFrom(k.Client.Bytes, family(key.Addr)),
				Real:    rs.addr,
				Idle:    time.Duration(idle(now, v.LastSeen)) * time.Second,
			}, true
		}
	}
	return Template{}, false
}

// Templates lists the persistence templates.
func (d *Dataplane) Templates() ([]Template, error) {
	now := monotonicSeconds()
	var out []Template
	var (
		k xlbPersistKey
		v xlbPersist
	)
	it := d.objs.Persistence.Iterate()
	for it.Next(&k, &v) {
		if t, ok := d.templateOf(now, &k, &v); ok {
			out = append(out, t)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read persistence: %w", err)
	}
	return out, nil
}

// stateOf maps a state name back to enum conn_state.
func (d *Dataplane) stateOf(name string) (xlbConnState, bool) {
	for v, n := range d.stateNames {
		if n == name {
			return xlbConnState(v), true
		}
	}
	return 0, false
}

// InstallConn adds or replaces a connection learnt from the peer director.
// The real is found by address in this director's own service (its ids
// are its own); Idle carries over as the entry's age.
func (d *Dataplane) InstallConn(c Conn) error {
	key := ServiceKey{Addr: c.VIP.Addr(), Port: c.VIP.Port(), Proto: c.Proto}
	state, ok := d.stateOf(c.State)
	if !ok {
		return fmt.Errorf("connection %s: unknown state %q", c.Client, c.State)
	}
	d.mu.Lock()
	s, ok := d.services[key]
	var id uint32
	if ok {
		id, ok = s.members[c.Real]
	}
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("connection %s -> %s: %s is not a real of %s here", c.Client, c.VIP, c.Real, key)
	}
	fk := flowKeyOf(c.Client, c.VIP, c.Proto)
	v := xlbConn{ServiceId: uint16(s.id), RealId: id, State: state}
	v.LastSeen = monotonicSeconds() - uint32(min(c.Idle/time.Second, 1<<20))
	if err := d.objs.Conntrack.Put(&fk, &v); err != nil {
		return fmt.Errorf("install connection %s: %w", c.Client, err)
	}
	return nil
}

// InstallTemplate adds or replaces a persistence template learnt from the
// peer director.
func (d *Dataplane) InstallTemplate(t Template) error {
	d.mu.Lock()
	s, ok := d.services[t.Service]
	var id uint32
	if ok {
		id, ok = s.members[t.Real]
	}
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("template %s: %s is not a real of %s here", t.Client, t.Real, t.Service)
	}
	var k xlbPersistKey
	k.ServiceId = s.id
	k.Client.Bytes = addrBytes(t.Client)
	v := xlbPersist{RealId: id, LastSeen: monotonicSeconds() - uint32(min(t.Idle/time.Second, 1<<20))}
	if err := d.objs.Persistence.Put(&k, &v); err != nil {
		return fmt.Errorf("install template %s: %w", t.Client, err)
	}
	return nil
}

// DeleteTemplate removes a persistence template (the peer expired it).
// Only Service and Client matter.
func (d *Dataplane) DeleteTemplate(t Template) error {
	d.mu.Lock()
	s, ok := d.services[t.Service]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("template %s: %w", t.Client, ErrUnknownService)
	}
	var k xlbPersistKey
	k.ServiceId = s.id
	k.Client.Bytes = addrBytes(t.Client)
	if err := d.objs.Persistence.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete template %s: %w", t.Client, err)
	}
	return nil
}

// DeleteConn removes a connection (the peer expired it).
func (d *Dataplane) DeleteConn(id FlowID) error {
	fk := flowKeyOf(id.Client, id.VIP, id.Proto)
	if err := d.objs.Conntrack.Delete(&fk); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete connection %s: %w", id.Client, err)
	}
	return nil
}

// Touch sets every connection's and template's last use to now: a
// director taking over gives the flows it learnt their full timeouts.
func (d *Dataplane) Touch() error {
	now := monotonicSeconds()
	var keys []xlbFlowKey
	if err := d.walkConntrack(func(k *xlbFlowKey, v *xlbConn) { keys = append(keys, *k) }); err != nil {
		return err
	}
	for i := range keys {
		var v xlbConn
		if d.objs.Conntrack.Lookup(&keys[i], &v) != nil {
			continue
		}
		v.LastSeen = now
		d.objs.Conntrack.Update(&keys[i], &v, ebpf.UpdateExist)
	}
	var (
		k  xlbPersistKey
		v  xlbPersist
		ts []xlbPersistKey
	)
	it := d.objs.Persistence.Iterate()
	for it.Next(&k, &v) {
		ts = append(ts, k)
	}
	for i := range ts {
		if d.objs.Persistence.Lookup(&ts[i], &v) == nil {
			v.LastSeen = now
			d.objs.Persistence.Update(&ts[i], &v, ebpf.UpdateExist)
		}
	}
	return it.Err()
}
