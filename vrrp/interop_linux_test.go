package vrrp_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
	"github.com/xlb/xlb/vrrp"
)

// Interop with the Debian keepalived (2.2.7): xlb's Node runs in
// namespace a (203.0.113.2), keepalived in namespace b (203.0.113.3), both
// on one bridge; the tests check who holds the VIP with netlink and time
// takeovers from the old master's last advertisement on the bridge.

func xlbInstance(prio uint8, mod ...func(*vrrp.InstanceConfig)) vrrp.InstanceConfig {
	c := vrrp.InstanceConfig{
		Name: "VI_1", Interface: "eth0", VRID: 1, Priority: prio, AdvertInt: time.Second, Version: 2,
		AuthPass: "secret", VIPs: []vrrp.VIP{{Prefix: vipPrefix, Label: "eth0:vip"}}, Preempt: true,
	}
	for _, f := range mod {
		f(&c)
	}
	return c
}

func kaV2(state string, prio int) kaInstance {
	return kaInstance{State: state, Priority: prio, Version: 2, AdvertInt: "1", AuthPass: "secret"}
}

func v3(interval time.Duration) func(*vrrp.InstanceConfig) {
	return func(c *vrrp.InstanceConfig) { c.Version, c.AdvertInt, c.AuthPass = 3, interval, "" }
}

func kaV3(state string, prio int, interval string) kaInstance {
	return kaInstance{State: state, Priority: prio, Version: 3, AdvertInt: interval}
}

// noDrops fails if xlb dropped any advertisement.
func noDrops(t *testing.T, x *xlbNode) {
	t.Helper()
	if d := x.status(t).Counters.Dropped; len(d) > 0 {
		for r, n := range d {
			if n > 0 {
				t.Fatalf("xlb dropped keepalived's advertisements: %v", d)
			}
			_ = r
		}
	}
}

func TestInteropXLBMasterKeepalivedBackup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  []func(*vrrp.InstanceConfig)
		ka   kaInstance
		hold time.Duration // keepalived stays backup this long
		// keepalived takes over after Skew_Time of a priority 0 advert
		limit time.Duration
	}{
		{"v2", nil, kaV2("BACKUP", 100), 2 * time.Second, 2 * time.Second},
		{"v3 100ms", []func(*vrrp.InstanceConfig){v3(100 * time.Millisecond)}, kaV3("BACKUP", 100, "0.1"), time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLAN(t)
			start := time.Now()
			x := startXLB(t, l.a, xlbInstance(200, append(tc.mod, func(c *vrrp.InstanceConfig) {
				c.InitialState, c.GARPMasterDelay = vrrp.StateMaster, 500*time.Millisecond
			})...))
			waitAddr(t, l.a, vipAddr, true, 3*time.Second)
			// The new master announces the VIP: five gratuitous ARPs at
			// once, five more after garp_master_delay.
			mac := macOf(t, l.a, "eth0")
			l.waitAnnounced(t, vipAddr, mac, start, 5)
			time.Sleep(600 * time.Millisecond)
			l.waitAnnounced(t, vipAddr, mac, start, 10)
			ka := startKeepalived(t, l.b, tc.ka)
			ka.waitLog(t, "Entering BACKUP STATE", 5*time.Second)
			holdAddr(t, l.b, vipAddr, false, tc.hold)
			if !hasAddr(t, l.a, vipAddr) {
				t.Fatal("xlb lost the VIP")
			}
			if st := x.status(t); st.State != vrrp.StateMaster || st.Counters.TxAdverts < 2 {
				t.Fatalf("xlb: %+v", st)
			}
			stopAt := time.Now()
			x.stop()
			d := l.takeover(t, addrA, l.b, vipAddr, tc.limit)
			t.Logf("%s: priority 0 handover xlb -> keepalived took %v", tc.name, d)
			if a, ok := l.sniff.last(addrA, time.Now()); !ok || a.priority != 0 || a.at.Before(stopAt) {
				t.Fatalf("xlb's last advertisement %+v, want priority 0 at stop", a)
			}
			if hasAddr(t, l.a, vipAddr) {
				t.Fatal("stopped xlb kept the VIP")
			}
		})
	}
}

