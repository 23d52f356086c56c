package healthd

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a DNS responder on loopback whose answer the test picks.
type dnsServer struct {
	conn *net.UDPConn
	// mode: "ok" (NOERROR, no answer), "a" (NOERROR with an A record),
	// "servfail", "nxdomain", "wrongid" (a reply with another id),
	// "query" (QR clear), "wrongid+ok" (another id, then the answer),
	// "silent" (nothing).
	mode atomic.Pointer[string]

	mu      sync.Mutex
	queries []dnsQuery
}

type dnsQuery struct {
	at  time.Time
	rd  bool
	q   dnsmessage.Question
	src string
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{conn: c}
	s.set("ok")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return s
}

func (s *dnsServer) set(mode string) { s.mode.Store(&mode) }

func (s *dnsServer) addrPort() netip.AddrPort {
	return netip.MustParseAddrPort(s.conn.LocalAddr().String())
}

func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.queries = append(s.queries, dnsQuery{at: time.Now(), rd: h.RecursionDesired, q: q, src: from.String()})
		s.mu.Unlock()
		reply := func(id uint16, response bool, rcode dnsmessage.RCode, answer bool) {
			m := dnsmessage.Message{
				Header:    dnsmessage.Header{ID: id, Response: response, RCode: rcode, RecursionDesired: h.RecursionDesired},
				Questions: []dnsmessage.Question{q},
			}
			if answer {
				m.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.AResource{A: [4]byte{192, 0, 2, 53}},
				}}
			}
			b, err := m.Pack()
			if err == nil {
				_, _ = s.conn.WriteToUDPAddrPort(b, from)
			}
		}
		switch *s.mode.Load() {
		case "ok":
			reply(h.ID, true, dnsmessage.RCodeSuccess, false)
		case "a":
			reply(h.ID, true, dnsmessage.RCodeSuccess, true)
		case "servfail":
			reply(h.ID, true, dnsmessage.RCodeServerFailure, false)
		case "nxdomain":
			reply(h.ID, true, dnsmessage.RCodeNameError, false)
		case "wrongid":
			reply(h.ID+1, true, dnsmessage.RCodeSuccess, true)
		case "query":
			reply(h.ID, false, dnsmessage.RCodeSuccess, false)
		case "wrongid+ok":
			reply(h.ID^0x8000, true, dnsmessage.RCodeSuccess, true)
			reply(h.ID, true, dnsmessage.RCodeSuccess, true)
		}
	}
}

func (s *dnsServer) since(t0 time.Time) []dnsQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []dnsQuery
	for _, q := range s.queries {
		if !q.at.Before(t0) {
			out = append(out, q)
		}
	}
	return out
}

func TestDNSCheck(t *testing.T) {
	noLeaks(t)
	srv := newDNSServer(t)
	const timeout = 250 * time.Millisecond
	for _, tc := range []struct {
		mode   string
		reason string // "" passes; a prefix otherwise
	}{
		{"ok", ""},
		{"a", ""},
		{"wrongid+ok", ""},
		{"servfail", "rcode SERVFAIL"},
		{"nxdomain", "rcode NXDOMAIN"},
		{"wrongid", "timeout (1 replies ignored"},
		{"query", "timeout (1 replies ignored"},
		{"silent", "timeout"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv.set(tc.mode)
			ch := mustChecker(t, srv.addrPort(), Check{Type: DNSCheck, ConnectTimeout: timeout})
			start := time.Now()
			_, err := ch.Check(t.Context())
			d := time.Since(start)
			got := reasonOf(err)
			if (tc.reason == "") != (got == "") || !strings.HasPrefix(got, tc.reason) {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if strings.HasPrefix(tc.reason, "timeout") && (d < timeout-10*time.Millisecond || d > timeout+500*time.Millisecond) {
				t.Errorf("timed out after %v, want about %v", d, timeout)
			}
			if !strings.HasPrefix(tc.reason, "timeout") && d > timeout {
				t.Errorf("answered check took %v", d)
			}
		})
	}
}

