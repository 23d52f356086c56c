package healthd

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpServer is a UDP server on loopback: it echoes what it receives, sends
// a fixed reply, or stays silent.
type udpServer struct {
	conn   *net.UDPConn
	reply  atomic.Pointer[[]byte] // nil: echo
	silent atomic.Bool

	mu   sync.Mutex
	got  [][]byte
	hits []time.Time
}

func newUDPServer(t *testing.T) *udpServer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpServer{conn: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, bytes.Clone(buf[:n]))
			s.hits = append(s.hits, time.Now())
			s.mu.Unlock()
			if s.silent.Load() {
				continue
			}
			out := buf[:n]
			if r := s.reply.Load(); r != nil {
				out = *r
			}
			_, _ = c.WriteToUDPAddrPort(out, from)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return s
}

func (s *udpServer) addrPort() netip.AddrPort {
	return netip.MustParseAddrPort(s.conn.LocalAddr().String())
}

func (s *udpServer) last() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return nil
	}
	return s.got[len(s.got)-1]
}

func (s *udpServer) hitsSince(t0 time.Time) []time.Time {
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

func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(c.LocalAddr().String())
	c.Close()
	return ap
}

func TestParseHex(t *testing.T) {
	// keepalived's own example: "Ab12f 3 456 546443123".
	data, mask, err := ParseHex("Ab12f 3 456 546443123", false)
	if want := []byte{0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}; err != nil || !bytes.Equal(data, want) {
		t.Fatalf("ParseHex = % x %v, want % x", data, err, want)
	}
	if !bytes.Equal(mask, make([]byte, len(data))) {
		t.Errorf("mask % x without wildcards", mask)
	}
	data, mask, err = ParseHex("4x X5\txx", true)
	if err != nil || !bytes.Equal(data, []byte{0x40, 0x05, 0x00}) || !bytes.Equal(mask, []byte{0x0f, 0xf0, 0xff}) {
		t.Fatalf("wildcards: % x mask % x %v", data, mask, err)
	}
	for _, bad := range []string{"", "  ", "0g", "4x"} {
		if _, _, err := ParseHex(bad, false); err == nil {
			t.Errorf("ParseHex(%q) accepted", bad)
		}
	}
}

func TestUDPCheck(t *testing.T) {
	noLeaks(t)
	srv := newUDPServer(t)
	const timeout = 200 * time.Millisecond
	hello := "68 65 6c 6c 6f" // "hello"
	for _, tc := range []struct {
		name   string
		silent bool
		c      Check
		reason string
		quick  bool // ends before connect_timeout
	}{
		{"echo, no reply needed", false, Check{Payload: hello}, "", true},
		{"silent, no reply needed: no ICMP error is a pass", true, Check{}, "", false},
		{"silent, reply required", true, Check{RequireReply: true}, "no reply", false},
		{"any reply", false, Check{Payload: hello, RequireReply: true}, "", true},
		{"reply prefix", false, Check{Payload: hello, RequireReply: true, ReplyData: "68656c"}, "", true},
		{"reply longer than the data compared on its length", false, Check{Payload: "68 65", RequireReply: true, ReplyData: "68656c6c6f"}, "", true},
		{"wildcards", false, Check{Payload: hello, RequireReply: true, ReplyData: "68 6x xx 6c"}, "", true},
		{"mismatch", false, Check{Payload: hello, RequireReply: true, ReplyData: "69"}, "reply mismatch", true},
		{"too short", false, Check{Payload: hello, RequireReply: true, MinReplyLength: 10}, "reply length 5 outside 10-255", true},
		{"too long", false, Check{Payload: hello, RequireReply: true, MaxReplyLength: 3}, "reply length over 3 outside 0-3", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.silent.Store(tc.silent)
			c := tc.c
			c.Type, c.ConnectTimeout = UDPCheck, timeout
			start := time.Now()
			_, err := mustChecker(t, srv.addrPort(), c).Check(t.Context())
			d := time.Since(start)
			if got := reasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if tc.quick && d > timeout/2 {
				t.Errorf("took %v, want the reply at once", d)
			}
			if !tc.quick && (d < timeout-10*time.Millisecond || d > timeout+500*time.Millisecond) {
				t.Errorf("took %v, want connect_timeout %v", d, timeout)
			}
		})
	}
	srv.silent.Store(false)

	// The payload, or keepalived's 32 bytes of filler without one.
	if _, err := mustChecker(t, srv.addrPort(), Check{Type: UDPCheck, Payload: "de ad be ef", RequireReply: true}).Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(); !bytes.Equal(got, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Errorf("server got % x", got)
	}
	if _, err := mustChecker(t, srv.addrPort(), Check{Type: UDPCheck, RequireReply: true}).Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(); len(got) != 32 {
		t.Errorf("default payload is %d bytes, want 32", len(got))
	}

	// A closed port answers with ICMP port unreachable, at once.
	start := time.Now()
	_, err := mustChecker(t, closedUDPPort(t), Check{Type: UDPCheck, ConnectTimeout: 2 * time.Second}).Check(t.Context())
	if reasonOf(err) != "port unreachable" || time.Since(start) > time.Second {
		t.Fatalf("closed port: reason %q (%v) after %v", reasonOf(err), err, time.Since(start))
	}
}

// TestMonitorUDPDetection: a UDP real whose port closes is declared down
// after retry+1 failures, delay_before_retry apart, and comes back.
func TestMonitorUDPDetection(t *testing.T) {
	noLeaks(t)
	srv := newUDPServer(t)
	addr := srv.addrPort()
	ev := newEvents()
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	const (
		delayLoop = 200 * time.Millisecond
		dbr       = 50 * time.Millisecond
		retry     = 2
	)
	err := m.Set([]VirtualServer{{Key: "udp", DelayLoop: delayLoop, Reals: []Real{{
		Key: "u1", Addr: addr, Weight: 1,
		Checks: []Check{{Type: UDPCheck, RequireReply: true, Retry: retry, DelayBeforeRetry: dbr, ConnectTimeout: 100 * time.Millisecond, Warmup: -1}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if e, _ := ev.waitReal(t, "u1", time.Second); !e.Up {
		t.Fatalf("initial %+v", e)
	}
	settle(t, time.Second, "first probe", func() bool { return len(srv.hitsSince(time.Time{})) > 0 })
	t0 := time.Now()
	srv.silent.Store(true)
	down, td := ev.waitReal(t, "u1", 3*time.Second)
	if down.Up || !strings.HasSuffix(down.Reason, ": no reply") {
		t.Fatalf("down event %+v", down)
	}
	var fails []time.Time
	for _, h := range srv.hitsSince(t0) {
		if h.Before(td) {
			fails = append(fails, h)
		}
	}
	if len(fails) != retry+1 {
		t.Fatalf("down after %d probes, want retry+1 = %d", len(fails), retry+1)
	}
	for i := 1; i < len(fails); i++ {
		// Each failed probe waits connect_timeout, then delay_before_retry.
		if gap := fails[i].Sub(fails[i-1]); gap < 100*time.Millisecond+dbr-5*time.Millisecond || gap > 100*time.Millisecond+dbr+150*time.Millisecond {
			t.Errorf("retry %d came %v after the previous probe", i, gap)
		}
	}
	srv.silent.Store(false)
	if up, _ := ev.waitReal(t, "u1", time.Second); !up.Up {
		t.Fatalf("up event %+v", up)
	}
}