func TestInteropKeepalivedMasterXLBBackup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		mod   []func(*vrrp.InstanceConfig)
		ka    kaInstance
		hold  time.Duration // xlb stays backup this long
		sig   syscall.Signal
		limit time.Duration
	}{
		// keepalived stops cleanly: priority 0, takeover after Skew_Time (0.61 s).
		{"v2 stop", nil, kaV2("MASTER", 200), 4 * time.Second, syscall.SIGTERM, 2 * time.Second},
		// keepalived dies: takeover after Master_Down_Interval (3.61 s).
		{"v2 kill", nil, kaV2("MASTER", 200), 4 * time.Second, syscall.SIGKILL, 5 * time.Second},
		// v3 at 100 ms: Master_Down_Interval 361 ms.
		{"v3 100ms kill", []func(*vrrp.InstanceConfig){v3(100 * time.Millisecond)}, kaV3("MASTER", 200, "0.1"), time.Second, syscall.SIGKILL, 2 * time.Second},
		{"v3 1s stop", []func(*vrrp.InstanceConfig){v3(time.Second)}, kaV3("MASTER", 200, "1"), 4 * time.Second, syscall.SIGTERM, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLAN(t)
			ka := startKeepalived(t, l.b, tc.ka)
			waitAddr(t, l.b, vipAddr, true, 5*time.Second)
			// A crashed xlb left the VIP behind: the new run removes it.
			testutil.Must(t, l.a.AddAddr("eth0", vipPrefix.String()))
			x := startXLB(t, l.a, xlbInstance(100, tc.mod...))
			waitAddr(t, l.a, vipAddr, false, time.Second)
			holdAddr(t, l.a, vipAddr, false, tc.hold)
			st := x.status(t)
			if st.State != vrrp.StateBackup || st.MasterAddr != addrB || st.MasterPriority != 200 || st.Counters.RxAdverts < 2 {
				t.Fatalf("xlb: %+v", st)
			}
			noDrops(t, x)
			ka.signal(tc.sig)
			d := l.takeover(t, addrB, l.a, vipAddr, tc.limit)
			t.Logf("%s: takeover keepalived -> xlb took %v", tc.name, d)
			if tc.sig == syscall.SIGTERM {
				if x.status(t).Counters.RxPriorityZero == 0 {
					t.Fatal("xlb saw no priority 0 advertisement")
				}
			}
		})
	}
}

func TestInteropPreempt(t *testing.T) {
	t.Parallel()
	t.Run("xlb preempts keepalived", func(t *testing.T) {
		l := newLAN(t)
		startKeepalived(t, l.b, kaV2("MASTER", 100))
		waitAddr(t, l.b, vipAddr, true, 5*time.Second)
		x := startXLB(t, l.a, xlbInstance(200))
		d := l.takeover(t, addrB, l.a, vipAddr, 6*time.Second)
		waitAddr(t, l.b, vipAddr, false, 2*time.Second)
		t.Logf("priority takeover keepalived(100) -> xlb(200): %v after keepalived's last advertisement", d)
		holdAddr(t, l.b, vipAddr, false, 1500*time.Millisecond)
		x.waitState(t, vrrp.StateMaster, time.Second)
		noDrops(t, x)
	})
	t.Run("keepalived preempts xlb", func(t *testing.T) {
		l := newLAN(t)
		x := startXLB(t, l.a, xlbInstance(100, func(c *vrrp.InstanceConfig) { c.InitialState = vrrp.StateMaster }))
		waitAddr(t, l.a, vipAddr, true, 3*time.Second)
		ka := startKeepalived(t, l.b, kaV2("BACKUP", 200))
		d := l.takeover(t, addrA, l.b, vipAddr, 6*time.Second)
		waitAddr(t, l.a, vipAddr, false, 2*time.Second)
		t.Logf("priority takeover xlb(100) -> keepalived(200): %v after xlb's last advertisement", d)
		if st := x.waitState(t, vrrp.StateBackup, time.Second); st.MasterAddr != addrB {
			t.Fatalf("xlb: %+v", st)
		}
		ka.waitLog(t, "Entering MASTER STATE", time.Second)
	})
}

