package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

// ServiceKey names a virtual service: VIP, port and protocol.
type ServiceKey struct {
	Addr  netip.Addr
	Port  uint16
	Proto Proto
}

func (k ServiceKey) String() string {
	return netip.AddrPortFrom(k.Addr, k.Port).String() + "/" + k.Proto.String()
}

// Sched is a virtual service's scheduler (lb_algo).
type Sched uint8

// Schedulers, numbered as the dataplane's enum sched.
const (
	SchedRR Sched = iota
	SchedWRR
	SchedLC
	SchedWLC
	SchedSH
	SchedMH
)

var schedNames = [...]string{"rr", "wrr", "lc", "wlc", "sh", "mh"}

func (s Sched) String() string {
	if int(s) < len(schedNames) {
		return schedNames[s]
	}
	return "sched-" + strconv.Itoa(int(s))
}

// ParseSched reads a keepalived lb_algo name.
func ParseSched(name string) (Sched, error) {
	i := slices.Index(schedNames[:], strings.ToLower(name))
	if i < 0 {
		return 0, fmt.Errorf("unknown scheduler %q (want one of %s)", name, strings.Join(schedNames[:], ", "))
	}
	return Sched(i), nil
}

// hashed reports whether the scheduler picks by client hash.
func (s Sched) hashed() bool { return s == SchedSH || s == SchedMH }

// Service is a virtual service's dataplane settings.
type Service struct {
	Key   ServiceKey
	Sched Sched
	// HashPort makes sh/mh hash the client port with the address.
	HashPort bool
	// PersistTimeout > 0 keeps a client on its real for that long after
	// its last connection (persistence_timeout).
	PersistTimeout time.Duration
	// PersistPrefix is how many leading bits of the client address
	// persistence looks at (persistence_granularity); 0 means the whole
	// address.
	PersistPrefix int
}

// Real is a real server of a service, as the dataplane sees it.
type Real struct {
	Addr netip.AddrPort
	// Available means the real takes new connections: up, not drained,
	// weight above zero. Established connections continue either way.
	Available bool
}

type svcState struct {
	id      uint32
	svc     Service
	members map[netip.AddrPort]uint32 // real address -> real id
}

type realState struct {
	id      uint32
	svcID   uint32
	vip     netip.AddrPort // the service's VIP:port
	proto   Proto
	addr    netip.AddrPort
	avail   bool
	retired bool // removed from its service; kept while connections use it
}

// state is the loader's view of ids. Service and real ids are small
// integers indexing the array maps; an id whose owner is removed is
// retired, not freed, until no tracked connection refers to it.
type state struct {
	services    map[ServiceKey]*svcState
	svcIDs      map[uint32]bool // ids in use, live or retired
	retiredSvcs map[uint32]ServiceKey
	reals       map[uint32]*realState
	byAddr      map[realAddr][]uint32 // real ids by address, live and retired
	nextSvc     uint32
	nextReal    uint32
	ncpu        int
}

func (st *state) init() {
	st.services = map[ServiceKey]*svcState{}
	st.svcIDs = map[uint32]bool{}
	st.retiredSvcs = map[uint32]ServiceKey{}
	st.reals = map[uint32]*realState{}
	st.byAddr = map[realAddr][]uint32{}
}

