package vrrp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fake drives a Machine with a fake clock.
type fake struct {
	t   *testing.T
	m   *Machine
	now time.Time
}

func newFake(t *testing.T, groups []SyncGroup, cfgs ...InstanceConfig) *fake {
	t.Helper()
	m, err := NewMachine(cfgs, groups)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cfgs {
		m.SetPrimary(c.Name, netip.AddrFrom4([4]byte{203, 0, 113, byte(2 + i)}))
	}
	return &fake{t: t, m: m, now: t0}
}

func inst(name string, prio uint8, mod ...func(*InstanceConfig)) InstanceConfig {
	c := InstanceConfig{
		Name: name, Interface: "eth0", VRID: 1, Priority: prio, AdvertInt: time.Second,
		VIPs:    []VIP{{Prefix: netip.MustParsePrefix("203.0.113.10/24")}},
		Preempt: true,
	}
	for _, f := range mod {
		f(&c)
	}
	return c
}

func (f *fake) do(ev Event) []string {
	f.t.Helper()
	return strs(f.m.Handle(ev, f.now))
}

// advance moves the clock by d, firing every timer that falls due on the
// way at its own time, and returns the actions.
func (f *fake) advance(d time.Duration) []string {
	f.t.Helper()
	end := f.now.Add(d)
	var out []string
	for {
		next, ok := f.m.NextDeadline()
		if !ok || next.After(end) {
			break
		}
		if next.Before(f.now) {
			f.t.Fatalf("deadline %v is in the past (now %v)", next.Sub(t0), f.now.Sub(t0))
		}
		f.now = next
		out = append(out, strs(f.m.Handle(Event{Kind: EventTimer}, f.now))...)
	}
	f.now = end
	return out
}

// until advances until an action containing want happens and returns
// the time it took; it fails after limit.
func (f *fake) until(want string, limit time.Duration) time.Duration {
	f.t.Helper()
	start, end := f.now, f.now.Add(limit)
	for {
		next, ok := f.m.NextDeadline()
		if !ok || next.After(end) {
			f.t.Fatalf("no %q within %v", want, limit)
		}
		f.now = next
		for _, a := range strs(f.m.Handle(Event{Kind: EventTimer}, f.now)) {
			if strings.Contains(a, want) {
				return f.now.Sub(start)
			}
		}
	}
}

func (f *fake) advert(instance string, src netip.Addr, prio uint8, interval time.Duration) []string {
	f.t.Helper()
	return f.do(Event{Kind: EventAdvert, Instance: instance, Advert: Advert{Src: src, Priority: prio, Interval: interval}})
}

func (f *fake) state(name string) State {
	v, _ := f.m.Instance(name)
	return v.State
}

func strs(acts []Action) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.String()
	}
	return out
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("actions:\n got %q\nwant %q", got, want)
	}
}

func near(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got != want {
		t.Fatalf("%s after %v, want %v", what, got, want)
	}
}

var (
	peerLow  = netip.MustParseAddr("203.0.113.1") // lower than our 203.0.113.2
	peerHigh = netip.MustParseAddr("203.0.113.9") // higher
)

const becomeMaster = "state A BACKUP->MASTER"

func masterActions(name string, prio string) []string {
	return []string{"send_advert " + name + " prio=" + prio, "add_vips " + name, "state " + name + " BACKUP->MASTER", "garp " + name + " x5"}
}

func TestStartupToBackup(t *testing.T) {
	f := newFake(t, nil, inst("A", 100))
	want(t, f.do(Event{Kind: EventStartup}), "state A INIT->BACKUP")
	// Master_Down_Interval = 3×1s + (256-100)/256 s.
	want(t, f.advance(3609374*time.Microsecond))
	want(t, f.advance(time.Microsecond), masterActions("A", "100")...)
	v, _ := f.m.Instance("A")
	if v.MasterAddr != netip.MustParseAddr("203.0.113.2") || v.Priority != 100 {
		t.Fatalf("view %+v", v)
	}
}

