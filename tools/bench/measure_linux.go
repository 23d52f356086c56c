package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// measure runs the selected parts. A part that fails is reported as a
// problem and the others still run; only set-up failures end the run.
func measure(ctx context.Context, cfg config, logger *slog.Logger, args []string) (*results, error) {
	res := &results{
		Start:   time.Now(),
		Command: commandLine(args),
		Commit:  gitCommit(ctx, moduleRoot(ctx)),
		Machine: machine{Kernel: kernelRelease(), CPU: cpuModel(), Go: runtime.Version(), Cores: runtime.NumCPU(), LBCPU: cfg.LBCPU, GenCPU: cfg.GenCPU},
	}
	if cpus := allCPUs(); !containsAll(cpus, cfg.LBCPU, cfg.GenCPU) {
		return nil, fmt.Errorf("cpus %d and %d needed, this process may use %v", cfg.LBCPU, cfg.GenCPU, cpus)
	}
	var err error
	problem := func(part string, err error) {
		logger.Error("part failed", "part", part, "err", err)
		res.Problems = append(res.Problems, fmt.Sprintf("%s: %v", part, err))
	}

	if cfg.has("micro") {
		logger.Info("part 1: BPF_PROG_TEST_RUN micro-benchmarks")
		if res.Micro, err = runMicro(ctx, cfg, logger); err != nil {
			problem("micro", err)
		}
	}
	var objs benchObjects
	if err := loadBenchObjects(&objs, nil); err != nil {
		return nil, fmt.Errorf("load bench objects: %w", err)
	}
	defer objs.Close()

	if cfg.has("forward") || cfg.has("tcp") {
		l, err := newBenchLab(logger)
		if err != nil {
			return nil, fmt.Errorf("build lab: %w", err)
		}
		defer func() {
			if err := l.Close(); err != nil {
				logger.Error("remove lab", "err", err)
			}
		}()
		if cfg.has("forward") {
			logger.Info("part 2: forwarding rate on one LB core")
			if res.Forward, err = runForward(ctx, cfg, logger, l, &objs); err != nil {
				problem("forward", err)
			}
		}
		if cfg.has("tcp") && ctx.Err() == nil {
			logger.Info("part 3: real TCP through the LBs")
			if res.TCP, err = runTCP(ctx, cfg, logger, l); err != nil {
				problem("tcp", err)
			}
		}
	}
	if cfg.has("scale") && ctx.Err() == nil {
		logger.Info("part 4: scale")
		if res.Scale, err = runScale(ctx, cfg, logger, &objs); err != nil {
			problem("scale", err)
		}
	}
	if cfg.Profile && ctx.Err() == nil {
		if res.Profile, err = runProfile(ctx, cfg, logger, &objs); err != nil {
			problem("profile", err)
		}
	}
	res.Elapsed = time.Since(res.Start)
	return res, nil
}

func containsAll(set []int, v ...int) bool {
	for _, x := range v {
		found := false
		for _, s := range set {
			found = found || s == x
		}
		if !found {
			return false
		}
	}
	return true
}

// commandLine is how this run was started, as someone would retype it.
func commandLine(args []string) string {
	cmd := "go run ./tools/bench"
	if len(args) > 0 {
		cmd += " " + strings.Join(args, " ")
	}
	if os.Getenv("MAKELEVEL") != "" {
		cmd = "make bench (" + cmd + ")"
	}
	return cmd
}

// gitCommit is HEAD's short hash, marked when the dataplane or the
// benchmark differ from it.
func gitCommit(ctx context.Context, dir string) string {
	rev := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD")
	rev.Dir = dir
	out, err := rev.Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	c := strings.TrimSpace(string(out))
	diff := exec.CommandContext(ctx, "git", "diff", "--quiet", "HEAD", "--", "bpf", "loader", "tools/bench")
	diff.Dir = dir
	if diff.Run() != nil {
		c += " + uncommitted changes to bpf/, loader/ or tools/bench/"
	}
	return c
}
