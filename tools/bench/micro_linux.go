package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// runMicro runs part 1: loader/bench_test.go's BenchmarkDataplane, xlb's
// paths and the floor in one test binary.
func runMicro(ctx context.Context, cfg config, logger *slog.Logger) (*microResults, error) {
	args := microCommand(cfg.MicroRepeat)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
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
