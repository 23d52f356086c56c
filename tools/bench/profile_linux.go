package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xlb/xlb/loader"
)

// runProfile looks at the hot path three ways: what the verifier and
// the JIT made of xlb's program and of the floor (instruction counts,
// which kernel functions each calls), where the CPU time of the
// micro-benchmarks goes (perf, sampling; this VM has no hardware
// counters, so cpu-clock), and whether `bpftool prog profile` works.
func runProfile(ctx context.Context, cfg config, logger *slog.Logger, objs *benchObjects) (*profileResults, error) {
	res := &profileResults{PerfTop: map[string][]string{}}
	dp, err := loader.Open(loader.Options{}, logger)
	if err != nil {
		return nil, err
	}
	defer dp.Close()
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{{"xlb_ingress", dp.Program()}, {"bench_floor", objs.BenchFloor}} {
		pp, err := progProfileOf(ctx, p.name, p.prog)
		if err != nil {
			return nil, err
		}
		res.Progs = append(res.Progs, pp)
	}
	if info, err := dp.Program().Info(); err == nil {
		if id, ok := info.ID(); ok {
			out, _ := exec.CommandContext(ctx, "bpftool", "prog", "profile", "id", strconv.Itoa(int(id)), "duration", "1", "cycles", "instructions").CombinedOutput()
			res.BPFToolProfile = firstLine(string(out))
		}
	}
	if _, err := exec.LookPath("perf"); err != nil {
		res.PerfNote = "perf is not installed (Debian: linux-perf); no sampling profile"
		return res, nil
	}
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("xlb-bench-loader-%d.test", os.Getpid()))
	defer os.Remove(bin)
	root := moduleRoot(ctx)
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./loader/")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build loader tests: %v: %s", err, out)
	}
	for _, bench := range []string{"floor_fib_redirect", "tcp_established", "tcp_new_flow_syn"} {
		top, err := perfMicro(ctx, bin, filepath.Join(root, "loader"), bench, cfg.MicroRepeat)
		if err != nil {
			logger.Warn("perf", "bench", bench, "err", err)
			res.PerfNote = err.Error()
			continue
		}
		res.PerfTop[bench] = top
	}
	return res, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// progProfileOf reads what the kernel made of a loaded program.
func progProfileOf(ctx context.Context, name string, prog *ebpf.Program) (progProfile, error) {
	pp := progProfile{Name: name, Calls: map[string]int{}}
	info, err := prog.Info()
	if err != nil {
		return pp, err
	}
	if n, err := info.TranslatedSize(); err == nil {
		pp.Xlated = n / 8
	}
	if n, err := info.JitedSize(); err == nil {
		pp.JitedBytes = int(n)
	}
	if n, ok := info.VerifiedInstructions(); ok {
		pp.VerifiedInsns = n
	}
	id, ok := info.ID()
	if !ok {
		return pp, nil
	}
	// bpftool names the kernel function behind every call after the
	// verifier's rewrites (inlined array lookups vanish, hash lookups
	// become direct calls).
	out, err := exec.CommandContext(ctx, "bpftool", "prog", "dump", "xlated", "id", strconv.Itoa(int(id))).Output()
	if err != nil {
		return pp, nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		_, after, ok := strings.Cut(line, "call ")
		if !ok {
			continue
		}
		fn, _, _ := strings.Cut(strings.TrimSpace(after), "#")
		pp.Calls[fn]++
	}
	return pp, nil
}

// perfMicro samples one micro-benchmark with perf and returns its
// hottest symbols, as "share symbol".
func perfMicro(ctx context.Context, bin, dir, bench string, repeat int) ([]string, error) {
	data := filepath.Join(os.TempDir(), fmt.Sprintf("xlb-bench-%d-%s.perf", os.Getpid(), bench))
	defer os.Remove(data)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rec := exec.CommandContext(ctx, "perf", "record", "-q", "-g", "-F", "4999", "-o", data, "--",
		bin, "-test.run", "^$", "-test.bench", "^BenchmarkDataplane$/^"+bench+"$", "-test.benchtime", fmt.Sprintf("%dx", repeat))
	rec.Dir = dir
	if out, err := rec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("perf record: %v: %s", err, out)
	}
	// Only samples under bpf_test_run (the measured loop, not the
	// program's loading or the fixture), as shares of those.
	rep := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym",
		"-p", "bpf_test_run", "-x", "--percentage", "relative", "-g", "none", "--percent-limit", "1.5")
	out, err := rep.Output()
	if err != nil {
		return nil, fmt.Errorf("perf report: %w", err)
	}
	return parsePerfReport(string(out), 14), nil
}

// parsePerfReport keeps the first n "  12.34%  [k] symbol [parent]"
// lines as "12.3% symbol".
func parsePerfReport(out string, n int) []string {
	var top []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") || strings.HasPrefix(line, "#") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		top = append(top, fmt.Sprintf("%.1f%% %s", pct, f[2]))
		if len(top) == n {
			break
		}
	}
	return top
}