func TestStartupOwnerIsMasterAtOnce(t *testing.T) {
	f := newFake(t, nil, inst("A", 255))
	want(t, f.do(Event{Kind: EventStartup}), "send_advert A prio=255", "add_vips A", "state A INIT->MASTER", "garp A x5")
	want(t, f.advance(time.Second), "send_advert A prio=255")
	// An owner never drops its priority for weights.
	f.do(Event{Kind: EventScript, Instance: "A", Name: "chk", Up: false, Weight: -100})
	if v, _ := f.m.Instance("A"); v.Priority != 255 {
		t.Fatalf("owner priority moved to %d", v.Priority)
	}
}

func TestInitialStateMasterStillElects(t *testing.T) {
	f := newFake(t, nil, inst("A", 200, func(c *InstanceConfig) { c.InitialState = StateMaster }))
	want(t, f.do(Event{Kind: EventStartup}), "state A INIT->BACKUP")
	near(t, "master", f.until(becomeMaster, 10*time.Second), time.Second+time.Second/256)
	// A v3 instance waits a 256th of its interval.
	f = newFake(t, nil, inst("A", 200, func(c *InstanceConfig) {
		c.InitialState, c.Version, c.AdvertInt = StateMaster, 3, 100*time.Millisecond
	}))
	f.do(Event{Kind: EventStartup})
	near(t, "v3 master", f.until(becomeMaster, time.Second), 100*time.Millisecond+100*time.Millisecond/256)
}

func TestBackupHearingMasterStays(t *testing.T) {
	for _, tc := range []struct {
		name string
		prio uint8
		cfg  func(*InstanceConfig)
	}{
		{"higher priority", 150, nil},
		{"equal priority, even from a higher address", 100, nil},
		{"lower priority with nopreempt", 50, func(c *InstanceConfig) { c.Preempt = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mods []func(*InstanceConfig)
			if tc.cfg != nil {
				mods = append(mods, tc.cfg)
			}
			f := newFake(t, nil, inst("A", 100, mods...))
			f.do(Event{Kind: EventStartup})
			for range 20 {
				want(t, f.advance(time.Second))
				want(t, f.advert("A", peerHigh, tc.prio, time.Second))
			}
			if f.state("A") != StateBackup {
				t.Fatalf("state %v", f.state("A"))
			}
			if v, _ := f.m.Instance("A"); v.MasterAddr != peerHigh || v.MasterPriority != tc.prio {
				t.Fatalf("master not learnt: %+v", v)
			}
			// When the master falls silent, the backup takes over after
			// Master_Down_Interval from the last advertisement.
			near(t, "takeover", f.until(becomeMaster, 10*time.Second), 3609375*time.Microsecond)
		})
	}
}

func TestBackupPreemptsLowerPriority(t *testing.T) {
	f := newFake(t, nil, inst("A", 100))
	f.do(Event{Kind: EventStartup})
	start := f.now
	f.advance(500 * time.Millisecond)
	// Lower priority adverts are ignored: the down timer from startup runs out.
	for f.state("A") == StateBackup {
		f.advert("A", peerHigh, 50, time.Second)
		f.advance(100 * time.Millisecond)
	}
	if d := f.m.byName["A"].changedAt.Sub(start); d != 3609375*time.Microsecond {
		t.Fatalf("preempted after %v", d)
	}
}

