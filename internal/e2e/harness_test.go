// Package e2e runs xlbd as a process in the lab topology (network
// namespaces joined by veth pairs) and drives real TCP, HTTP and UDP
// through it.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
)

// xlbdPath and xlbctlPath are the binaries built once for the package.
var xlbdPath, xlbctlPath string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		if testing.Short() || os.Geteuid() != 0 {
			return m.Run() // every test skips itself with the reason
		}
		dir, err := os.MkdirTemp("", "xlb-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		xlbdPath, xlbctlPath = filepath.Join(dir, "xlbd"), filepath.Join(dir, "xlbctl")
		out, err := exec.Command("go", "build", "-race", "-o", dir+"/", "github.com/xlb/xlb/cmd/xlbd", "github.com/xlb/xlb/cmd/xlbctl").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build xlbd, xlbctl: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// env is one lab: the topology, servers on the web hosts and the router,
// and the files of one xlbd.
type env struct {
	t    *testing.T
	topo *lab.Topology
	srv  *lab.Servers
	dir  string
	// per director: pin directory and control socket
	pins []string
	sock []string
}

// newEnv builds the lab with one or two directors and starts the
// servers: on each web host HTTP on :80 (body "webN", and
// /icons/unknown.gif), HTTPS on :443, a UDP echo on :5300 answering
// "webN", and on the router an HTTP server on :8080 that answers with the
// address it sees the client at.
//
// slowness, if given, is each web server's /work slowness factor.
func newEnv(t *testing.T, lbs int, staticVIPs bool, slowness ...float64) *env {
	t.Helper()
	testutil.RequireNetNSTests(t)
	topo, err := lab.NewTopology(lab.TopologyOptions{Prefix: lab.UniqueName("xe") + "-", LBs: lbs, StaticVIPs: staticVIPs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
	})
	e := &env{t: t, topo: topo, dir: t.TempDir()}
	for i := range lbs {
		pins := filepath.Join("/sys/fs/bpf", lab.UniqueName("xlbt-"))
		e.pins = append(e.pins, pins)
		e.sock = append(e.sock, filepath.Join(e.dir, fmt.Sprintf("lb%d.sock", i+1)))
		t.Cleanup(func() { os.RemoveAll(pins) })
	}
	srv := &lab.Servers{}
	e.srv = srv
	t.Cleanup(func() { srv.Close() })
	for i, w := range topo.Webs {
		slow := 1.0
		if i < len(slowness) {
			slow = slowness[i]
		}
		testutil.Must(t, srv.ServeWebSlow(w, fmt.Sprintf("web%d", i+1), lab.WebAddrs[i], slow))
	}
	testutil.Must(t, srv.ServeWhoAmI(topo.Inet, lab.InetAddr+":8080"))
	return e
}

// httpClient makes requests from ns, one new connection each.
func httpClient(ns *lab.NS, timeout time.Duration) *http.Client { return lab.HTTPClient(ns, timeout) }

// get fetches url from ns and returns the body.
func get(ns *lab.NS, url string) (string, error) {
	resp, err := httpClient(ns, 5*time.Second).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}

// config renders lb1's configuration; see configFor.
func (e *env) config(name string, replace ...string) string {
	e.t.Helper()
	return e.configFor(0, name, replace...)
}

// configFor renders director i's configuration for this env: the shipped
// tools/lab/xlb.toml with this run's pin directory and socket, lb2's state
// and priority (BACKUP, 150, as the seed says), and the replacements
// given (old, new pairs).
func (e *env) configFor(i int, name string, replace ...string) string {
	e.t.Helper()
	b, err := os.ReadFile("../../tools/lab/xlb.toml")
	if err != nil {
		e.t.Fatal(err)
	}
	s := strings.NewReplacer(
		`bpffs = "/sys/fs/bpf/xlb"`, fmt.Sprintf("bpffs = %q", e.pins[i]),
		`control_socket = "/run/xlb/xlbd.sock"`, fmt.Sprintf("control_socket = %q", e.sock[i]),
		// Health checks at a lab's pace.
		`delay_loop = "30s"`, `delay_loop = "1s"`,
		`connect_timeout = "20s"`, `connect_timeout = "1s"`,
		`delay_before_retry = "30s"`, `delay_before_retry = "200ms"`,
		"retry = 10 ", "retry = 1 ",
		"retry = 10\n", "retry = 1\n",
	).Replace(string(b))
	if i == 1 {
		s = strings.NewReplacer(`state = "MASTER"`, `state = "BACKUP"`, "priority = 200", "priority = 150", `router_id = "LVS_MASTER"`, `router_id = "LVS_BACKUP"`).Replace(s)
	}
	s = strings.NewReplacer(replace...).Replace(s)
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// xlbd is a running xlbd process.
type xlbd struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startXlbd runs xlbd on director i with the configuration file and
// waits until its control API answers.
func (e *env) startXlbd(i int, config string, args ...string) *xlbd {
	e.t.Helper()
	ns := e.topo.LBs[i]
	x := &xlbd{t: e.t, logs: &syncBuffer{}, done: make(chan struct{})}
	x.cmd = ns.Command(context.Background(), xlbdPath, append([]string{"--config", config, "--log-format", "text"}, args...)...)
	x.cmd.Stdout, x.cmd.Stderr = x.logs, x.logs
	if err := x.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { x.err = x.cmd.Wait(); close(x.done) }()
	e.t.Cleanup(func() {
		x.signal(syscall.SIGTERM)
		select {
		case <-x.done:
		case <-time.After(10 * time.Second):
			x.cmd.Process.Kill()
			<-x.done
		}
		if e.t.Failed() {
			e.t.Logf("xlbd logs:\n%s", x.logs)
		}
	})
	c := api.NewClient(e.sock[i])
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st api.Status
		err := c.Do(context.Background(), "GET", api.PathStatus, nil, nil, &st)
		if err == nil {
			return x
		}
		select {
		case <-x.done:
			e.t.Fatalf("xlbd exited: %v\n%s", x.err, x.logs)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("xlbd not ready after 15s: %v\n%s", err, x.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (x *xlbd) signal(s os.Signal) {
	if x.cmd.Process != nil {
		x.cmd.Process.Signal(s)
	}
}

// wait waits for xlbd to exit and returns its error.
func (x *xlbd) wait(timeout time.Duration) error {
	select {
	case <-x.done:
		return x.err
	case <-time.After(timeout):
		x.t.Fatalf("xlbd still running after %s\n%s", timeout, x.logs)
		return nil
	}
}

// waitLog waits until the logs contain s.
func (x *xlbd) waitLog(s string, timeout time.Duration) {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(x.logs.String(), s) {
		if time.Now().After(deadline) {
			x.t.Fatalf("no %q in xlbd logs after %s:\n%s", s, timeout, x.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) status() api.Status {
	e.t.Helper()
	return e.statusOf(0)
}

// statusOf is director i's status.
func (e *env) statusOf(i int) api.Status {
	e.t.Helper()
	var st api.Status
	if err := api.NewClient(e.sock[i]).Do(context.Background(), "GET", api.PathStatus, nil, nil, &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// waitVRRP waits until every VRRP instance of director i is in state.
func (e *env) waitVRRP(i int, state string, timeout time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	for {
		st := e.statusOf(i)
		ok := len(st.VRRP) > 0
		for _, v := range st.VRRP {
			ok = ok && v.State == state
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			e.t.Fatalf("lb%d not %s after %s: %+v", i+1, state, timeout, st.VRRP)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitUp waits until lb1 is VRRP master and every real of every service
// is up.
func (e *env) waitUp(timeout time.Duration) {
	e.t.Helper()
	if len(e.statusOf(0).VRRP) > 0 {
		e.waitVRRP(0, "MASTER", timeout)
	}
	deadline := time.Now().Add(timeout)
	for {
		st := e.status()
		up := true
		for _, s := range st.Services {
			for _, r := range s.Reals {
				up = up && r.Health == "up"
			}
		}
		if up {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("reals not up after %s: %+v", timeout, st.Services)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// udpAsk sends msg from ns to addr and returns the answer.
func udpAsk(ns *lab.NS, laddr, addr, msg string) (string, netip.AddrPort, error) {
	var c *net.UDPConn
	err := ns.Do(func() (err error) {
		la, _ := net.ResolveUDPAddr("udp", laddr)
		ra, _ := net.ResolveUDPAddr("udp", addr)
		c, err = net.DialUDP("udp", la, ra)
		return err
	})
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", netip.AddrPort{}, err
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	return string(buf[:n]), from, err
}

// lines returns the lines of s containing sub.
func lines(s, sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

func unixDialer(path string) func(ctx context.Context, _, _ string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}
