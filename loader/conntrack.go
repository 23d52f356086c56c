package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Timeouts are how long an idle connection is kept, by state, as IPVS's
// `ipvsadm --set tcp tcpfin udp` (plus SYN_RECV). A connection closed by
// RST is kept for CloseTimeout.
type Timeouts struct {
	TCP    time.Duration // ESTABLISHED
	TCPFin time.Duration // after a FIN
	TCPSyn time.Duration // SYN seen, handshake not completed
	UDP    time.Duration
	// Hold expires nothing: a backup director holds the flows its master
	// syncs to it, and learns of their end from the master.
	Hold bool
}

// CloseTimeout is how long a connection ended by RST stays tracked, so
// that its last segments still find their way (IPVS: 10 s).
const CloseTimeout = 10 * time.Second

// DefaultTimeouts are IPVS's defaults.
var DefaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, TCPSyn: 60 * time.Second, UDP: 300 * time.Second}

func (t Timeouts) of(state xlbConnState) time.Duration {
	switch state {
	case xlbConnStateCONN_ESTABLISHED:
		return t.TCP
	case xlbConnStateCONN_FIN_WAIT:
		return t.TCPFin
	case xlbConnStateCONN_CLOSE:
		return CloseTimeout
	case xlbConnStateCONN_UDP:
		return t.UDP
	default:
		return t.TCPSyn
	}
}

// monotonicSeconds is the dataplane's clock (bpf_ktime_get_coarse_ns).
func monotonicSeconds() uint32 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint32(ts.Sec)
}

func idle(now, last uint32) uint32 {
	if last > now { // refreshed after we read the clock
		return 0
	}
	return now - last
}

// Conn is a tracked connection.
type Conn struct {
	Proto  Proto
	Client netip.AddrPort
	VIP    netip.AddrPort
	Real   netip.AddrPort
	// State is IPVS's name for it: SYN_RECV, ESTABLISHED, FIN_WAIT,
	// CLOSE or UDP.
	State string
	// Active is true for ESTABLISHED connections (IPVS's ActiveConn).
	Active bool
	Idle   time.Duration
}

// ConnCounts are a real's connections as ipvsadm shows them.
type ConnCounts struct {
	Active, Inactive uint64
	// Ended counts, since the dataplane started, the real's established
	// connections that ended (FIN or RST): its departure rate, for lc/wlc.
	Ended uint64
}

const batchSize = 4096

// walkConntrack calls fn for every tracked connection, in batches.
func (d *Dataplane) walkConntrack(fn func(k *xlbFlowKey, v *xlbConn)) error {
	keys := make([]xlbFlowKey, batchSize)
	vals := make([]xlbConn, batchSize)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := d.objs.Conntrack.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			fn(&keys[i], &vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read conntrack: %w", err)
		}
	}
}

// realAddrs maps real ids to addresses, for turning entries into Conns.
func (d *Dataplane) realAddrs() map[uint32]netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[uint32]netip.AddrPort, len(d.reals))
	for id, rs := range d.reals {
		m[id] = rs.addr
	}
	return m
}

func (d *Dataplane) connOf(now uint32, reals map[uint32]netip.AddrPort, k *xlbFlowKey, v *xlbConn) Conn {
	client, vip, proto := flowKeyFrom(*k)
	return Conn{
		Proto:  proto,
		Client: client,
		VIP:    vip,
		Real:   reals[v.RealId],
		State:  d.stateNames[uint64(v.State)],
		Active: v.State == xlbConnStateCONN_ESTABLISHED,
		Idle:   time.Duration(idle(now, v.LastSeen)) * time.Second,
	}
}

// Conns lists tracked connections that keep returns true for (nil: all),
// at most limit of them (0: no limit).
func (d *Dataplane) Conns(keep func(*Conn) bool, limit int) ([]Conn, error) {
	now := monotonicSeconds()
	reals := d.realAddrs()
	var out []Conn
	err := d.walkConntrack(func(k *xlbFlowKey, v *xlbConn) {
		if limit > 0 && len(out) >= limit {
			return
		}
		c := d.connOf(now, reals, k, v)
		if keep == nil || keep(&c) {
			out = append(out, c)
		}
	})
	return out, err
}

