package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/testutil"
)

// TestHealthChecksMoveTraffic: the seed's HTTP_GET on /icons/unknown.gif,
// at a lab's pace (delay_loop 1s, retry 1, delay_before_retry 200ms).
// web1 failing sends every new connection to web2 while web1's established
// ones complete; web1 recovering gets connections again; with both down the
// sorry server answers.
func TestHealthChecksMoveTraffic(t *testing.T) {
	e := newEnv(t, 1, false)
	// A sorry server on the farm, 192.0.2.150.
	testutil.Must(t, e.topo.Webs[1].AddAddr("eth0", "192.0.2.150/24"))
	testutil.Must(t, e.srv.ServeWeb(e.topo.Webs[1], "sorry", "192.0.2.150"))
	e.startXlbd(0, e.config("xlb.toml",
		`persistence_timeout = "50s"`, `persistence_timeout = 0`,
		"port = 80\nprotocol = \"TCP\"", "port = 80\nprotocol = \"TCP\"\nsorry_server = \"192.0.2.150:80\""))
	e.waitUp(10 * time.Second)

	answers := func(n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			body, err := get(e.topo.Client, vipURL)
			if err != nil {
				t.Fatal(err)
			}
			got[body]++
		}
		return got
	}
	waitFor := func(what string, max time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > max {
				t.Fatalf("%s: not within %s; status %+v", what, max, e.status().Services[0].Reals)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	realHealth := func(i int) string { return e.status().Services[0].Reals[i].Health }

	// A long transfer on web1 that must survive web1 leaving the pool.
	var resp *http.Response
	for range 10 {
		r, err := httpClient(e.topo.Client, time.Minute).Get(vipURL + "stream?n=30&every=100ms")
		if err != nil {
			t.Fatal(err)
		}
		if r.Header.Get("X-Server") == "web1" {
			resp = r
			break
		}
		r.Body.Close()
	}
	if resp == nil {
		t.Fatal("no stream landed on web1 in 10 tries")
	}
	done := make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && n != 30*64<<10 {
			err = fmt.Errorf("got %d of %d bytes", n, 30*64<<10)
		}
		done <- err
	}()

	e.srv.SetHealthy("web1", false)
	took := waitFor("web1 declared down", 5*time.Second, func() bool { return realHealth(0) == "down" })
	t.Logf("web1 failing its check: down after %s (delay_loop 1s + retry 1 × 200ms)", took.Round(10*time.Millisecond))
	if got := answers(10); got["web2"] != 10 {
		t.Errorf("with web1 down: %v, want all web2", got)
	}
	if err := <-done; err != nil {
		t.Errorf("the transfer in flight when web1 went down: %v", err)
	}

	e.srv.SetHealthy("web1", true)
	took = waitFor("web1 back up", 5*time.Second, func() bool { return realHealth(0) == "up" })
	t.Logf("web1 passing again: up after %s", took.Round(10*time.Millisecond))
	time.Sleep(300 * time.Millisecond) // one scheduler tick
	if got := answers(10); got["web1"] == 0 {
		t.Errorf("web1 back but gets nothing: %v", got)
	}

	e.srv.SetHealthy("web1", false)
	e.srv.SetHealthy("web2", false)
	waitFor("both down", 5*time.Second, func() bool { return realHealth(0) == "down" && realHealth(1) == "down" })
	time.Sleep(300 * time.Millisecond)
	if got := answers(5); got["sorry"] != 5 {
		t.Errorf("with every real down: %v, want the sorry server", got)
	}
	if st := e.status().Services[0]; !st.SorryActive {
		t.Errorf("status does not show the sorry server: %+v", st)
	}
}