func TestPreemptDelay(t *testing.T) {
	f := newFake(t, nil, inst("A", 100, func(c *InstanceConfig) { c.PreemptDelay = 10 * time.Second }))
	f.do(Event{Kind: EventStartup})
	f.advance(time.Second)
	first := f.now
	var took time.Duration
	for range 30 {
		f.advert("A", peerHigh, 50, time.Second)
		acts := f.advance(time.Second)
		if slices.Contains(acts, becomeMaster) {
			took = f.now.Sub(first)
			break
		}
	}
	// Adverts are honoured for the 10 s delay after the first lower one;
	// the first one after that is ignored, and the down timer then expires.
	if took < 10*time.Second || took > 15*time.Second {
		t.Fatalf("preempted %v after the first lower priority advert, want 10s + down interval", took)
	}
	// A higher priority master resets the delay.
	f2 := newFake(t, nil, inst("A", 100, func(c *InstanceConfig) { c.PreemptDelay = 10 * time.Second }))
	f2.do(Event{Kind: EventStartup})
	f2.advert("A", peerHigh, 50, time.Second)
	f2.advance(8 * time.Second / 2)
	f2.advert("A", peerHigh, 150, time.Second)
	if !f2.m.byName["A"].preemptAt.IsZero() {
		t.Fatal("higher priority advert did not reset preempt delay")
	}
}

func TestBackupPriorityZeroTakesOverAfterSkew(t *testing.T) {
	f := newFake(t, nil, inst("A", 100))
	f.do(Event{Kind: EventStartup})
	f.advance(time.Second)
	f.advert("A", peerHigh, 200, time.Second)
	f.advance(300 * time.Millisecond)
	want(t, f.advert("A", peerHigh, 0, time.Second))
	// Skew_Time = (256-100)/256 s.
	near(t, "takeover", f.until(becomeMaster, 5*time.Second), 609375*time.Microsecond)
}

func TestMasterAdvertisesEveryInterval(t *testing.T) {
	f := newFake(t, nil, inst("A", 100, func(c *InstanceConfig) { c.AdvertInt = 3 * time.Second }))
	f.do(Event{Kind: EventStartup})
	f.until(becomeMaster, 20*time.Second)
	for range 5 {
		want(t, f.advance(2999*time.Millisecond))
		want(t, f.advance(time.Millisecond), "send_advert A prio=100")
	}
}

func becomeMasterNow(t *testing.T, f *fake) {
	t.Helper()
	f.do(Event{Kind: EventStartup})
	f.until(becomeMaster, 10*time.Second)
}