// TestDNSCheckQuery checks what is asked: keepalived's defaults (SOA for
// the root, recursion desired, class IN), or the configured type and name.
func TestDNSCheckQuery(t *testing.T) {
	srv := newDNSServer(t)
	for _, tc := range []struct {
		typ, name string
		wantType  dnsmessage.Type
		wantName  string
	}{
		{"", "", dnsmessage.TypeSOA, "."},
		{"a", "www.example.com", dnsmessage.TypeA, "www.example.com."},
		{"AAAA", "example.com.", dnsmessage.TypeAAAA, "example.com."},
		{"MX", ".", dnsmessage.TypeMX, "."},
		{"TXT", "example.org", dnsmessage.TypeTXT, "example.org."},
		{"NS", "example.net", dnsmessage.TypeNS, "example.net."},
		{"CNAME", "www.example.net", dnsmessage.TypeCNAME, "www.example.net."},
	} {
		t0 := time.Now()
		ch := mustChecker(t, srv.addrPort(), Check{Type: DNSCheck, DNSType: tc.typ, DNSName: tc.name, ConnectTimeout: time.Second})
		if _, err := ch.Check(t.Context()); err != nil {
			t.Fatalf("%s %s: %v", tc.typ, tc.name, err)
		}
		qs := srv.since(t0)
		if len(qs) != 1 {
			t.Fatalf("%d queries", len(qs))
		}
		q := qs[0]
		if q.q.Type != tc.wantType || q.q.Name.String() != tc.wantName || q.q.Class != dnsmessage.ClassINET || !q.rd {
			t.Errorf("type %q name %q: server saw %v %v %v rd=%v", tc.typ, tc.name, q.q.Type, q.q.Name, q.q.Class, q.rd)
		}
	}

	// connect_ip/connect_port and bindto.
	t0 := time.Now()
	ch := mustChecker(t, anyAddr, Check{Type: DNSCheck, ConnectIP: srv.addrPort().Addr(), ConnectPort: srv.addrPort().Port(),
		BindTo: netip.MustParseAddr("127.0.0.4"), ConnectTimeout: time.Second})
	if _, err := ch.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if qs := srv.since(t0); len(qs) != 1 || !strings.HasPrefix(qs[0].src, "127.0.0.4:") {
		t.Errorf("queries %+v, want one from 127.0.0.4", qs)
	}
}

func TestDNSCheckClosedPort(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(c.LocalAddr().String())
	c.Close()
	start := time.Now()
	_, err = mustChecker(t, addr, Check{Type: DNSCheck, ConnectTimeout: 2 * time.Second}).Check(t.Context())
	if reasonOf(err) != "port unreachable" || time.Since(start) > time.Second {
		t.Fatalf("closed port: reason %q (%v) after %v, want port unreachable at once", reasonOf(err), err, time.Since(start))
	}
}

func TestParseDNSName(t *testing.T) {
	for _, ok := range []string{"", ".", "example.com", "example.com.", "a.b.c", strings.Repeat("a", 63) + ".example"} {
		if _, err := ParseDNSName(ok); err != nil {
			t.Errorf("ParseDNSName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a..b", ".a", "..", "a b", strings.Repeat("a", 64) + ".example", strings.Repeat("abcdefghi.", 26)} {
		if _, err := ParseDNSName(bad); err == nil {
			t.Errorf("ParseDNSName(%q) accepted", bad)
		}
	}
}

// TestMonitorDNSDetection: keepalived's DNS_CHECK defaults to retrying
// after its delay loop; a failing server is declared down after retry+1
// failed queries, the first within one delay loop.
func TestMonitorDNSDetection(t *testing.T) {
	noLeaks(t)
	srv := newDNSServer(t)
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	const (
		delayLoop = 150 * time.Millisecond
		retry     = 2
	)
	err := m.Set([]VirtualServer{{Key: "dns", DelayLoop: delayLoop, Reals: []Real{{
		Key: "ns1", Addr: srv.addrPort(), Weight: 1,
		Checks: []Check{{Type: DNSCheck, Retry: retry, ConnectTimeout: 100 * time.Millisecond, Warmup: -1}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if e, _ := ev.waitReal(t, "ns1", time.Second); !e.Up {
		t.Fatalf("initial %+v", e)
	}
	settle(t, time.Second, "first query", func() bool { return len(srv.since(time.Time{})) > 0 })
	t0 := time.Now()
	srv.set("servfail")
	down, td := ev.waitReal(t, "ns1", 3*time.Second)
	if down.Up || !strings.Contains(down.Reason, "DNS_CHECK "+srv.addrPort().String()+": rcode SERVFAIL") {
		t.Fatalf("down event %+v", down)
	}
	var fails []time.Time
	for _, q := range srv.since(t0) {
		if q.at.Before(td) {
			fails = append(fails, q.at)
		}
	}
	if len(fails) != retry+1 {
		t.Fatalf("down after %d failed queries, want retry+1 = %d", len(fails), retry+1)
	}
	for i := 1; i < len(fails); i++ {
		// delay_before_retry defaults to the delay loop for DNS_CHECK.
		if gap := fails[i].Sub(fails[i-1]); gap < delayLoop-5*time.Millisecond || gap > delayLoop+150*time.Millisecond {
			t.Errorf("retry %d came %v after the previous query, want the delay loop %v", i, gap, delayLoop)
		}
	}
	srv.set("ok")
	if up, _ := ev.waitReal(t, "ns1", time.Second); !up.Up {
		t.Fatalf("up event %+v", up)
	}
}
