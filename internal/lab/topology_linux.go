package lab

import (
	"errors"
	"fmt"
)

// Addresses of the lab, all from documentation ranges.
const (
	VIP         = "203.0.113.10"
	FarmGateway = "192.0.2.1"
	InetAddr    = "203.0.113.1"   // the upstream router, on the public LAN
	InetFar     = "198.51.100.1"  // the router, on the clients' side
	ClientAddr  = "198.51.100.10" // the client
)

// LBPublic and LBFarm are the directors' own addresses (lb1, lb2).
var (
	LBPublic = []string{"203.0.113.2", "203.0.113.3"}
	LBFarm   = []string{"192.0.2.2", "192.0.2.3"}
	WebAddrs = []string{"192.0.2.100", "192.0.2.101"}
)

// Topology is the seed's network in namespaces:
//
//	client 198.51.100.10 ── inet (router) 198.51.100.1 | 203.0.113.1
//	                                  │ bridge "pub" (namespace br)
//	            lb1 eth0 203.0.113.2, lb2 eth0 203.0.113.3   (VIP 203.0.113.10)
//	            lb1 eth1 192.0.2.2,   lb2 eth1 192.0.2.3     (gateway 192.0.2.1)
//	                                  │ bridge "farm"
//	            web1 192.0.2.100, web2 192.0.2.101 (default via 192.0.2.1)
//
// The farm is not routed from outside: it reaches the internet through the
// directors' masquerade, as in the seed.
type Topology struct {
	Br, Client, Inet *NS
	LBs              []*NS
	Webs             []*NS
	all              []*NS
}

// TopologyOptions shape a Topology.
type TopologyOptions struct {
	// Prefix starts every namespace name ("xlb-" gives xlb-client, ...).
	Prefix string
	// LBs is the number of directors, 1 or 2.
	LBs int
	// StaticVIPs puts the VIP and the farm gateway on lb1 (when nothing
	// runs VRRP to do it).
	StaticVIPs bool
}

// NewTopology builds the lab. On error everything built is removed.
func NewTopology(o TopologyOptions) (_ *Topology, err error) {
	if o.LBs < 1 || o.LBs > 2 {
		return nil, fmt.Errorf("lab: %d directors; 1 or 2", o.LBs)
	}
	t := &Topology{}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	mk := func(role string) (*NS, error) {
		ns, err := NewNS(o.Prefix + role)
		if err != nil {
			return nil, err
		}
		t.all = append(t.all, ns)
		return ns, nil
	}
	if t.Br, err = mk("br"); err != nil {
		return nil, err
	}
	if t.Client, err = mk("client"); err != nil {
		return nil, err
	}
	if t.Inet, err = mk("inet"); err != nil {
		return nil, err
	}
	for i := range o.LBs {
		ns, err := mk(fmt.Sprintf("lb%d", i+1))
		if err != nil {
			return nil, err
		}
		t.LBs = append(t.LBs, ns)
	}
	for i := range WebAddrs {
		ns, err := mk(fmt.Sprintf("web%d", i+1))
		if err != nil {
			return nil, err
		}
		t.Webs = append(t.Webs, ns)
	}

	var pubPorts, farmPorts []string
	steps := []func() error{
		func() error { return Veth(t.Client, "eth0", t.Inet, "eth1") },
		func() error { return t.Client.AddAddr("eth0", ClientAddr+"/24") },
		func() error { return t.Client.AddRoute("default", InetFar) },
		func() error { return t.Inet.AddAddr("eth1", InetFar+"/24") },
		func() error { pubPorts = append(pubPorts, "inet-e0"); return Veth(t.Inet, "eth0", t.Br, "inet-e0") },
		func() error { return t.Inet.AddAddr("eth0", InetAddr+"/24") },
		func() error { return t.Inet.Sysctl("net.ipv4.ip_forward", "1") },
	}
	for i, lb := range t.LBs {
		pub, farm := fmt.Sprintf("lb%d-e0", i+1), fmt.Sprintf("lb%d-e1", i+1)
		pubPorts = append(pubPorts, pub)
		farmPorts = append(farmPorts, farm)
		steps = append(steps,
			func() error { return Veth(lb, "eth0", t.Br, pub) },
			func() error { return Veth(lb, "eth1", t.Br, farm) },
			func() error { return lb.AddAddr("eth0", LBPublic[i]+"/24") },
			func() error { return lb.AddAddr("eth1", LBFarm[i]+"/24") },
			func() error { return lb.AddRoute("default", InetAddr) },
			// Frames XDP redirects into a veth arrive only if its
			// peer runs NAPI: GRO on the bridge side does that.
			func() error { return t.Br.GRO(pub, true) },
			func() error { return t.Br.GRO(farm, true) },
		)
	}
	if o.StaticVIPs {
		steps = append(steps,
			func() error { return t.LBs[0].AddAddr("eth0", VIP+"/24") },
			func() error { return t.LBs[0].AddAddr("eth1", FarmGateway+"/24") },
		)
	}
	for i, web := range t.Webs {
		port := fmt.Sprintf("web%d-e0", i+1)
		farmPorts = append(farmPorts, port)
		steps = append(steps,
			func() error { return Veth(web, "eth0", t.Br, port) },
			func() error { return web.AddAddr("eth0", WebAddrs[i]+"/24") },
			func() error { return web.AddRoute("default", FarmGateway) },
		)
	}
	steps = append(steps,
		func() error { return t.Br.Bridge("pub", pubPorts...) },
		func() error { return t.Br.Bridge("farm", farmPorts...) },
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	// TCP backs off to at most 1 s (the least the kernel allows) between
	// retransmissions on the
	// client and the web servers, so that a failover's measured gap is
	// the failover's and not the exponential backoff's (the default
	// maximum is 120 s).
	for _, ns := range append([]*NS{t.Client}, t.Webs...) {
		if err := ns.Sysctl("net.ipv4.tcp_rto_max_ms", "1000"); err != nil {
			return nil, err
		}
	}
	// Hosts put complete checksums on the wire, as real NICs deliver them.
	for _, ns := range t.all {
		if ns == t.Br {
			continue
		}
		for _, ifn := range []string{"eth0", "eth1"} {
			if _, err := ns.LinkIndex(ifn); err != nil {
				continue
			}
			if err := ns.TxChecksum(ifn, false); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// All lists every namespace of the lab.
func (t *Topology) All() []*NS { return t.all }

// Close removes every namespace of the lab.
func (t *Topology) Close() error {
	var errs []error
	for i := len(t.all) - 1; i >= 0; i-- {
		if err := t.all[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	t.all = nil
	return errors.Join(errs...)
}
