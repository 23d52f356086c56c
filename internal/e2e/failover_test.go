package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
)

// prober sends a request through the VIP every `every`, each on a new
// connection, and remembers when answers arrived.
type prober struct {
	mu sync.Mutex
	ok []time.Time
}

func (e *env) probe(ctx context.Context, every time.Duration) *prober {
	p := &prober{}
	go func() {
		c := httpClient(e.topo.Client, 300*time.Millisecond)
		for ctx.Err() == nil {
			if resp, err := c.Get(vipURL); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					p.mu.Lock()
					p.ok = append(p.ok, time.Now())
					p.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}()
	return p
}

// gap is the longest time without an answer from since on, and whether
// answers came after it.
func (p *prober) gap(since time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var longest time.Duration
	prev := since
	for _, at := range p.ok {
		if at.Before(since) {
			prev = at
			continue
		}
		longest = max(longest, at.Sub(prev))
		prev = at
	}
	return longest, prev.After(since)
}

// keepalivedConf is the lab's VRRP (the seed's two instances in a sync
// group) for keepalived on director i.
func keepalivedConf(i int, v3 bool) string {
	state, prio := "MASTER", 200
	if i == 1 {
		state, prio = "BACKUP", 150
	}
	ver, advert, auth := "2", "1", func(p string) string { return "authentication {\n auth_type PASS\n auth_pass " + p + "\n }" }
	if v3 {
		ver, advert, auth = "3", "0.1", func(string) string { return "" }
	}
	inst := func(name, ifn string, vrid int, pass, vip string) string {
		return fmt.Sprintf(`vrrp_instance %s {
 state %s
 interface %s
 virtual_router_id %d
 priority %d
 advert_int %s
 version %s
 %s
 virtual_ipaddress {
  %s dev %s
 }
}
`, name, state, ifn, vrid, prio, advert, ver, auth(pass), vip, ifn)
	}
	return fmt.Sprintf("global_defs {\n router_id lb%d\n vrrp_garp_master_delay 0\n}\nvrrp_sync_group VG1 {\n group {\n  VI_PUBLIC\n  VI_GATEWAY\n }\n}\n", i+1) +
		inst("VI_PUBLIC", "eth0", 1, "xxx", lab.VIP+"/24") + inst("VI_GATEWAY", "eth1", 2, "ThisPass", lab.FarmGateway+"/24")
}

// withoutVRRP cuts the VRRP sections out of the lab configuration, for
// runs where keepalived does VRRP.
var withoutVRRP = func(s string) string {
	i := strings.Index(s, "# vrrp_sync_group VG1")
	j := strings.Index(s, "# The farm's way out")
	return s[:i] + s[j:]
}

// TestFailover: lb1 is master of both addresses, lb2 backup; lb1 fails
// (its xlbd or keepalived SIGKILLed, or its links down); lb2 takes over
// both the VIP and the farm's gateway and new connections succeed. The
// longest gap in answers (a request every 20 ms) is measured for VRRPv2
// with 1 s adverts and VRRPv3 with 100 ms, with xlb's VRRP and with
// keepalived's doing the same job beside xlb's dataplane.
func TestFailover(t *testing.T) {
	for _, impl := range []string{"xlb", "keepalived"} {
		for _, v3 := range []bool{false, true} {
			for _, how := range []string{"sigkill", "link_down"} {
				name := fmt.Sprintf("%s_v2_1s_%s", impl, how)
				if v3 {
					name = fmt.Sprintf("%s_v3_100ms_%s", impl, how)
				}
				t.Run(name, func(t *testing.T) { failover(t, impl, v3, how) })
			}
		}
	}
}

func failover(t *testing.T, impl string, v3 bool, how string) {
	e := newEnv(t, 2, false)
	var repl []string
	if v3 {
		repl = []string{"advert_int = 1\n", "advert_int = 0.1\nversion = 3\n",
			`authentication = { auth_type = "PASS", auth_pass = "xxx" }`, "",
			`authentication = { auth_type = "PASS", auth_pass = "ThisPass" }`, ""}
	}
	var procs [2]*xlbd
	var kas [2]*lab.Keepalived
	for i := range 2 {
		cfg := e.configFor(i, fmt.Sprintf("lb%d.toml", i+1), repl...)
		if impl == "keepalived" {
			dir := t.TempDir()
			k, err := lab.StartKeepalived(e.topo.LBs[i], dir, keepalivedConf(i, v3))
			if err != nil {
				t.Skipf("skipped: %v", err)
			}
			kas[i] = k
			t.Cleanup(func() {
				k.Stop()
				if t.Failed() {
					t.Logf("keepalived lb%d:\n%s", i+1, k.Logs())
				}
			})
			rewrite(t, cfg, withoutVRRP)
		}
		procs[i] = e.startXlbd(i, cfg)
	}
	if impl == "xlb" {
		e.waitVRRP(0, "MASTER", 10*time.Second)
		e.waitVRRP(1, "BACKUP", 10*time.Second)
	} else {
		testutil.Must(t, kas[0].WaitLog("Entering MASTER STATE", 10*time.Second))
	}
	e.waitUp(10 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := e.probe(ctx, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	failed := time.Now()
	switch {
	case how == "link_down":
		testutil.Must(t, e.topo.LBs[0].Down("eth0"))
		testutil.Must(t, e.topo.LBs[0].Down("eth1"))
	case impl == "xlb":
		procs[0].cmd.Process.Kill()
		procs[0].wait(5 * time.Second)
	default:
		kas[0].Kill()
	}

	// lb2 holds both addresses.
	deadline := time.Now().Add(10 * time.Second)
	for !hasAddrs(e.topo.LBs[1], lab.VIP, lab.FarmGateway) {
		if time.Now().After(deadline) {
			t.Fatalf("lb2 did not take the VIP and the gateway within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(failed)
	time.Sleep(1500 * time.Millisecond)
	cancel()
	gap, answered := p.gap(failed)
	if !answered {
		t.Fatalf("no answer through the VIP after lb1 failed")
	}
	t.Logf("%s VRRPv%s, lb1 %s: lb2 had both addresses after %s; longest gap in answers %s",
		impl, map[bool]string{false: "2 advert 1s", true: "3 advert 100ms"}[v3], how, took.Round(time.Millisecond), gap.Round(time.Millisecond))
	if impl == "xlb" {
		e.waitVRRP(1, "MASTER", time.Second)
	}
	// New connections through lb2 succeed.
	for range 5 {
		if _, err := get(e.topo.Client, vipURL); err != nil {
			t.Fatalf("after failover: %v", err)
		}
	}
}

func hasAddrs(ns *lab.NS, addrs ...string) bool {
	list, err := ns.Netlink().AddrList(nil, 0)
	if err != nil {
		return false
	}
	for _, want := range addrs {
		found := false
		for _, a := range list {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap().String() == want {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// rewrite edits a file in place.
func rewrite(t *testing.T, path string, fn func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	testutil.Must(t, err)
	testutil.Must(t, os.WriteFile(path, []byte(fn(string(b))), 0o600))
}
