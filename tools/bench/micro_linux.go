package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
)

// runMicro runs part 1: loader/bench_test.go's BenchmarkDataplane, xlb's
// paths and the floor in one test binary.
func runMicro(ctx context.Context, cfg config, logger *slog.Logger) (*microResults, error) {
	args := microCommand(cfg.MicroRepeat)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = moduleRoot(ctx)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	r, err := parseMicro(string(out), cfg.MicroRepeat)
	if err != nil {
		return nil, err
	}
	r.Command = strings.Join(args, " ")
	for name, ns := range r.NsPerPkt {
		logger.Info("micro", "case", name, "ns_per_pkt", ns)
	}
	return r, nil
}

// moduleRoot is the repository's top directory, where ./loader/ is
// (the current directory if go cannot tell).
func moduleRoot(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == "/dev/null" {
		return "."
	}
	return filepath.Dir(mod)
}
