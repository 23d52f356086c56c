package vrrp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Config is a node's instances and sync groups, and its callbacks.
type Config struct {
	Instances  []InstanceConfig
	SyncGroups []SyncGroup
	// NetNS is the path of the network namespace (e.g. /run/netns/lb1)
	// whose interfaces the node manages; "" is the namespace Run is
	// called in. Tests use it; xlbd leaves it empty.
	NetNS string
	// OnState is called for every instance state change, in order, on the
	// run goroutine, after the addresses were added (to MASTER) or removed
	// (from MASTER) and before the gratuitous ARPs go out. It must not
	// block: VRRP timers wait for it.
	OnState func(instance string, from, to State)
	// OnGroupState is called for every sync group state change, likewise.
	OnGroupState func(group string, from, to State)
}

// Validate checks the instances and sync groups (as New does) and returns
// every problem joined, for `xlbd check`.
func (c Config) Validate() error { return validate(c.Instances, c.SyncGroups) }

// Counters are an instance's advertisement counters.
type Counters struct {
	RxAdverts      uint64            `json:"rx_adverts"`       // valid advertisements handed to the state machine
	RxPriorityZero uint64            `json:"rx_priority_zero"` // of which priority 0 (a master stopping)
	TxAdverts      uint64            `json:"tx_adverts"`       // advertisements sent (one per destination)
	TxErrors       uint64            `json:"tx_errors"`        // advertisements that failed to send
	Dropped        map[string]uint64 `json:"dropped"`          // invalid advertisements by DropReason name
	BecameMaster   uint64            `json:"became_master"`
	VIPErrors      uint64            `json:"vip_errors"` // failed address additions and removals
}

// InstanceStatus is a snapshot of one instance for the control API.
type InstanceStatus struct {
	Name           string        `json:"name"`
	Interface      string        `json:"interface"`
	VRID           uint8         `json:"vrid"`
	Version        int           `json:"version"`
	State          State         `json:"state"`
	Group          string        `json:"group,omitempty"`
	Priority       uint8         `json:"priority"`
	BasePriority   uint8         `json:"base_priority"`
	Address        netip.Addr    `json:"address"`     // the address we advertise from
	MasterAddr     netip.Addr    `json:"master_addr"` // ours as master, the master heard as backup
	MasterPriority uint8         `json:"master_priority"`
	AdvertInt      time.Duration `json:"advert_int"`
	MasterInterval time.Duration `json:"master_interval"`
	Accept         bool          `json:"accept"`
	Faults         []string      `json:"faults,omitempty"`
	LastTransition time.Time     `json:"last_transition"`
	LastAdvertRx   time.Time     `json:"last_advert_rx"` // last valid advertisement received
	LastAdvertTx   time.Time     `json:"last_advert_tx"`
	Counters       Counters      `json:"counters"`
}

// GroupStatus is a sync group's state.
type GroupStatus struct {
	Name      string   `json:"name"`
	State     State    `json:"state"`
	Instances []string `json:"instances"`
}

// Status is a snapshot of a node.
type Status struct {
	Instances []InstanceStatus `json:"instances"`
	Groups    []GroupStatus    `json:"groups,omitempty"`
	// Unclaimed counts advertisements for a VRID no instance runs on the
	// interface they arrived on (other routers' virtual routers).
	Unclaimed uint64 `json:"unclaimed"`
}

// host is what a Node needs from the system: sockets, addresses, links.
// The Linux implementation uses raw sockets and netlink; tests use a fake.
type host interface {
	// link returns an interface's index, MAC and whether it is up and running.
	link(name string) (linkInfo, error)
	// primary returns the address to advertise from: the first primary
	// IPv4 address of ifname (not one of exclude), or its IPv6 link-local one.
	primary(ifname string, v6 bool, exclude []netip.Addr) (netip.Addr, error)
	listen(ifname string, ifindex int, v6 bool) (packetConn, error)
	addVIP(v VIP, dev string) error
	// delVIP removes an address; removing an absent one is not an error.
	delVIP(v VIP, dev string) error
	// announce sends one gratuitous ARP (IPv4) or unsolicited NA (IPv6) for
	// v on dev (with index and MAC from link); src is the IPv6 source.
	announce(v VIP, li linkInfo, src netip.Addr) error
	// watchLinks reports link changes (and the current state at first)
	// until done is closed; it closes the channel when it ends.
	watchLinks(done <-chan struct{}) (<-chan linkInfo, error)
	close() error
}

