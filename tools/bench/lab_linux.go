package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/xlb/xlb/internal/lab"
)

// benchLab is the rate and TCP lab, every host a namespace of its own,
// joined by veth pairs (no bridge, so the LB's work is all the LB's):
//
//	gen  g<tag>  198.51.100.10/24 ── i<tag>  198.51.100.1/24  lb  o1<tag> 192.0.2.1/25   ── w1<tag> 192.0.2.100/25  web1
//	                                                              o2<tag> 192.0.2.129/25 ── w2<tag> 192.0.2.200/25  web2
//
// Neighbours are static everywhere (bpf_fib_lookup needs them resolved,
// and nothing waits for ARP), every host computes its checksums (TX
// offload off, as frames from a wire arrive), and GRO is on for every
// receiving veth so that skbs and XDP-redirected frames go through the
// receiver's NAPI, which can be threaded and pinned to a CPU.
type benchLab struct {
	logger  *slog.Logger
	tag     string
	gen, lb *lab.NS
	web     [2]*lab.NS
	// interface names, unique to this run so that NAPI threads are found
	// by name: gen's, the LB's ingress, LB's egress, the reals'.
	genIf, lbIn     string
	lbOut, webIf    [2]string
	genMAC, lbInMAC net.HardwareAddr
	genIndex        int // in gen
	lbInIndex       int // in lb
	all             []*lab.NS
}