// GCResult says what a garbage collection pass found.
type GCResult struct {
	Conns, Expired, Templates, ExpiredTemplates int
	FreedReals, FreedServices                   int
	// ExpiredFlows are the connections this pass deleted.
	ExpiredFlows []FlowID
	// DroppedTemplates are the persistence templates of known services
	// this pass deleted.
	DroppedTemplates []Template
}

// counterBase is a real's counters at the last GC scan.
type counterBase struct {
	counts ConnCounts // from the scan
	at     xlbRealCounters
}

// GC expires idle connections and persistence templates, recounts every
// real's active and inactive connections (the dataplane's running counts
// miss expiries and LRU evictions), keeps alive the templates of clients
// that still have connections, and frees the ids of removed reals and
// services no connection uses any more.
//
// The scan of the tables runs without the loader's lock, so that services,
// tables and counts stay available to the scheduler meanwhile; what it
// found is applied under the lock.
func (d *Dataplane) GC(t Timeouts) (GCResult, error) {
	var res GCResult
	d.mu.Lock()
	base := make(map[uint32]*counterBase, len(d.reals))
	for id := range d.reals {
		c, err := d.realCounters(id)
		if err != nil {
			d.mu.Unlock()
			return res, err
		}
		base[id] = &counterBase{at: c}
	}
	// Copies: the scan reads the services' settings, not their reals.
	svcByID := make(map[uint32]*svcState, len(d.services))
	for _, s := range d.services {
		cp := *s
		svcByID[s.id] = &cp
	}
	d.mu.Unlock()

	now := monotonicSeconds()
	type tkey = xlbPersistKey
	live := map[tkey]bool{}
	realRefs := map[uint32]int{}
	svcRefs := map[uint32]int{}
	var expired []xlbFlowKey
	err := d.walkConntrack(func(k *xlbFlowKey, v *xlbConn) {
		res.Conns++
		if !t.Hold && time.Duration(idle(now, v.LastSeen))*time.Second > t.of(v.State) {
			expired = append(expired, *k)
			return
		}
		realRefs[v.RealId]++
		svcRefs[uint32(v.ServiceId)]++
		if b := base[v.RealId]; b != nil {
			if v.State == xlbConnStateCONN_ESTABLISHED {
				b.counts.Active++
			} else {
				b.counts.Inactive++
			}
		}
		if s := svcByID[uint32(v.ServiceId)]; s != nil && s.svc.PersistTimeout > 0 {
			live[d.templateKey(s, k)] = true
		}
	})
	if err != nil {
		return res, err
	}
	for i := range expired {
		// Look again: a packet may have refreshed it since the scan.
		var v xlbConn
		if err := d.objs.Conntrack.Lookup(&expired[i], &v); err != nil {
			continue
		}
		if time.Duration(idle(monotonicSeconds(), v.LastSeen))*time.Second <= t.of(v.State) {
			realRefs[v.RealId]++
			svcRefs[uint32(v.ServiceId)]++
			continue
		}
		if err := d.objs.Conntrack.Delete(&expired[i]); err == nil {
			res.Expired++
			client, vip, proto := flowKeyFrom(expired[i])
			res.ExpiredFlows = append(res.ExpiredFlows, FlowID{Proto: proto, Client: client, VIP: vip})
		}
	}
	if err := d.gcTemplates(now, svcByID, live, t.Hold, &res); err != nil {
		return res, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	d.base = base
	// Free what nothing refers to any more. A real retired during the scan
	// waits for the next pass.
	for id, rs := range d.reals {
		if b := base[id]; b == nil && rs.retired {
			realRefs[id]++
		}
	}
	for id, rs := range d.reals {
		if !rs.retired || realRefs[id] > 0 {
			continue
		}
		if err := d.objs.Reals.Put(id, xlbReal{}); err != nil {
			return res, fmt.Errorf("free real %d: %w", id, err)
		}
		delete(d.reals, id)
		d.unindex(rs)
		if err := d.writeRealVips(rs.addr, rs.proto); err != nil {
			return res, err
		}
		res.FreedReals++
	}
	for id := range d.retiredSvcs {
		if svcRefs[id] > 0 || d.svcHasReals(id) {
			continue
		}
		delete(d.retiredSvcs, id)
		delete(d.svcIDs, id)
		res.FreedServices++
	}
	return res, nil
}

func (d *Dataplane) svcHasReals(id uint32) bool {
	for _, rs := range d.reals {
		if rs.svcID == id {
			return true
		}
	}
	return false
}

// templateKey is the persistence key of a connection's client.
func (d *Dataplane) templateKey(s *svcState, k *xlbFlowKey) xlbPersistKey {
	var pk xlbPersistKey
	pk.ServiceId = s.id
	bits := addrBits(s.svc.Key.Addr)
	if s.svc.PersistPrefix > 0 {
		bits = s.svc.PersistPrefix
	}
	a := addrFrom(k.Client.Bytes, k.Family)
	p, _ := a.Prefix(bits)
	pk.Client.Bytes = addrBytes(p.Addr())
	return pk
}

// gcTemplates deletes persistence templates idle past their service's
// timeout, and refreshes those whose client still has connections: a
// template lives until the timeout after the client's last connection
// ends, as IPVS's do.
func (d *Dataplane) gcTemplates(now uint32, svcByID map[uint32]*svcState, live map[xlbPersistKey]bool, hold bool, res *GCResult) error {
	keys := make([]xlbPersistKey, batchSize)
	vals := make([]xlbPersist, batchSize)
	var cursor ebpf.MapBatchCursor
	var drop []xlbPersistKey
	for {
		n, err := d.objs.Persistence.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			res.Templates++
			k, v := keys[i], vals[i]
			s := svcByID[k.ServiceId]
			if s == nil {
				drop = append(drop, k)
				continue
			}
			timeout := uint32(s.svc.PersistTimeout / time.Second)
			age := idle(now, v.LastSeen)
			switch {
			case live[k] && age > timeout/2:
				v.LastSeen = now
				if err := d.objs.Persistence.Update(&k, &v, ebpf.UpdateExist); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					return fmt.Errorf("refresh template: %w", err)
				}
			case !live[k] && age > timeout && !hold:
				drop = append(drop, k)
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("read persistence: %w", err)
		}
	}
	for i := range drop {
		if err := d.objs.Persistence.Delete(&drop[i]); err == nil {
			res.ExpiredTemplates++
			if s := svcByID[drop[i].ServiceId]; s != nil {
				res.DroppedTemplates = append(res.DroppedTemplates, Template{
					Service: s.svc.Key,
					Client:  addrFrom(drop[i].Client.Bytes, family(s.svc.Key.Addr)),
				})
			}
		}
	}
	return nil
}

// RealConns returns the active and inactive connections of each real of
// a service: the last GC's exact count plus the dataplane's state changes
// since (so it is fresh between GC passes, as wlc needs).
func (d *Dataplane) RealConns(key ServiceKey) (map[netip.AddrPort]ConnCounts, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.services[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, ErrUnknownService)
	}
	out := make(map[netip.AddrPort]ConnCounts, len(s.members))
	for addr, id := range s.members {
		c, err := d.realCounters(id)
		if err != nil {
			return nil, err
		}
		var b counterBase
		if p := d.base[id]; p != nil {
			b = *p
		}
		newConns := c.Conns - b.at.Conns
		est := c.ConnsEstablished - b.at.ConnsEstablished
		closed := c.ConnsEstClosed - b.at.ConnsEstClosed
		out[addr] = ConnCounts{
			Active:   sub(b.counts.Active+est, closed),
			Inactive: sub(b.counts.Inactive+newConns+closed, est),
			Ended:    c.ConnsEstClosed,
		}
	}
	return out, nil
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