type linkInfo struct {
	name  string
	index int
	mac   net.HardwareAddr
	up    bool
	gone  bool // deleted (RTM_DELLINK)
}

type packetConn interface {
	read(buf []byte) (rxPacket, error) // blocks; fails once closed
	pending() bool                     // the kernel holds a packet not read yet
	send(src, dst netip.Addr, payload []byte) error
	close() error
}

// rxPacket is a received VRRP packet with its IP-level facts.
type rxPacket struct {
	RxInfo
	payload []byte
}

// Node runs the VRRP instances of one host: it owns their sockets, timers
// and virtual addresses.
type Node struct {
	// Immutable after New.
	cfg     Config
	log     *slog.Logger
	m       *Machine
	insts   []*nodeInst
	byName  map[string]*nodeInst
	newHost func(netnsPath string) (host, error)
	now     func() time.Time

	// Guarded by mu.
	mu        sync.Mutex
	status    Status
	scripts   map[scriptKey]scriptVal // desired track script states from SetTrackScript
	running   bool
	scriptsCh chan struct{} // cap 1: "scripts changed"
}

type scriptKey struct{ instance, name string }
type scriptVal struct {
	ok     bool
	weight int
}

// nodeInst is an instance's I/O side. Owned by the run goroutine.
type nodeInst struct {
	cfg      InstanceConfig
	idx      int
	v6       bool
	expect   Expect
	conn     *connEntry
	src      netip.Addr   // advertisement source
	dsts     []netip.Addr // group or unicast peers
	lastWarn map[DropReason]time.Time
}

type connEntry struct {
	ifname  string
	ifindex int // of the interface the socket was opened on
	v6      bool
	pc      packetConn
	stop    chan struct{} // closed when pc is closed on purpose (reopened)
	byVRID  map[uint8]*nodeInst
}

// New validates cfg and returns a node; Run starts it.
func New(cfg Config, logger *slog.Logger) (*Node, error) {
	return newNode(cfg, logger, openHost)
}

func newNode(cfg Config, logger *slog.Logger, newHost func(string) (host, error)) (*Node, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := NewMachine(cfg.Instances, cfg.SyncGroups)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, log: logger, m: m, byName: map[string]*nodeInst{},
		newHost: newHost, now: time.Now,
		scripts: map[scriptKey]scriptVal{}, scriptsCh: make(chan struct{}, 1),
	}
	for i, c := range cfg.Instances {
		c = c.withDefaults()
		ni := &nodeInst{cfg: c, idx: i, v6: c.ipv6(), lastWarn: map[DropReason]time.Time{}}
		ni.expect = Expect{
			Version: uint8(c.Version), VRID: c.VRID, Interval: c.AdvertInt, Addrs: c.advertised(),
			Unicast: len(c.UnicastPeers) > 0, Peers: c.UnicastPeers,
		}
		if c.AuthPass != "" {
			ni.expect.AuthType, ni.expect.Auth = AuthPass, PassAuth(c.AuthPass)
		}
		switch {
		case len(c.UnicastPeers) > 0:
			ni.dsts = c.UnicastPeers
		case ni.v6:
			ni.dsts = []netip.Addr{Group6}
		default:
			ni.dsts = []netip.Addr{Group4}
		}
		n.insts = append(n.insts, ni)
		n.byName[c.Name] = ni
	}
	n.status = n.snapshot(Status{})
	return n, nil
}

// SetTrackScript reports a track script's result for an instance (the
// daemon runs the scripts). A failing script with weight 0 puts the
// instance in FAULT; otherwise weight moves the priority (negative: while
// failing; positive: while ok). It may be called at any time, also before
// Run.
func (n *Node) SetTrackScript(instance, name string, ok bool, weight int) error {
	if n.byName[instance] == nil {
		return fmt.Errorf("vrrp: track script %q: no instance %q", name, instance)
	}
	if weight < -254 || weight > 254 {
		return fmt.Errorf("vrrp: track script %q: weight %d out of -254..254", name, weight)
	}
	n.mu.Lock()
	n.scripts[scriptKey{instance, name}] = scriptVal{ok, weight}
	n.mu.Unlock()
	select {
	case n.scriptsCh <- struct{}{}:
	default:
	}
	return nil
}

// Status returns a snapshot of every instance and group.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.status
	s.Instances = slices.Clone(s.Instances)
	for i := range s.Instances {
		c := &s.Instances[i].Counters
		d := make(map[string]uint64, len(c.Dropped))
		for k, v := range c.Dropped {
			d[k] = v
		}
		c.Dropped = d
		s.Instances[i].Faults = slices.Clone(s.Instances[i].Faults)
	}
	s.Groups = slices.Clone(s.Groups)
	return s
}

