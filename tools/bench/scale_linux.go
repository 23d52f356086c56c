package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/loader"
)

// scaleBench is issue 8's part 4, all through the loader API and the
// dataplane program itself (no knowledge of the maps' layouts):
//   - memory per tracked flow: a dataplane sized for ScaleFlows
//     connections is filled by running its program on that many SYNs of
//     distinct tuples (bench_harness, Repeat = ScaleFlows); the kernel's
//     accounting of each map's memory (memlock, what `bpftool map show`
//     prints) is divided by the connections GC then counts;
//   - applying 1000 virtual servers × 10 reals: SetService each, then
//     SetTables for all, as xlbd applies a configuration;
//   - drain: SetService marking a real unavailable, then fresh SYNs must
//     all avoid it while an established flow keeps it.
type scaleBench struct {
	cfg    config
	logger *slog.Logger
	objs   *benchObjects
	ns     *lab.NS
	ifidx  int
}

func runScale(ctx context.Context, cfg config, logger *slog.Logger, objs *benchObjects) (*scaleResults, error) {
	ns, err := lab.NewNS(lab.UniqueName("xlbb-scale-"))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	if err := lab.Veth(ns, "s0", ns, "s1"); err != nil {
		return nil, err
	}
	sb := &scaleBench{cfg: cfg, logger: logger, objs: objs, ns: ns}
	if sb.ifidx, err = ns.LinkIndex("s0"); err != nil {
		return nil, err
	}
	res := &scaleResults{}
	if err := sb.memory(res); err != nil {
		return nil, fmt.Errorf("memory per flow: %w", err)
	}
	logger.Info("scale: memory", "flows", res.Flows, "conntrack_bytes", res.ConntrackMem, "bytes_per_flow", float64(res.ConntrackMem)/float64(max(res.Flows, 1)))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := sb.apply(res); err != nil {
		return nil, fmt.Errorf("apply 1000 × 10: %w", err)
	}
	logger.Info("scale: apply", "services", res.Services, "reals_each", res.RealsPer, "time", res.ApplyTime, "again", res.ReapplyTime)
	if err := sb.drain(res); err != nil {
		return nil, fmt.Errorf("drain: %w", err)
	}
	logger.Info("scale: drain", "p50", res.DrainP50, "max", res.DrainMax, "leaks", res.DrainLeaks, "established_kept", res.EstablishedOK)
	return res, nil
}

// harness runs dp's program n times through bench_harness on frames
// made from t and p.
func (sb *scaleBench) harness(dp *loader.Dataplane, t template, p pattern, n uint32) error {
	fc, err := t.cfg(p)
	if err != nil {
		return err
	}
	if err := sb.objs.FrameCfgs.Put(uint32(0), fc); err != nil {
		return err
	}
	if err := sb.objs.FrameSeq.Put(uint32(0), uint64(0)); err != nil {
		return err
	}
	if err := sb.objs.Targets.Put(uint32(0), dp.Program()); err != nil {
		return fmt.Errorf("harness target: %w", err)
	}
	defer sb.objs.Targets.Delete(uint32(0))
	return sb.ns.Do(func() error {
		_, _, err := testRunRetry(sb.objs.BenchHarness, make([]byte, frameLen), sb.ifidx, n)
		return err
	})
}

func (sb *scaleBench) memory(res *scaleResults) error {
	n := uint32(sb.cfg.ScaleFlows)
	dp, err := loader.Open(loader.Options{ConntrackMax: n}, sb.logger)
	if err != nil {
		return err
	}
	defer dp.Close()
	if err := setService(dp, loader.TCP, true, true); err != nil {
		return err
	}
	start := time.Now()
	if err := sb.harness(dp, synTemplate(protoTCP), patternFor(n), n); err != nil {
		return err
	}
	res.FillTime = time.Since(start)
	start = time.Now()
	gc, err := dp.GC(loader.DefaultTimeouts)
	if err != nil {
		return err
	}
	res.GCTime = time.Since(start)
	res.Flows = gc.Conns

	info, err := dp.Program().Info()
	if err != nil {
		return err
	}
	ids, ok := info.MapIDs()
	if !ok {
		return fmt.Errorf("the kernel does not list the program's maps")
	}
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			return fmt.Errorf("map %d: %w", id, err)
		}
		mi, err := m.Info()
		m.Close()
		if err != nil {
			return fmt.Errorf("map %d: %w", id, err)
		}
		mem, ok := mi.Memlock()
		if !ok {
			return fmt.Errorf("map %s: the kernel reports no memlock", mi.Name)
		}
		res.AllMapsMem += mem
		if mi.Name == "conntrack" {
			res.ConntrackMem = mem
			res.MaxEntries = mi.MaxEntries
			res.ConntrackID = uint32(id)
			res.BPFToolMemlock = bpftoolMemlock(uint32(id))
		}
	}
	if res.ConntrackMem == 0 {
		return fmt.Errorf("no conntrack map among the program's maps")
	}
	return nil
}

// bpftoolMemlock is `bpftool map show id N`'s memlock, the figure an
// operator would read, as a cross-check (0 if bpftool is missing).
func bpftoolMemlock(id uint32) uint64 {
	out, err := exec.Command("bpftool", "map", "show", "id", strconv.Itoa(int(id))).Output()
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`memlock (\d+)B`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return v
}

