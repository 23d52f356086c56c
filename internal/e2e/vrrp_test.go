package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/notify/notifytest"
	"github.com/xlb/xlb/internal/testutil"
)

// TestTrackScriptNotifyAndMail: lb1 tracks a vrrp_script (a maintenance
// file, weight -60); when it fails lb1's priority drops below lb2's, lb2
// preempts, runs its notify_master script and mails the change through
// smtp_server (a sink in lb2's namespace); when it passes again lb1 takes
// both addresses back.
func TestTrackScriptNotifyAndMail(t *testing.T) {
	e := newEnv(t, 2, false)
	var sink *notifytest.SMTPSink
	testutil.Must(t, e.topo.LBs[1].Do(func() error {
		sink = notifytest.StartSMTPSink(t, notifytest.SinkOptions{})
		return nil
	}))
	maint := filepath.Join(e.dir, "maintenance")
	flag := filepath.Join(e.dir, "lb2-became-master")
	script := fmt.Sprintf("\n[[vrrp_script]]\nname = \"chk_maint\"\nscript = \"/usr/bin/test ! -e %s\"\ninterval = \"200ms\"\nweight = -60\n", maint)

	lb1 := e.configFor(0, "lb1.toml",
		`virtual_ipaddress = ["203.0.113.10/24"]`, `virtual_ipaddress = ["203.0.113.10/24"]`+"\ntrack_script = [\"chk_maint\"]",
		`virtual_ipaddress = ["192.0.2.1/24"]`, `virtual_ipaddress = ["192.0.2.1/24"]`+"\ntrack_script = [\"chk_maint\"]")
	rewrite(t, lb1, func(s string) string { return s + script })
	lb2 := e.configFor(1, "lb2.toml",
		`smtp_server = "localhost"`, fmt.Sprintf("smtp_server = %q", sink.Addr()),
		`virtual_ipaddress = ["203.0.113.10/24"]`, `virtual_ipaddress = ["203.0.113.10/24"]`+fmt.Sprintf("\nnotify_master = \"/usr/bin/touch %s\"\nsmtp_alert = true", flag))
	e.startXlbd(0, lb1)
	e.startXlbd(1, lb2)
	e.waitVRRP(0, "MASTER", 10*time.Second)
	e.waitVRRP(1, "BACKUP", 10*time.Second)

	testutil.Must(t, os.WriteFile(maint, nil, 0o600))
	took := e.waitVRRP(1, "MASTER", 10*time.Second)
	t.Logf("maintenance file: lb2 master after %s", took.Round(10*time.Millisecond))
	if p := e.statusOf(0).VRRP[0].Priority; p != 140 {
		t.Errorf("lb1 priority %d with its script failing, want 200-60 = 140", p)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(flag); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lb2's notify_master did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// lb2 mailed its start as BACKUP, then its change to MASTER.
	for i := 0; ; i++ {
		s := sink.Wait(t, 10*time.Second).Subject()
		if strings.Contains(s, "VI_PUBLIC is now MASTER") {
			t.Logf("mail: %s", s)
			break
		}
		if i == 5 {
			t.Fatalf("no mail about VI_PUBLIC becoming MASTER; last %q", s)
		}
	}
	if _, err := get(e.topo.Client, vipURL); err != nil {
		t.Errorf("through lb2: %v", err)
	}

	testutil.Must(t, os.Remove(maint))
	took = e.waitVRRP(0, "MASTER", 10*time.Second)
	t.Logf("maintenance over: lb1 master again after %s", took.Round(10*time.Millisecond))
	e.waitVRRP(1, "BACKUP", 5*time.Second)
}

// TestTrackFileMovesPriority: lb1's instances track a [[track_file]]
// (weight -1, created by init_file): writing 70 to it lowers lb1 to 130,
// below lb2's 150, and lb2 takes over; 0 gives lb1 its addresses back;
// 300 (≤ -254 once weighted) puts lb1 in FAULT.
func TestTrackFileMovesPriority(t *testing.T) {
	e := newEnv(t, 2, false)
	prio := filepath.Join(e.dir, "prio")
	block := fmt.Sprintf("\n[[track_file]]\nname = \"prio\"\nfile = %q\nweight = -1\ninit_file = true\n", prio)
	lb1 := e.configFor(0, "lb1.toml",
		`virtual_ipaddress = ["203.0.113.10/24"]`, `virtual_ipaddress = ["203.0.113.10/24"]`+"\ntrack_file = [\"prio\"]",
		`virtual_ipaddress = ["192.0.2.1/24"]`, `virtual_ipaddress = ["192.0.2.1/24"]`+"\ntrack_file = [\"prio\"]")
	rewrite(t, lb1, func(s string) string { return s + block })
	e.startXlbd(0, lb1)
	e.startXlbd(1, e.configFor(1, "lb2.toml"))
	e.waitVRRP(0, "MASTER", 10*time.Second)
	e.waitVRRP(1, "BACKUP", 10*time.Second)
	if b, err := os.ReadFile(prio); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Fatalf("init_file: %q, %v", b, err)
	}

	write := func(v string) { testutil.Must(t, os.WriteFile(prio, []byte(v+"\n"), 0o644)) }
	write("70")
	took := e.waitVRRP(1, "MASTER", 10*time.Second)
	t.Logf("track file 70: lb2 master after %s", took.Round(10*time.Millisecond))
	if p := e.statusOf(0).VRRP[0].Priority; p != 130 {
		t.Errorf("lb1 priority %d, want 200 - 70 = 130", p)
	}
	e.waitVRRP(0, "BACKUP", 5*time.Second)

	write("0")
	took = e.waitVRRP(0, "MASTER", 10*time.Second)
	t.Logf("track file 0: lb1 master again after %s", took.Round(10*time.Millisecond))
	e.waitVRRP(1, "BACKUP", 5*time.Second)

	write("300")
	e.waitVRRP(0, "FAULT", 5*time.Second)
	e.waitVRRP(1, "MASTER", 10*time.Second)
	if _, err := get(e.topo.Client, vipURL); err != nil {
		t.Errorf("through lb2 while lb1 is in FAULT: %v", err)
	}
}