// allocSvc hands out ids round-robin over the space, so that a freed id
// is the last to be reused.
func (d *Dataplane) allocSvc() (uint32, error) {
	for range d.opts.MaxServices {
		id := d.nextSvc % d.opts.MaxServices
		d.nextSvc = id + 1
		if !d.svcIDs[id] {
			d.svcIDs[id] = true
			return id, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d service ids in use", ErrFull, d.opts.MaxServices)
}

func (d *Dataplane) allocReal() (uint32, error) {
	for range d.opts.MaxReals {
		id := d.nextReal % d.opts.MaxReals
		d.nextReal = id + 1
		if _, used := d.reals[id]; !used {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d real ids in use", ErrFull, d.opts.MaxReals)
}

// restore rebuilds the id bookkeeping from pinned maps left by an earlier
// xlbd, so that its services, reals and connections are adopted as they
// are. The daemon's first SetService calls then bring them in line with
// the configuration.
func (d *Dataplane) restore() error {
	d.init()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	d.ncpu = ncpu
	var (
		k xlbServiceKey
		v xlbService
	)
	it := d.objs.Services.Iterate()
	for it.Next(&k, &v) {
		key := serviceKeyFrom(k)
		s := &svcState{id: v.Id, svc: Service{
			Key:            key,
			Sched:          Sched(v.Sched),
			HashPort:       v.Flags&xlbServiceFlagsSERVICE_F_HASH_PORT != 0,
			PersistTimeout: time.Duration(v.PersistTimeout) * time.Second,
			PersistPrefix:  int(v.PersistPrefix),
		}, members: map[netip.AddrPort]uint32{}}
		if s.svc.PersistPrefix == addrBits(key.Addr) {
			s.svc.PersistPrefix = 0
		}
		d.services[key] = s
		d.svcIDs[v.Id] = true
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read services: %w", err)
	}
	byID := map[uint32]*svcState{}
	for _, s := range d.services {
		byID[s.id] = s
	}
	var r xlbReal
	for id := range d.opts.MaxReals {
		if err := d.objs.Reals.Lookup(id, &r); err != nil {
			return fmt.Errorf("read real %d: %w", id, err)
		}
		if r.Family == 0 {
			continue
		}
		rs := &realState{
			id:    id,
			svcID: r.ServiceId,
			addr:  netip.AddrPortFrom(addrFrom(r.Addr.Bytes, r.Family), r.Port),
			avail: r.Flags&xlbRealFlagsREAL_F_AVAILABLE != 0,
		}
		if s, ok := byID[r.ServiceId]; ok {
			rs.vip = netip.AddrPortFrom(s.svc.Key.Addr, s.svc.Key.Port)
			rs.proto = s.svc.Key.Proto
			s.members[rs.addr] = id
		} else {
			// Its service is gone; its connections are not, yet. Where
			// it sends replies is in real_vips.
			rs.retired = true
			d.svcIDs[r.ServiceId] = true
			d.retiredSvcs[r.ServiceId] = ServiceKey{}
			if err := d.restoreRetired(rs); err != nil {
				return err
			}
		}
		d.reals[id] = rs
		d.index(rs)
	}
	return nil
}

// restoreRetired finds a retired real's VIP from real_vips (its service
// entry is gone).
func (d *Dataplane) restoreRetired(rs *realState) error {
	for _, p := range []Proto{TCP, UDP} {
		var set xlbRealVipSet
		err := d.objs.RealVips.Lookup(realKeyOf(rs.addr, p), &set)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read real_vips: %w", err)
		}
		if set.Count > 0 {
			v := set.Vips[0]
			rs.vip = netip.AddrPortFrom(addrFrom(v.Vip.Bytes, family(rs.addr.Addr())), v.Port)
			rs.proto = p
			return nil
		}
	}
	return nil
}

func addrBits(a netip.Addr) int {
	if family(a) == afInet {
		return 32
	}
	return 128
}

func (s Service) validate() error {
	k := s.Key
	if !k.Addr.IsValid() {
		return fmt.Errorf("service %s: invalid address", k)
	}
	if k.Port == 0 {
		return fmt.Errorf("service %s: port 0", k)
	}
	if k.Proto != TCP && k.Proto != UDP {
		return fmt.Errorf("service %s: protocol must be TCP or UDP", k)
	}
	if s.PersistPrefix < 0 || s.PersistPrefix > addrBits(k.Addr) {
		return fmt.Errorf("service %s: persistence prefix /%d out of range", k, s.PersistPrefix)
	}
	if s.PersistTimeout < 0 || s.PersistTimeout > time.Duration(1<<31)*time.Second {
		return fmt.Errorf("service %s: persistence timeout %s out of range", k, s.PersistTimeout)
	}
	if s.Sched > SchedMH {
		return fmt.Errorf("service %s: unknown scheduler %d", k, s.Sched)
	}
	return nil
}

func (d *Dataplane) serviceValue(s *svcState) xlbService {
	v := xlbService{
		Id:             s.id,
		Sched:          xlbSched(s.svc.Sched),
		PersistTimeout: uint32(s.svc.PersistTimeout / time.Second),
		PersistPrefix:  uint8(addrBits(s.svc.Key.Addr)),
	}
	if s.svc.PersistPrefix > 0 {
		v.PersistPrefix = uint8(s.svc.PersistPrefix)
	}
	if v.PersistTimeout == 0 && s.svc.PersistTimeout > 0 {
		v.PersistTimeout = 1
	}
	if s.svc.Sched.hashed() {
		// Hashing gives the same real to a flow whose state is lost
		// (restart without pins, failover without sync), so such
		// flows are scheduled too.
		v.Flags |= xlbServiceFlagsSERVICE_F_HASH_SOURCE | xlbServiceFlagsSERVICE_F_ANY_PACKET
		if s.svc.HashPort {
			v.Flags |= xlbServiceFlagsSERVICE_F_HASH_PORT
		}
	}
	return v
}

func (d *Dataplane) realValue(rs *realState) xlbReal {
	var v xlbReal
	v.Addr.Bytes = addrBytes(rs.addr.Addr())
	v.Port = rs.addr.Port()
	v.Family = family(rs.addr.Addr())
	v.ServiceId = rs.svcID
	if rs.avail && !rs.retired {
		v.Flags = xlbRealFlagsREAL_F_AVAILABLE
	}
	return v
}

// SetService makes the dataplane serve svc with the given reals: it adds
// the service or updates it in place (ids, connections and persistence
// survive), adds and updates reals, and retires reals no longer listed
// (their established connections continue). Calling it again with the
// same arguments changes nothing. The selection table is set apart with
// SetTable.
func (d *Dataplane) SetService(svc Service, reals []Real) error {
	if err := svc.validate(); err != nil {
		return err
	}
	seen := map[netip.AddrPort]bool{}
	for _, r := range reals {
		if !r.Addr.IsValid() || r.Addr.Port() == 0 {
			return fmt.Errorf("service %s: real %s: invalid address:port", svc.Key, r.Addr)
		}
		if family(r.Addr.Addr()) != family(svc.Key.Addr) {
			return fmt.Errorf("service %s: real %s: address family differs from the VIP's", svc.Key, r.Addr)
		}
		if seen[r.Addr] {
			return fmt.Errorf("service %s: real %s listed twice", svc.Key, r.Addr)
		}
		seen[r.Addr] = true
	}

	d.mu.Lock()
	defer d.mu.Unlock()

	s, exists := d.services[svc.Key]
	newReals := 0
	for _, r := range reals {
		if !exists || !hasMember(s, r.Addr) {
			newReals++
		}
	}
	if free := int(d.opts.MaxReals) - len(d.reals); newReals > free {
		return fmt.Errorf("service %s: %w: %d new reals, room for %d", svc.Key, ErrFull, newReals, free)
	}
	if err := d.checkRealVips(svc, reals); err != nil {
		return err
	}

	if !exists {
		id, err := d.allocSvc()
		if err != nil {
			return fmt.Errorf("service %s: %w", svc.Key, err)
		}
		if err := d.zeroCounters(d.objs.ServiceStats, id, make([]xlbServiceCounters, d.ncpu)); err != nil {
			return err
		}
		s = &svcState{id: id, members: map[netip.AddrPort]uint32{}}
		d.services[svc.Key] = s
	}
	s.svc = svc
	vip := netip.AddrPortFrom(svc.Key.Addr, svc.Key.Port)

	touched := map[netip.AddrPort]bool{}
	for _, r := range reals {
		id, ok := s.members[r.Addr]
		var rs *realState
		if ok {
			rs = d.reals[id]
		} else if rs = d.retired(s.id, r.Addr); rs != nil {
			// Back in the service before its connections ended: the
			// same id again.
			rs.retired = false
			s.members[r.Addr] = rs.id
			ok = false
		} else {
			nid, err := d.allocReal()
			if err != nil {
				return fmt.Errorf("service %s: %w", svc.Key, err)
			}
			if err := d.zeroCounters(d.objs.RealStats, nid, make([]xlbRealCounters, d.ncpu)); err != nil {
				return err
			}
			rs = &realState{id: nid, svcID: s.id, vip: vip, proto: svc.Key.Proto, addr: r.Addr}
			d.reals[nid] = rs
			d.index(rs)
			s.members[r.Addr] = nid
			touched[r.Addr] = true
		}
		if !ok || rs.avail != r.Available {
			rs.avail = r.Available
			if err := d.objs.Reals.Put(rs.id, d.realValue(rs)); err != nil {
				return fmt.Errorf("write real %s: %w", r.Addr, err)
			}
		}
	}
	for addr, id := range s.members {
		if seen[addr] {
			continue
		}
		if err := d.retireReal(d.reals[id]); err != nil {
			return err
		}
		delete(s.members, addr)
	}
	for addr := range touched {
		if err := d.writeRealVips(addr, svc.Key.Proto); err != nil {
			return err
		}
	}
	if err := d.objs.Services.Put(serviceKeyOf(svc.Key), d.serviceValue(s)); err != nil {
		return fmt.Errorf("write service %s: %w", svc.Key, err)
	}
	return nil
}

// retired finds a retired real of a service by address.
func (d *Dataplane) retired(svcID uint32, addr netip.AddrPort) *realState {
	for _, id := range d.byAddr[realAddr{addr, TCP}] {
		if rs := d.reals[id]; rs.retired && rs.svcID == svcID {
			return rs
		}
	}
	for _, id := range d.byAddr[realAddr{addr, UDP}] {
		if rs := d.reals[id]; rs.retired && rs.svcID == svcID {
			return rs
		}
	}
	return nil
}

func hasMember(s *svcState, a netip.AddrPort) bool {
	_, ok := s.members[a]
	return ok
}

func (d *Dataplane) retireReal(rs *realState) error {
	rs.retired = true
	rs.avail = false
	if err := d.objs.Reals.Put(rs.id, d.realValue(rs)); err != nil {
		return fmt.Errorf("retire real %s: %w", rs.addr, err)
	}
	return nil
}

// realAddr is a real server's address as its replies show it.
type realAddr struct {
	addr  netip.AddrPort
	proto Proto
}

// index records a real under its address, for the reverse path.
func (d *Dataplane) index(rs *realState) {
	k := realAddr{rs.addr, rs.proto}
	if !slices.Contains(d.byAddr[k], rs.id) {
		d.byAddr[k] = append(d.byAddr[k], rs.id)
	}
}

func (d *Dataplane) unindex(rs *realState) {
	k := realAddr{rs.addr, rs.proto}
	d.byAddr[k] = slices.DeleteFunc(d.byAddr[k], func(id uint32) bool { return id == rs.id })
	if len(d.byAddr[k]) == 0 {
		delete(d.byAddr, k)
	}
}

// vipReal is a VIP:port a real address answers for, and the real's id
// in that service.
type vipReal struct {
	vip netip.AddrPort
	id  uint32
}

// vipsOf lists the VIP:ports a real address serves for proto, from every
// live or retired real, in a stable order.
func (d *Dataplane) vipsOf(addr netip.AddrPort, proto Proto) []vipReal {
	var out []vipReal
	for _, id := range d.byAddr[realAddr{addr, proto}] {
		if rs := d.reals[id]; rs != nil && rs.vip.IsValid() {
			out = append(out, vipReal{rs.vip, id})
		}
	}
	slices.SortFunc(out, func(a, b vipReal) int {
		if c := a.vip.Compare(b.vip); c != 0 {
			return c
		}
		return int(a.id) - int(b.id)
	})
	return out
}

// checkRealVips refuses a change that would make a real address serve more
// VIPs than the reverse path can try.
func (d *Dataplane) checkRealVips(svc Service, reals []Real) error {
	vip := netip.AddrPortFrom(svc.Key.Addr, svc.Key.Port)
	for _, r := range reals {
		vips := d.vipsOf(r.Addr, svc.Key.Proto)
		n := len(vips)
		if !slices.ContainsFunc(vips, func(v vipReal) bool { return v.vip == vip }) {
			n++
		}
		if n > len(xlbRealVipSet{}.Vips) {
			return fmt.Errorf("service %s: real %s would serve %d virtual services; at most %d", svc.Key, r.Addr, n, len(xlbRealVipSet{}.Vips))
		}
	}
	return nil
}

func (d *Dataplane) writeRealVips(addr netip.AddrPort, proto Proto) error {
	vips := d.vipsOf(addr, proto)
	key := realKeyOf(addr, proto)
	if len(vips) == 0 {
		if err := d.objs.RealVips.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete real_vips %s: %w", addr, err)
		}
		return nil
	}
	var set xlbRealVipSet
	set.Count = uint32(len(vips))
	for i, v := range vips {
		set.Vips[i].Vip.Bytes = addrBytes(v.vip.Addr())
		set.Vips[i].Port = v.vip.Port()
		set.Vips[i].RealId = v.id
	}
	if err := d.objs.RealVips.Put(key, &set); err != nil {
		return fmt.Errorf("write real_vips %s: %w", addr, err)
	}
	return nil
}

// DeleteService stops a service taking new connections. Its established
// connections continue until they end or expire; its ids are freed after.
func (d *Dataplane) DeleteService(key ServiceKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.services[key]
	if !ok {
		return fmt.Errorf("%s: %w", key, ErrUnknownService)
	}
	if err := d.objs.Services.Delete(serviceKeyOf(key)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete service %s: %w", key, err)
	}
	if err := d.objs.Selection.Delete(s.id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete selection of %s: %w", key, err)
	}
	for _, id := range s.members {
		if err := d.retireReal(d.reals[id]); err != nil {
			return err
		}
	}
	delete(d.services, key)
	d.retiredSvcs[s.id] = key
	return nil
}

// ServiceKeys lists the services the dataplane has.
func (d *Dataplane) ServiceKeys() []ServiceKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys := make([]ServiceKey, 0, len(d.services))
	for k := range d.services {
		keys = append(keys, k)
	}
	return keys
}

// SetTable installs a service's selection table: new connections are
// given table[cursor % len] (rr, wrr, lc, wlc) or table[hash % len] (sh,
// mh). Entries must be reals of the service. The table is built aside and
// swapped in whole, and the cursor restarts at its beginning. An empty
// table leaves the service without reals: new connections go to the
// kernel, which refuses them as LVS does.
func (d *Dataplane) SetTable(key ServiceKey, table []netip.AddrPort) error {
	return d.SetTables(map[ServiceKey][]netip.AddrPort{key: table})
}

// SetTables installs several services' tables at once, as SetTable does.
// Swapping a table makes the kernel wait for the programs that may still
// use the old one (an RCU grace period, milliseconds); one call pays that
// wait once for all the tables it installs.
func (d *Dataplane) SetTables(tables map[ServiceKey][]netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]uint32, 0, len(tables))
	fds := make([]uint32, 0, len(tables))
	var inners []*ebpf.Map
	defer func() {
		for _, m := range inners {
			m.Close()
		}
	}()
	for key, table := range tables {
		s, ok := d.services[key]
		if !ok {
			return fmt.Errorf("%s: %w", key, ErrUnknownService)
		}
		inner, err := d.buildTable(s, table)
		if err != nil {
			return err
		}
		inners = append(inners, inner)
		ids = append(ids, s.id)
		fds = append(fds, uint32(inner.FD()))
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := d.objs.Selection.BatchUpdate(ids, fds, nil); err != nil {
		return fmt.Errorf("install %d selection tables: %w", len(ids), err)
	}
	if _, err := d.objs.Cursors.BatchUpdate(ids, make([]uint32, len(ids)), nil); err != nil {
		return fmt.Errorf("reset %d cursors: %w", len(ids), err)
	}
	return nil
}

