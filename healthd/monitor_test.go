package healthd

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/notify"
	"github.com/xlb/xlb/internal/notify/notifytest"
)

// stateScript is a MISC_CHECK that exits with the number in its state file,
// so a test drives a real by writing that file.
type stateScript struct {
	t      *testing.T
	script string
	dir    string
}

func newStateScript(t *testing.T) *stateScript {
	return &stateScript{t: t, script: writeScript(t, "state.sh", `exit $(cat "$1")`), dir: t.TempDir()}
}

// real returns a real whose only check runs the state script for key,
// starting with exit code code.
func (s *stateScript) real(key string, weight, code int) Real {
	s.set(key, code)
	return Real{
		Key:    key,
		Addr:   netip.MustParseAddrPort("192.0.2.100:80"),
		Weight: weight,
		Checks: []Check{{Type: MiscCheck, MiscPath: s.script + " " + s.path(key), Warmup: -1, MiscTimeout: 5 * time.Second}},
	}
}

func (s *stateScript) path(key string) string { return filepath.Join(s.dir, key) }

func (s *stateScript) set(key string, code int) {
	writeFileAtomic(s.t, s.path(key), strconv.Itoa(code)+"\n")
}

// logScript appends its first argument to a log file; notify scripts use
// it so the test can see which ran and in which order.
type logScript struct {
	script, log string
}

func newLogScript(t *testing.T) *logScript {
	dir := t.TempDir()
	return &logScript{script: writeScript(t, "log.sh", `echo "$1" >> "$2"`), log: filepath.Join(dir, "log")}
}

func (l *logScript) cmd(word string) string { return l.script + " " + word + " " + l.log }

func (l *logScript) lines() []string {
	b, _ := os.ReadFile(l.log)
	return strings.Fields(string(b))
}