func newBenchLab(logger *slog.Logger) (l *benchLab, err error) {
	b := make([]byte, 2)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	l = &benchLab{
		logger: logger, tag: tag,
		genIf: "g" + tag, lbIn: "i" + tag,
		lbOut: [2]string{"o1" + tag, "o2" + tag},
		webIf: [2]string{"w1" + tag, "w2" + tag},
	}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	mk := func(role string) (*lab.NS, error) {
		ns, err := lab.NewNS("xlbb-" + tag + "-" + role)
		if err != nil {
			return nil, err
		}
		l.all = append(l.all, ns)
		return ns, nil
	}
	if l.gen, err = mk("gen"); err != nil {
		return nil, err
	}
	if l.lb, err = mk("lb"); err != nil {
		return nil, err
	}
	for i := range l.web {
		if l.web[i], err = mk(fmt.Sprintf("web%d", i+1)); err != nil {
			return nil, err
		}
	}
	steps := []func() error{
		func() error { return lab.Veth(l.gen, l.genIf, l.lb, l.lbIn) },
		func() error { return l.gen.AddAddr(l.genIf, clientAddr.String()+"/24") },
		func() error { return l.lb.AddAddr(l.lbIn, lbPublic.String()+"/24") },
		func() error { return l.gen.AddRoute("203.0.113.0/24", lbPublic.String()) },
		func() error { return l.gen.AddRoute("192.0.2.0/24", lbPublic.String()) },
	}
	for i := range l.web {
		steps = append(steps,
			func() error { return lab.Veth(l.lb, l.lbOut[i], l.web[i], l.webIf[i]) },
			func() error { return l.lb.AddAddr(l.lbOut[i], lbFarm[i].String()+"/25") },
			func() error { return l.web[i].AddAddr(l.webIf[i], realAddrs[i].String()+"/25") },
			func() error { return l.web[i].AddRoute("default", lbFarm[i].String()) },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if l.genMAC, err = l.gen.MAC(l.genIf); err != nil {
		return nil, err
	}
	if l.lbInMAC, err = l.lb.MAC(l.lbIn); err != nil {
		return nil, err
	}
	if l.genIndex, err = l.gen.LinkIndex(l.genIf); err != nil {
		return nil, err
	}
	if l.lbInIndex, err = l.lb.LinkIndex(l.lbIn); err != nil {
		return nil, err
	}
	steps = []func() error{
		func() error { return l.gen.Neigh(l.genIf, lbPublic.String(), l.lbInMAC) },
		func() error { return l.lb.Neigh(l.lbIn, clientAddr.String(), l.genMAC) },
	}
	for i := range l.web {
		steps = append(steps, func() error {
			wm, err := l.web[i].MAC(l.webIf[i])
			if err != nil {
				return err
			}
			om, err := l.lb.MAC(l.lbOut[i])
			if err != nil {
				return err
			}
			if err := l.lb.Neigh(l.lbOut[i], realAddrs[i].String(), wm); err != nil {
				return err
			}
			return l.web[i].Neigh(l.webIf[i], lbFarm[i].String(), om)
		})
	}
	for _, kv := range [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv4.conf." + l.lbIn + ".rp_filter", "0"},
		// Stands in for NIC checksum offload: conntrack trusts the frame.
		{"net.netfilter.nf_conntrack_checksum", "0"},
	} {
		steps = append(steps, func() error { return l.lb.Sysctl(kv[0], kv[1]) })
	}
	// Timestamps without per-destination offsets: the TCP part switches
	// the client between addresses that reach the same servers.
	steps = append(steps, func() error { return l.gen.Sysctl("net.ipv4.tcp_timestamps", "2") })
	steps = append(steps, func() error { return l.gen.Sysctl("net.ipv4.ip_local_port_range", "10000 65000") })
	for _, h := range l.hosts() {
		steps = append(steps,
			func() error { return h.ns.TxChecksum(h.ifname, false) },
			func() error { return h.ns.GRO(h.ifname, true) },
			func() error { return l.sysfs(h.ns, h.ifname, "queues/rx-0/rps_cpus", "0") },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

type hostIf struct {
	ns     *lab.NS
	ifname string
}

// hosts lists every interface of the lab.
func (l *benchLab) hosts() []hostIf {
	hs := []hostIf{{l.gen, l.genIf}, {l.lb, l.lbIn}}
	for i := range l.web {
		hs = append(hs, hostIf{l.lb, l.lbOut[i]}, hostIf{l.web[i], l.webIf[i]})
	}
	return hs
}

// lbIfs are the LB's interfaces, whose NAPI threads do its packet work.
func (l *benchLab) lbIfs() []string { return []string{l.lbIn, l.lbOut[0], l.lbOut[1]} }

// Close removes the lab's namespaces (and with them every link and XDP
// attachment in them).
func (l *benchLab) Close() error {
	var errs []error
	for i := len(l.all) - 1; i >= 0; i-- {
		if err := l.all[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	l.all = nil
	return errors.Join(errs...)
}

// sysfs writes /sys/class/net/IF/<attr> of an interface in ns. sysfs shows
// the namespace of whoever mounted it, so this goes through `ip netns
// exec`, which mounts a private /sys for the one command.
func (l *benchLab) sysfs(ns *lab.NS, ifname, attr, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := "/sys/class/net/" + ifname + "/" + attr
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "tee", path)
	cmd.Stdin = strings.NewReader(value + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: write %s to %s: %v: %s", ns.Name, value, path, err, out)
	}
	return nil
}

// threaded turns threaded NAPI on or off for an interface. Attaching or
// detaching XDP recreates a veth's NAPI instance, so callers set it again
// after every change.
func (l *benchLab) threaded(ns *lab.NS, ifname string, on bool) error {
	if err := l.sysfs(ns, ifname, "threaded", "0"); err != nil {
		return err
	}
	if !on {
		return nil
	}
	return l.sysfs(ns, ifname, "threaded", "1")
}

// placement puts the LB's NAPI threads on lbCPU and every other
// interface's on otherCPU; with fifo the others run SCHED_FIFO, so that
// the receivers keep up whatever the generator does on their CPU. It
// returns the LB's thread ids.
func (l *benchLab) placement(lbCPU, otherCPU int, fifo bool) ([]int, error) {
	var lbPIDs []int
	for _, h := range l.hosts() {
		if err := l.threaded(h.ns, h.ifname, true); err != nil {
			return nil, err
		}
		pid, err := waitNAPIThread(h.ifname)
		if err != nil {
			return nil, err
		}
		isLB := h.ns == l.lb
		cpu := otherCPU
		if isLB {
			cpu = lbCPU
			lbPIDs = append(lbPIDs, pid)
		}
		if err := pinTask(pid, false, cpu); err != nil {
			return nil, err
		}
		if fifo && !isLB {
			if err := setFIFO(pid); err != nil {
				return nil, err
			}
		}
	}
	return lbPIDs, nil
}

// defaultPlacement turns threaded NAPI off everywhere: softirq on
// whichever CPU raised it, the kernel's default.
func (l *benchLab) defaultPlacement() error {
	for _, h := range l.hosts() {
		if err := l.threaded(h.ns, h.ifname, false); err != nil {
			return err
		}
	}
	return nil
}

// attachXDP attaches prog to an interface of ns in driver mode and returns
// the link (closing it detaches).
func attachXDP(ns *lab.NS, ifname string, prog *ebpf.Program) (link.Link, error) {
	var l link.Link
	err := ns.Do(func() error {
		idx, err := ns.LinkIndex(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: idx, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: attach %s to %s: %w", ns.Name, prog, ifname, err)
	}
	return l, nil
}

// linkStats reads an interface's counters.
func linkStats(ns *lab.NS, ifname string) (netlink.LinkStatistics, error) {
	ln, err := ns.Netlink().LinkByName(ifname)
	if err != nil {
		return netlink.LinkStatistics{}, fmt.Errorf("%s: %s: %w", ns.Name, ifname, err)
	}
	if ln.Attrs().Statistics == nil {
		return netlink.LinkStatistics{}, fmt.Errorf("%s: %s has no statistics", ns.Name, ifname)
	}
	return *ln.Attrs().Statistics, nil
}

// nsRun runs a command in ns (nsenter, so the host's bpffs stays visible).
func nsRun(ctx context.Context, ns *lab.NS, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return nil
}

// nftDNAT is the kernel-stack baseline: nftables DNAT with conntrack to
// the two reals in turn, as LVS-NAT with rr would do.
func nftDNAT() string {
	return fmt.Sprintf(`table ip xlbbench {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %s meta l4proto { tcp, udp } th dport 80 dnat ip to numgen inc mod 2 map { 0 : %s, 1 : %s }
	}
}
`, vip, realAddrs[0], realAddrs[1])
}

func (l *benchLab) nftUp(ctx context.Context) error {
	cmd := l.lb.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(nftDNAT())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: nft -f: %v: %s", l.lb.Name, err, out)
	}
	return nil
}

func (l *benchLab) nftDown(ctx context.Context) error {
	return nsRun(ctx, l.lb, "nft", "delete", "table", "ip", "xlbbench")
}

// flushConntrack empties the LB's kernel conntrack table.
func (l *benchLab) flushConntrack(ctx context.Context) error {
	err := nsRun(ctx, l.lb, "conntrack", "-F")
	if err != nil && strings.Contains(err.Error(), "0 flow entries") {
		return nil
	}
	return err
}
