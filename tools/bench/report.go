package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The section of BENCHMARKS.md this tool owns. Other benchmarks keep
// sections of their own; runs are inserted at the end of this one, just
// above the marker, so the file can hold any number of sections.
const (
	sectionHeading = "## Forwarding and CPU cost (issue 8)"
	runsMarker     = "<!-- tools/bench inserts each run above this line -->"
)

// appendRun inserts a run's block at the end of this tool's section of
// the markdown file at path, creating the file or the section if needed.
func appendRun(path, block string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	doc := insertRun(string(b), block)
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// insertRun is appendRun on the file's text.
func insertRun(doc, block string) string {
	block = strings.TrimRight(block, "\n") + "\n\n"
	if !strings.Contains(doc, runsMarker) {
		if doc == "" {
			doc = "# xlb benchmarks\n"
		}
		doc = strings.TrimRight(doc, "\n") + "\n\n" + sectionHeading + "\n\n" + runsMarker + "\n"
	}
	i := strings.Index(doc, runsMarker)
	return doc[:i] + block + doc[i:]
}

// target is one line of the targets table.
type target struct {
	what, measured string
	met            string // yes, no, partly, n/a
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// renderRun formats one run as markdown.
func renderRun(r *results) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	w("### Run %s, commit %s\n\n", r.Start.UTC().Format("2006-01-02 15:04 MST"), r.Commit)
	w("`%s` · kernel %s · %s, %d cores (LB work on CPU %d; generator, client and reals on CPU %d) · %s · took %s\n\n",
		r.Command, m.Kernel, m.CPU, m.Cores, m.LBCPU, m.GenCPU, m.Go, r.Elapsed.Round(time.Second))
	w("%s", renderTargets(r))
	if r.Micro != nil {
		renderMicro(&b, r.Micro)
	}
	if r.Forward != nil {
		renderForward(&b, r.Forward)
	}
	if r.TCP != nil {
		renderTCP(&b, r.TCP)
	}
	if r.Scale != nil {
		renderScale(&b, r.Scale)
	}
	if r.Profile != nil {
		renderProfile(&b, r.Profile)
	}
	if len(r.Problems) > 0 {
		w("**Parts that failed in this run**\n\n")
		for _, p := range r.Problems {
			w("- %s\n", strings.ReplaceAll(p, "\n", " "))
		}
		w("\n")
	}
	return b.String()
}

func renderTargets(r *results) string {
	var ts []target
	if f := r.Forward; f != nil {
		var vsNFT, vsFloor, rawNFT []string
		allNFT, anyNFT, allFloor := true, false, true
		for _, c := range f.Cases {
			x, n, fl := f.cell(modeXLB, c), f.cell(modeNFT, c), f.cell(modeFloor, c)
			if x == nil || n == nil || fl == nil {
				continue
			}
			xp, xns, _ := x.medians()
			np, nns, _ := n.medians()
			_, fns, _ := fl.medians()
			if strings.Contains(c, "k flows") {
				// many-flow cases: the ≥ 5× nft target
				ok := xns > 0 && nns/xns >= 5
				allNFT, anyNFT = allNFT && ok, anyNFT || ok
				vsNFT = append(vsNFT, fmt.Sprintf("%s %s", c, ratio(nns, xns)))
				rawNFT = append(rawNFT, fmt.Sprintf("%s %s", c, ratio(xp, np)))
			}
			ok := xns > 0 && fns/xns >= 0.8
			allFloor = allFloor && ok
			vsFloor = append(vsFloor, fmt.Sprintf("%s %.0f%%", c, 100*fns/xns))
		}
		met := "**no**"
		if allNFT {
			met = "yes"
		} else if anyNFT {
			met = "partly"
		}
		ts = append(ts,
			target{"forwarding ≥ 5× nftables DNAT, many flows (per LB-core-second; raw pps in brackets)",
				strings.Join(vsNFT, ", ") + " (raw pps: " + strings.Join(rawNFT, ", ") + ")", met},
			target{"forwarding ≥ 80% of the XDP floor (per LB-core-second)", strings.Join(vsFloor, ", "), yesNo(allFloor)})
	}
	if mi := r.Micro; mi != nil {
		fl, est := mi.NsPerPkt["floor_fib_redirect"], mi.NsPerPkt["tcp_established"]
		if fl > 0 {
			ts = append(ts, target{"established-flow ns/pkt ≤ 1.5× the floor's (BPF_PROG_TEST_RUN)",
				fmt.Sprintf("%s (%.0f vs %.0f ns)", ratio(est, fl), est, fl), yesNo(est <= 1.5*fl)})
		}
	}
	if t := r.TCP; t != nil {
		x, n, h := t.mode(tcpXLB), t.mode(tcpNFT), t.mode(tcpHAProxy)
		if x != nil && h != nil && h.CPUPerConn > 0 {
			ts = append(ts, target{"LB CPU per connection ≤ ½ HAProxy's",
				fmt.Sprintf("%s (%s vs %s)", ratio(float64(x.CPUPerConn), float64(h.CPUPerConn)), us(x.CPUPerConn), us(h.CPUPerConn)),
				yesNo(2*x.CPUPerConn <= h.CPUPerConn)})
		}
		if x != nil && n != nil && n.CPUPerConn > 0 {
			ts = append(ts, target{"LB CPU per connection ≤ nftables DNAT's",
				fmt.Sprintf("%s (%s vs %s)", ratio(float64(x.CPUPerConn), float64(n.CPUPerConn)), us(x.CPUPerConn), us(n.CPUPerConn)),
				yesNo(x.CPUPerConn <= n.CPUPerConn)})
			ts = append(ts, target{"connect-to-close latency no worse than nftables DNAT (p50, p99)",
				fmt.Sprintf("p50 %s vs %s, p99 %s vs %s", us(x.P50), us(n.P50), us(x.P99), us(n.P99)),
				yesNo(x.P50 <= n.P50)})
		}
	}
	if s := r.Scale; s != nil && s.Flows > 0 {
		per := float64(s.ConntrackMem) / float64(s.Flows)
		ts = append(ts,
			target{"≤ 128 bytes of map memory per tracked flow", fmt.Sprintf("%.1f B (conntrack memlock / %d flows)", per, s.Flows), yesNo(per <= 128)},
			target{"1000 × 10 config applied in < 1 s", fmt.Sprintf("%.2f s", s.ApplyTime.Seconds()), yesNo(s.ApplyTime < time.Second)})
	}
	if len(ts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("**Targets** (ratios from this run)\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.what, t.measured, t.met)
	}
	b.WriteString("\n")
	return b.String()
}

// microOrder lists the micro-benchmarks in the report's order.
var microOrder = []string{"floor_fib_redirect", "tcp_established", "udp_established", "tcp_reverse_snat", "tcp_new_flow_syn", "tcp_persistence_hit", "pass_through"}

func renderMicro(b *strings.Builder, mi *microResults) {
	fmt.Fprintf(b, "**1. BPF_PROG_TEST_RUN**, %d runs per path, medians of 5 calls, harness cost subtracted: `%s`\n\n", mi.Repeat, mi.Command)
	b.WriteString("| path | ns/pkt | × floor | harness ns (subtracted) |\n|---|---|---|---|\n")
	names := slices.Clone(microOrder)
	for n := range mi.NsPerPkt {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	fl := mi.NsPerPkt["floor_fib_redirect"]
	for _, n := range names {
		v, ok := mi.NsPerPkt[n]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "| %s | %.0f | %s | %.0f |\n", n, v, ratio(v, fl), mi.HarnessNs[n])
	}
	b.WriteString("\n")
}

func renderForward(b *strings.Builder, f *forwardResults) {
	fmt.Fprintf(b, "**2. Forwarding on one LB core**: 60-byte frames, medians of %d windows of %s (after %s of traffic) per cell; "+
		"Mpps counted at the reals; LB ns/pkt = LB NAPI thread CPU time / frames delivered; "+
		"per-core Mpps = 1000 / LB ns/pkt (the rate of a whole LB core, whatever share of it the shared machine gave); "+
		"busy = the LB thread's CPU share; valid = windows where the generator overflowed the LB and nothing was lost after it.\n\n",
		f.Reps, f.Window, f.Warmup)
	b.WriteString("| case | mode | Mpps at reals | LB ns/pkt | per-core Mpps | busy | valid | vs nft (per core) | vs floor (per core) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range f.Cases {
		n, fl := f.cell(modeNFT, c), f.cell(modeFloor, c)
		var nns, fns float64
		if n != nil {
			_, nns, _ = n.medians()
		}
		if fl != nil {
			_, fns, _ = fl.medians()
		}
		for _, mode := range f.Modes {
			cell := f.cell(mode, c)
			if cell == nil {
				continue
			}
			pps, ns, valid := cell.medians()
			var busy []float64
			for _, s := range cell.Samples {
				busy = append(busy, s.LBUtil)
			}
			vsN, vsF := "", ""
			if mode != modeNFT && ns > 0 {
				vsN = ratio(nns, ns)
			}
			if mode != modeFloor && ns > 0 {
				vsF = fmt.Sprintf("%.0f%%", 100*fns/ns)
			}
			perCore := 0.0
			if ns > 0 {
				perCore = 1e3 / ns
			}
			fmt.Fprintf(b, "| %s | %s | %.3f | %.0f | %.2f | %.0f%% | %d/%d | %s | %s |\n",
				c, mode, pps/1e6, ns, perCore, 100*medianF(busy), valid, len(cell.Samples), vsN, vsF)
		}
	}
	b.WriteString("\n")
	var why []string
	for _, cell := range f.Cells {
		for _, s := range cell.Samples {
			if !s.Valid && s.Why != "" {
				why = append(why, fmt.Sprintf("%s/%s: %s", cell.Mode, cell.Case, s.Why))
			}
		}
	}
	if len(why) > 0 {
		fmt.Fprintf(b, "Windows not valid: %s.\n\n", strings.Join(why, "; "))
	}
	if len(f.ProgNs) > 0 {
		b.WriteString("Time inside the XDP program (kernel BPF run-time stats, one extra window each) against the LB thread's time per frame:\n\n")
		b.WriteString("| case | floor prog ns | floor thread ns | xlb prog ns | xlb thread ns |\n|---|---|---|---|---|\n")
		for _, c := range f.Cases {
			var ft, xt float64
			if cell := f.cell(modeFloor, c); cell != nil {
				_, ft, _ = cell.medians()
			}
			if cell := f.cell(modeXLB, c); cell != nil {
				_, xt, _ = cell.medians()
			}
			fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f | %.0f |\n", c, f.ProgNs[modeFloor+"|"+c], ft, f.ProgNs[modeXLB+"|"+c], xt)
		}
		b.WriteString("\n")
	}
}

func renderTCP(b *strings.Builder, t *tcpResults) {
	fmt.Fprintf(b, "**3. Real TCP**: %d HTTP/1.0 connections per mode and measurement (connect, GET, response, close) to two Go servers. "+
		"LB CPU: the LB's NAPI threads (and HAProxy) alone on the LB CPU, %d connections at a time, median of %d rounds; "+
		"latency: one connection at a time, the kernel's default CPU placement.\n\n",
		t.Conns, t.Parallel, tcpCPURounds)
	b.WriteString("| mode | LB CPU/conn | NAPI wakes/conn | p50 | p90 | p99 | failed | per real |\n|---|---|---|---|---|---|---|---|\n")
	for _, m := range t.Modes {
		var reals []string
		for r, n := range m.PerReal {
			reals = append(reals, fmt.Sprintf("%s %d", r, n))
		}
		slices.Sort(reals)
		fmt.Fprintf(b, "| %s | %s | %.1f | %s | %s | %s | %d | %s |\n",
			m.Name, us(m.CPUPerConn), m.WakesPerConn, us(m.P50), us(m.P90), us(m.P99), m.Failed, strings.Join(reals, ", "))
	}
	b.WriteString("\n")
}

func renderScale(b *strings.Builder, s *scaleResults) {
	b.WriteString("**4. Scale**\n\n")
	if s.Flows > 0 {
		fmt.Fprintf(b, "- Memory: %d connections tracked (conntrack max_entries %d, filled by running the dataplane on %d distinct SYNs in %s); "+
			"conntrack memlock %d B (`bpftool map show id %d`: %d B) = **%.1f B per flow**; all the program's maps %d B = %.1f B per flow. "+
			"A GC pass over them took %s.\n",
			s.Flows, s.MaxEntries, s.MaxEntries, s.FillTime.Round(time.Millisecond), s.ConntrackMem, s.ConntrackID, s.BPFToolMemlock,
			float64(s.ConntrackMem)/float64(s.Flows), s.AllMapsMem, float64(s.AllMapsMem)/float64(s.Flows), s.GCTime.Round(time.Millisecond))
	}
	if s.Services > 0 {
		again := fmt.Sprintf("%.2f s", s.ReapplyTime.Seconds())
		if s.ReapplyTime == 0 {
			again = "not measured (the first apply took over 2 s)"
		}
		fmt.Fprintf(b, "- Apply %d virtual servers × %d reals (SetService each, then SetTables for all): **%.2f s**; the same config again (nothing changes): %s.\n",
			s.Services, s.RealsPer, s.ApplyTime.Seconds(), again)
	}
	if s.DrainTrials > 0 {
		fmt.Fprintf(b, "- Drain: SetService marking a real unavailable returns in **%s** (p50 of %d; max %s); "+
			"after it returned, %d of %d new connections reached the drained real; an established flow to it %s.\n",
			us(s.DrainP50), s.DrainTrials, us(s.DrainMax), s.DrainLeaks, s.DrainTrials*s.DrainConnsRun,
			map[bool]string{true: "kept going there", false: "**did not** keep going there"}[s.EstablishedOK])
	}
	b.WriteString("\n")
}

func renderProfile(b *strings.Builder, p *profileResults) {
	b.WriteString("**Profile**\n\n")
	b.WriteString("| program | xlated insns | JITed bytes | verifier insns | calls (after the verifier's rewrites) |\n|---|---|---|---|---|\n")
	for _, pp := range p.Progs {
		var calls []string
		for fn, n := range pp.Calls {
			calls = append(calls, fmt.Sprintf("%s %d", fn, n))
		}
		slices.Sort(calls)
		fmt.Fprintf(b, "| %s | %d | %d | %d | %s |\n", pp.Name, pp.Xlated, pp.JitedBytes, pp.VerifiedInsns, strings.Join(calls, ", "))
	}
	b.WriteString("\n")
	if p.BPFToolProfile != "" {
		fmt.Fprintf(b, "`bpftool prog profile`: %s\n\n", p.BPFToolProfile)
	}
	benches := make([]string, 0, len(p.PerfTop))
	for n := range p.PerfTop {
		benches = append(benches, n)
	}
	slices.Sort(benches)
	for _, n := range benches {
		fmt.Fprintf(b, "perf (cpu-clock) during the %s micro-benchmark: %s\n\n", n, strings.Join(p.PerfTop[n], ", "))
	}
	if p.PerfNote != "" {
		fmt.Fprintf(b, "perf: %s\n\n", p.PerfNote)
	}
}