// buildTable makes a service's table as an inner map, not yet installed.
func (d *Dataplane) buildTable(s *svcState, table []netip.AddrPort) (*ebpf.Map, error) {
	ids := make([]uint32, len(table)+1)
	ids[0] = uint32(len(table))
	for i, a := range table {
		id, ok := s.members[a]
		if !ok {
			return nil, fmt.Errorf("service %s: table entry %s is not one of its reals", s.svc.Key, a)
		}
		ids[i+1] = id
	}
	inner, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "ring",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(len(ids)),
		Flags:      innerMapFlag,
	})
	if err != nil {
		return nil, fmt.Errorf("service %s: create table: %w", s.svc.Key, err)
	}
	keys := make([]uint32, len(ids))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := inner.BatchUpdate(keys, ids, nil); err != nil {
		inner.Close()
		return nil, fmt.Errorf("service %s: fill table: %w", s.svc.Key, err)
	}
	return inner, nil
}

// ResetCursor makes a cursor-mode service's next pick the first entry of
// its table again (an lc/wlc plan rebuilt identical).
func (d *Dataplane) ResetCursor(key ServiceKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.services[key]
	if !ok {
		return fmt.Errorf("%s: %w", key, ErrUnknownService)
	}
	if err := d.objs.Cursors.Put(s.id, uint32(0)); err != nil {
		return fmt.Errorf("service %s: reset cursor: %w", key, err)
	}
	return nil
}

// innerMapFlag is BPF_F_INNER_MAP: tables of any length fit the outer map.
const innerMapFlag = 1 << 12