func TestMasterReceivingAdverts(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  netip.Addr
		prio uint8
		acts []string
	}{
		{"higher priority: back off", peerLow, 101, []string{"del_vips A", "state A MASTER->BACKUP"}},
		{"equal priority, higher address: back off", peerHigh, 100, []string{"del_vips A", "state A MASTER->BACKUP"}},
		{"equal priority, lower address: stay and assert", peerLow, 100, []string{"send_advert A prio=100"}},
		{"lower priority: stay and assert", peerHigh, 99, []string{"send_advert A prio=100"}},
		{"priority zero: advertise at once", peerHigh, 0, []string{"send_advert A prio=100"}},
		{"own address at own priority: ignore", netip.MustParseAddr("203.0.113.2"), 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, nil, inst("A", 100))
			becomeMasterNow(t, f)
			f.advance(200 * time.Millisecond)
			want(t, f.advert("A", tc.src, tc.prio, time.Second), tc.acts...)
			if tc.prio == 0 {
				// The advert timer restarts from the immediate advert.
				want(t, f.advance(999*time.Millisecond))
				want(t, f.advance(time.Millisecond), "send_advert A prio=100")
			}
			if f.state("A") == StateBackup {
				v, _ := f.m.Instance("A")
				if v.MasterAddr != tc.src {
					t.Fatalf("master address %v, want %v", v.MasterAddr, tc.src)
				}
				// Back in BACKUP with a fresh down timer.
				near(t, "re-takeover", f.until(becomeMaster, 10*time.Second), 3609375*time.Microsecond)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	f := newFake(t, nil, inst("A", 100), inst("B", 100, func(c *InstanceConfig) { c.VRID = 2 }))
	f.do(Event{Kind: EventStartup})
	f.advance(time.Second)
	f.advert("B", peerHigh, 200, time.Second) // B stays backup
	f.until(becomeMaster, 10*time.Second)
	want(t, f.do(Event{Kind: EventShutdown}),
		"send_advert A prio=0", "del_vips A", "state A MASTER->INIT", "state B BACKUP->INIT")
	if _, ok := f.m.NextDeadline(); ok {
		t.Fatal("timers left after shutdown")
	}
	want(t, f.advert("A", peerHigh, 200, time.Second))
}

func TestV3LearnsMasterInterval(t *testing.T) {
	f := newFake(t, nil, inst("A", 100, func(c *InstanceConfig) { c.Version = 3; c.AdvertInt = time.Second }))
	f.do(Event{Kind: EventStartup})
	f.advert("A", peerHigh, 200, 100*time.Millisecond)
	if v, _ := f.m.Instance("A"); v.MasterInterval != 100*time.Millisecond {
		t.Fatalf("master interval %v", v.MasterInterval)
	}
	// 3×100ms + (256-100)×100ms/256.
	near(t, "takeover", f.until(becomeMaster, 5*time.Second), 360937500*time.Nanosecond)
	// As master it advertises its own configured interval again.
	want(t, f.advance(time.Second), "send_advert A prio=100")
}

func TestV3SkewScalesWithInterval(t *testing.T) {
	f := newFake(t, nil, inst("A", 200, func(c *InstanceConfig) { c.Version = 3; c.AdvertInt = 100 * time.Millisecond }))
	f.do(Event{Kind: EventStartup})
	f.advert("A", peerHigh, 250, 100*time.Millisecond)
	want(t, f.advert("A", peerHigh, 0, 100*time.Millisecond))
	// Skew_Time = (256-200)×100ms/256 = 21.875ms.
	near(t, "takeover", f.until(becomeMaster, time.Second), 21875*time.Microsecond)
}

func TestGARPBursts(t *testing.T) {
	f := newFake(t, nil, inst("A", 100, func(c *InstanceConfig) {
		c.GARPMasterDelay = 5 * time.Second
		c.GARPMasterRepeat = 3
		c.GARPMasterRefresh = 60 * time.Second
		c.GARPMasterRefreshRepeat = 2
	}))
	f.do(Event{Kind: EventStartup})
	f.until(becomeMaster, 10*time.Second)
	var garps []string
	var at []time.Duration
	start := f.now
	for range 130 {
		for _, a := range f.advance(time.Second) {
			if strings.HasPrefix(a, "garp") {
				garps = append(garps, a)
				at = append(at, f.now.Sub(start))
			}
		}
	}
	want(t, garps, "garp A x3", "garp A x2", "garp A x2")
	if !slices.Equal(at, []time.Duration{5 * time.Second, 60 * time.Second, 120 * time.Second}) {
		t.Fatalf("garp bursts at %v", at)
	}
}

func TestTrackInterfaceFault(t *testing.T) {
	f := newFake(t, nil, inst("A", 100, func(c *InstanceConfig) { c.TrackInterfaces = []Track{{Name: "eth1"}} }))
	becomeMasterNow(t, f)
	want(t, f.do(Event{Kind: EventLink, Name: "eth1", Up: false}),
		"send_advert A prio=0", "del_vips A", "state A MASTER->FAULT")
	if v, _ := f.m.Instance("A"); !slices.Equal(v.Faults, []string{"interface eth1"}) {
		t.Fatalf("faults %v", v.Faults)
	}
	want(t, f.advance(10*time.Second)) // nothing happens in FAULT
	want(t, f.advert("A", peerHigh, 50, time.Second))
	want(t, f.do(Event{Kind: EventLink, Name: "eth1", Up: true}), "state A FAULT->BACKUP")
	near(t, "master again", f.until(becomeMaster, 10*time.Second), 3609375*time.Microsecond)
	// The instance's own interface is tracked too.
	want(t, f.do(Event{Kind: EventLink, Name: "eth0", Up: false}),
		"send_advert A prio=0", "del_vips A", "state A MASTER->FAULT")
	// Unrelated interfaces change nothing.
	want(t, f.do(Event{Kind: EventLink, Name: "eth9", Up: false}))
}

func TestFaultBeforeStartup(t *testing.T) {
	f := newFake(t, nil, inst("A", 255))
	want(t, f.do(Event{Kind: EventLink, Name: "eth0", Up: false}))
	want(t, f.do(Event{Kind: EventStartup}), "state A INIT->FAULT")
	// The owner goes straight back to master when the fault clears.
	want(t, f.do(Event{Kind: EventLink, Name: "eth0", Up: true}),
		"state A FAULT->BACKUP", "send_advert A prio=255", "add_vips A", "state A BACKUP->MASTER", "garp A x5")
}

func TestTrackWeights(t *testing.T) {
	f := newFake(t, nil, inst("A", 100, func(c *InstanceConfig) {
		c.TrackInterfaces = []Track{{Name: "eth1", Weight: -60}, {Name: "eth2", Weight: 20}}
	}))
	becomeMasterNow(t, f)
	if v, _ := f.m.Instance("A"); v.Priority != 120 {
		t.Fatalf("priority %d with eth2 up (+20), want 120", v.Priority)
	}
	// A weight change is advertised at once.
	want(t, f.do(Event{Kind: EventLink, Name: "eth1", Up: false}), "send_advert A prio=60")
	want(t, f.advance(time.Second), "send_advert A prio=60")
	// A peer of priority 100 now wins.
	want(t, f.advert("A", peerLow, 100, time.Second), "del_vips A", "state A MASTER->BACKUP")
	// Scripts: weight 0 faults, other weights move the priority, clamped to 1-254.
	want(t, f.do(Event{Kind: EventScript, Instance: "A", Name: "chk", Up: false, Weight: -200}))
	if v, _ := f.m.Instance("A"); v.Priority != 1 {
		t.Fatalf("priority %d, want clamped to 1", v.Priority)
	}
	want(t, f.do(Event{Kind: EventScript, Instance: "A", Name: "chk", Up: true, Weight: 250}))
	if v, _ := f.m.Instance("A"); v.Priority != 254 {
		t.Fatalf("priority %d, want clamped to 254", v.Priority)
	}
	want(t, f.do(Event{Kind: EventScript, Instance: "A", Name: "chk2", Up: false}), "state A BACKUP->FAULT")
	want(t, f.do(Event{Kind: EventScript, Instance: "A", Name: "chk2", Up: true}), "state A FAULT->BACKUP")
}

func groupPair(t *testing.T) *fake {
	return newFake(t, []SyncGroup{{Name: "G", Instances: []string{"A", "B"}}},
		inst("A", 100),
		inst("B", 100, func(c *InstanceConfig) { c.Interface = "eth1"; c.VRID = 2 }))
}

func TestSyncGroupBecomesMasterTogether(t *testing.T) {
	f := groupPair(t)
	want(t, f.do(Event{Kind: EventStartup}), "state A INIT->BACKUP", "state B INIT->BACKUP", "group_state G INIT->BACKUP")
	// B keeps hearing a master; A does not: A must not go master alone.
	for range 8 {
		f.advert("B", peerHigh, 200, time.Second)
		for _, a := range f.advance(time.Second) {
			if strings.Contains(a, "MASTER") {
				t.Fatalf("%s while B still hears a master", a)
			}
		}
	}
	if !f.m.byName["A"].wantMaster {
		t.Fatal("A should want master")
	}
	// When B's master falls silent too, both go master at once.
	var got []string
	for _, a := range f.advance(5 * time.Second) {
		if strings.HasPrefix(a, "state") || strings.HasPrefix(a, "group") {
			got = append(got, a)
		}
	}
	want(t, got, "state B BACKUP->MASTER", "state A BACKUP->MASTER", "group_state G BACKUP->MASTER")
	// A higher priority master on A moves the whole group back.
	want(t, f.advert("A", peerHigh, 200, time.Second),
		"del_vips A", "state A MASTER->BACKUP", "del_vips B", "state B MASTER->BACKUP", "group_state G MASTER->BACKUP")
}

func TestSyncGroupFault(t *testing.T) {
	f := groupPair(t)
	f.do(Event{Kind: EventStartup})
	f.until("group_state G BACKUP->MASTER", 10*time.Second)
	want(t, f.do(Event{Kind: EventLink, Name: "eth1", Up: false}),
		"send_advert B prio=0", "del_vips B", "state B MASTER->FAULT",
		"send_advert A prio=0", "del_vips A", "state A MASTER->FAULT", "group_state G MASTER->FAULT")
	want(t, f.advance(10*time.Second))
	want(t, f.do(Event{Kind: EventLink, Name: "eth1", Up: true}),
		"state B FAULT->BACKUP", "state A FAULT->BACKUP", "group_state G FAULT->BACKUP")
	f.until("group_state G BACKUP->MASTER", 10*time.Second)
}

func TestSyncGroupStartsInFault(t *testing.T) {
	f := groupPair(t)
	f.do(Event{Kind: EventLink, Name: "eth1", Up: false})
	want(t, f.do(Event{Kind: EventStartup}), "state A INIT->FAULT", "state B INIT->FAULT", "group_state G INIT->FAULT")
	// A fault of A clearing does not release the group while B is down.
	f.do(Event{Kind: EventScript, Instance: "A", Name: "s", Up: false})
	want(t, f.do(Event{Kind: EventScript, Instance: "A", Name: "s", Up: true}))
	want(t, f.do(Event{Kind: EventShutdown}), "state A FAULT->INIT", "state B FAULT->INIT", "group_state G FAULT->INIT")
}

func TestSyncGroupOfOwners(t *testing.T) {
	f := newFake(t, []SyncGroup{{Name: "G", Instances: []string{"A", "B"}}},
		inst("A", 255), inst("B", 255, func(c *InstanceConfig) { c.VRID = 2 }))
	acts := f.do(Event{Kind: EventStartup})
	if !slices.Contains(acts, "group_state G BACKUP->MASTER") || f.state("A") != StateMaster || f.state("B") != StateMaster {
		t.Fatalf("owners did not start as master together: %q", acts)
	}
}

func TestNewMachineRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfgs   []InstanceConfig
		groups []SyncGroup
		msg    string
	}{
		{"duplicate name", []InstanceConfig{inst("A", 1), inst("A", 2, func(c *InstanceConfig) { c.VRID = 2 })}, nil, "duplicate name"},
		{"duplicate vrid", []InstanceConfig{inst("A", 1), inst("B", 2)}, nil, "already used"},
		{"unknown member", []InstanceConfig{inst("A", 1)}, []SyncGroup{{Name: "G", Instances: []string{"X"}}}, "no instance"},
		{"two groups", []InstanceConfig{inst("A", 1)}, []SyncGroup{{Name: "G", Instances: []string{"A"}}, {Name: "H", Instances: []string{"A"}}}, "already in group"},
		{"v2 sub-second", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.AdvertInt = 100 * time.Millisecond })}, nil, "whole seconds"},
		{"v3 auth", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.Version = 3; c.AuthPass = "x" })}, nil, "VRRPv2 only"},
		{"v2 ipv6", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("2001:db8::1/64")}} })}, nil, "version 3"},
		{"long password", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.AuthPass = "123456789" })}, nil, "longer"},
		{"no vips", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.VIPs = nil })}, nil, "no virtual_ipaddress"},
		{"bad label", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.VIPs[0].Label = "eth1:x" })}, nil, "label"},
		{"long label", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.VIPs[0].Label = "eth0:0123456789a" })}, nil, "label"},
		{"bad scope", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.VIPs[0].Scope = "galaxy" })}, nil, "scope"},
		{"mixed families", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) {
			c.Version = 3
			c.VIPs = append(c.VIPs, VIP{Prefix: netip.MustParsePrefix("2001:db8::1/64")})
		})}, nil, "one family"},
		{"vrid 0", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.VRID = 0 })}, nil, "virtual_router_id"},
		{"peer family", []InstanceConfig{inst("A", 1, func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{ll1} })}, nil, "unicast_peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewMachine(tc.cfgs, tc.groups)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
}