func TestInteropPreemptDelay(t *testing.T) {
	t.Parallel()
	l := newLAN(t)
	startKeepalived(t, l.b, kaV2("MASTER", 100))
	waitAddr(t, l.b, vipAddr, true, 5*time.Second)
	start := time.Now()
	startXLB(t, l.a, xlbInstance(200, func(c *vrrp.InstanceConfig) { c.PreemptDelay = 3 * time.Second }))
	// xlb honours the lower priority master for 3 s after first hearing
	// it, then ignores it and takes over after its down interval (3.2 s).
	holdAddr(t, l.a, vipAddr, false, 3*time.Second)
	up := waitAddr(t, l.a, vipAddr, true, 6*time.Second)
	waitAddr(t, l.b, vipAddr, false, time.Second)
	t.Logf("preempt_delay 3s: xlb(200) took over from keepalived(100) %v after it started", up.Sub(start))
}

func TestInteropNoPreempt(t *testing.T) {
	t.Parallel()
	t.Run("xlb nopreempt stays backup", func(t *testing.T) {
		l := newLAN(t)
		startKeepalived(t, l.b, kaV2("MASTER", 100))
		waitAddr(t, l.b, vipAddr, true, 5*time.Second)
		x := startXLB(t, l.a, xlbInstance(200, func(c *vrrp.InstanceConfig) { c.Preempt = false }))
		holdAddr(t, l.a, vipAddr, false, 5*time.Second)
		if !hasAddr(t, l.b, vipAddr) {
			t.Fatal("keepalived lost the VIP")
		}
		if st := x.status(t); st.State != vrrp.StateBackup || st.MasterAddr != addrB || st.Counters.RxAdverts < 2 {
			t.Fatalf("xlb: %+v", st)
		}
	})
	t.Run("keepalived nopreempt stays backup", func(t *testing.T) {
		l := newLAN(t)
		x := startXLB(t, l.a, xlbInstance(100, func(c *vrrp.InstanceConfig) { c.InitialState = vrrp.StateMaster }))
		waitAddr(t, l.a, vipAddr, true, 3*time.Second)
		ka := kaV2("BACKUP", 200)
		ka.NoPreempt = true
		k := startKeepalived(t, l.b, ka)
		k.waitLog(t, "Entering BACKUP STATE", 3*time.Second)
		holdAddr(t, l.b, vipAddr, false, 5*time.Second)
		if st := x.status(t); st.State != vrrp.StateMaster {
			t.Fatalf("xlb: %+v", st)
		}
	})
}

func TestInteropAuthMismatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, xlbPass, kaPass string
		reason                string // xlb's drop counter
		kaLog                 string // keepalived's complaint
	}{
		{"different passwords", "secretA", "secretB", "auth", "received an invalid passwd"},
		{"pass against none", "", "secret", "auth_type", "received a 0 auth, expecting 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLAN(t)
			x := startXLB(t, l.a, xlbInstance(200, func(c *vrrp.InstanceConfig) {
				c.AuthPass, c.InitialState = tc.xlbPass, vrrp.StateMaster
			}))
			ka := kaV2("MASTER", 100)
			ka.AuthPass = tc.kaPass
			k := startKeepalived(t, l.b, ka)
			// Each ignores the other: both are master and hold the VIP.
			// (keepalived 2.2.7 as master postpones its own advertisement
			// each time it receives one, even an invalid one, so with xlb
			// advertising at the same interval it sends few.)
			waitAddr(t, l.a, vipAddr, true, 3*time.Second)
			k.waitLog(t, tc.kaLog, 3*time.Second)
			waitAddr(t, l.b, vipAddr, true, 5*time.Second)
			holdAddr(t, l.b, vipAddr, true, 1500*time.Millisecond)
			if !hasAddr(t, l.a, vipAddr) {
				t.Fatal("xlb gave the VIP away")
			}
			if len(l.sniff.from(addrB, time.Time{})) == 0 {
				t.Fatal("keepalived sent no advertisement")
			}
			st := x.status(t)
			if st.State != vrrp.StateMaster || st.Counters.Dropped[tc.reason] == 0 || st.Counters.RxAdverts != 0 {
				t.Fatalf("xlb: %+v, want master with drops for %q", st, tc.reason)
			}
		})
	}
}

