package vrrp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xlb/xlb/vrrp"
)

func xlbInstance(prio uint8, mod ...func(*vrrp.InstanceConfig)) vrrp.InstanceConfig {
	c := vrrp.InstanceConfig{
		Name: "VI_1", Interface: "eth0", VRID: 1, Priority: prio, AdvertInt: time.Second, Version: 2,
		AuthPass: "secret", VIPs: []vrrp.VIP{{Prefix: vipPrefix}}, Preempt: true,
	}
	for _, f := range mod {
		f(&c)
	}
	return c
}

func TestXLBPairElectsAndHandsOver(t *testing.T) {
	l := newLAN(t)
	a := startXLB(t, l.a, xlbInstance(200))
	b := startXLB(t, l.b, xlbInstance(100))
	waitAddr(t, l.a, vipAddr, true, 5*time.Second)
	holdAddr(t, l.b, vipAddr, false, 2*time.Second)
	if st := b.status(t); st.State != vrrp.StateBackup || st.MasterAddr != addrA {
		t.Fatalf("b: %+v", st)
	}
	a.stop()
	d := l.takeover(t, addrA, l.b, vipAddr, 3*time.Second)
	t.Logf("priority 0 handover took %v", d)
	if hasAddr(t, l.a, vipAddr) {
		t.Fatal("stopped node kept the VIP")
	}
	_ = netip.Addr{}
}
