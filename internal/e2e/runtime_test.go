package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xlb/xlb/internal/lab"
)

func (e *env) xlbctl(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, xlbctlPath, append([]string{"--socket", e.sock[0]}, args...)...)
}

// metric reads one sample from xlbd's /metrics.
func (e *env) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: unixDialer(e.sock[0])}}
	resp, err := c.Get("http://xlbd/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestDrainLive drains a real under a load of short and long connections:
// after the command returns no new connection lands on it, no established
// one is reset, and --wait returns when the long ones have ended.
func TestDrainLive(t *testing.T) {
	e := newEnv(t, 1, false)
	e.startXlbd(0, e.config("xlb.toml", `persistence_timeout = "50s"`, `persistence_timeout = 0`))
	e.waitUp(10 * time.Second)
	web1 := lab.WebAddrs[0] + ":80"
	svc := lab.VIP + ":80"

	// Long connections: 6 streams of 30 × 64 KiB, one chunk per 100 ms.
	type result struct {
		n   int64
		err error
	}
	var wg sync.WaitGroup
	results := make(chan result, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := stream(e, 30, 100*time.Millisecond)
			results <- result{n, err}
		}()
	}
	// Wait for web1 to hold some of them.
	for deadline := time.Now().Add(10 * time.Second); e.status().Services[0].Reals[0].ActiveConns == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no long connection on web1 to drain: %+v", e.status().Services[0].Reals)
		}
		time.Sleep(50 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := e.xlbctl(ctx, "drain", svc, web1, "--wait", "--timeout", "20s")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() { // the first line: the drain is in place
		t.Fatal("xlbctl drain printed nothing")
	}
	t.Logf("xlbctl: %s", sc.Text())
	drainedAt := time.Now()

	if v := e.metric(t, "xlb_real_drained", map[string]string{"real": web1}); v != 1 {
		t.Errorf("xlb_real_drained = %v, want 1", v)
	}
	for range 20 {
		body, err := get(e.topo.Client, vipURL)
		if err != nil {
			t.Fatal(err)
		}
		if body != "web2" {
			t.Fatalf("a new connection reached the drained web1 %s after the command returned", time.Since(drainedAt))
		}
	}
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xlbctl drain --wait: %v\n%s", err, rest.String())
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || r.n != 30*64<<10 {
			t.Errorf("a long connection got %d of %d bytes: %v", r.n, 30*64<<10, r.err)
		}
	}
	if !strings.Contains(rest.String(), "drained") {
		t.Errorf("--wait output:\n%s", rest.String())
	}
	t.Logf("drain --wait returned after %s:\n%s", time.Since(drainedAt).Round(time.Millisecond), rest.String())

	t.Run("weight_shifts_the_distribution", func(t *testing.T) {
		if out, err := e.xlbctl(ctx, "undrain", svc, web1).CombinedOutput(); err != nil {
			t.Fatalf("undrain: %v %s", err, out)
		}
		if out, err := e.xlbctl(ctx, "weight", svc, web1, "3").CombinedOutput(); err != nil {
			t.Fatalf("weight: %v %s", err, out)
		}
		count := map[string]int{}
		for range 40 {
			body, err := get(e.topo.Client, vipURL)
			if err != nil {
				t.Fatal(err)
			}
			count[body]++
		}
		// wlc with idle reals at weights 3:1 gives 30:10.
		if count["web1"] < 26 || count["web1"] > 34 {
			t.Errorf("weights 3:1 gave %v", count)
		}
		if v := e.metric(t, "xlb_real_weight", map[string]string{"real": web1}); v != 3 {
			t.Errorf("xlb_real_weight = %v", v)
		}
	})

	t.Run("cli_errors", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"drain", "1.2.3"}, 2, "want VIP:PORT REAL:PORT"},
			{[]string{"drain", svc, "192.0.2.7"}, 2, "want IP:PORT"},
			{[]string{"weight", svc, web1, "heavy"}, 2, "want an integer"},
			{[]string{"drain", svc, "192.0.2.7:80"}, 1, "no such real server"},
			{[]string{"drain", lab.VIP + ":8443", web1}, 1, "no such virtual server"},
		} {
			out, err := e.xlbctl(ctx, c.args...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != c.code || !strings.Contains(string(out), c.msg) {
				t.Errorf("xlbctl %v: exit %d, output %q; want exit %d and %q", c.args, code, out, c.code, c.msg)
			}
		}
	})
}
