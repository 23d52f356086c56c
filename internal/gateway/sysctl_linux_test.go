package gateway

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xlb/xlb/internal/testutil"
)

var v4Rule = Spec{Forwarding: true, Masquerade: []Rule{{Source: farmNet, OutInterface: "pub0"}}}

func TestForwardingRestore(t *testing.T) {
	t.Run("apply turns forwarding on and off, remove restores", func(t *testing.T) {
		ns := routerNS(t)
		g := newGateway(t, ns)
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"})

		testutil.Must(t, g.Apply(v4Rule))
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "0"})

		v6 := v4Rule
		v6.Masquerade = append(v6.Masquerade, Rule{Source: farmNet6, OutInterface: "pub0"})
		testutil.Must(t, g.Apply(v6))
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"})

		testutil.Must(t, g.Apply(v4Rule)) // no IPv6 rule left
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "0"})

		testutil.Must(t, g.Apply(Spec{Masquerade: v6.Masquerade})) // forwarding off
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"})

		testutil.Must(t, g.Apply(v6))
		testutil.Must(t, g.Remove())
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"})
	})

	t.Run("forwarding that was already on stays on", func(t *testing.T) {
		ns := routerNS(t)
		testutil.Must(t, ns.Sysctl("net.ipv4.ip_forward", "1"))
		g := newGateway(t, ns)
		testutil.Must(t, g.Apply(v4Rule))
		testutil.Must(t, g.Apply(Spec{}))
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "1"})
		testutil.Must(t, g.Apply(v4Rule))
		testutil.Must(t, g.Remove())
		wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "1"})
	})

	t.Run("dataplane interfaces", func(t *testing.T) {
		ns := routerNS(t)
		g := newGateway(t, ns)
		testutil.Must(t, g.EnableForwarding("farm0"))
		wantSysctls(t, ns, map[string]string{
			"net.ipv4.ip_forward":                "0",
			"net.ipv4.conf.farm0.forwarding":     "1",
			"net.ipv4.conf.farm0.accept_local":   "1",
			"net.ipv4.conf.pub0.forwarding":      "0",
			"net.ipv4.conf.pub0.accept_local":    "0",
			"net.ipv4.conf.default.accept_local": "0",
		})
		testutil.Must(t, g.Apply(v4Rule))
		wantSysctls(t, ns, map[string]string{"net.ipv4.conf.farm0.forwarding": "1", "net.ipv4.conf.pub0.forwarding": "1"})

		// Restoring ip_forward resets every interface in the kernel; the
		// dataplane interface is turned back on.
		testutil.Must(t, g.Apply(Spec{}))
		wantSysctls(t, ns, map[string]string{
			"net.ipv4.ip_forward":              "0",
			"net.ipv4.conf.farm0.forwarding":   "1",
			"net.ipv4.conf.farm0.accept_local": "1",
			"net.ipv4.conf.pub0.forwarding":    "0",
		})

		// The same list again changes nothing; a new list releases farm0.
		testutil.Must(t, g.EnableForwarding("farm0", "farm0"))
		testutil.Must(t, g.EnableForwarding("pub0"))
		wantSysctls(t, ns, map[string]string{
			"net.ipv4.conf.farm0.forwarding":   "0",
			"net.ipv4.conf.farm0.accept_local": "0",
			"net.ipv4.conf.pub0.forwarding":    "1",
			"net.ipv4.conf.pub0.accept_local":  "1",
		})
		testutil.Must(t, g.Remove())
		wantSysctls(t, ns, map[string]string{
			"net.ipv4.ip_forward":              "0",
			"net.ipv4.conf.farm0.forwarding":   "0",
			"net.ipv4.conf.farm0.accept_local": "0",
			"net.ipv4.conf.pub0.forwarding":    "0",
			"net.ipv4.conf.pub0.accept_local":  "0",
		})
	})

	t.Run("interface enabled while forwarding is up", func(t *testing.T) {
		ns := routerNS(t)
		g := newGateway(t, ns)
		testutil.Must(t, g.Apply(v4Rule))
		testutil.Must(t, g.EnableForwarding("farm0", "pub0"))
		// Released while xlb holds ip_forward up: forwarding stays on, as
		// ip_forward=1 has it; accept_local goes back at once.
		testutil.Must(t, g.EnableForwarding("farm0"))
		wantSysctls(t, ns, map[string]string{"net.ipv4.conf.pub0.forwarding": "1", "net.ipv4.conf.pub0.accept_local": "0"})
		testutil.Must(t, g.Apply(Spec{}))
		wantSysctls(t, ns, map[string]string{
			"net.ipv4.ip_forward":            "0",
			"net.ipv4.conf.farm0.forwarding": "1",
			"net.ipv4.conf.pub0.forwarding":  "0",
		})
		testutil.Must(t, g.Apply(v4Rule))
		testutil.Must(t, g.Remove())
		wantSysctls(t, ns, map[string]string{
			"net.ipv4.ip_forward":              "0",
			"net.ipv4.conf.farm0.forwarding":   "0",
			"net.ipv4.conf.farm0.accept_local": "0",
			"net.ipv4.conf.pub0.forwarding":    "0",
		})
	})

	t.Run("the admin's own interface settings come back", func(t *testing.T) {
		ns := routerNS(t)
		testutil.Must(t, ns.Sysctl("net.ipv4.conf.farm0.forwarding", "1"))
		testutil.Must(t, ns.Sysctl("net.ipv4.conf.pub0.accept_local", "1"))
		g := newGateway(t, ns)
		testutil.Must(t, g.EnableForwarding("farm0", "pub0"))
		testutil.Must(t, g.Apply(v4Rule))
		testutil.Must(t, g.Remove())
		wantSysctls(t, ns, map[string]string{
			"net.ipv4.ip_forward":              "0",
			"net.ipv4.conf.farm0.forwarding":   "1",
			"net.ipv4.conf.farm0.accept_local": "0",
			"net.ipv4.conf.pub0.forwarding":    "0",
			"net.ipv4.conf.pub0.accept_local":  "1",
		})
	})

	t.Run("a removed interface is nothing to restore", func(t *testing.T) {
		ns := routerNS(t)
		g := newGateway(t, ns)
		testutil.Must(t, g.EnableForwarding("farm0"))
		l, err := ns.Netlink().LinkByName("pub0") // deletes its peer farm0 too
		testutil.Must(t, err)
		testutil.Must(t, ns.Netlink().LinkDel(l))
		testutil.Must(t, g.Remove())
	})

	t.Run("errors", func(t *testing.T) {
		ns := routerNS(t)
		g := newGateway(t, ns)
		for _, tc := range []struct {
			ifnames []string
			want    string
		}{
			{[]string{"farm0", "nope0"}, "interface nope0: no such interface"},
			{[]string{"../all"}, `invalid interface name "../all"`},
			{[]string{"all"}, `"all" is not an interface name`},
			{[]string{""}, "interface name is empty"},
		} {
			err := g.EnableForwarding(tc.ifnames...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("EnableForwarding(%q) = %v, want an error containing %q", tc.ifnames, err, tc.want)
			}
		}
		testutil.Must(t, g.Remove())
		wantSysctls(t, ns, map[string]string{"net.ipv4.conf.farm0.forwarding": "0", "net.ipv4.conf.all.forwarding": "0"})
	})
}

// The current-namespace mode writes the process's own /proc/sys: run it in
// a namespace by locking the test's thread there.
func TestCurrentNamespace(t *testing.T) {
	ns := routerNS(t)
	err := ns.Do(func() error {
		g, err := New(testLogger(t))
		if err != nil {
			return err
		}
		defer g.Close()
		if err := g.Apply(Spec{Forwarding: true, Masquerade: []Rule{{Source: netip.MustParsePrefix("192.0.2.0/24"), OutInterface: "pub0"}}}); err != nil {
			return err
		}
		return g.EnableForwarding("farm0")
	})
	testutil.Must(t, err)
	wantSysctls(t, ns, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.farm0.accept_local": "1"})
	if !strings.Contains(string(mustNFT(t, ns, "list", "table", "inet", "xlb")), `oifname "pub0" ip saddr 192.0.2.0/24 masquerade`) {
		t.Error("table inet xlb is not in the namespace")
	}
}