// snapshot refreshes the machine-owned fields of s. Called with mu held
// (or before Run).
func (n *Node) snapshot(s Status) Status {
	if len(s.Instances) != len(n.insts) {
		s.Instances = make([]InstanceStatus, len(n.insts))
		for i, ni := range n.insts {
			s.Instances[i] = InstanceStatus{
				Name: ni.cfg.Name, Interface: ni.cfg.Interface, VRID: ni.cfg.VRID, Version: ni.cfg.Version,
				AdvertInt: ni.cfg.AdvertInt, Accept: ni.cfg.Accept,
				Counters: Counters{Dropped: map[string]uint64{}},
			}
		}
	}
	for i, ni := range n.insts {
		v, _ := n.m.Instance(ni.cfg.Name)
		st := &s.Instances[i]
		st.State, st.Group, st.Priority, st.BasePriority = v.State, v.Group, v.Priority, v.BasePriority
		st.MasterAddr, st.MasterPriority, st.MasterInterval = v.MasterAddr, v.MasterPriority, v.MasterInterval
		st.Faults, st.LastTransition, st.Address = v.Faults, v.LastTransition, ni.src
	}
	s.Groups = s.Groups[:0]
	for _, g := range n.cfg.SyncGroups {
		st, _ := n.m.GroupState(g.Name)
		s.Groups = append(s.Groups, GroupStatus{Name: g.Name, State: st, Instances: g.Instances})
	}
	return s
}

// update runs fn on the status under mu.
func (n *Node) update(fn func(s *Status)) {
	n.mu.Lock()
	fn(&n.status)
	n.mu.Unlock()
}

func (n *Node) counters(ni *nodeInst, fn func(c *Counters, st *InstanceStatus)) {
	n.update(func(s *Status) {
		st := &s.Instances[ni.idx]
		fn(&st.Counters, st)
	})
}

// run-time state owned by the Run goroutine.
type runState struct {
	h     host
	conns []*connEntry
	links map[string]linkInfo
	rx    chan rxFrom
	fail  chan error // a socket stopped working
	done  chan struct{}
	wg    sync.WaitGroup // read loops
	// applied track script states
	scripts map[scriptKey]scriptVal
}

type rxFrom struct {
	c  *connEntry
	p  rxPacket
	at time.Time
}

// Run opens the sockets, removes leftover virtual addresses, starts every
// instance and runs until ctx is cancelled; then masters hand over with a
// priority 0 advertisement, addresses are removed and Run returns nil.
// If a socket fails, Run does the same and returns the error. A Node runs
// once.
func (n *Node) Run(ctx context.Context) (err error) {
	n.mu.Lock()
	if n.running {
		n.mu.Unlock()
		return errors.New("vrrp: node already ran")
	}
	n.running = true
	n.mu.Unlock()

	h, err := n.newHost(n.cfg.NetNS)
	if err != nil {
		return err
	}
	rs := &runState{h: h, links: map[string]linkInfo{}, rx: make(chan rxFrom, 64), fail: make(chan error, 1),
		scripts: map[scriptKey]scriptVal{}, done: make(chan struct{})}
	defer func() {
		close(rs.done)
		for _, c := range rs.conns {
			c.pc.close()
		}
		rs.wg.Wait()
		err = errors.Join(err, h.close())
	}()

	if err := n.setup(rs); err != nil {
		return err
	}
	for _, c := range rs.conns {
		n.startReader(rs, c)
	}
	links, err := h.watchLinks(rs.done)
	if err != nil {
		return err
	}
	// Link states known so far, then start.
	for _, li := range rs.links {
		n.exec(rs, n.m.Handle(Event{Kind: EventLink, Name: li.name, Up: li.up}, n.now()))
	}
	n.applyScripts(rs)
	n.exec(rs, n.m.Handle(Event{Kind: EventStartup}, n.now()))
	n.log.Info("vrrp started", "instances", len(n.insts))

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if next, ok := n.m.NextDeadline(); ok {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			n.exec(rs, n.m.Handle(Event{Kind: EventShutdown}, n.now()))
			n.log.Info("vrrp stopped")
			return nil
		case r := <-rs.rx:
			n.receive(rs, r)
		case err := <-rs.fail:
			// Without a socket we cannot hear the master: hand over and stop.
			n.exec(rs, n.m.Handle(Event{Kind: EventShutdown}, n.now()))
			return err
		case li, ok := <-links:
			if !ok {
				return errors.New("vrrp: link monitor ended")
			}
			old, known := rs.links[li.name]
			if !known {
				continue // not an interface any instance uses or tracks
			}
			if li.gone && !old.gone {
				n.log.Warn("vrrp interface removed", "ifname", li.name)
			} else if old.up != li.up {
				n.log.Info("vrrp link state", "ifname", li.name, "up", li.up)
			}
			rs.links[li.name] = li
			if !li.gone {
				n.reopen(rs, li, old.gone)
			}
			n.exec(rs, n.m.Handle(Event{Kind: EventLink, Name: li.name, Up: li.up && !li.gone}, n.now()))
		case <-n.scriptsCh:
			n.applyScripts(rs)
		case <-timer.C:
			n.settle(rs)
			n.exec(rs, n.m.Handle(Event{Kind: EventTimer}, n.now()))
		}
	}
}

