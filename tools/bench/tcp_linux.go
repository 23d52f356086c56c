package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xlb/xlb/loader"
)

// tcpBench is issue 8's part 3: short HTTP/1.0 requests over real TCP
// connections, one at a time, through each LB to the same two Go web
// servers. On two CPUs the client and the servers saturate a core before
// any of these LBs does, so requests/s cannot rank them (BENCH-NOTES);
// what is measured instead, per mode:
//   - the LB's CPU time per connection, with the LB's packet work (its
//     interfaces' NAPI threads, and HAProxy's process) alone on the LB CPU
//     and everything else on the other;
//   - connect → request → response → close latency percentiles, with the
//     kernel's default CPU placement.
type tcpBench struct {
	cfg    config
	logger *slog.Logger
	lab    *benchLab
	dp     *loader.Dataplane
	dir    string
	cpus   []int // this process's CPUs at start

	haproxy *exec.Cmd
}

func runTCP(ctx context.Context, cfg config, logger *slog.Logger, l *benchLab) (*tcpResults, error) {
	tb := &tcpBench{cfg: cfg, logger: logger, lab: l, cpus: allCPUs()}
	var err error
	if tb.dir, err = os.MkdirTemp("", "xlb-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tb.dir)

	var servers []*http.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	for i := range l.web {
		var ln net.Listener
		err := l.web[i].Do(func() (err error) {
			ln, err = net.Listen("tcp", netip.AddrPortFrom(realAddrs[i], 80).String())
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("web%d: listen: %w", i+1, err)
		}
		name := fmt.Sprintf("web%d", i+1)
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
		s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, s)
		go s.Serve(ln)
	}

	if tb.dp, err = loader.Open(loader.Options{ConntrackMax: cfg.ConntrackMax}, logger); err != nil {
		return nil, err
	}
	defer tb.dp.Close()
	if err := setService(tb.dp, loader.TCP, true, true); err != nil {
		return nil, err
	}

	res := &tcpResults{Conns: cfg.Conns, Parallel: cfg.TCPParallel}
	for _, mode := range []string{tcpDirect, tcpXLB, tcpNFT, tcpHAProxy} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := tb.mode(ctx, mode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mode, err)
		}
		tb.logger.Info("tcp", "mode", mode, "lb_cpu_per_conn", m.CPUPerConn, "p50", m.P50, "p90", m.P90, "p99", m.P99, "failed", m.Failed, "per_real", m.PerReal)
		res.Modes = append(res.Modes, m)
	}
	return res, nil
}

// tcpTarget is where connection i goes in a mode.
func tcpTarget(mode string, i int) netip.AddrPort {
	if mode == tcpDirect {
		return netip.AddrPortFrom(realAddrs[i%2], 80)
	}
	return netip.AddrPortFrom(vip, 80)
}