func TestInteropIPv6(t *testing.T) {
	t.Parallel()
	l := newLAN(t)
	ka := kaV3("MASTER", 200, "0.1")
	ka.VIP = vip6.String()
	k := startKeepalived(t, l.b, ka)
	waitAddr(t, l.b, vip6.Addr(), true, 5*time.Second)
	x := startXLB(t, l.a, xlbInstance(100, v3(100*time.Millisecond), func(c *vrrp.InstanceConfig) {
		c.VIPs = []vrrp.VIP{{Prefix: vip6}}
	}))
	holdAddr(t, l.a, vip6.Addr(), false, time.Second)
	st := x.status(t)
	if st.State != vrrp.StateBackup || !st.MasterAddr.IsLinkLocalUnicast() || st.Counters.RxAdverts < 3 {
		t.Fatalf("xlb: %+v", st)
	}
	noDrops(t, x)
	k.signal(syscall.SIGTERM)
	up := waitAddr(t, l.a, vip6.Addr(), true, 2*time.Second)
	last, _ := l.sniff.last(st.MasterAddr, up)
	t.Logf("ipv6 v3 100ms: priority 0 handover keepalived -> xlb took %v", up.Sub(last.at))
	// The new master announces the VIP with unsolicited neighbour advertisements.
	l.waitAnnounced(t, vip6.Addr(), macOf(t, l.a, "eth0"), last.at, 5)
	// keepalived returns with a lower priority: it accepts xlb's IPv6
	// advertisements and stays backup.
	ka.State, ka.Priority = "BACKUP", 50
	k = startKeepalived(t, l.b, ka)
	k.waitLog(t, "Entering BACKUP STATE", 3*time.Second)
	holdAddr(t, l.b, vip6.Addr(), false, time.Second)
	if st := x.status(t); st.State != vrrp.StateMaster || st.Counters.TxAdverts < 10 {
		t.Fatalf("xlb: %+v", st)
	}
}

func TestInteropUnicast(t *testing.T) {
	t.Parallel()
	l := newLAN(t)
	ka := kaV2("MASTER", 200)
	ka.UnicastSrc, ka.Peers = addrB.String(), []string{addrA.String()}
	k := startKeepalived(t, l.b, ka)
	waitAddr(t, l.b, vipAddr, true, 5*time.Second)
	x := startXLB(t, l.a, xlbInstance(100, func(c *vrrp.InstanceConfig) {
		c.UnicastSrc, c.UnicastPeers = addrA, []netip.Addr{addrB}
	}))
	holdAddr(t, l.a, vipAddr, false, 2500*time.Millisecond)
	if st := x.status(t); st.State != vrrp.StateBackup || st.MasterAddr != addrB || st.Counters.RxAdverts < 1 {
		t.Fatalf("xlb: %+v", st)
	}
	noDrops(t, x)
	k.signal(syscall.SIGTERM)
	d := l.takeover(t, addrB, l.a, vipAddr, 2*time.Second)
	t.Logf("unicast v2: priority 0 handover keepalived -> xlb took %v", d)
	// xlb now advertises to its peer only.
	time.Sleep(1100 * time.Millisecond)
	sent := l.sniff.from(addrA, time.Time{})
	if len(sent) == 0 {
		t.Fatal("xlb sent no advertisement")
	}
	for _, a := range sent {
		if a.dst != addrB {
			t.Fatalf("xlb advertised to %v, want only the unicast peer %v", a.dst, addrB)
		}
	}
}

