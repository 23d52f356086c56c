package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/xlb/xlb/loader"
)

// fwdCase is one traffic pattern of the rate test.
type fwdCase struct {
	Name  string
	Proto uint8
	Flows uint32
}

func fwdCases(flows uint32) []fwdCase {
	many := fmt.Sprintf("%dk", flows/1000)
	return []fwdCase{
		{"udp 1 flow", protoUDP, 1},
		{"udp " + many + " flows", protoUDP, flows},
		{"tcp syn 1 flow", protoTCP, 1},
		{"tcp syn " + many + " flows", protoTCP, flows},
		{"tcp syn, new flow every frame", protoTCP, freshFlows},
	}
}

// fwdBench is the rate test (issue 8, part 2): the generator on one CPU
// sends 60-byte frames to the VIP as fast as it can, the LB's ingress
// NAPI thread alone on the other CPU forwards what it can, the reals
// (XDP sinks, SCHED_FIFO on the generator's CPU) count what arrives.
type fwdBench struct {
	cfg    config
	logger *slog.Logger
	lab    *benchLab
	objs   *benchObjects
	dp     *loader.Dataplane

	mode     string
	modeLink link.Link // bench_floor or bench_pass on the LB ingress
	lbPIDs   []int
}

func runForward(ctx context.Context, cfg config, logger *slog.Logger, l *benchLab, objs *benchObjects) (res *forwardResults, err error) {
	fb := &fwdBench{cfg: cfg, logger: logger, lab: l, objs: objs}
	fb.dp, err = loader.Open(loader.Options{ConntrackMax: cfg.ConntrackMax}, logger)
	if err != nil {
		return nil, err
	}
	defer fb.dp.Close()
	for _, proto := range []loader.Proto{loader.UDP, loader.TCP} {
		if err := setService(fb.dp, proto, true, true); err != nil {
			return nil, err
		}
	}
	// The reals: XDP sinks. They stay for the whole part.
	for i := range l.web {
		s, err := attachXDP(l.web[i], l.webIf[i], objs.BenchSink)
		if err != nil {
			return nil, err
		}
		defer s.Close()
	}
	// The floor forwards the very frames the LBs get: the VIP is routed
	// to the first real.
	if err := nsRun(ctx, l.lb, "ip", "route", "add", vip.String()+"/32", "via", realAddrs[0].String()); err != nil {
		return nil, err
	}
	defer nsRun(context.Background(), l.lb, "ip", "route", "del", vip.String()+"/32")
	defer fb.setMode(ctx, "")

	cases := fwdCases(cfg.Flows)
	res = &forwardResults{Window: cfg.Window, Warmup: cfg.Warmup, Reps: cfg.Reps, Modes: []string{modeFloor, modeXLB, modeNFT}, ProgNs: map[string]float64{}}
	for _, c := range cases {
		res.Cases = append(res.Cases, c.Name)
		for _, m := range res.Modes {
			res.Cells = append(res.Cells, fwdCell{Mode: m, Case: c.Name})
		}
	}
	// Modes take turns within each repetition, so that a change in the
	// machine's background load hits all of them alike.
	for rep := range cfg.Reps {
		for _, m := range res.Modes {
			if err := fb.setMode(ctx, m); err != nil {
				return nil, err
			}
			for _, c := range cases {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				s, err := fb.sample(ctx, c)
				if err != nil {
					return nil, fmt.Errorf("%s, %s: %w", m, c.Name, err)
				}
				fb.logger.Info("rate", "rep", rep+1, "mode", m, "case", c.Name,
					"mpps", fmt.Sprintf("%.3f", s.PPS/1e6), "lb_ns_per_pkt", fmt.Sprintf("%.0f", s.LBNsPerPkt),
					"lb_util", fmt.Sprintf("%.2f", s.LBUtil), "refused", s.Offered, "after_lb_drops", s.AfterLB, "valid", s.Valid, "why", s.Why)
				cell := res.cell(m, c.Name)
				cell.Samples = append(cell.Samples, s)
			}
		}
	}
	if cfg.Profile {
		if err := fb.progTime(ctx, cases, res); err != nil {
			fb.logger.Warn("bpf run-time stats", "err", err)
		}
	}
	return res, nil
}

// setService makes VIP:80 a service of the two reals (port 80), rr.
func setService(dp *loader.Dataplane, proto loader.Proto, avail1, avail2 bool) error {
	key := loader.ServiceKey{Addr: vip, Port: 80, Proto: proto}
	reals := []loader.Real{
		{Addr: netip.AddrPortFrom(realAddrs[0], 80), Available: avail1},
		{Addr: netip.AddrPortFrom(realAddrs[1], 80), Available: avail2},
	}
	if err := dp.SetService(loader.Service{Key: key, Sched: loader.SchedRR}, reals); err != nil {
		return err
	}
	return dp.SetTable(key, []netip.AddrPort{reals[0].Addr, reals[1].Addr})
}