// settle hands the machine every advertisement the kernel already holds
// before a timer acts: if the process was descheduled, a timer that fires
// late must not beat an advertisement that arrived in time (and declare
// the master down while its advertisement waits in the socket).
func (n *Node) settle(rs *runState) {
	deadline := time.Now().Add(20 * time.Millisecond)
	for {
		for more := true; more; {
			select {
			case r := <-rs.rx:
				n.receive(rs, r)
			default:
				more = false
			}
		}
		if !slices.ContainsFunc(rs.conns, func(c *connEntry) bool { return c.pc.pending() }) || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Microsecond) // let the reader hand it over
	}
}

// setup resolves interfaces and addresses, opens sockets, and removes
// virtual addresses a previous run may have left behind.
func (n *Node) setup(rs *runState) error {
	linkOf := func(name string) (linkInfo, error) {
		if li, ok := rs.links[name]; ok {
			return li, nil
		}
		li, err := rs.h.link(name)
		if err != nil {
			return linkInfo{}, err
		}
		rs.links[name] = li
		return li, nil
	}
	for _, ni := range n.insts {
		c := ni.cfg
		li, err := linkOf(c.Interface)
		if err != nil {
			return fmt.Errorf("vrrp instance %s: interface %s: %w", c.Name, c.Interface, err)
		}
		for _, t := range c.TrackInterfaces {
			if _, err := linkOf(t.Name); err != nil {
				// A tracked interface that does not exist counts as down.
				rs.links[t.Name] = linkInfo{name: t.Name}
			}
		}
		for _, v := range slices.Concat(c.VIPs, c.ExcludedVIPs) {
			if _, err := linkOf(vipDev(v, c)); err != nil {
				return fmt.Errorf("vrrp instance %s: address %v: device %s: %w", c.Name, v.Prefix, vipDev(v, c), err)
			}
		}
		switch {
		case c.UnicastSrc.IsValid():
			ni.src = c.UnicastSrc
		default:
			ni.src, err = rs.h.primary(c.Interface, ni.v6, c.advertised())
			if err != nil {
				return fmt.Errorf("vrrp instance %s: %w", c.Name, err)
			}
		}
		n.m.SetPrimary(c.Name, ni.src)
		idx := slices.IndexFunc(rs.conns, func(e *connEntry) bool { return e.ifname == c.Interface && e.v6 == ni.v6 })
		if idx < 0 {
			pc, err := rs.h.listen(c.Interface, li.index, ni.v6)
			if err != nil {
				return err
			}
			rs.conns = append(rs.conns, &connEntry{ifname: c.Interface, ifindex: li.index, v6: ni.v6, pc: pc,
				stop: make(chan struct{}), byVRID: map[uint8]*nodeInst{}})
			idx = len(rs.conns) - 1
		}
		ni.conn = rs.conns[idx]
		ni.conn.byVRID[c.VRID] = ni
	}
	// Never leave addresses behind after a crash: we start as backup (or
	// owner), so none of ours may be there now.
	for _, ni := range n.insts {
		for _, v := range slices.Concat(ni.cfg.VIPs, ni.cfg.ExcludedVIPs) {
			if v.Prefix.Addr() == ni.src {
				continue // the address we advertise from is the interface's own
			}
			if err := rs.h.delVIP(v, vipDev(v, ni.cfg)); err != nil {
				n.log.Warn("remove leftover virtual address", "instance", ni.cfg.Name, "vip", v.Prefix, "err", err)
			}
		}
	}
	n.update(func(s *Status) { *s = n.snapshot(*s) })
	return nil
}