// TestInteropSyncGroup runs the seed's two instances in one sync group:
// VI_PUBLIC (vrid 1, public VIP on eth0) and VI_GATEWAY (vrid 2, the farm
// gateway on eth1), with xlb (priority 200) and keepalived (150).
func TestInteropSyncGroup(t *testing.T) {
	t.Parallel()
	l := newLAN(t)
	l.addFarm(t)
	gw := netip.MustParsePrefix("192.0.2.1/24")
	x := startXLBConf(t, l.a, vrrp.Config{
		Instances: []vrrp.InstanceConfig{
			xlbInstance(200, func(c *vrrp.InstanceConfig) { c.Name = "VI_PUBLIC" }),
			xlbInstance(200, func(c *vrrp.InstanceConfig) {
				c.Name, c.Interface, c.VRID, c.AuthPass = "VI_GATEWAY", "eth1", 2, "ThisPass"
				c.VIPs = []vrrp.VIP{{Prefix: gw}}
			}),
		},
		SyncGroups: []vrrp.SyncGroup{{Name: "VG1", Instances: []string{"VI_PUBLIC", "VI_GATEWAY"}}},
	})
	waitAddr(t, l.a, vipAddr, true, 5*time.Second)
	waitAddr(t, l.a, gw.Addr(), true, time.Second)
	pub, gwy := kaV2("BACKUP", 150), kaV2("BACKUP", 150)
	pub.Name = "VI_PUBLIC"
	gwy.Name, gwy.Interface, gwy.VRID, gwy.AuthPass, gwy.VIP = "VI_GATEWAY", "eth1", 2, "ThisPass", gw.String()
	k := startKeepalivedConf(t, l.b, kaConfig{SyncGroup: "VG1", Instances: []kaInstance{pub, gwy}})
	k.waitLog(t, "Entering BACKUP STATE", 3*time.Second)
	holdAddr(t, l.b, vipAddr, false, 1500*time.Millisecond)

	// xlb's farm link fails: its group goes to FAULT (VI_PUBLIC hands over
	// with priority 0), and keepalived's group takes both addresses once
	// VI_GATEWAY's master is silent for its down interval.
	down := time.Now()
	testutil.Must(t, l.a.Down("eth1"))
	waitAddr(t, l.a, vipAddr, false, time.Second)
	upPub := waitAddr(t, l.b, vipAddr, true, 6*time.Second)
	upGw := waitAddr(t, l.b, gw.Addr(), true, time.Second)
	t.Logf("sync group: xlb farm link down -> keepalived holds public VIP after %v, gateway after %v", upPub.Sub(down), upGw.Sub(down))
	if s := x.node.Status(); s.Groups[0].State != vrrp.StateFault || s.Instances[0].State != vrrp.StateFault {
		t.Fatalf("xlb: %+v", s)
	}

	// The link returns: xlb (200) preempts keepalived (150) on both.
	up := time.Now()
	testutil.Must(t, l.a.Up("eth1"))
	waitAddr(t, l.a, vipAddr, true, 6*time.Second)
	waitAddr(t, l.a, gw.Addr(), true, time.Second)
	waitAddr(t, l.b, vipAddr, false, 2*time.Second)
	waitAddr(t, l.b, gw.Addr(), false, time.Second)
	t.Logf("sync group: xlb took both addresses back %v after its link came up", time.Since(up))

	// xlb stops: priority 0 on both, keepalived takes both at once.
	x.stop()
	d := l.takeover(t, addrA, l.b, vipAddr, 2*time.Second)
	waitAddr(t, l.b, gw.Addr(), true, time.Second)
	t.Logf("sync group: priority 0 handover xlb -> keepalived took %v", d)
}

// TestInteropEqualPriorityTieBreak splits the LAN so that both routers
// become master, then joins it: the one with the lower address yields.
func TestInteropEqualPriorityTieBreak(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		xlbInB  bool // xlb on 203.0.113.3 (wins) instead of .2 (loses)
		winnerB bool
	}{
		{"keepalived has the higher address", false, true},
		{"xlb has the higher address", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLAN(t)
			xns, kns := l.a, l.b
			if tc.xlbInB {
				xns, kns = l.b, l.a
			}
			br := l.br.Netlink()
			pa, err := br.LinkByName("pa")
			testutil.Must(t, err)
			testutil.Must(t, br.LinkSetNoMaster(pa)) // a is cut off, its link stays up
			x := startXLB(t, xns, xlbInstance(150, func(c *vrrp.InstanceConfig) { c.InitialState = vrrp.StateMaster }))
			startKeepalived(t, kns, kaV2("MASTER", 150))
			waitAddr(t, l.a, vipAddr, true, 5*time.Second)
			waitAddr(t, l.b, vipAddr, true, 5*time.Second)
			bridge, err := br.LinkByName("br0")
			testutil.Must(t, err)
			testutil.Must(t, br.LinkSetMaster(pa, bridge))
			waitAddr(t, l.a, vipAddr, false, 3*time.Second)
			holdAddr(t, l.b, vipAddr, true, 2*time.Second)
			if hasAddr(t, l.a, vipAddr) {
				t.Fatal("both routers hold the VIP again")
			}
			want := vrrp.StateBackup
			if tc.xlbInB {
				want = vrrp.StateMaster
			}
			if st := x.status(t); st.State != want {
				t.Fatalf("xlb: %+v, want %v", st, want)
			}
		})
	}
}