func (tb *tcpBench) mode(ctx context.Context, mode string) (m tcpMode, err error) {
	m = tcpMode{Name: mode, PerReal: map[string]int{}}
	if err := tb.up(ctx, mode); err != nil {
		tb.down(mode)
		return m, err
	}
	defer func() {
		if derr := tb.down(mode); derr != nil && err == nil {
			err = derr
		}
	}()

	// Steered: the LB's NAPI threads (and HAProxy) on the LB CPU, the
	// rest, this process included, on the other.
	lbPIDs, err := tb.lab.placement(tb.cfg.LBCPU, tb.cfg.GenCPU, false)
	if err != nil {
		return m, err
	}
	if err := pinTask(os.Getpid(), true, tb.cfg.GenCPU); err != nil {
		return m, err
	}
	defer pinTask(os.Getpid(), true, tb.cpus...)
	if tb.haproxy != nil {
		if err := pinTask(tb.haproxy.Process.Pid, true, tb.cfg.LBCPU); err != nil {
			return m, err
		}
	}
	// Three rounds, the median kept: the machine's other work comes and
	// goes.
	var perConn []time.Duration
	var wakes []float64
	for range tcpCPURounds {
		if mode == tcpNFT {
			if err := tb.lab.flushConntrack(ctx); err != nil {
				return m, err
			}
		}
		cpu0, wake0, err := tb.lbCPU(lbPIDs)
		if err != nil {
			return m, err
		}
		_, failed, _, err := tb.conns(ctx, mode, tb.cfg.Conns, tb.cfg.TCPParallel)
		if err != nil {
			return m, err
		}
		time.Sleep(100 * time.Millisecond) // the last FIN/ACKs
		cpu1, wake1, err := tb.lbCPU(lbPIDs)
		if err != nil {
			return m, err
		}
		m.Failed += failed
		ok := tb.cfg.Conns - failed
		if ok == 0 {
			continue
		}
		m.CPUConns += ok
		perConn = append(perConn, (cpu1-cpu0)/time.Duration(ok))
		wakes = append(wakes, float64(wake1-wake0)/float64(ok))
	}
	if len(perConn) > 0 {
		slices.Sort(perConn)
		m.CPUPerConn = perConn[len(perConn)/2]
		m.WakesPerConn = medianF(wakes)
	}

	// Latency: the kernel's default placement.
	if err := tb.lab.defaultPlacement(); err != nil {
		return m, err
	}
	if err := pinTask(os.Getpid(), true, tb.cpus...); err != nil {
		return m, err
	}
	if tb.haproxy != nil {
		if err := pinTask(tb.haproxy.Process.Pid, true, tb.cpus...); err != nil {
			return m, err
		}
	}
	if mode == tcpNFT {
		if err := tb.lab.flushConntrack(ctx); err != nil {
			return m, err
		}
	}
	lat, failed, perReal, err := tb.conns(ctx, mode, tb.cfg.Conns, 1)
	if err != nil {
		return m, err
	}
	m.Failed += failed
	m.PerReal = perReal
	m.LatConns = len(lat)
	slices.Sort(lat)
	m.P50, m.P90, m.P99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	if total := (tcpCPURounds + 1) * tb.cfg.Conns; m.Failed > total/100 {
		return m, fmt.Errorf("%d of %d connections failed", m.Failed, total)
	}
	return m, nil
}

// lbCPU is the CPU time of the LB's NAPI threads and HAProxy's process,
// and how many times the NAPI threads were scheduled in.
func (tb *tcpBench) lbCPU(pids []int) (time.Duration, uint64, error) {
	var sum time.Duration
	var wakes uint64
	for _, pid := range pids {
		d, n, err := threadSched(pid)
		if err != nil {
			return 0, 0, err
		}
		sum += d
		wakes += n
	}
	if tb.haproxy != nil {
		d, err := processCPU(tb.haproxy.Process.Pid)
		if err != nil {
			return 0, 0, err
		}
		sum += d
	}
	return sum, wakes, nil
}

