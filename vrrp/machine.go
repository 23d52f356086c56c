package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// State is the state of an instance or sync group (RFC 5798 §6.4, plus
// keepalived's FAULT).
type State uint8

// States. StateInit is also the state after a stop.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
)

var stateNames = [...]string{StateInit: "INIT", StateBackup: "BACKUP", StateMaster: "MASTER", StateFault: "FAULT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("STATE(%d)", uint8(s))
}

// MarshalText encodes the state as its name, for the control API.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// EventKind says what happened.
type EventKind uint8

// Events the machine reacts to.
const (
	EventStartup  EventKind = iota + 1 // start every instance
	EventShutdown                      // stop every instance (masters advertise priority 0)
	EventTimer                         // time passed: fire the timers due at now
	EventAdvert                        // a validated advertisement for Instance
	EventLink                          // interface Name went Up or down
	EventScript                        // track script Name of Instance is Up (ok) or not, with Weight
)

// Event is an input to Machine.Handle.
type Event struct {
	Kind     EventKind
	Instance string // EventAdvert, EventScript
	Advert   Advert // EventAdvert
	Name     string // EventLink: interface; EventScript: script
	Up       bool   // EventLink, EventScript
	Weight   int    // EventScript
}

// Advert is the part of a validated advertisement the machine needs.
type Advert struct {
	Src      netip.Addr
	Priority uint8
	Interval time.Duration // the sender's advertisement interval (learnt in v3)
}

// ActionKind says what the caller must do.
type ActionKind uint8

// Actions the machine asks for, in the order they must be carried out.
const (
	ActionSendAdvert ActionKind = iota + 1 // advertise Priority for Instance
	ActionAddVIPs                          // install Instance's addresses
	ActionDelVIPs                          // remove Instance's addresses
	ActionGARP                             // send Count gratuitous ARPs / unsolicited NAs per address
	ActionState                            // Instance went From → To
	ActionGroupState                       // sync Group went From → To
)

