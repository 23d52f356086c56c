package e2e

import (
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/testutil"
)

// waitSynced waits until director i's connection sync has the master's
// whole table.
func (e *env) waitSynced(i int, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s := e.statusOf(i).Sync; s != nil && s.Converged {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("lb%d not synced after %s: %+v", i+1, timeout, e.statusOf(i).Sync)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSyncKeepsFlowsAcrossFailover: with connection sync, a long TCP
// transfer through the VIP and a persistent client both survive lb1's
// failure (its xlbd SIGKILLed, or its links down): the transfer completes
// with no reset and the client stays on its real. The backup is restarted
// first, so what it knows came from a bulk transfer.
func TestSyncKeepsFlowsAcrossFailover(t *testing.T) {
	for _, how := range []string{"sigkill", "link_down"} {
		t.Run(how, func(t *testing.T) { syncFailover(t, how) })
	}
}

func syncFailover(t *testing.T, how string) {
	e := newEnv(t, 2, false)
	cfgs := []string{e.configFor(0, "lb1.toml"), e.configFor(1, "lb2.toml")}
	lb1 := e.startXlbd(0, cfgs[0])
	lb2 := e.startXlbd(1, cfgs[1])
	e.waitVRRP(0, "MASTER", 15*time.Second)
	e.waitVRRP(1, "BACKUP", 15*time.Second)
	e.waitUp(10 * time.Second)

	// The persistent client's real, and a transfer that will outlive lb1.
	first, err := get(e.topo.Client, vipURL)
	testutil.Must(t, err)
	resp, err := httpClient(e.topo.Client, time.Minute).Get(vipURL + "stream?n=80&every=100ms")
	testutil.Must(t, err)
	type result struct {
		n   int64
		gap time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer resp.Body.Close()
		var r result
		buf := make([]byte, 64<<10)
		last := time.Now()
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				r.n += int64(n)
				r.gap = max(r.gap, time.Since(last))
				last = time.Now()
			}
			if err != nil {
				if err != io.EOF {
					r.err = err
				}
				done <- r
				return
			}
		}
	}()

	// The backup restarts: it must get the table (this transfer's
	// connection and the client's template) by a bulk transfer.
	lb2.signal(syscall.SIGTERM)
	lb2.wait(10 * time.Second)
	lb2 = e.startXlbd(1, cfgs[1])
	e.waitSynced(1, 15*time.Second)
	e.waitVRRP(1, "BACKUP", 10*time.Second)
	if st := e.statusOf(1).Sync; st.BulkReceived == 0 || st.InstalledEntries == 0 {
		t.Fatalf("restarted backup: %+v, want a bulk transfer installed", st)
	}

	switch how {
	case "sigkill":
		lb1.cmd.Process.Kill()
		lb1.wait(5 * time.Second)
	case "link_down":
		testutil.Must(t, e.topo.LBs[0].Down("eth0"))
		testutil.Must(t, e.topo.LBs[0].Down("eth1"))
	}
	took := e.waitVRRP(1, "MASTER", 10*time.Second)

	r := <-done
	if r.err != nil || r.n != 80*64<<10 {
		t.Fatalf("transfer across the failover: %d of %d bytes, %v", r.n, 80*64<<10, r.err)
	}
	t.Logf("lb1 %s: lb2 master after %s; the transfer went on, longest stall %s", how, took.Round(time.Millisecond), r.gap.Round(time.Millisecond))
	for range 5 {
		body, err := get(e.topo.Client, vipURL)
		if err != nil {
			t.Fatal(err)
		}
		if body != first {
			t.Fatalf("the persistent client moved from %s to %s after the failover", first, body)
		}
	}
	if st := e.statusOf(1).Sync; !st.Master {
		t.Errorf("lb2 sync role %+v, want master", st)
	}
}
