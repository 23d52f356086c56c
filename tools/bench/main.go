// Command bench measures xlb side by side with its baselines in one run
// (issue 8) and appends the results to BENCHMARKS.md:
//
//	micro    BPF_PROG_TEST_RUN ns/packet of xlb's paths and of the XDP floor
//	         (go test -bench Dataplane ./loader/)
//	forward  packets/s and LB CPU ns/packet on one LB core, netns lab:
//	         xlb vs nftables DNAT vs the XDP fib-forward floor
//	tcp      LB CPU per connection and connect-to-close latency of real
//	         TCP: xlb vs nftables DNAT vs HAProxy mode tcp
//	scale    memory per tracked flow (1M flows), time to apply 1000 × 10,
//	         drain latency
//
//	sudo go run ./tools/bench [-parts micro,forward,tcp,scale] [-write BENCHMARKS.md]
//
// Everything runs in network namespaces it creates (veth pairs only,
// documentation addresses) and removes; every run stops itself. Needs
// root and a machine with at least two CPUs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	Parts         []string
	Write         string
	MicroRepeat   int
	Window        time.Duration
	Warmup        time.Duration
	Reps          int
	Flows         uint32
	Conns         int
	TCPParallel   int
	ScaleFlows    int
	ConntrackMax  uint32
	LBCPU, GenCPU int
	Profile       bool
	Timeout       time.Duration
	CPUProfile    string
}

var allParts = []string{"micro", "forward", "tcp", "scale"}

func (c config) has(part string) bool { return slices.Contains(c.Parts, part) }

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	parts := fs.String("parts", strings.Join(allParts, ","), "parts to run: "+strings.Join(allParts, ","))
	fs.StringVar(&c.Write, "write", "", "append the results to this markdown file (BENCHMARKS.md); empty: print them")
	fs.IntVar(&c.MicroRepeat, "micro-repeat", 1000000, "BPF_PROG_TEST_RUN repeats per micro-benchmark")
	fs.DurationVar(&c.Window, "window", 2*time.Second, "rate test: measured window per sample")
	fs.DurationVar(&c.Warmup, "warmup", 500*time.Millisecond, "rate test: traffic before each window")
	fs.IntVar(&c.Reps, "reps", 3, "rate test: samples per mode and case (medians are reported)")
	flows := fs.Uint("flows", 50000, "rate test: flows of the many-flow cases")
	fs.IntVar(&c.Conns, "conns", 3000, "TCP test: connections per mode and measurement")
	fs.IntVar(&c.TCPParallel, "tcp-parallel", 16, "TCP test: concurrent connections while measuring LB CPU (latency is measured one at a time)")
	fs.IntVar(&c.ScaleFlows, "scale-flows", 1<<20, "scale: tracked flows for the memory measurement")
	ctMax := fs.Uint("conntrack-max", 0, "rate and TCP tests: xlb's conntrack size (0: the loader's default)")
	fs.IntVar(&c.LBCPU, "lb-cpu", 1, "CPU of the load balancer's packet work")
	fs.IntVar(&c.GenCPU, "gen-cpu", 0, "CPU of the generator, the client and the reals")
	fs.BoolVar(&c.Profile, "profile", true, "profile the hot path (BPF run-time stats, perf, instruction counts)")
	fs.DurationVar(&c.Timeout, "timeout", 9*time.Minute, "stop everything after this long")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write this tool's Go CPU profile (the loader's share of the scale part) to a file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.Flows = uint32(*flows)
	c.ConntrackMax = uint32(*ctMax)
	for _, p := range strings.Split(*parts, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allParts, p) {
			return c, fmt.Errorf("unknown part %q (want %s)", p, strings.Join(allParts, ","))
		}
		c.Parts = append(c.Parts, p)
	}
	if c.LBCPU == c.GenCPU {
		return c, errors.New("-lb-cpu and -gen-cpu must differ")
	}
	if c.Reps < 1 || c.Conns < 10 || c.TCPParallel < 1 || c.Flows < 2 || c.MicroRepeat < 1 {
		return c, errors.New("-reps ≥ 1, -conns ≥ 10, -tcp-parallel ≥ 1, -flows ≥ 2, -micro-repeat ≥ 1")
	}
	if c.Flows > maxPorts*4 {
		return c, fmt.Errorf("-flows at most %d", maxPorts*4)
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (BPF, network namespaces): sudo make bench")
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res, err := measure(ctx, cfg, logger, args)
	if err != nil {
		return err
	}
	block := renderRun(res)
	if cfg.Write == "" {
		fmt.Print(block)
		return nil
	}
	if err := appendRun(cfg.Write, block); err != nil {
		return err
	}
	logger.Info("results written", "file", cfg.Write)
	return nil
}
