// Command lab runs xlb's demo: the seed's network (a client, an upstream
// router, a director, two web servers) in network namespaces, with xlbd
// balancing real HTTP between the web servers.
//
//	go run ./tools/lab demo [--bin DIR]   build the lab, show xlb at work, clean up
//	go run ./tools/lab down               remove a lab left behind by a killed demo
//
// Everything stays inside namespaces named xlb-*, joined by veth pairs;
// nothing touches the host's interfaces. Needs root.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/internal/lab"
	"net/netip"
)

//go:embed xlb.toml
var labConfig string

const prefix = "xlb-"

// Per director: pin directory and control socket.
var (
	pins  = []string{"/sys/fs/bpf/xlb-demo-lb1", "/sys/fs/bpf/xlb-demo-lb2"}
	socks = []string{"/run/xlb/demo-lb1.sock", "/run/xlb/demo-lb2.sock"}
)

func main() {
	fs := flag.NewFlagSet("lab", flag.ExitOnError)
	bin := fs.String("bin", "bin", "directory holding xlbd and xlbctl")
	cmd := "demo"
	args := os.Args[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs.Parse(args)
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "lab: needs root (network namespaces, XDP): sudo make demo")
		os.Exit(1)
	}
	var err error
	switch cmd {
	case "demo":
		err = demo(*bin)
	case "down":
		err = down()
	default:
		err = fmt.Errorf("unknown command %q: want demo or down", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

// down removes namespaces and pins a killed demo left behind.
func down() error {
	entries, _ := os.ReadDir("/run/netns")
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := exec.Command("ip", "netns", "delete", e.Name()).Run(); err != nil {
				errs = append(errs, fmt.Errorf("delete netns %s: %w", e.Name(), err))
			}
		}
	}
	for i := range pins {
		if err := os.RemoveAll(pins[i]); err != nil {
			errs = append(errs, err)
		}
		os.Remove(socks[i])
	}
	return errors.Join(errs...)
}

func step(format string, args ...any) {
	fmt.Printf("\n\033[1m== "+format+"\033[0m\n", args...)
}

