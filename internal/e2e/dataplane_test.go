package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/internal/lab"
)

const vipURL = "http://" + lab.VIP + "/"

// TestBalancesHTTPThroughTheVIP: requests from the client to the VIP are
// answered by both reals, which see the client's own address (LVS-NAT
// keeps it), and the answers come from the VIP (the client's TCP accepts
// them).
func TestBalancesHTTPThroughTheVIP(t *testing.T) {
	e := newEnv(t, 1, false)
	// No persistence: each connection is scheduled on its own.
	e.startXlbd(0, e.config("xlb.toml", `persistence_timeout = "50s"`, `persistence_timeout = 0`))
	e.waitUp(10 * time.Second)

	seen := map[string]int{}
	for range 20 {
		resp, err := httpClient(e.topo.Client, 5*time.Second).Get(vipURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[string(body)]++
		if c := resp.Header.Get("X-Client"); !strings.HasPrefix(c, lab.ClientAddr+":") {
			t.Errorf("real saw the client as %s, want %s", c, lab.ClientAddr)
		}
	}
	if seen["web1"] == 0 || seen["web2"] == 0 || seen["web1"]+seen["web2"] != 20 {
		t.Errorf("answers %v, want both reals", seen)
	}
	t.Logf("20 requests: %v", seen)

	t.Run("https_through_the_vip", func(t *testing.T) {
		body, err := get(e.topo.Client, "https://"+lab.VIP+"/")
		if err != nil || (body != "web1" && body != "web2") {
			t.Errorf("https: %q, %v", body, err)
		}
	})

	t.Run("bpftool_shows_readable_conntrack_entries", func(t *testing.T) {
		out, err := exec.Command("bpftool", "map", "dump", "pinned", e.pins[0]+"/conntrack").CombinedOutput()
		if err != nil {
			t.Skipf("bpftool: %v %s", err, out)
		}
		for _, field := range []string{`"client"`, `"vip_port": 80`, `"real_id"`, `"state": "CONN_`} {
			if !bytes.Contains(out, []byte(field)) {
				t.Errorf("bpftool dump of conntrack lacks %s:\n%.2000s", field, out)
			}
		}
		// reals says where a real_id goes.
		out, err = exec.Command("bpftool", "map", "dump", "pinned", e.pins[0]+"/reals").CombinedOutput()
		if err != nil {
			t.Fatalf("bpftool: %v %s", err, out)
		}
		for _, field := range []string{`"bytes": [192,0,2,100,`, `"port": 80`, `"flags": "REAL_F_AVAILABLE"`} {
			if !bytes.Contains(out, []byte(field)) {
				t.Errorf("bpftool dump of reals lacks %s:\n%.2000s", field, out)
			}
		}
	})

	t.Run("status_counts_connections", func(t *testing.T) {
		st := e.status()
		if len(st.Services) != 2 || st.Services[0].Traffic.Conns < 20 {
			t.Errorf("status %+v", st.Services)
		}
	})
}

func TestBalancesUDPThroughTheVIP(t *testing.T) {
	e := newEnv(t, 1, false)
	cfg := e.config("xlb.toml")
	b, _ := os.ReadFile(cfg)
	udp := fmt.Sprintf(`
[[virtual_server]]
address = %q
port = 5300
protocol = "UDP"
lb_algo = "rr"

[[virtual_server.real_server]]
address = %q

[[virtual_server.real_server]]
address = %q
`, lab.VIP, lab.WebAddrs[0], lab.WebAddrs[1])
	os.WriteFile(cfg, append(b, udp...), 0o600)
	e.startXlbd(0, cfg)
	e.waitUp(10 * time.Second)

	seen := map[string]bool{}
	for i := range 6 {
		ans, from, err := udpAsk(e.topo.Client, fmt.Sprintf("%s:%d", lab.ClientAddr, 41000+i), lab.VIP+":5300", "ping")
		if err != nil {
			t.Fatal(err)
		}
		if from.String() != lab.VIP+":5300" {
			t.Errorf("answer from %s, want the VIP", from)
		}
		name, _, _ := strings.Cut(ans, ":")
		seen[name] = true
	}
	if !seen["web1"] || !seen["web2"] {
		t.Errorf("answers from %v, want both reals", seen)
	}
}

func TestPersistenceKeepsAClientOnItsReal(t *testing.T) {
	e := newEnv(t, 1, false)
	e.startXlbd(0, e.config("xlb.toml"))
	e.waitUp(10 * time.Second)
	first, err := get(e.topo.Client, vipURL)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		body, err := get(e.topo.Client, vipURL)
		if err != nil {
			t.Fatal(err)
		}
		if body != first {
			t.Fatalf("persistent client moved from %s to %s", first, body)
		}
	}
}

// stream downloads n chunks of 64 KiB, one every `every`, through the VIP
// and returns how many bytes arrived.
func stream(e *env, n int, every time.Duration) (int64, error) {
	resp, err := httpClient(e.topo.Client, time.Minute).Get(fmt.Sprintf("%sstream?n=%d&every=%s", vipURL, n, every))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}

