package lab_test

import (
	"net"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
)

func TestVethPairCarriesTCP(t *testing.T) {
	testutil.RequireNetNSTests(t)
	a := testutil.NewNS(t, "xlbt-a-")
	b := testutil.NewNS(t, "xlbt-b-")
	testutil.Must(t, lab.Veth(a, "eth0", b, "eth0"))
	testutil.Must(t, a.AddAddr("eth0", "192.0.2.1/24"))
	testutil.Must(t, b.AddAddr("eth0", "192.0.2.2/24"))
	testutil.Must(t, a.TxChecksum("eth0", false))
	testutil.Must(t, b.GRO("eth0", true))

	var ln net.Listener
	testutil.Must(t, b.Do(func() (err error) {
		ln, err = net.Listen("tcp", "192.0.2.2:0")
		return err
	}))
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	var got []byte
	testutil.Must(t, a.Do(func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 16)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		got = buf[:n]
		return err
	}))
	if string(got) != "hello" {
		t.Fatalf("read %q, want hello", got)
	}
	out, err := a.Command(t.Context(), "cat", "/proc/sys/net/ipv4/ip_forward").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v: %s", err, out)
	}
}

func TestTopologyRoutes(t *testing.T) {
	testutil.RequireNetNSTests(t)
	topo, err := lab.NewTopology(lab.TopologyOptions{Prefix: lab.UniqueName("xt") + "-", LBs: 2, StaticVIPs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	// The client reaches the router's far side and the directors' public
	// addresses; web servers and directors reach each other on the farm.
	for _, c := range []struct {
		name     string
		from, to *lab.NS
		addr     string
	}{
		{"client_to_router", topo.Client, topo.Inet, lab.InetAddr},
		{"client_to_lb2", topo.Client, topo.LBs[1], lab.LBPublic[1]},
		{"web2_to_gateway", topo.Webs[1], topo.LBs[0], lab.FarmGateway},
		{"lb2_to_web1", topo.LBs[1], topo.Webs[0], lab.WebAddrs[0]},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ln net.Listener
			testutil.Must(t, c.to.Do(func() (err error) { ln, err = net.Listen("tcp", c.addr+":0"); return err }))
			defer ln.Close()
			go func() {
				if conn, err := ln.Accept(); err == nil {
					conn.Close()
				}
			}()
			testutil.Must(t, c.from.Do(func() error {
				conn, err := net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second)
				if err == nil {
					conn.Close()
				}
				return err
			}))
		})
	}
}