var actionNames = [...]string{
	ActionSendAdvert: "send_advert", ActionAddVIPs: "add_vips", ActionDelVIPs: "del_vips",
	ActionGARP: "garp", ActionState: "state", ActionGroupState: "group_state",
}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) && actionNames[k] != "" {
		return actionNames[k]
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Action is an output of Machine.Handle.
type Action struct {
	Kind     ActionKind
	Instance string
	Group    string
	Priority uint8
	Count    int
	From, To State
}

func (a Action) String() string {
	switch a.Kind {
	case ActionSendAdvert:
		return fmt.Sprintf("%s %s prio=%d", a.Kind, a.Instance, a.Priority)
	case ActionGARP:
		return fmt.Sprintf("%s %s x%d", a.Kind, a.Instance, a.Count)
	case ActionState:
		return fmt.Sprintf("%s %s %v->%v", a.Kind, a.Instance, a.From, a.To)
	case ActionGroupState:
		return fmt.Sprintf("%s %s %v->%v", a.Kind, a.Group, a.From, a.To)
	}
	return fmt.Sprintf("%s %s", a.Kind, a.Instance)
}

// Machine is the VRRP state machine of a set of instances and their sync
// groups. It does no I/O and reads no clock: the caller feeds events with
// the current time and carries out the returned actions, and asks
// NextDeadline when to send the next EventTimer. It is not safe for
// concurrent use.
type Machine struct {
	insts  []*instance
	byName map[string]*instance
	groups []*group
}

type group struct {
	name    string
	state   State
	members []*instance
}

type track struct {
	weight int
	up     bool
}

type instance struct {
	cfg     InstanceConfig
	primary netip.Addr // our address for the equal-priority tie-break
	group   *group

	state      State
	masterInt  time.Duration // Master_Adver_Interval
	advertAt   time.Time     // master: next advertisement
	downAt     time.Time     // backup: Master_Down_Timer expiry
	preemptAt  time.Time     // backup: preemption allowed after (preempt_delay)
	wantMaster bool          // down timer expired, held back by the sync group
	garpAt     time.Time     // master: second GARP burst
	refreshAt  time.Time     // master: next GARP refresh burst
	masterAddr netip.Addr
	masterPrio uint8
	changedAt  time.Time

	links   map[string]*track
	scripts map[string]*track
}

// NewMachine builds a machine for validated instances and groups.
func NewMachine(instances []InstanceConfig, groups []SyncGroup) (*Machine, error) {
	if err := validate(instances, groups); err != nil {
		return nil, err
	}
	m := &Machine{byName: map[string]*instance{}}
	for _, c := range instances {
		c = c.withDefaults()
		in := &instance{cfg: c, masterInt: c.AdvertInt, links: map[string]*track{}, scripts: map[string]*track{}}
		in.links[c.Interface] = &track{up: true}
		for _, t := range c.TrackInterfaces {
			if t.Name == c.Interface && t.Weight == 0 {
				continue
			}
			in.links[t.Name] = &track{weight: t.Weight, up: true}
		}
		m.insts = append(m.insts, in)
		m.byName[c.Name] = in
	}
	for _, g := range groups {
		gr := &group{name: g.Name}
		for _, name := range g.Instances {
			in := m.byName[name]
			in.group = gr
			gr.members = append(gr.members, in)
		}
		m.groups = append(m.groups, gr)
	}
	return m, nil
}

// SetPrimary sets the address an instance advertises from (its
// interface's primary address or unicast_src_ip), used to break ties
// between equal priorities.
func (m *Machine) SetPrimary(instance string, a netip.Addr) {
	if in := m.byName[instance]; in != nil {
		in.primary = a
	}
}

// InstanceView is a snapshot of one instance.
type InstanceView struct {
	Name           string
	State          State
	Group          string
	Priority       uint8 // effective, after track weights
	BasePriority   uint8
	MasterAddr     netip.Addr // ours when master; the last master heard when backup
	MasterPriority uint8
	MasterInterval time.Duration // Master_Adver_Interval (learnt from the master in v3)
	Faults         []string      // tracked objects holding the instance in FAULT
	LastTransition time.Time
}

// Instance returns a snapshot of the named instance.
func (m *Machine) Instance(name string) (InstanceView, bool) {
	in := m.byName[name]
	if in == nil {
		return InstanceView{}, false
	}
	v := InstanceView{
		Name: name, State: in.state, Priority: in.priority(), BasePriority: in.cfg.Priority,
		MasterAddr: in.masterAddr, MasterPriority: in.masterPrio, MasterInterval: in.masterInt,
		Faults: in.faults(), LastTransition: in.changedAt,
	}
	if in.group != nil {
		v.Group = in.group.name
	}
	return v, true
}

// GroupState returns the state of a sync group.
func (m *Machine) GroupState(name string) (State, bool) {
	for _, g := range m.groups {
		if g.name == name {
			return g.state, true
		}
	}
	return StateInit, false
}

// NextDeadline returns the earliest pending timer, or false if none is.
func (m *Machine) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, in := range m.insts {
		for _, t := range []time.Time{in.advertAt, in.downAt, in.garpAt, in.refreshAt} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next, !next.IsZero()
}

// Handle applies one event at time now and returns the actions to carry
// out, in order.
func (m *Machine) Handle(ev Event, now time.Time) []Action {
	var acts []Action
	switch ev.Kind {
	case EventStartup:
		m.startup(now, &acts)
	case EventShutdown:
		m.shutdown(now, &acts)
	case EventTimer:
		m.timers(now, &acts)
	case EventAdvert:
		if in := m.byName[ev.Instance]; in != nil {
			m.advert(in, ev.Advert, now, &acts)
		}
	case EventLink:
		for _, in := range m.insts {
			if t := in.links[ev.Name]; t != nil && t.up != ev.Up {
				t.up = ev.Up
				m.reassess(in, now, &acts)
			}
		}
	case EventScript:
		if in := m.byName[ev.Instance]; in != nil {
			t := in.scripts[ev.Name]
			if t == nil {
				t = &track{up: true}
				in.scripts[ev.Name] = t
			}
			if t.up != ev.Up || t.weight != ev.Weight {
				t.up, t.weight = ev.Up, ev.Weight
				m.reassess(in, now, &acts)
			}
		}
	}
	return acts
}

// priority is the effective priority: the configured one moved by the
// weights of tracked objects, kept in 1-254. The owner's 255 never moves.
func (in *instance) priority() uint8 {
	if in.cfg.Priority == PriorityOwner {
		return PriorityOwner
	}
	p := int(in.cfg.Priority)
	for _, ts := range []map[string]*track{in.links, in.scripts} {
		for _, t := range ts {
			switch {
			case t.weight > 0 && t.up, t.weight < 0 && !t.up:
				p += t.weight
			}
		}
	}
	return uint8(min(max(p, 1), PriorityOwner-1))
}

// faults lists the weight-0 tracked objects that are down.
func (in *instance) faults() []string {
	var fs []string
	for name, t := range in.links {
		if t.weight == 0 && !t.up {
			fs = append(fs, "interface "+name)
		}
	}
	for name, t := range in.scripts {
		if t.weight == 0 && !t.up {
			fs = append(fs, "script "+name)
		}
	}
	sort.Strings(fs)
	return fs
}

func (in *instance) faulted() bool {
	for _, ts := range []map[string]*track{in.links, in.scripts} {
		for _, t := range ts {
			if t.weight == 0 && !t.up {
				return true
			}
		}
	}
	return false
}

// skew is Skew_Time: (256-Priority)/256 s in v2, scaled by the master's
// interval in v3.
func (in *instance) skew() time.Duration { return in.skewOf(in.priority()) }

func (in *instance) skewOf(prio uint8) time.Duration {
	p := time.Duration(256 - int(prio))
	if in.cfg.Version == 3 {
		return p * in.masterInt / 256
	}
	return p * time.Second / 256
}

// downInterval is Master_Down_Interval: 3×Master_Adver_Interval + Skew_Time.
func (in *instance) downInterval() time.Duration {
	return 3*in.masterInt + in.skew()
}

func (in *instance) setState(to State, now time.Time, acts *[]Action) {
	if in.state == to {
		return
	}
	*acts = append(*acts, Action{Kind: ActionState, Instance: in.cfg.Name, From: in.state, To: to})
	in.state = to
	in.changedAt = now
}

func (g *group) setState(to State, acts *[]Action) {
	if g.state == to {
		return
	}
	*acts = append(*acts, Action{Kind: ActionGroupState, Group: g.name, From: g.state, To: to})
	g.state = to
}

func (in *instance) clearTimers() {
	in.advertAt, in.downAt, in.garpAt, in.refreshAt, in.preemptAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	in.wantMaster = false
}

// members returns the instances that move with in, in first: its sync
// group, or in alone.
func (in *instance) members() []*instance {
	ms := []*instance{in}
	if in.group != nil {
		for _, o := range in.group.members {
			if o != in {
				ms = append(ms, o)
			}
		}
	}
	return ms
}

func (m *Machine) startup(now time.Time, acts *[]Action) {
	for _, in := range m.insts {
		if in.state != StateInit {
			continue
		}
		if in.faulted() || (in.group != nil && slices.ContainsFunc(in.group.members, (*instance).faulted)) {
			in.enterFault(now, acts)
			continue
		}
		if in.group == nil && in.priority() == PriorityOwner {
			// RFC 5798 §6.4.1: the address owner goes straight to master.
			in.enterMaster(now, acts)
			continue
		}
		in.enterBackup(now, true, acts)
		if in.cfg.InitialState == StateMaster {
			// keepalived's `state MASTER`: wait one interval (plus the
			// smallest skew) for another master instead of three.
			in.downAt = now.Add(in.masterInt + in.skewOf(255))
		}
	}
	for _, g := range m.groups {
		switch {
		case g.state != StateInit:
			// already running: a repeated startup changes nothing
		case slices.ContainsFunc(g.members, func(in *instance) bool { return in.state == StateFault }):
			g.setState(StateFault, acts)
		default:
			g.setState(StateBackup, acts)
		}
	}
	m.owners(now, acts)
}

// owners makes address owners (priority 255) want master at once, as
// RFC 5798 §6.4.1 says for the Startup event.
func (m *Machine) owners(now time.Time, acts *[]Action) {
	for _, in := range m.insts {
		if in.state == StateBackup && in.priority() == PriorityOwner {
			in.wantMaster = true
			m.tryMaster(in, now, acts)
		}
	}
}

func (m *Machine) shutdown(now time.Time, acts *[]Action) {
	for _, in := range m.insts {
		if in.state == StateMaster {
			*acts = append(*acts,
				Action{Kind: ActionSendAdvert, Instance: in.cfg.Name, Priority: PriorityStop},
				Action{Kind: ActionDelVIPs, Instance: in.cfg.Name})
		}
		in.clearTimers()
		in.masterAddr = netip.Addr{}
		in.setState(StateInit, now, acts)
	}
	for _, g := range m.groups {
		g.setState(StateInit, acts)
	}
}

// enterBackup moves in to BACKUP. fresh resets the learnt master interval
// (startup, leaving FAULT).
func (in *instance) enterBackup(now time.Time, fresh bool, acts *[]Action) {
	if in.state == StateMaster {
		*acts = append(*acts, Action{Kind: ActionDelVIPs, Instance: in.cfg.Name})
	}
	if fresh {
		in.masterInt = in.cfg.AdvertInt
		in.masterAddr = netip.Addr{}
	}
	in.clearTimers()
	in.setState(StateBackup, now, acts)
	in.downAt = now.Add(in.downInterval())
}

func (in *instance) enterMaster(now time.Time, acts *[]Action) {
	in.clearTimers()
	in.masterInt = in.cfg.AdvertInt
	in.masterAddr, in.masterPrio = in.primary, in.priority()
	// The advertisement goes first so that the old master drops the
	// addresses before our gratuitous ARPs claim them (as keepalived).
	*acts = append(*acts,
		Action{Kind: ActionSendAdvert, Instance: in.cfg.Name, Priority: in.priority()},
		Action{Kind: ActionAddVIPs, Instance: in.cfg.Name})
	in.setState(StateMaster, now, acts)
	*acts = append(*acts, Action{Kind: ActionGARP, Instance: in.cfg.Name, Count: in.cfg.GARPMasterRepeat})
	in.advertAt = now.Add(in.cfg.AdvertInt)
	if in.cfg.GARPMasterDelay > 0 {
		in.garpAt = now.Add(in.cfg.GARPMasterDelay)
	}
	if in.cfg.GARPMasterRefresh > 0 {
		in.refreshAt = now.Add(in.cfg.GARPMasterRefresh)
	}
}

func (in *instance) enterFault(now time.Time, acts *[]Action) {
	if in.state == StateMaster {
		*acts = append(*acts,
			Action{Kind: ActionSendAdvert, Instance: in.cfg.Name, Priority: PriorityStop},
			Action{Kind: ActionDelVIPs, Instance: in.cfg.Name})
	}
	in.clearTimers()
	in.masterAddr = netip.Addr{}
	in.setState(StateFault, now, acts)
}

// tryMaster makes in (and its sync group) master if every member wants to;
// otherwise in waits another Master_Down_Interval, preferring BACKUP to
// thrashing, as keepalived does.
func (m *Machine) tryMaster(in *instance, now time.Time, acts *[]Action) {
	if in.group != nil && in.group.state != StateMaster {
		for _, o := range in.group.members {
			if o != in && o.state != StateMaster && !o.wantMaster {
				in.downAt = now.Add(in.downInterval())
				return
			}
		}
	}
	for _, o := range in.members() {
		if o.state != StateMaster {
			o.enterMaster(now, acts)
		}
	}
	if in.group != nil {
		in.group.setState(StateMaster, acts)
	}
}

// toBackup moves a master that lost the election, and its group, to BACKUP.
func (m *Machine) toBackup(in *instance, now time.Time, acts *[]Action) {
	in.enterBackup(now, false, acts)
	for _, o := range in.members() {
		if o != in && o.state != StateBackup {
			o.enterBackup(now, o.state != StateMaster, acts)
		}
	}
	if in.group != nil {
		in.group.setState(StateBackup, acts)
	}
}

func (m *Machine) timers(now time.Time, acts *[]Action) {
	for _, in := range m.insts {
		switch in.state {
		case StateMaster:
			if due(in.advertAt, now) {
				*acts = append(*acts, Action{Kind: ActionSendAdvert, Instance: in.cfg.Name, Priority: in.priority()})
				next := in.advertAt.Add(in.cfg.AdvertInt)
				if !next.After(now) {
					next = now.Add(in.cfg.AdvertInt)
				}
				in.advertAt = next
			}
			if due(in.garpAt, now) {
				*acts = append(*acts, Action{Kind: ActionGARP, Instance: in.cfg.Name, Count: in.cfg.GARPMasterRepeat})
				in.garpAt = time.Time{}
			}
			if due(in.refreshAt, now) {
				*acts = append(*acts, Action{Kind: ActionGARP, Instance: in.cfg.Name, Count: in.cfg.GARPMasterRefreshRepeat})
				in.refreshAt = now.Add(in.cfg.GARPMasterRefresh)
			}
		case StateBackup:
			if due(in.downAt, now) {
				in.wantMaster = true
				m.tryMaster(in, now, acts)
			}
		}
	}
}

func due(t, now time.Time) bool { return !t.IsZero() && !t.After(now) }

func (m *Machine) advert(in *instance, a Advert, now time.Time, acts *[]Action) {
	prio := in.priority()
	switch in.state {
	case StateBackup:
		switch {
		case a.Priority == PriorityStop:
			// The master is leaving: take over after Skew_Time.
			in.downAt = now.Add(in.skew())
		case !in.cfg.Preempt || a.Priority >= prio ||
			(in.cfg.PreemptDelay > 0 && (in.preemptAt.IsZero() || now.Before(in.preemptAt))):
			if in.cfg.Version == 3 && a.Interval > 0 {
				in.masterInt = a.Interval
			}
			in.downAt = now.Add(in.downInterval())
			in.masterAddr, in.masterPrio = a.Src, a.Priority
			in.wantMaster = false
			if in.cfg.PreemptDelay > 0 {
				if a.Priority >= prio {
					in.preemptAt = time.Time{}
				} else if in.preemptAt.IsZero() {
					in.preemptAt = now.Add(in.cfg.PreemptDelay)
				}
			}
		default:
			// Lower priority and we preempt: ignore it, so that the down
			// timer expires and we take over.
			in.masterAddr, in.masterPrio = a.Src, a.Priority
		}
	case StateMaster:
		switch {
		case a.Priority == PriorityStop:
			// Another master is stopping: tell the backups at once who is master.
			*acts = append(*acts, Action{Kind: ActionSendAdvert, Instance: in.cfg.Name, Priority: prio})
			in.advertAt = now.Add(in.cfg.AdvertInt)
		case a.Priority > prio || (a.Priority == prio && a.Src.Compare(in.primary) > 0):
			if in.cfg.Version == 3 && a.Interval > 0 {
				in.masterInt = a.Interval
			}
			m.toBackup(in, now, acts)
			in.masterAddr, in.masterPrio = a.Src, a.Priority
		case a.Src == in.primary:
			// Our own address at our priority: a loop or a duplicate; ignore.
		default:
			// A lower priority master: force a new election at once (keepalived does too).
			*acts = append(*acts, Action{Kind: ActionSendAdvert, Instance: in.cfg.Name, Priority: prio})
		}
	}
}

// reassess reacts to a tracked object's change: fault, recovery, or a new
// effective priority.
func (m *Machine) reassess(in *instance, now time.Time, acts *[]Action) {
	if in.state == StateInit {
		return
	}
	switch {
	case in.faulted() && in.state != StateFault:
		for _, o := range in.members() {
			if o.state != StateFault {
				o.enterFault(now, acts)
			}
		}
		if in.group != nil {
			in.group.setState(StateFault, acts)
		}
	case !in.faulted() && in.state == StateFault:
		ms := in.members()
		if slices.ContainsFunc(ms, (*instance).faulted) {
			return // another member still holds the group in FAULT
		}
		for _, o := range ms {
			o.enterBackup(now, true, acts)
		}
		if in.group != nil {
			in.group.setState(StateBackup, acts)
		}
		m.owners(now, acts)
	case in.state == StateMaster && in.masterPrio != in.priority():
		// Tell the backups about the new priority at once.
		in.masterPrio = in.priority()
		*acts = append(*acts, Action{Kind: ActionSendAdvert, Instance: in.cfg.Name, Priority: in.masterPrio})
		in.advertAt = now.Add(in.cfg.AdvertInt)
	}
}