func (tb *tcpBench) up(ctx context.Context, mode string) error {
	l := tb.lab
	switch mode {
	case tcpDirect:
		return nil
	case tcpXLB:
		return l.lb.Do(func() error {
			for _, ifn := range l.lbIfs() {
				if err := tb.dp.Attach(ifn, loader.XDPNative); err != nil {
					return err
				}
			}
			return nil
		})
	case tcpNFT:
		return l.nftUp(ctx)
	case tcpHAProxy:
		if err := nsRun(ctx, l.lb, "ip", "addr", "add", vip.String()+"/32", "dev", l.lbIn); err != nil {
			return err
		}
		return tb.startHAProxy(ctx)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func (tb *tcpBench) down(mode string) error {
	l := tb.lab
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	switch mode {
	case tcpXLB:
		for _, ifn := range l.lbIfs() {
			errs = append(errs, tb.dp.Detach(ifn))
		}
	case tcpNFT:
		errs = append(errs, l.nftDown(ctx))
	case tcpHAProxy:
		errs = append(errs, tb.stopHAProxy())
		errs = append(errs, nsRun(ctx, l.lb, "ip", "addr", "del", vip.String()+"/32", "dev", l.lbIn))
	}
	return errors.Join(errs...)
}

// haproxyConfig is the baseline HAProxy: layer 4, round robin over the
// same two reals, one thread (one LB CPU, like the others).
func haproxyConfig() string {
	return fmt.Sprintf(`global
	nbthread 1
	maxconn 400
defaults
	mode tcp
	timeout connect 2s
	timeout client 10s
	timeout server 10s
frontend vip
	bind %s:80
	default_backend farm
backend farm
	balance roundrobin
	server web1 %s:80
	server web2 %s:80
`, vip, realAddrs[0], realAddrs[1])
}

func (tb *tcpBench) startHAProxy(ctx context.Context) error {
	path := filepath.Join(tb.dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(haproxyConfig()), 0o600); err != nil {
		return err
	}
	var out bytes.Buffer
	// nsenter execs haproxy in place: the PID is haproxy's. -db: stay in
	// the foreground, no daemon to hunt down.
	cmd := tb.lab.lb.Command(ctx, "haproxy", "-f", path, "-db")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start haproxy: %w", err)
	}
	tb.haproxy = cmd
	deadline := time.Now().Add(5 * time.Second)
	for {
		var c net.Conn
		err := tb.lab.gen.Do(func() (err error) {
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(vip, 80).String(), 500*time.Millisecond)
			return err
		})
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy not answering on %s:80: %v: %s", vip, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopHAProxy stops the HAProxy this run started, by its PID.
func (tb *tcpBench) stopHAProxy() error {
	cmd := tb.haproxy
	if cmd == nil {
		return nil
	}
	tb.haproxy = nil
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-done
		return errors.New("haproxy ignored SIGTERM; killed")
	}
}

// conns makes n connections from the client, par at a time, and times
// each from connect to close. It returns the latencies of the connections
// that worked, how many failed, and which real answered.
func (tb *tcpBench) conns(ctx context.Context, mode string, n, par int) ([]time.Duration, int, map[string]int, error) {
	var (
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, n)
		perReal = map[string]int{}
		failed  int
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	req := []byte("GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				d, got, err := tb.conn(ctx, tcpTarget(mode, i), req, buf)
				mu.Lock()
				if err != nil {
					failed++
				} else {
					lat = append(lat, d)
					perReal[got]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, err
	}
	return lat, failed, perReal, nil
}

// conn makes one connection and request; it returns the time from connect
// to close and the name of the real that answered.
func (tb *tcpBench) conn(ctx context.Context, to netip.AddrPort, req, buf []byte) (time.Duration, string, error) {
	var start time.Time
	var c net.Conn
	err := tb.lab.gen.Do(func() (err error) {
		d := net.Dialer{Timeout: 2 * time.Second}
		start = time.Now()
		c, err = d.DialContext(ctx, "tcp", to.String())
		return err
	})
	if err != nil {
		return 0, "", err
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	got, err := exchange(c, req, buf)
	c.Close()
	return time.Since(start), got, err
}

// exchange sends an HTTP/1.0 request and reads the response to EOF; it
// returns the body (the name of the web server that answered).
func exchange(c net.Conn, req, buf []byte) (string, error) {
	if _, err := c.Write(req); err != nil {
		return "", err
	}
	n := 0
	for {
		if n == len(buf) {
			return "", errors.New("response too long")
		}
		k, err := c.Read(buf[n:])
		n += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	resp := string(buf[:n])
	if !strings.HasPrefix(resp, "HTTP/1.0 200") && !strings.HasPrefix(resp, "HTTP/1.1 200") {
		return "", fmt.Errorf("response %.40q", resp)
	}
	_, body, ok := strings.Cut(resp, "\r\n\r\n")
	if !ok {
		return "", fmt.Errorf("response without body %.40q", resp)
	}
	return body, nil
}