func demo(bin string) (err error) {
	xlbd, xlbctl := filepath.Join(bin, "xlbd"), filepath.Join(bin, "xlbctl")
	for _, b := range []string{xlbd, xlbctl} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s: %w (run `make build` first)", b, err)
		}
	}
	step("building the lab: client 198.51.100.0/24 -- router -- directors lb1, lb2 (VIP %s, farm gateway %s) -- web1, web2", lab.VIP, lab.FarmGateway)
	topo, err := lab.NewTopology(lab.TopologyOptions{Prefix: prefix, LBs: 2})
	if err != nil {
		return fmt.Errorf("%w (a previous demo left its lab? `go run ./tools/lab down`)", err)
	}
	defer func() {
		step("cleaning up")
		if cerr := topo.Close(); cerr != nil && err == nil {
			err = cerr
		}
		for _, p := range pins {
			os.RemoveAll(p)
		}
	}()
	srv := &lab.Servers{}
	defer srv.Close()
	for i, w := range topo.Webs {
		if err := srv.ServeWeb(w, fmt.Sprintf("web%d", i+1), lab.WebAddrs[i]); err != nil {
			return err
		}
	}
	if err := srv.ServeWhoAmI(topo.Inet, lab.InetAddr+":8080"); err != nil {
		return err
	}
	// More client addresses, to show persistence per client.
	for i := 11; i <= 18; i++ {
		if err := topo.Client.AddAddr("eth0", fmt.Sprintf("198.51.100.%d/24", i)); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "xlb-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cfgs []string
	for i := range 2 {
		r := []string{
			`bpffs = "/sys/fs/bpf/xlb"`, fmt.Sprintf("bpffs = %q", pins[i]),
			`control_socket = "/run/xlb/xlbd.sock"`, fmt.Sprintf("control_socket = %q", socks[i]),
			`delay_loop = "30s"`, `delay_loop = "2s"`,
		}
		if i == 1 { // lb2: the same file, BACKUP with priority 150, as in the seed
			r = append(r, `state = "MASTER"`, `state = "BACKUP"`, "priority = 200", "priority = 150", `router_id = "LVS_MASTER"`, `router_id = "LVS_BACKUP"`)
		}
		p := filepath.Join(dir, fmt.Sprintf("lb%d.toml", i+1))
		if err := os.WriteFile(p, []byte(strings.NewReplacer(r...).Replace(labConfig)), 0o600); err != nil {
			return err
		}
		cfgs = append(cfgs, p)
	}

	step("xlbd check --config lb1.toml  (tools/lab/xlb.toml: the seed's keepalived.conf + iptables.rules in TOML)")
	if err := run(topo.LBs[0].Command(context.Background(), xlbd, "check", "--config", cfgs[0])); err != nil {
		return err
	}

	step("starting xlbd on lb1 (VRRP MASTER, priority 200) and lb2 (BACKUP, 150)")
	var daemons []*exec.Cmd
	defer func() {
		for i, d := range daemons {
			d.Process.Signal(syscall.SIGTERM)
			d.Wait()
			if err != nil {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("lb%d.log", i+1)))
				fmt.Fprintf(os.Stderr, "lb%d xlbd logs:\n%s", i+1, b)
			}
		}
	}()
	for i := range 2 {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("lb%d.log", i+1)))
		if err != nil {
			return err
		}
		defer logf.Close()
		d := topo.LBs[i].Command(context.Background(), xlbd, "--config", cfgs[i], "--log-format", "text")
		d.Stdout, d.Stderr = logf, logf
		if err := d.Start(); err != nil {
			return err
		}
		daemons = append(daemons, d)
	}
	ctl := func(lb int, args ...string) error {
		return run(exec.Command(xlbctl, append([]string{"--socket", socks[lb]}, args...)...))
	}
	if err := waitFor(20*time.Second, func() bool { return vrrpState(socks[0]) == "MASTER" && vrrpState(socks[1]) == "BACKUP" }); err != nil {
		return fmt.Errorf("directors did not settle (lb1 %s, lb2 %s): %w", vrrpState(socks[0]), vrrpState(socks[1]), err)
	}
	fmt.Println("lb1 is VRRP master of both addresses, lb2 backup; health checks (HTTP_GET, SSL_GET) running")
	time.Sleep(time.Second)

	step("8 clients (198.51.100.11-18) each GET http://%s/", lab.VIP)
	count := map[string]int{}
	for i := 11; i <= 18; i++ {
		src := fmt.Sprintf("198.51.100.%d", i)
		body, err := getFrom(topo.Client, src, "http://"+lab.VIP+"/")
		if err != nil {
			return err
		}
		count[body]++
		fmt.Printf("  client %s -> answered by %s\n", src, body)
	}
	fmt.Printf("  balanced: %v\n", count)

	step("persistence_timeout 50s: client 198.51.100.11 comes back 5 times")
	for range 5 {
		body, err := getFrom(topo.Client, "198.51.100.11", "http://"+lab.VIP+"/")
		if err != nil {
			return err
		}
		fmt.Printf("  198.51.100.11 -> %s\n", body)
	}

	step("HTTPS through the VIP (virtual_server %s 443)", lab.VIP)
	body, err := getFrom(topo.Client, "198.51.100.12", "https://"+lab.VIP+"/")
	if err != nil {
		return err
	}
	fmt.Printf("  https://%s/ -> %s\n", lab.VIP, body)

	step("masquerade: web1 (192.0.2.100) fetches http://%s:8080/ on the internet side", lab.InetAddr)
	seen, err := getFrom(topo.Webs[0], "", "http://"+lab.InetAddr+":8080/")
	if err != nil {
		return err
	}
	fmt.Printf("  the internet host sees the farm as %s (lb1's public address)\n", seen)

	step("xlbctl status (lb1)")
	if err := ctl(0, "status"); err != nil {
		return err
	}
	step("xlbctl conns (lb1)")
	if err := ctl(0, "conns", "--limit", "5"); err != nil {
		return err
	}
	step("bpftool map dump pinned %s/conntrack  (first entry)", pins[0])
	out, err := exec.Command("bpftool", "map", "dump", "pinned", pins[0]+"/conntrack").Output()
	if err != nil {
		return fmt.Errorf("bpftool: %w", err)
	}
	fmt.Println(firstEntry(string(out)))

	step("failover: a download is running through lb1; lb1's links go down; lb2 takes the VIP and the farm's gateway")
	type download struct {
		n   int64
		err error
	}
	dl := make(chan download, 1)
	go func() {
		resp, err := lab.HTTPClientFrom(topo.Client, netipMust("198.51.100.17"), time.Minute).Get("http://" + lab.VIP + "/stream?n=60&every=100ms")
		if err != nil {
			dl <- download{err: err}
			return
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		dl <- download{n, err}
	}()
	time.Sleep(time.Second)
	failed := time.Now()
	for _, ifn := range []string{"eth0", "eth1"} {
		if err := topo.LBs[0].Down(ifn); err != nil {
			return err
		}
	}
	if err := waitFor(10*time.Second, func() bool { return vrrpState(socks[1]) == "MASTER" }); err != nil {
		return fmt.Errorf("lb2 did not take over: %w", err)
	}
	fmt.Printf("  lb2 is master after %s\n", time.Since(failed).Round(10*time.Millisecond))
	for i := 13; i <= 16; i++ {
		src := fmt.Sprintf("198.51.100.%d", i)
		body, err := getFrom(topo.Client, src, "http://"+lab.VIP+"/")
		if err != nil {
			return fmt.Errorf("through lb2: %w", err)
		}
		fmt.Printf("  client %s -> answered by %s (through lb2)\n", src, body)
	}
	seen, err = getFrom(topo.Webs[0], "", "http://"+lab.InetAddr+":8080/")
	if err != nil {
		return err
	}
	fmt.Printf("  the farm now goes out through lb2: the internet host sees %s\n", seen)
	if d := <-dl; d.err != nil || d.n != 60*64<<10 {
		return fmt.Errorf("the download across the failover got %d of %d bytes: %v", d.n, 60*64<<10, d.err)
	}
	fmt.Printf("  the download that started through lb1 finished through lb2: %d bytes, no reset (connection sync)\n", 60*64<<10)
	step("xlbctl status (lb2)")
	if err := ctl(1, "status"); err != nil {
		return err
	}

	step("demo done: xlb balanced real HTTP/HTTPS in XDP, kept persistent clients, masqueraded the farm, and failed over")
	return nil
}

// vrrpState is a director's VRRP state if all its instances agree.
func vrrpState(sock string) string {
	var st api.Status
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := api.NewClient(sock).Do(ctx, "GET", api.PathStatus, nil, nil, &st); err != nil || len(st.VRRP) == 0 {
		return "down"
	}
	state := st.VRRP[0].State
	for _, v := range st.VRRP {
		if v.State != state {
			return "mixed"
		}
	}
	return state
}

func run(c *exec.Cmd) error {
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	return c.Run()
}

func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func getFrom(ns *lab.NS, src, url string) (string, error) {
	var c = lab.HTTPClient(ns, 5*time.Second)
	if src != "" {
		c = lab.HTTPClientFrom(ns, netipMust(src), 5*time.Second)
	}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// firstEntry cuts bpftool's JSON-ish dump after its first entry.
func firstEntry(s string) string {
	if i := strings.Index(s, "},{"); i > 0 {
		return s[:i+1] + ",\n  ...]"
	}
	return s
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
