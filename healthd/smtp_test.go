package healthd

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// smtpServer is an SMTP server on loopback that says what the test picks:
// mode "ok" (220, 250, 221), "554" (a 554 banner), "hang" (no banner),
// "helo550" (550 to HELO), "multiline" (a two-line 220 banner),
// "noquit" (closes instead of answering QUIT), "garbage" (not SMTP).
type smtpServer struct {
	ln   net.Listener
	mode atomic.Pointer[string]

	mu    sync.Mutex
	helos []string
	hits  []time.Time
	wg    sync.WaitGroup
	done  chan struct{}
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, done: make(chan struct{})}
	s.set("ok")
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) set(mode string) { s.mode.Store(&mode) }

func (s *smtpServer) addrPort() netip.AddrPort { return netip.MustParseAddrPort(s.ln.Addr().String()) }

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	mode := *s.mode.Load()
	s.mu.Lock()
	s.hits = append(s.hits, time.Now())
	s.mu.Unlock()
	w := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	switch mode {
	case "hang":
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
		return
	case "554":
		w("554 no service for you")
		return
	case "garbage":
		w("HTTP/1.1 400 Bad Request")
		return
	case "multiline":
		w("220-mail.example.test ESMTP")
		w("220 ready")
	default:
		w("220 mail.example.test ESMTP")
	}
	br := bufio.NewReader(c)
	helo, err := br.ReadString('\n')
	if err != nil {
		return
	}
	s.mu.Lock()
	s.helos = append(s.helos, strings.TrimRight(helo, "\r\n"))
	s.mu.Unlock()
	if mode == "helo550" {
		w("550 go away")
		return
	}
	w("250 mail.example.test")
	if _, err := br.ReadString('\n'); err != nil {
		return
	}
	if mode == "noquit" {
		return
	}
	w("221 bye")
}

func (s *smtpServer) lastHelo() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.helos) == 0 {
		return ""
	}
	return s.helos[len(s.helos)-1]
}

func (s *smtpServer) hitsSince(t0 time.Time) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, h := range s.hits {
		if !h.Before(t0) {
			out = append(out, h)
		}
	}
	return out
}

func TestSMTPCheck(t *testing.T) {
	noLeaks(t)
	srv := newSMTPServer(t)
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		mode, reason string
	}{
		{"ok", ""},
		{"multiline", ""},
		{"554", "bad banner 554"},
		{"hang", "timeout (waiting for the banner)"},
		{"helo550", "bad HELO reply 550"},
		{"noquit", "connection closed by peer (no reply to QUIT)"},
		{"garbage", "bad banner: not an SMTP reply"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv.set(tc.mode)
			start := time.Now()
			_, err := mustChecker(t, srv.addrPort(), Check{Type: SMTPCheck, ConnectTimeout: timeout}).Check(t.Context())
			if got := reasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if d := time.Since(start); d > timeout+500*time.Millisecond {
				t.Errorf("check took %v with a %v connect_timeout", d, timeout)
			}
		})
	}
	srv.set("ok")
	if _, err := mustChecker(t, srv.addrPort(), Check{Type: SMTPCheck}).Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h := srv.lastHelo(); h != "HELO smtpchecker.keepalived.org" {
		t.Errorf("default HELO %q, want keepalived's", h)
	}
	ch := mustChecker(t, anyAddr, Check{Type: SMTPCheck, HeloName: "lb1.example.com", ConnectIP: srv.addrPort().Addr(), ConnectPort: srv.addrPort().Port()})
	if _, err := ch.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h := srv.lastHelo(); h != "HELO lb1.example.com" {
		t.Errorf("HELO %q, want helo_name", h)
	}
	if _, err := mustChecker(t, closedPort(t), Check{Type: SMTPCheck}).Check(t.Context()); reasonOf(err) != "connection refused" {
		t.Errorf("closed port: %v", err)
	}
}

// TestMonitorSMTPDetection: a mail server that starts refusing service
// (554 banner) goes down after retry+1 attempts, delay_before_retry apart.
func TestMonitorSMTPDetection(t *testing.T) {
	noLeaks(t)
	srv := newSMTPServer(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	const (
		delayLoop = 200 * time.Millisecond
		dbr       = 50 * time.Millisecond
		retry     = 1
	)
	err := m.Set([]VirtualServer{{Key: "mail", DelayLoop: delayLoop, Reals: []Real{{
		Key: "mx1", Addr: srv.addrPort(), Weight: 1,
		Checks: []Check{{Type: SMTPCheck, Retry: retry, DelayBeforeRetry: dbr, ConnectTimeout: 100 * time.Millisecond, Warmup: -1}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if e, _ := ev.waitReal(t, "mx1", time.Second); !e.Up {
		t.Fatalf("initial %+v", e)
	}
	settle(t, time.Second, "first check", func() bool { return len(srv.hitsSince(time.Time{})) > 0 })
	t0 := time.Now()
	srv.set("554")
	down, td := ev.waitReal(t, "mx1", 2*time.Second)
	if down.Up || down.Reason != "SMTP_CHECK "+srv.addrPort().String()+": bad banner 554" {
		t.Fatalf("down event %+v", down)
	}
	var fails []time.Time
	for _, h := range srv.hitsSince(t0) {
		if h.Before(td) {
			fails = append(fails, h)
		}
	}
	if len(fails) != retry+1 {
		t.Fatalf("down after %d attempts, want retry+1 = %d", len(fails), retry+1)
	}
	if gap := fails[1].Sub(fails[0]); gap < dbr-5*time.Millisecond || gap > dbr+150*time.Millisecond {
		t.Errorf("retry came %v after the first attempt, want delay_before_retry %v", gap, dbr)
	}
	srv.set("ok")
	if up, _ := ev.waitReal(t, "mx1", time.Second); !up.Up {
		t.Fatalf("up event %+v", up)
	}
}