// apply measures a full config of 1000 services of 10 reals each, then
// the same config again (what a reload that changes nothing costs).
func (sb *scaleBench) apply(res *scaleResults) error {
	const services, realsPer = 1000, 10
	dp, err := loader.Open(loader.Options{MaxServices: 1024, MaxReals: 16384}, sb.logger)
	if err != nil {
		return err
	}
	defer dp.Close()
	type svc struct {
		s     loader.Service
		reals []loader.Real
		table []netip.AddrPort
	}
	cfg := make([]svc, services)
	for i := range cfg {
		// VIPs 203.0.113.1-250, ports 80-83; reals 192.0.2.1-250, a
		// port of their own per service.
		key := loader.ServiceKey{Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i/4)}), Port: uint16(80 + i%4), Proto: loader.TCP}
		c := svc{s: loader.Service{Key: key, Sched: loader.SchedWRR}}
		for r := range realsPer {
			a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + (i*realsPer+r)%250)}), uint16(10000+i))
			c.reals = append(c.reals, loader.Real{Addr: a, Available: true})
			c.table = append(c.table, a)
		}
		cfg[i] = c
	}
	for pass := range 2 {
		if pass == 1 && res.ApplyTime > 2*time.Second {
			break // a slow first apply would make the second one blow make bench's budget
		}
		// As xlbd applies a configuration: every service, then every
		// table in one batch (one RCU grace period for all the table
		// swaps, where one each costs ~8 ms).
		start := time.Now()
		tables := make(map[loader.ServiceKey][]netip.AddrPort, len(cfg))
		for _, c := range cfg {
			if err := dp.SetService(c.s, c.reals); err != nil {
				return err
			}
			tables[c.s.Key] = c.table
		}
		if err := dp.SetTables(tables); err != nil {
			return err
		}
		if pass == 0 {
			res.ApplyTime = time.Since(start)
		} else {
			res.ReapplyTime = time.Since(start)
		}
	}
	if got := len(dp.ServiceKeys()); got != services {
		return fmt.Errorf("%d services in the dataplane, want %d", got, services)
	}
	res.Services, res.RealsPer = services, realsPer
	return nil
}

// drain marks the second real unavailable with SetService, 20 times: the
// call's duration is the drain latency if, right after it returns, no
// new connection reaches the real; an established flow must keep it.
func (sb *scaleBench) drain(res *scaleResults) error {
	dp, err := loader.Open(loader.Options{ConntrackMax: 1 << 18}, sb.logger)
	if err != nil {
		return err
	}
	defer dp.Close()
	tcpKey := loader.ServiceKey{Addr: vip, Port: 80, Proto: loader.TCP}
	udpKey := tcpKey
	udpKey.Proto = loader.UDP
	real2 := netip.AddrPortFrom(realAddrs[1], 80)
	for _, proto := range []loader.Proto{loader.TCP, loader.UDP} {
		if err := setService(dp, proto, true, true); err != nil {
			return err
		}
	}
	// Two UDP flows: rr gives the second to real2.
	udp := synTemplate(protoUDP)
	if err := sb.harness(dp, udp, pattern{flows: 2, ports: 2, portBase: flowBase.Port()}, 2); err != nil {
		return err
	}
	const trials, probes = 20, 1000
	var lat []time.Duration
	res.EstablishedOK = true
	base := 0
	for range trials {
		if err := setService(dp, loader.TCP, true, true); err != nil {
			return err
		}
		before, err := dp.RealTraffic(tcpKey, real2)
		if err != nil {
			return err
		}
		udpBefore, err := dp.RealTraffic(udpKey, real2)
		if err != nil {
			return err
		}
		start := time.Now()
		err = dp.SetService(loader.Service{Key: tcpKey, Sched: loader.SchedRR}, []loader.Real{
			{Addr: netip.AddrPortFrom(realAddrs[0], 80), Available: true},
			{Addr: real2, Available: false},
		})
		lat = append(lat, time.Since(start))
		if err != nil {
			return err
		}
		if err := dp.SetService(loader.Service{Key: udpKey, Sched: loader.SchedRR}, []loader.Real{
			{Addr: netip.AddrPortFrom(realAddrs[0], 80), Available: true},
			{Addr: real2, Available: false},
		}); err != nil {
			return err
		}
		// Fresh SYNs, each a new connection, right after the call.
		p := pattern{flows: probes, ports: probes, portBase: uint16(20000 + base)}
		base += probes
		if err := sb.harness(dp, synTemplate(protoTCP), p, probes); err != nil {
			return err
		}
		after, err := dp.RealTraffic(tcpKey, real2)
		if err != nil {
			return err
		}
		res.DrainLeaks += int(after.Conns - before.Conns)
		// The established UDP flow to real2 still goes there.
		if err := sb.harness(dp, udp, pattern{flows: 2, ports: 2, portBase: flowBase.Port()}, 2); err != nil {
			return err
		}
		udpAfter, err := dp.RealTraffic(udpKey, real2)
		if err != nil {
			return err
		}
		if udpAfter.PacketsIn-udpBefore.PacketsIn != 1 {
			res.EstablishedOK = false
		}
		if err := setService(dp, loader.UDP, true, true); err != nil {
			return err
		}
	}
	slices.Sort(lat)
	res.DrainTrials, res.DrainConnsRun = trials, probes
	res.DrainP50, res.DrainMax = percentile(lat, 50), lat[len(lat)-1]
	return nil
}