func vipDev(v VIP, c InstanceConfig) string {
	if v.Dev != "" {
		return v.Dev
	}
	return c.Interface
}

// startReader runs a read loop on c's current socket.
func (n *Node) startReader(rs *runState, c *connEntry) {
	pc, stop := c.pc, c.stop
	rs.wg.Go(func() { n.readLoop(c, pc, stop, rs) })
}

func (n *Node) readLoop(c *connEntry, pc packetConn, stop <-chan struct{}, rs *runState) {
	for {
		buf := make([]byte, 1500)
		p, err := pc.read(buf)
		if err != nil {
			select {
			case <-stop: // closed by reopen (before the socket): a new one reads now
				return
			default:
			}
			select {
			case <-rs.done:
			case rs.fail <- fmt.Errorf("vrrp: read from %s: %w", c.ifname, err):
			default: // another socket already failed
			}
			return
		}
		select {
		case rs.rx <- rxFrom{c: c, p: p, at: n.now()}:
		case <-rs.done:
			return
		case <-stop:
			return
		}
	}
}

// reopen moves the sockets of an interface that was deleted and created
// again (a VLAN or bond brought down and up by a network manager) to the
// new interface. The old sockets are bound to an index that no longer
// exists and lost their multicast membership with it: kept, the node
// would hear no master, take over and advertise into the void. A socket that cannot be opened yet (the
// interface not configured) is retried on the interface's next change; the
// instances stay in FAULT meanwhile, as the link is reported down.
func (n *Node) reopen(rs *runState, li linkInfo, wasGone bool) {
	for _, c := range rs.conns {
		if c.ifname != li.name || (c.ifindex == li.index && !wasGone) {
			continue
		}
		pc, err := rs.h.listen(c.ifname, li.index, c.v6)
		if err != nil {
			n.log.Warn("vrrp socket on a recreated interface", "ifname", c.ifname, "ifindex", li.index, "err", err)
			continue
		}
		close(c.stop)
		c.pc.close()
		c.pc, c.ifindex, c.stop = pc, li.index, make(chan struct{})
		n.startReader(rs, c)
		for _, ni := range c.byVRID {
			if ni.cfg.UnicastSrc.IsValid() {
				continue
			}
			if src, err := rs.h.primary(c.ifname, ni.v6, ni.cfg.advertised()); err == nil && src != ni.src {
				ni.src = src
				n.m.SetPrimary(ni.cfg.Name, src)
			}
		}
		n.log.Info("vrrp socket reopened on a recreated interface", "ifname", c.ifname, "ifindex", li.index)
	}
}

func (n *Node) applyScripts(rs *runState) {
	n.mu.Lock()
	var changed []scriptKey
	for k, v := range n.scripts {
		if old, ok := rs.scripts[k]; !ok || old != v {
			rs.scripts[k] = v
			changed = append(changed, k)
		}
	}
	n.mu.Unlock()
	slices.SortFunc(changed, func(a, b scriptKey) int {
		return cmp.Or(cmp.Compare(a.instance, b.instance), cmp.Compare(a.name, b.name))
	})
	for _, k := range changed {
		v := rs.scripts[k]
		n.exec(rs, n.m.Handle(Event{Kind: EventScript, Instance: k.instance, Name: k.name, Up: v.ok, Weight: v.weight}, n.now()))
	}
}

// receive validates one packet, counts it, and feeds it to the machine.
func (n *Node) receive(rs *runState, r rxFrom) {
	var ni *nodeInst
	if len(r.p.payload) >= 2 {
		ni = r.c.byVRID[r.p.payload[1]]
	}
	if ni == nil {
		n.update(func(s *Status) { s.Unclaimed++ })
		return
	}
	p, err := Decode(r.p.payload, r.p.Src, r.p.Dst)
	if err == nil {
		err = Check(p, r.p.RxInfo, ni.expect)
	}
	if err != nil {
		reason := Reason(err)
		n.counters(ni, func(c *Counters, _ *InstanceStatus) { c.Dropped[reason.String()]++ })
		// Log each reason at most once a minute per instance.
		if last := ni.lastWarn[reason]; last.IsZero() || r.at.Sub(last) > time.Minute {
			ni.lastWarn[reason] = r.at
			n.log.Warn("vrrp advertisement dropped", "instance", ni.cfg.Name, "src", r.p.Src, "reason", reason.String(), "err", err)
		}
		return
	}
	n.counters(ni, func(c *Counters, st *InstanceStatus) {
		c.RxAdverts++
		if p.Priority == PriorityStop {
			c.RxPriorityZero++
		}
		st.LastAdvertRx = r.at
	})
	n.exec(rs, n.m.Handle(Event{Kind: EventAdvert, Instance: ni.cfg.Name,
		Advert: Advert{Src: r.p.Src, Priority: p.Priority, Interval: p.Interval}}, n.now()))
}

