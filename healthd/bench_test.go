package healthd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// farmEnv makes the test binary a listener farm for the benchmark: the
// listeners run in another process so that the benchmark's CPU time is the
// checker's alone.
const farmEnv = "XLB_HEALTHD_LISTENER_FARM"

// TestHelperListenerFarm is not a test: run by BenchmarkMonitor10kTCP in a
// child process, it opens N listeners on 127.0.0.1, prints their ports, and
// accepts and closes connections until its stdin closes.
func TestHelperListenerFarm(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(farmEnv))
	if n <= 0 {
		t.Skip("helper process for BenchmarkMonitor10kTCP")
	}
	out := bufio.NewWriter(os.Stdout)
	var lns []net.Listener
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	// Explicit ports below the ephemeral range: binding port 0 ten
	// thousand times makes the kernel search ever longer.
	for port := 20000; len(lns) < n && port < 32768; port++ {
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		fmt.Fprintln(out, port)
	}
	if len(lns) < n {
		fmt.Fprintf(out, "error: only %d free ports\n", len(lns))
		out.Flush()
		os.Exit(1)
	}
	fmt.Fprintln(out, "ready")
	out.Flush()
	for _, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startFarm starts the listener farm and returns its ports.
func startFarm(b *testing.B, n int) []uint16 {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperListenerFarm$", "-test.count=1")
	cmd.Env = append(os.Environ(), farmEnv+"="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	ports := make([]uint16, 0, n)
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return ports
		}
		p, err := strconv.Atoi(line)
		if err != nil {
			b.Fatalf("listener farm: %s", line)
		}
		ports = append(ports, uint16(p))
	}
	b.Fatalf("listener farm ended early: %v", sc.Err())
	return nil
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func totalChecks(m *Monitor) (checks, failures uint64, down int) {
	for _, s := range m.Status() {
		for _, r := range s.Reals {
			if !r.Up {
				down++
			}
			for _, c := range r.Checks {
				checks += c.Checks
				failures += c.Failures
			}
		}
	}
	return
}

// BenchmarkMonitor10kTCP checks 10 000 reals, each a distinct port on
// 127.0.0.1 served by a listener farm in a child process, with TCP_CHECK
// every second, and reports the Monitor process's CPU time per second of
// wall time and its goroutine and fd counts. One iteration is one second;
// run with -benchtime=10x for a ten-second window.
func BenchmarkMonitor10kTCP(b *testing.B) {
	const reals = 10_000
	ports := startFarm(b, reals)
	vs := VirtualServer{Key: "bench", DelayLoop: time.Second}
	for i, p := range ports {
		vs.Reals = append(vs.Reals, Real{
			Key:    "r" + strconv.Itoa(i),
			Addr:   netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p),
			Weight: 1,
			Checks: []Check{{Type: TCPCheck, ConnectTimeout: time.Second, Retry: 1, DelayBeforeRetry: time.Second}},
		})
	}
	var events sync.Map
	m := New(Options{OnEvent: func(ev Event) {
		if re, ok := ev.(RealEvent); ok && !re.Up {
			events.Store(re.Real, re.Reason)
		}
	}}, nil)
	if err := m.Set([]VirtualServer{vs}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	// The first delay loop spreads the first checks (warmup); measure after.
	time.Sleep(2 * time.Second)

	var (
		gMin, gMax   = 1 << 30, 0
		fdMin, fdMax = 1 << 30, 0
	)
	sample := func() {
		g := runtime.NumGoroutine()
		fd := countFDs(b)
		gMin, gMax = min(gMin, g), max(gMax, g)
		fdMin, fdMax = min(fdMin, fd), max(fdMax, fd)
	}
	checks0, fails0, _ := totalChecks(m)
	cpu0, wall0 := cpuTime(b), time.Now()
	b.ResetTimer()
	for range b.N {
		for range 10 {
			time.Sleep(100 * time.Millisecond)
			sample()
		}
	}
	b.StopTimer()
	cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
	checks1, fails1, down := totalChecks(m)
	checks := float64(checks1 - checks0)
	b.ReportMetric(float64(cpu.Milliseconds())/wall.Seconds(), "cpu-ms/s")
	b.ReportMetric(checks/wall.Seconds(), "checks/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/checks, "cpu-ns/check")
	// What 10 000 checks a second cost at that price, whatever rate a
	// loaded machine let the run reach.
	b.ReportMetric(float64(cpu.Nanoseconds())/checks*reals/1e9, "cores-at-10k/s")
	b.ReportMetric(float64(gMin), "goroutines-min")
	b.ReportMetric(float64(gMax), "goroutines-max")
	b.ReportMetric(float64(fdMin), "fds-min")
	b.ReportMetric(float64(fdMax), "fds-max")
	b.ReportMetric(float64(fails1-fails0), "failed-checks")
	b.ReportMetric(float64(down), "reals-down")
	b.ReportMetric(0, "ns/op")
	var sampleReason []string
	events.Range(func(k, v any) bool {
		sampleReason = append(sampleReason, fmt.Sprintf("%v: %v", k, v))
		return len(sampleReason) < 5
	})
	if len(sampleReason) > 0 {
		b.Logf("some reals went down: %s", strings.Join(sampleReason, "; "))
	}
}