// FuzzMachine feeds random event sequences to two grouped instances and a
// lone one, and checks invariants after every step: a master and only a
// master holds its addresses, sync group members share the group's state,
// transitions start from the state they claim, and no timer is left due.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add([]byte{0, 9, 9, 9, 3, 9, 9, 7, 9, 9, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cfgs := []InstanceConfig{
			inst("A", 100, func(c *InstanceConfig) { c.TrackInterfaces = []Track{{Name: "eth9", Weight: -50}} }),
			inst("B", 150, func(c *InstanceConfig) { c.Interface, c.VRID, c.Version = "eth1", 2, 3 }),
			inst("C", 255, func(c *InstanceConfig) {
				c.VRID = 3
				c.GARPMasterDelay, c.GARPMasterRefresh = time.Second, 7*time.Second
			}),
		}
		f := newFake(t, []SyncGroup{{Name: "G", Instances: []string{"A", "B"}}}, cfgs...)
		names := []string{"A", "B", "C"}
		state := map[string]State{}
		held := map[string]int{}
		for i, op := range ops {
			name := names[int(op>>4)%3]
			var acts []Action
			switch op % 12 {
			case 0:
				acts = f.m.Handle(Event{Kind: EventStartup}, f.now)
			case 1:
				acts = f.m.Handle(Event{Kind: EventShutdown}, f.now)
			case 2, 3:
				acts = f.m.Handle(Event{Kind: EventLink, Name: []string{"eth0", "eth1", "eth9"}[i%3], Up: op%12 == 3}, f.now)
			case 4, 5:
				acts = f.m.Handle(Event{Kind: EventScript, Instance: name, Name: "s", Up: op%12 == 5, Weight: int(op%3) * -30}, f.now)
			case 6, 7, 8:
				src := []netip.Addr{peerLow, peerHigh}[i%2]
				acts = f.m.Handle(Event{Kind: EventAdvert, Instance: name, Advert: Advert{Src: src, Priority: []uint8{0, 50, 100, 150, 200, 255}[int(op)%6], Interval: 100 * time.Millisecond}}, f.now)
			default:
				f.now = f.now.Add(time.Duration(op) * 37 * time.Millisecond)
				acts = f.m.Handle(Event{Kind: EventTimer}, f.now)
				if next, ok := f.m.NextDeadline(); ok && !next.After(f.now) {
					t.Fatalf("step %d: timer %v still due at %v", i, next.Sub(t0), f.now.Sub(t0))
				}
			}
			for _, a := range acts {
				switch a.Kind {
				case ActionAddVIPs:
					held[a.Instance]++
				case ActionDelVIPs:
					held[a.Instance]--
				case ActionState:
					if state[a.Instance] != a.From {
						t.Fatalf("step %d: %v but %s was %v", i, a, a.Instance, state[a.Instance])
					}
					state[a.Instance] = a.To
				}
			}
			for _, n := range names {
				v, _ := f.m.Instance(n)
				if v.State != state[n] {
					t.Fatalf("step %d: %s is %v, actions said %v", i, n, v.State, state[n])
				}
				if want := map[bool]int{true: 1, false: 0}[v.State == StateMaster]; held[n] != want {
					t.Fatalf("step %d: %s in %v holds its addresses %d times", i, n, v.State, held[n])
				}
			}
			g, _ := f.m.GroupState("G")
			if state["A"] != g || state["B"] != g {
				t.Fatalf("step %d: group %v, members A %v B %v", i, g, state["A"], state["B"])
			}
		}
	})
}