// exec carries out the machine's actions.
func (n *Node) exec(rs *runState, acts []Action) {
	for _, a := range acts {
		switch a.Kind {
		case ActionSendAdvert:
			n.sendAdvert(n.byName[a.Instance], a.Priority)
		case ActionAddVIPs:
			ni := n.byName[a.Instance]
			for _, v := range slices.Concat(ni.cfg.VIPs, ni.cfg.ExcludedVIPs) {
				if err := rs.h.addVIP(v, vipDev(v, ni.cfg)); err != nil {
					n.counters(ni, func(c *Counters, _ *InstanceStatus) { c.VIPErrors++ })
					n.log.Error("add virtual address", "instance", ni.cfg.Name, "vip", v.Prefix, "err", err)
				}
			}
		case ActionDelVIPs:
			ni := n.byName[a.Instance]
			for _, v := range slices.Concat(ni.cfg.VIPs, ni.cfg.ExcludedVIPs) {
				if v.Prefix.Addr() == ni.src {
					continue // an owner's VIP is the interface's own address
				}
				if err := rs.h.delVIP(v, vipDev(v, ni.cfg)); err != nil {
					n.counters(ni, func(c *Counters, _ *InstanceStatus) { c.VIPErrors++ })
					n.log.Error("remove virtual address", "instance", ni.cfg.Name, "vip", v.Prefix, "err", err)
				}
			}
		case ActionGARP:
			n.announce(rs, n.byName[a.Instance], a.Count)
		case ActionState:
			ni := n.byName[a.Instance]
			n.update(func(s *Status) {
				*s = n.snapshot(*s)
				if a.To == StateMaster {
					s.Instances[ni.idx].Counters.BecameMaster++
				}
			})
			n.log.Info("vrrp state change", "instance", a.Instance, "vrid", ni.cfg.VRID, "ifname", ni.cfg.Interface, "from", a.From.String(), "to", a.To.String())
			if n.cfg.OnState != nil {
				n.cfg.OnState(a.Instance, a.From, a.To)
			}
		case ActionGroupState:
			n.update(func(s *Status) { *s = n.snapshot(*s) })
			n.log.Info("vrrp sync group state change", "group", a.Group, "from", a.From.String(), "to", a.To.String())
			if n.cfg.OnGroupState != nil {
				n.cfg.OnGroupState(a.Group, a.From, a.To)
			}
		}
	}
	n.update(func(s *Status) { *s = n.snapshot(*s) })
}

func (n *Node) sendAdvert(ni *nodeInst, prio uint8) {
	p := Packet{
		Version: uint8(ni.cfg.Version), Type: TypeAdvertisement, VRID: ni.cfg.VRID, Priority: prio,
		AuthType: ni.expect.AuthType, Auth: ni.expect.Auth, Interval: ni.cfg.AdvertInt, Addrs: ni.expect.Addrs,
	}
	for _, dst := range ni.dsts {
		b, err := p.Marshal(ni.src, dst)
		if err == nil {
			err = ni.conn.pc.send(ni.src, dst, b)
		}
		at := n.now()
		n.counters(ni, func(c *Counters, st *InstanceStatus) {
			if err != nil {
				c.TxErrors++
				return
			}
			c.TxAdverts++
			st.LastAdvertTx = at
		})
		if err != nil {
			n.log.Debug("send vrrp advertisement", "instance", ni.cfg.Name, "dst", dst, "err", err)
		}
	}
}

func (n *Node) announce(rs *runState, ni *nodeInst, count int) {
	for range count {
		for _, v := range slices.Concat(ni.cfg.VIPs, ni.cfg.ExcludedVIPs) {
			dev := vipDev(v, ni.cfg)
			li := rs.links[dev]
			var src netip.Addr
			if v.Prefix.Addr().Is6() && ni.v6 && dev == ni.cfg.Interface {
				src = ni.src
			}
			if err := rs.h.announce(v, li, src); err != nil {
				n.log.Debug("announce virtual address", "instance", ni.cfg.Name, "vip", v.Prefix, "err", err)
			}
		}
	}
}