// TestRestartKeepsTransfers: a long transfer through the VIP survives an
// xlbd upgrade (SIGUSR2, then a new xlbd adopts the pinned dataplane) and
// a crash (SIGKILL, then a restart).
func TestRestartKeepsTransfers(t *testing.T) {
	e := newEnv(t, 1, false)
	cfg := e.config("xlb.toml")
	x := e.startXlbd(0, cfg)
	e.waitUp(10 * time.Second)

	const chunks = 40
	type result struct {
		n   int64
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := stream(e, chunks, 100*time.Millisecond)
		res <- result{n, err}
	}()
	time.Sleep(500 * time.Millisecond)

	x.signal(syscall.SIGUSR2)
	if err := x.wait(10 * time.Second); err != nil {
		t.Fatalf("xlbd exit after SIGUSR2: %v", err)
	}
	if _, err := os.Stat(e.pins[0] + "/conntrack"); err != nil {
		t.Fatalf("pinned conntrack gone after SIGUSR2: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // forwarding with no daemon at all
	x = e.startXlbd(0, cfg)
	time.Sleep(500 * time.Millisecond)

	x.cmd.Process.Kill()
	x.wait(10 * time.Second)
	time.Sleep(300 * time.Millisecond)
	e.startXlbd(0, cfg)

	r := <-res
	if r.err != nil || r.n != chunks*64<<10 {
		t.Fatalf("transfer got %d of %d bytes: %v", r.n, chunks*64<<10, r.err)
	}
	if !strings.Contains(x.logs.String(), "adopted pinned xdp link") {
		t.Errorf("restarted xlbd did not adopt the pinned link:\n%s", x.logs)
	}
}

// TestRejectedReloadChangesNothing: a configuration with an error is
// refused on SIGHUP and through the API; the running services stay.
func TestRejectedReloadChangesNothing(t *testing.T) {
	e := newEnv(t, 1, false)
	cfg := e.config("xlb.toml", `persistence_timeout = "50s"`, `persistence_timeout = 0`)
	x := e.startXlbd(0, cfg)
	e.waitUp(10 * time.Second)
	before := e.status()
	good, _ := os.ReadFile(cfg)

	bad := strings.Replace(string(good), `lb_algo = "wlc"`, "lb_algo = \"wlc\"\nlb_algo_typo = 1", 1)
	bad = strings.Replace(bad, `address = "192.0.2.101"`, `address = "192.0.2.199"`, 1)
	os.WriteFile(cfg, []byte(bad), 0o600)
	x.signal(syscall.SIGHUP)
	x.waitLog("reload rejected", 5*time.Second)
	if !strings.Contains(x.logs.String(), "lb_algo_typo") {
		t.Errorf("rejection does not name the key:\n%s", lines(x.logs.String(), "reload"))
	}
	err := api.NewClient(e.sock[0]).Do(context.Background(), "POST", api.PathReload, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), ":") {
		t.Errorf("API reload of a bad file: %v", err)
	}
	after := e.status()
	if after.LastReload == nil || after.LastReload.OK {
		t.Errorf("last reload %+v, want a failure", after.LastReload)
	}
	if fmt.Sprint(realsOf(before)) != fmt.Sprint(realsOf(after)) {
		t.Errorf("services changed: %v -> %v", realsOf(before), realsOf(after))
	}
	seen := map[string]bool{}
	for range 10 {
		body, err := get(e.topo.Client, vipURL)
		if err != nil {
			t.Fatal(err)
		}
		seen[body] = true
	}
	if !seen["web1"] || !seen["web2"] {
		t.Errorf("after the rejected reload answers came from %v", seen)
	}

	t.Run("a_good_reload_applies", func(t *testing.T) {
		ok := strings.Replace(string(good), `address = "192.0.2.101"`+"\nport = 80\nweight = 1", `address = "192.0.2.101"`+"\nport = 80\nweight = 0", 1)
		if ok == string(good) {
			t.Fatal("test config has no web2 weight line to change")
		}
		os.WriteFile(cfg, []byte(ok), 0o600)
		if err := api.NewClient(e.sock[0]).Do(context.Background(), "POST", api.PathReload, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		for range 6 {
			if body, err := get(e.topo.Client, vipURL); err != nil || body != "web1" {
				t.Fatalf("with web2 at weight 0: %q %v", body, err)
			}
		}
	})
}

func realsOf(st api.Status) []string {
	var out []string
	for _, s := range st.Services {
		for _, r := range s.Reals {
			out = append(out, s.Address+"->"+r.Address)
		}
	}
	return out
}

// TestMasqueradeTakesTheFarmOut: a web server reaches the router through
// the director's masquerade and is seen with the director's address.
func TestMasqueradeTakesTheFarmOut(t *testing.T) {
	e := newEnv(t, 1, false)
	e.startXlbd(0, e.config("xlb.toml"))
	e.waitUp(10 * time.Second)
	body, err := get(e.topo.Webs[0], "http://"+lab.InetAddr+":8080/")
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(body); host != lab.LBPublic[0] {
		t.Errorf("the router saw the web server as %s, want the director's %s", body, lab.LBPublic[0])
	}
}

// TestCleanStop: SIGTERM removes the XDP program, the pins and the
// gateway table.
func TestCleanStop(t *testing.T) {
	e := newEnv(t, 1, false)
	x := e.startXlbd(0, e.config("xlb.toml"))
	lb := e.topo.LBs[0]
	if l, _ := lb.Netlink().LinkByName("eth0"); l.Attrs().Xdp == nil || !l.Attrs().Xdp.Attached {
		t.Fatal("no XDP program on eth0 while running")
	}
	x.signal(syscall.SIGTERM)
	if err := x.wait(10 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, x.logs)
	}
	for _, ifn := range []string{"eth0", "eth1"} {
		l, err := lb.Netlink().LinkByName(ifn)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached {
			t.Errorf("XDP still on %s", ifn)
		}
	}
	if _, err := os.Stat(e.pins[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin dir still there: %v", err)
	}
	out, err := lb.Command(context.Background(), "nft", "list", "table", "inet", "xlb").CombinedOutput()
	if err == nil {
		t.Errorf("nft table inet xlb still there:\n%s", out)
	}
}