// setMode puts mode's program on the LB ingress ("" removes all), then
// threads and pins every NAPI instance again (an XDP change recreates
// them).
func (fb *fwdBench) setMode(ctx context.Context, mode string) error {
	if fb.mode == mode {
		return nil
	}
	switch fb.mode {
	case modeXLB:
		if err := fb.dp.Detach(fb.lab.lbIn); err != nil {
			return err
		}
	case modeNFT:
		if err := fb.lab.nftDown(ctx); err != nil {
			return err
		}
		fallthrough
	case modeFloor:
		if err := fb.modeLink.Close(); err != nil {
			return fmt.Errorf("detach %s: %w", fb.mode, err)
		}
		fb.modeLink = nil
	}
	fb.mode = ""
	var err error
	switch mode {
	case "":
		return nil
	case modeXLB:
		err = fb.lab.lb.Do(func() error { return fb.dp.Attach(fb.lab.lbIn, loader.XDPNative) })
	case modeFloor:
		fb.modeLink, err = attachXDP(fb.lab.lb, fb.lab.lbIn, fb.objs.BenchFloor)
	case modeNFT:
		if fb.modeLink, err = attachXDP(fb.lab.lb, fb.lab.lbIn, fb.objs.BenchPass); err == nil {
			err = fb.lab.nftUp(ctx)
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	fb.mode = mode
	fb.lbPIDs, err = fb.lab.placement(fb.cfg.LBCPU, fb.cfg.GenCPU, true)
	return err
}

type fwdSnap struct {
	at                   time.Time
	sink, lbCPU          uint64
	refused, in, afterLB uint64
}

func (fb *fwdBench) snap() (fwdSnap, error) {
	s := fwdSnap{at: time.Now()}
	var per []uint64
	if err := fb.objs.SinkPkts.Lookup(uint32(0), &per); err != nil {
		return s, fmt.Errorf("read sink counter: %w", err)
	}
	for _, v := range per {
		s.sink += v
	}
	for _, pid := range fb.lbPIDs {
		d, err := threadCPU(pid)
		if err != nil {
			return s, fmt.Errorf("LB NAPI thread %d: %w", pid, err)
		}
		s.lbCPU += uint64(d)
	}
	g, err := linkStats(fb.lab.gen, fb.lab.genIf)
	if err != nil {
		return s, err
	}
	s.refused = g.TxDropped
	in, err := linkStats(fb.lab.lb, fb.lab.lbIn)
	if err != nil {
		return s, err
	}
	s.in = in.RxPackets
	for _, o := range fb.lab.lbOut {
		st, err := linkStats(fb.lab.lb, o)
		if err != nil {
			return s, err
		}
		s.afterLB += st.TxDropped
	}
	return s, nil
}

// sample runs the generator for warmup + window and measures the window.
func (fb *fwdBench) sample(ctx context.Context, c fwdCase) (s fwdSample, err error) {
	t := template{proto: c.Proto, src: flowBase, dst: netip.AddrPortFrom(vip, 80), srcMAC: fb.lab.genMAC, dstMAC: fb.lab.lbInMAC}
	fc, err := t.cfg(patternFor(c.Flows))
	if err != nil {
		return s, err
	}
	if err := fb.objs.FrameCfgs.Put(uint32(0), fc); err != nil {
		return s, fmt.Errorf("generator template: %w", err)
	}
	if err := fb.objs.FrameSeq.Put(uint32(0), uint64(0)); err != nil {
		return s, err
	}
	if fb.mode == modeNFT {
		if err := fb.lab.flushConntrack(ctx); err != nil {
			return s, err
		}
	}
	g, err := startGenerator(fb.lab.gen, fb.objs.BenchGen, fb.lab.genIndex, fb.cfg.GenCPU)
	if err != nil {
		return s, err
	}
	defer func() {
		if serr := g.Stop(); serr != nil && err == nil {
			err = serr
		}
		time.Sleep(50 * time.Millisecond) // let the rings drain
	}()
	if err := sleep(ctx, fb.cfg.Warmup); err != nil {
		return s, err
	}
	a, err := fb.snap()
	if err != nil {
		return s, err
	}
	if err := sleep(ctx, fb.cfg.Window); err != nil {
		return s, err
	}
	b, err := fb.snap()
	if err != nil {
		return s, err
	}
	dt := b.at.Sub(a.at).Seconds()
	s.Delivered = b.sink - a.sink
	s.In = b.in - a.in
	s.Offered = b.refused - a.refused
	s.AfterLB = b.afterLB - a.afterLB
	s.PPS = float64(s.Delivered) / dt
	s.LBUtil = float64(b.lbCPU-a.lbCPU) / 1e9 / dt
	if s.Delivered > 0 {
		s.LBNsPerPkt = float64(b.lbCPU-a.lbCPU) / float64(s.Delivered)
	}
	s.Valid, s.Why = validSample(s)
	return s, nil
}

// progTime runs xlb and the floor once more per case with the kernel's
// BPF run-time statistics on: the time inside the XDP program per frame,
// against the whole NAPI thread's time per frame.
func (fb *fwdBench) progTime(ctx context.Context, cases []fwdCase, res *forwardResults) error {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enable bpf stats: %w", err)
	}
	defer stats.Close()
	for _, m := range []string{modeFloor, modeXLB} {
		if err := fb.setMode(ctx, m); err != nil {
			return err
		}
		prog := fb.objs.BenchFloor
		if m == modeXLB {
			prog = fb.dp.Program()
		}
		for _, c := range cases {
			a, err := prog.Stats()
			if err != nil {
				return err
			}
			if _, err := fb.sample(ctx, c); err != nil {
				return err
			}
			b, err := prog.Stats()
			if err != nil {
				return err
			}
			if n := b.RunCount - a.RunCount; n > 0 {
				res.ProgNs[m+"|"+c.Name] = float64(b.Runtime-a.Runtime) / float64(n)
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