func (l *logScript) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(l.lines(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("notify log %q, want %q", l.lines(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpReal(key string, addr netip.AddrPort, c Check) Real {
	c.Type = HTTPGet
	if c.URLs == nil {
		c.URLs = []URL{{Path: "/icons/unknown.gif", StatusCodes: []StatusRange{{200, 200}}}}
	}
	if c.Warmup == 0 {
		c.Warmup = -1
	}
	return Real{Key: key, Addr: addr, Weight: 1, Checks: []Check{c}}
}

func TestMonitorHTTPDetectionTimes(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	const (
		delayLoop = 200 * time.Millisecond
		dbr       = 50 * time.Millisecond
		retry     = 2
	)
	err := m.Set([]VirtualServer{{
		Key:       "web",
		DelayLoop: delayLoop,
		Reals:     []Real{httpReal("web1", srv.addrPort(), Check{ConnectTimeout: 100 * time.Millisecond, Retry: retry, DelayBeforeRetry: dbr})},
	}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if e, _ := ev.waitReal(t, "web1", time.Second); !e.Up || e.Weight != 1 {
		t.Fatalf("initial event %+v, want up with weight 1 (no alpha)", e)
	}
	settle(t, time.Second, "first check", func() bool { return len(srv.hitsSince(time.Time{})) > 0 })

	t0 := time.Now()
	srv.status.Store(503)
	down, td := ev.waitReal(t, "web1", 2*time.Second)
	if down.Up || down.Weight != 0 || down.Inhibited || !strings.Contains(down.Reason, "status 503") {
		t.Fatalf("down event %+v", down)
	}
	var fails []hit
	for _, h := range srv.hitsSince(t0) {
		if h.at.Before(td) && h.status == 503 {
			fails = append(fails, h)
		}
	}
	if len(fails) != retry+1 {
		t.Fatalf("down after %d failed checks (%s), want retry+1 = %d", len(fails), fmtHits(fails), retry+1)
	}
	if d := fails[0].at.Sub(t0); d > delayLoop+150*time.Millisecond {
		t.Errorf("first failed check %v after the flip, want within delay_loop %v", d, delayLoop)
	}
	for i := 1; i < len(fails); i++ {
		if gap := fails[i].at.Sub(fails[i-1].at); gap < dbr-5*time.Millisecond || gap > dbr+150*time.Millisecond {
			t.Errorf("retry %d came %v after the previous check, want delay_before_retry %v", i, gap, dbr)
		}
	}
	st := m.Status()[0].Reals[0]
	if st.Up || st.ConsecutiveFailures != retry+1 || st.LastError != "status 503 on /icons/unknown.gif" || st.LastCheck.IsZero() {
		t.Errorf("status %+v", st)
	}

	t1 := time.Now()
	srv.status.Store(200)
	up, tu := ev.waitReal(t, "web1", 2*time.Second)
	if !up.Up || up.Weight != 1 {
		t.Fatalf("up event %+v", up)
	}
	var oks int
	for _, h := range srv.hitsSince(t1) {
		if h.at.Before(tu) && h.status == 200 {
			oks++
		}
	}
	if oks != 1 {
		t.Fatalf("up after %d successful checks, want 1", oks)
	}
	if d := tu.Sub(t1); d > delayLoop+250*time.Millisecond {
		t.Errorf("up %v after recovery, want within one delay_loop", d)
	}
}

func TestMonitorTCPClosedAndSlow(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(ln)
	slow := newFlipServer(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	const (
		delayLoop = 300 * time.Millisecond
		dbr       = 50 * time.Millisecond
		timeout   = 100 * time.Millisecond
	)
	err = m.Set([]VirtualServer{{Key: "svc", DelayLoop: delayLoop, Reals: []Real{
		{Key: "tcp", Addr: addr, Weight: 1, Checks: []Check{{Type: TCPCheck, Retry: 2, DelayBeforeRetry: dbr, ConnectTimeout: timeout, Warmup: -1}}},
		httpReal("slow", slow.addrPort(), Check{Retry: 1, DelayBeforeRetry: dbr, ConnectTimeout: timeout}),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	ev.waitReal(t, "tcp", time.Second)
	ev.waitReal(t, "slow", time.Second)
	time.Sleep(50 * time.Millisecond) // past the first checks

	t0 := time.Now()
	ln.Close()
	down, td := ev.waitReal(t, "tcp", 2*time.Second)
	if down.Up || !strings.Contains(down.Reason, "connection refused") {
		t.Fatalf("tcp down event %+v", down)
	}
	if d := td.Sub(t0); d < 2*dbr || d > delayLoop+2*dbr+250*time.Millisecond {
		t.Errorf("closed port detected after %v, want between 2×delay_before_retry and delay_loop+2×delay_before_retry", d)
	}

	t1 := time.Now()
	slow.delay.Store(int64(time.Second))
	down, td = ev.waitReal(t, "slow", 3*time.Second)
	if down.Up || !strings.Contains(down.Reason, "timeout") {
		t.Fatalf("slow down event %+v", down)
	}
	// Two attempts of connect_timeout each, delay_before_retry apart.
	if d := td.Sub(t1); d < 2*timeout+dbr || d > delayLoop+2*timeout+dbr+300*time.Millisecond {
		t.Errorf("slow server detected after %v", d)
	}

	ln2, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Skipf("cannot listen on %v again: %v", addr, err)
	}
	defer ln2.Close()
	go serve(ln2)
	if up, _ := ev.waitReal(t, "tcp", 2*time.Second); !up.Up {
		t.Fatalf("tcp up event %+v", up)
	}
}

func TestMonitorAlphaAndAllCheckersMustPass(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	ss := newStateScript(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	r := httpReal("web1", srv.addrPort(), Check{Retry: 0})
	extra := ss.real("x", 1, 1) // the second checker starts failing
	r.Checks = append(r.Checks, extra.Checks...)
	err := m.Set([]VirtualServer{{Key: "web", DelayLoop: 100 * time.Millisecond, Alpha: true, Reals: []Real{r}}})
	if err != nil {
		t.Fatal(err)
	}
	if q := m.Status()[0]; q.QuorumUp || q.Reals[0].Up {
		t.Fatalf("alpha: status before any check %+v, want down", q)
	}
	start(t, m)
	if e, _ := ev.waitReal(t, "web1", time.Second); e.Up || !strings.Contains(e.Reason, "alpha") {
		t.Fatalf("initial event %+v, want down (alpha)", e)
	}
	if q := ev.waitQuorum(t, "web", time.Second); q.Up {
		t.Fatalf("initial quorum %+v, want down", q)
	}
	// HTTP passes, MISC fails: the real stays down.
	ev.none(t, 400*time.Millisecond)
	ss.set("x", 0)
	if e, _ := ev.waitReal(t, "web1", time.Second); !e.Up {
		t.Fatalf("event %+v, want up once both checkers pass", e)
	}
	if q := ev.waitQuorum(t, "web", time.Second); !q.Up || q.WeightSum != 1 {
		t.Fatalf("quorum %+v, want up with weight 1", q)
	}
	srv.status.Store(500)
	if e, _ := ev.waitReal(t, "web1", time.Second); e.Up || !strings.HasPrefix(e.Reason, "HTTP_GET") {
		t.Fatalf("event %+v, want down by HTTP_GET", e)
	}
}

func TestMonitorInhibitAndDynamicWeight(t *testing.T) {
	noLeaks(t)
	ss := newStateScript(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	r := ss.real("web1", 3, 0)
	r.Checks[0].MiscDynamic = true
	err := m.Set([]VirtualServer{{Key: "web", DelayLoop: 50 * time.Millisecond, InhibitOnFailure: true, Reals: []Real{r}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if e, _ := ev.waitReal(t, "web1", time.Second); !e.Up || e.Weight != 3 {
		t.Fatalf("initial %+v", e)
	}
	ss.set("web1", 12)
	if e, _ := ev.waitReal(t, "web1", time.Second); !e.Up || e.Weight != 10 {
		t.Fatalf("after exit 12: %+v, want weight 10", e)
	}
	ss.set("web1", 2)
	if e, _ := ev.waitReal(t, "web1", time.Second); !e.Up || e.Weight != 0 {
		t.Fatalf("after exit 2: %+v, want weight 0", e)
	}
	ss.set("web1", 0)
	if e, _ := ev.waitReal(t, "web1", time.Second); !e.Up || e.Weight != 3 {
		t.Fatalf("after exit 0: %+v, want the configured weight 3", e)
	}
	ss.set("web1", 1)
	e, _ := ev.waitReal(t, "web1", time.Second)
	if e.Up || e.Weight != 0 || !e.Inhibited || !strings.Contains(e.Reason, "exit code 1") {
		t.Fatalf("after exit 1: %+v, want down, inhibited, weight 0", e)
	}
	if st := m.Status()[0]; st.Reals[0].LastError != "exit code 1" || st.QuorumUp {
		t.Fatalf("status %+v", st)
	}
}

func TestMonitorQuorumHysteresisAndScripts(t *testing.T) {
	noLeaks(t)
	ss := newStateScript(t)
	logs := newLogScript(t)
	ev := newEvents()
	// One script worker: scripts run in the order of the transitions.
	m := New(Options{OnEvent: ev.on, ScriptWorkers: 1}, testLogger(t))
	var reals []Real
	for _, k := range []string{"a", "b", "c"} {
		r := ss.real(k, 1, 0)
		r.NotifyUp, r.NotifyDown = logs.cmd(k+"-up"), logs.cmd(k+"-down")
		reals = append(reals, r)
	}
	err := m.Set([]VirtualServer{{
		Key: "web", DelayLoop: 50 * time.Millisecond, Quorum: 2, Hysteresis: 1,
		QuorumUp: logs.cmd("quorum-up"), QuorumDown: logs.cmd("quorum-down"),
		Reals: reals,
	}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	// Initial: three reals up (weight 3 >= quorum 2 + hysteresis 1).
	var initial []Event
	for len(initial) < 4 {
		select {
		case te := <-ev.ch:
			initial = append(initial, te.ev)
		case <-time.After(time.Second):
			t.Fatalf("initial events %+v", initial)
		}
	}
	if q, ok := initial[3].(QuorumEvent); !ok || !q.Up || q.WeightSum != 3 {
		t.Fatalf("initial events %+v, want 3 reals then quorum up", initial)
	}

	step := func(real string, code int, wantQuorum *bool) {
		t.Helper()
		ss.set(real, code)
		e, _ := ev.waitReal(t, real, time.Second)
		if e.Up != (code == 0) {
			t.Fatalf("%s: event %+v", real, e)
		}
		if wantQuorum == nil {
			ev.none(t, 150*time.Millisecond)
			return
		}
		if q := ev.waitQuorum(t, "web", time.Second); q.Up != *wantQuorum {
			t.Fatalf("after %s: quorum %+v, want up=%v", real, q, *wantQuorum)
		}
	}
	up, down := true, false
	step("a", 1, nil)   // weight 2: not below quorum-hysteresis 1
	step("b", 1, nil)   // weight 1: still not below 1
	step("c", 1, &down) // weight 0: lost
	step("a", 0, nil)   // weight 1: below quorum+hysteresis 3
	step("b", 0, nil)   // weight 2
	step("c", 0, &up)   // weight 3: gained
	logs.waitFor(t, "a-down", "b-down", "c-down", "quorum-down", "a-up", "b-up", "c-up", "quorum-up")
}

func TestMonitorSMTPAlerts(t *testing.T) {
	noLeaks(t)
	sink := notifytest.StartSMTPSink(t, notifytest.SinkOptions{})
	mailer, err := notify.NewMailer(notify.MailConfig{Server: sink.Addr(), From: "keepalived@mydomain.example", To: []string{"mick@mydomain.example"}, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ss := newStateScript(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on, Mailer: mailer, RouterID: "LVS_MASTER"}, testLogger(t))
	r := ss.real("web1", 1, 0)
	r.SMTPAlert = true
	quiet := ss.real("web2", 1, 0) // no smtp_alert
	err = m.Set([]VirtualServer{{Key: "web", DelayLoop: 50 * time.Millisecond, SMTPAlert: true, Reals: []Real{r, quiet}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	ss.set("web2", 1)
	ev.waitReal(t, "web2", time.Second)
	ss.set("web1", 1)
	ev.waitReal(t, "web1", time.Second)

	got := map[string]notifytest.Message{}
	for range 2 {
		msg := sink.Wait(t, 5*time.Second)
		got[msg.Subject()] = msg
	}
	realMail, ok := got["[LVS_MASTER] Realserver web1 (192.0.2.100:80) of virtual server web - DOWN"]
	if !ok {
		t.Fatalf("no real server mail among %v", keys(got))
	}
	if !strings.Contains(realMail.Body(), "exit code 1") || !slices.Equal(realMail.To, []string{"mick@mydomain.example"}) {
		t.Fatalf("real server mail %+v", realMail)
	}
	if _, ok := got["[LVS_MASTER] Virtual server web - quorum DOWN"]; !ok {
		t.Fatalf("no quorum mail among %v", keys(got))
	}
	select {
	case msg := <-sink.Messages():
		t.Fatalf("unexpected extra mail %q (web2 has no smtp_alert)", msg.Subject())
	case <-time.After(200 * time.Millisecond):
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMonitorReloadKeepsState(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	srv.status.Store(503)
	ss := newStateScript(t)
	logs := newLogScript(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	cfg := func(delay time.Duration, retry int, path string, withB bool) []VirtualServer {
		a := httpReal("a", srv.addrPort(), Check{Retry: retry, DelayBeforeRetry: 20 * time.Millisecond, URLs: []URL{{Path: path}}})
		vs := VirtualServer{Key: "web", DelayLoop: delay, Reals: []Real{a}}
		if withB {
			b := ss.real("b", 1, 0)
			b.NotifyDown = logs.cmd("b-down")
			vs.Reals = append(vs.Reals, b)
		}
		return []VirtualServer{vs}
	}
	if err := m.Set(cfg(50*time.Millisecond, 1, "/", true)); err != nil {
		t.Fatal(err)
	}
	start(t, m)
	ev.waitReal(t, "a", time.Second) // initial up
	if e, _ := ev.waitReal(t, "a", time.Second); e.Up {
		t.Fatalf("a: %+v, want down", e)
	}
	before := m.Status()[0].Reals[0]

	// Same definition, and only scheduling retuned: no flap, state kept.
	if err := m.Set(cfg(50*time.Millisecond, 1, "/", true)); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(cfg(80*time.Millisecond, 3, "/", true)); err != nil {
		t.Fatal(err)
	}
	ev.none(t, 300*time.Millisecond)
	after := m.Status()[0].Reals[0]
	if after.Up || after.ConsecutiveFailures <= before.ConsecutiveFailures || after.Checks[0].Checks <= before.Checks[0].Checks {
		t.Fatalf("status after reload %+v, before %+v: want the same checker, still down, still counting", after, before)
	}

	// An invalid config changes nothing.
	bad := cfg(50*time.Millisecond, 1, "/", true)
	bad[0].Reals[0].Checks[0].URLs[0].Digest = "nothex"
	if err := m.Set(bad); err == nil {
		t.Fatal("invalid config accepted")
	}
	if st := m.Status(); len(st[0].Reals) != 2 || st[0].Reals[0].Up {
		t.Fatalf("status after a rejected config %+v", st)
	}

	// A changed check is a new checker: it starts up (no alpha).
	if err := m.Set(cfg(50*time.Millisecond, 1, "/other", true)); err != nil {
		t.Fatal(err)
	}
	if e, _ := ev.waitReal(t, "a", time.Second); !e.Up || e.Reason != "configuration changed" {
		t.Fatalf("a after its check changed: %+v", e)
	}
	if e, _ := ev.waitReal(t, "a", time.Second); e.Up {
		t.Fatalf("a: %+v, want down again", e)
	}

	// A removed real that was up runs its notify_down.
	if err := m.Set(cfg(50*time.Millisecond, 1, "/other", false)); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "b-down")
	if st := m.Status(); len(st[0].Reals) != 1 {
		t.Fatalf("status %+v, want one real", st)
	}
}

func TestMonitorConcurrencyBoundAndSpread(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	srv.delay.Store(int64(100 * time.Millisecond))
	m := New(Options{MaxConcurrent: 3}, testLogger(t))
	var reals []Real
	for i := range 12 {
		reals = append(reals, httpReal("r"+strconv.Itoa(i), srv.addrPort(), Check{ConnectTimeout: time.Second}))
	}
	if err := m.Set([]VirtualServer{{Key: "burst", DelayLoop: time.Second, Reals: reals}}); err != nil {
		t.Fatal(err)
	}
	stop := start(t, m)
	settle(t, 3*time.Second, "12 checks", func() bool { return len(srv.hitsSince(time.Time{})) >= 12 })
	stop()
	if got := srv.maxIn.Load(); got > 3 {
		t.Fatalf("%d checks in flight at once, bound 3", got)
	}

	// Default warmup spreads the first checks over the delay loop.
	spread := newFlipServer(t)
	m = New(Options{}, testLogger(t))
	reals = nil
	for i := range 40 {
		reals = append(reals, Real{Key: "r" + strconv.Itoa(i), Addr: spread.addrPort(), Weight: 1, Checks: []Check{{Type: HTTPGet, URLs: []URL{{Path: "/"}}}}})
	}
	if err := m.Set([]VirtualServer{{Key: "spread", DelayLoop: time.Second, Reals: reals}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	start(t, m)
	settle(t, 3*time.Second, "40 first checks", func() bool { return len(spread.hitsSince(t0)) >= 40 })
	hits := spread.hitsSince(t0)[:40]
	if span := hits[39].at.Sub(hits[0].at); span < 500*time.Millisecond {
		t.Fatalf("first checks of 40 reals within %v, want them spread over the 1s delay loop", span)
	}
}

func TestMonitorStopCancelsChecksAndRunsOmega(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	srv.delay.Store(int64(10 * time.Second))
	ss := newStateScript(t)
	logs := newLogScript(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on, ScriptWorkers: 1}, testLogger(t))
	slow := httpReal("slow", srv.addrPort(), Check{ConnectTimeout: 20 * time.Second})
	slow.NotifyDown = logs.cmd("slow-down")
	ok := ss.real("ok", 1, 0)
	ok.NotifyDown = logs.cmd("ok-down")
	other := ss.real("other", 1, 0)
	other.NotifyDown = logs.cmd("other-down")
	err := m.Set([]VirtualServer{
		{Key: "omega", Omega: true, DelayLoop: 50 * time.Millisecond, QuorumDown: logs.cmd("quorum-down"), Reals: []Real{slow, ok}},
		{Key: "plain", DelayLoop: 50 * time.Millisecond, QuorumDown: logs.cmd("plain-quorum-down"), Reals: []Real{other}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, m)
	settle(t, 2*time.Second, "slow check in flight", func() bool { return srv.inflight.Load() > 0 })
	t0 := time.Now()
	stop()
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("stop took %v with a check in flight", d)
	}
	// Omega: the up reals' notify_down and quorum_down ran, in order; the
	// service without omega ran nothing.
	logs.waitFor(t, "slow-down", "ok-down", "quorum-down")
	if st := m.Status(); !st[0].Reals[0].Up {
		t.Fatalf("the cancelled check counted as a failure: %+v", st[0].Reals[0])
	}
}

func TestMonitorRunTwice(t *testing.T) {
	m := New(Options{}, nil)
	start(t, m)
	settle(t, time.Second, "running", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.running
	})
	if err := m.Run(t.Context()); err != ErrRunning {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Real{Key: "r", Addr: netip.MustParseAddrPort("192.0.2.1:80"), Weight: 1}
	withCheck := func(c Check) []VirtualServer {
		r := ok
		r.Checks = []Check{c}
		return []VirtualServer{{Key: "v", Reals: []Real{r}}}
	}
	for _, tc := range []struct {
		name string
		vss  []VirtualServer
		want string
	}{
		{"duplicate service", []VirtualServer{{Key: "v"}, {Key: "v"}}, "duplicate key"},
		{"empty service key", []VirtualServer{{}}, "empty key"},
		{"duplicate real", []VirtualServer{{Key: "v", Reals: []Real{ok, ok}}}, `real_server "r": duplicate key`},
		{"real without address", []VirtualServer{{Key: "v", Reals: []Real{{Key: "r"}}}}, "no address"},
		{"negative weight", []VirtualServer{{Key: "v", Reals: []Real{{Key: "r", Addr: ok.Addr, Weight: -1}}}}, "negative weight"},
		{"bad notify quoting", []VirtualServer{{Key: "v", QuorumUp: `/x "open`}}, "quorum_up"},
		{"http without url", withCheck(Check{Type: HTTPGet}), "no url"},
		{"bad digest", withCheck(Check{Type: HTTPGet, URLs: []URL{{Path: "/", Digest: "abc"}}}), "not an MD5"},
		{"bad status range", withCheck(Check{Type: HTTPGet, URLs: []URL{{Path: "/", StatusCodes: []StatusRange{{300, 200}}}}}), "reversed"},
		{"path with blank", withCheck(Check{Type: HTTPGet, URLs: []URL{{Path: "/a b"}}}), "blanks"},
		{"misc without path", withCheck(Check{Type: MiscCheck}), "no misc_path"},
		{"unknown type", withCheck(Check{}), "unknown checker type"},
		{"negative retry", withCheck(Check{Type: TCPCheck, Retry: -1}), "negative retry"},
		{"verify on plain http", withCheck(Check{Type: HTTPGet, TLSVerify: true, URLs: []URL{{Path: "/"}}}), "only applies to SSL_GET"},
		{"bindto family", withCheck(Check{Type: TCPCheck, BindTo: netip.MustParseAddr("2001:db8::1")}), "different families"},
		{"missing ca file", withCheck(Check{Type: SSLGet, TLSVerify: true, CAFile: "/nonexistent/ca.pem", URLs: []URL{{Path: "/"}}}), "ca file"},
		{"bad http_protocol", withCheck(Check{Type: HTTPGet, HTTPProtocol: "0.9", URLs: []URL{{Path: "/"}}}), `http_protocol "0.9"`},
		{"bad regex", withCheck(Check{Type: HTTPGet, URLs: []URL{{Path: "/", Regex: `(?=x)`}}}), "RE2"},
		{"regex_no_match alone", withCheck(Check{Type: HTTPGet, URLs: []URL{{Path: "/", RegexNoMatch: true}}}), "regex_no_match without regex"},
		{"bad dns type", withCheck(Check{Type: DNSCheck, DNSType: "PTR"}), `type "PTR"`},
		{"bad dns name", withCheck(Check{Type: DNSCheck, DNSName: "a..b"}), "empty label"},
		{"bad payload", withCheck(Check{Type: UDPCheck, Payload: "xx"}), "payload"},
		{"reply data without require_reply", withCheck(Check{Type: UDPCheck, ReplyData: "00"}), "without require_reply"},
		{"bad reply data", withCheck(Check{Type: UDPCheck, RequireReply: true, ReplyData: "0g"}), "require_reply"},
		{"reply lengths reversed", withCheck(Check{Type: UDPCheck, RequireReply: true, MinReplyLength: 10, MaxReplyLength: 5}), "reply length range"},
		{"helo with blanks", withCheck(Check{Type: SMTPCheck, HeloName: "a b"}), "helo_name"},
		{"file check without file", withCheck(Check{Type: FileCheck}), "no file"},
		{"ping bindto family", withCheck(Check{Type: PingCheck, BindTo: netip.MustParseAddr("2001:db8::1")}), "different families"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.vss)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error with %q", err, tc.want)
			}
		})
	}
	for _, c := range []Check{
		{Type: TCPCheck}, {Type: DNSCheck}, {Type: UDPCheck}, {Type: PingCheck}, {Type: SMTPCheck},
		{Type: FileCheck, FilePath: "/run/xlb/maint"},
		{Type: HTTPGet, HTTPProtocol: "1.0C", URLs: []URL{{Path: "/", Regex: "OK", RegexNoMatch: true}}},
	} {
		if err := Validate(withCheck(c)); err != nil {
			t.Errorf("valid %v: %v", c.Type, err)
		}
	}
}

func TestParseStatusRanges(t *testing.T) {
	got, err := ParseStatusRanges("200-299 400-499", "503")
	if err != nil {
		t.Fatal(err)
	}
	if want := []StatusRange{{200, 299}, {400, 499}, {503, 503}}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"abc", "99", "200-100", "600", "200-"} {
		if _, err := ParseStatusRanges(bad); err == nil {
			t.Errorf("ParseStatusRanges(%q) accepted", bad)
		}
	}
}

// TestMonitorSeedHTTPGet runs the users' keepalived HTTP_GET block (two web
// servers, /icons/unknown.gif, status 200, connect_port, nb_get_retry,
// delay_before_retry, virtualhost) with short timers against loopback
// servers standing in for 192.0.2.100 and 192.0.2.101.
func TestMonitorSeedHTTPGet(t *testing.T) {
	noLeaks(t)
	web1, web2 := newFlipServer(t), newFlipServer(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	real := func(key, addr string, srv *flipServer) Real {
		return Real{Key: key, Addr: netip.MustParseAddrPort(addr), Weight: 1, Checks: []Check{{
			Type:             HTTPGet,
			URLs:             []URL{{Path: "/icons/unknown.gif", StatusCodes: []StatusRange{{200, 200}}}},
			VirtualHost:      "www.mydomain.com",
			ConnectIP:        srv.addrPort().Addr(),
			ConnectPort:      srv.addrPort().Port(),
			ConnectTimeout:   200 * time.Millisecond,
			Retry:            2,
			DelayBeforeRetry: 30 * time.Millisecond,
		}}}
	}
	err := m.Set([]VirtualServer{{Key: "203.0.113.10:80", DelayLoop: 100 * time.Millisecond, Reals: []Real{
		real("192.0.2.100:80", "192.0.2.100:80", web1),
		real("192.0.2.101:80", "192.0.2.101:80", web2),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	settle(t, 2*time.Second, "both checked", func() bool {
		return len(web1.hitsSince(time.Time{})) > 0 && len(web2.hitsSince(time.Time{})) > 0
	})
	for _, h := range append(web1.hitsSince(time.Time{}), web2.hitsSince(time.Time{})...) {
		if h.host != "www.mydomain.com" {
			t.Fatalf("Host header %q, want the virtualhost", h.host)
		}
	}
	web1.status.Store(404)
	e, _ := ev.waitReal(t, "192.0.2.100:80", 2*time.Second)
	for e.Up { // skip the initial event
		e, _ = ev.waitReal(t, "192.0.2.100:80", 2*time.Second)
	}
	if e.Reason != "HTTP_GET 127.0.0.1:"+strconv.Itoa(int(web1.addrPort().Port()))+": status 404 on /icons/unknown.gif" {
		t.Fatalf("down event %+v", e)
	}
	st := m.Status()[0]
	if !st.QuorumUp || st.WeightSum != 1 || st.Reals[0].Up || !st.Reals[1].Up {
		t.Fatalf("status %+v: want web1 down, web2 up, quorum kept", st)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"type":"HTTP_GET"`, `"addr":"192.0.2.100:80"`, `"last_error":"status 404 on /icons/unknown.gif"`, `"quorum_up":true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status JSON lacks %s: %s", want, b)
		}
	}
	web1.status.Store(200)
	if e, _ := ev.waitReal(t, "192.0.2.100:80", 2*time.Second); !e.Up {
		t.Fatalf("event %+v, want web1 back up", e)
	}
}

func TestChecksOverIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "["+"::1"+"]:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) {
			w.WriteHeader(400)
		}
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	for _, c := range []Check{{Type: TCPCheck}, {Type: HTTPGet, URLs: []URL{{Path: "/"}}}} {
		if _, err := mustChecker(t, addr, c).Check(t.Context()); err != nil {
			t.Errorf("%v over IPv6: %v", c.Type, err)
		}
	}
}