// TestXLBPairIPv6 runs two xlb nodes against each other over IPv6 with
// VRRPv3 at 100 ms: election, then a priority 0 handover.
func TestXLBPairIPv6(t *testing.T) {
	t.Parallel()
	l := newLAN(t)
	six := func(c *vrrp.InstanceConfig) { c.VIPs = []vrrp.VIP{{Prefix: vip6}} }
	a := startXLB(t, l.a, xlbInstance(200, v3(100*time.Millisecond), six))
	b := startXLB(t, l.b, xlbInstance(100, v3(100*time.Millisecond), six))
	waitAddr(t, l.a, vip6.Addr(), true, 2*time.Second)
	deadline := time.Now().Add(time.Second)
	for st := b.status(t); st.State != vrrp.StateBackup || !st.MasterAddr.IsLinkLocalUnicast() || st.MasterPriority != 200; st = b.status(t) {
		if time.Now().After(deadline) {
			t.Fatalf("b has not heard a as master: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	holdAddr(t, l.b, vip6.Addr(), false, 500*time.Millisecond)
	master := a.status(t).Address
	a.stop()
	up := waitAddr(t, l.b, vip6.Addr(), true, time.Second)
	last, _ := l.sniff.last(master, up)
	t.Logf("xlb pair ipv6 v3 100ms: priority 0 handover took %v", up.Sub(last.at))
	if last.priority != 0 || hasAddr(t, l.a, vip6.Addr()) {
		t.Fatalf("stopped master: last advert priority %d, VIP kept %v", last.priority, hasAddr(t, l.a, vip6.Addr()))
	}
}

// TestInteropRecreatedInterface: xlb's interface is deleted and created
// again (as a network manager does with a VLAN or bond) while keepalived
// is master. xlb is in FAULT while it is gone, then listens on the new
// interface: it stays backup (a node deaf to the master would take over
// and split the VIP), and takes over, VIP on the new interface, when
// keepalived dies.
func TestInteropRecreatedInterface(t *testing.T) {
	t.Parallel()
	l := newLAN(t)
	ka := startKeepalived(t, l.b, kaV3("MASTER", 200, "0.1"))
	waitAddr(t, l.b, vipAddr, true, 5*time.Second)
	x := startXLB(t, l.a, xlbInstance(100, v3(100*time.Millisecond)))
	x.waitState(t, vrrp.StateBackup, 3*time.Second)

	eth0, err := l.a.Netlink().LinkByName("eth0")
	testutil.Must(t, err)
	testutil.Must(t, l.a.Netlink().LinkDel(eth0)) // its peer on the bridge goes too
	x.waitState(t, vrrp.StateFault, 2*time.Second)

	testutil.Must(t, lab.Veth(l.a, "eth0", l.br, "pa"))
	pa, err := l.br.Netlink().LinkByName("pa")
	testutil.Must(t, err)
	br0, err := l.br.Netlink().LinkByName("br0")
	testutil.Must(t, err)
	testutil.Must(t, l.br.Netlink().LinkSetMaster(pa, br0))
	testutil.Must(t, l.a.AddAddr("eth0", addrA.String()+"/24"))
	x.waitState(t, vrrp.StateBackup, 3*time.Second)
	// Five times the master down interval (0.36 s): deaf, it would have
	// taken over.
	holdAddr(t, l.a, vipAddr, false, 2*time.Second)
	if st := x.status(t); st.State != vrrp.StateBackup || st.MasterAddr != addrB {
		t.Fatalf("xlb after the interface came back: %+v", st)
	}
	noDrops(t, x)

	ka.stop(t, syscall.SIGKILL)
	since := time.Now()
	waitAddr(t, l.a, vipAddr, true, 2*time.Second)
	x.waitState(t, vrrp.StateMaster, time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(l.sniff.from(addrA, since)); n < 2 {
		t.Fatalf("%d advertisements from xlb on the bridge after it took over", n)
	}
}
