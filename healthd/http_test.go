package healthd

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func mustChecker(t *testing.T, addr netip.AddrPort, c Check) Checker {
	t.Helper()
	ch, err := NewChecker(addr, c)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	return ch
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestHTTPGet(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	body := "GIF89a fake image"
	srv.body.Store(&body)
	for _, tc := range []struct {
		name   string
		status int
		url    URL
		reason string // "" means the check passes
	}{
		{"200 passes by default", 200, URL{Path: "/icons/unknown.gif"}, ""},
		{"204 is in the default 200-299", 204, URL{Path: "/"}, ""},
		{"503 fails", 503, URL{Path: "/health"}, "status 503 on /health"},
		{"301 fails by default", 301, URL{Path: "/"}, "status 301 on /"},
		{"explicit code", 200, URL{Path: "/", StatusCodes: []StatusRange{{200, 200}}}, ""},
		{"explicit code rejects others", 201, URL{Path: "/", StatusCodes: []StatusRange{{200, 200}}}, "status 201 on /"},
		{"ranges accept 503", 503, URL{Path: "/", StatusCodes: []StatusRange{{200, 299}, {500, 599}}}, ""},
		{"digest matches", 200, URL{Path: "/img", Digest: md5hex(body)}, ""},
		{"digest in upper case matches", 200, URL{Path: "/img", Digest: strings.ToUpper(md5hex(body))}, ""},
		{"wrong body fails the digest", 200, URL{Path: "/img", Digest: md5hex("other")}, "digest mismatch on /img"},
		{"status is checked before the digest", 500, URL{Path: "/img", Digest: md5hex(body)}, "status 500 on /img"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.status.Store(int32(tc.status))
			ch := mustChecker(t, srv.addrPort(), Check{Type: HTTPGet, URLs: []URL{tc.url}, ConnectTimeout: 2 * time.Second})
			_, err := ch.Check(context.Background())
			if got := reasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (err %v), want %q", got, err, tc.reason)
			}
		})
	}
}

func TestHTTPGetAllURLsMustPass(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	ch := mustChecker(t, addr, Check{Type: HTTPGet, URLs: []URL{{Path: "/ok"}, {Path: "/bad"}}})
	if _, err := ch.Check(context.Background()); reasonOf(err) != "status 404 on /bad" {
		t.Fatalf("err %v, want the second URL's 404", err)
	}
	ch = mustChecker(t, addr, Check{Type: HTTPGet, URLs: []URL{{Path: "/ok"}, {Path: "/also-ok"}}})
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatalf("err %v", err)
	}
}

func TestHTTPGetTimeouts(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	srv.delay.Store(int64(2 * time.Second))
	ch := mustChecker(t, srv.addrPort(), Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}, ConnectTimeout: 150 * time.Millisecond})
	start := time.Now()
	_, err := ch.Check(context.Background())
	d := time.Since(start)
	if reasonOf(err) != "timeout" {
		t.Fatalf("slow response: reason %q (%v), want timeout", reasonOf(err), err)
	}
	if d < 140*time.Millisecond || d > time.Second {
		t.Fatalf("slow response failed after %v, want about the 150ms connect_timeout", d)
	}

	// A server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ch = mustChecker(t, netip.MustParseAddrPort(ln.Addr().String()), Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}, ConnectTimeout: 100 * time.Millisecond})
	if _, err := ch.Check(context.Background()); reasonOf(err) != "timeout" {
		t.Fatalf("silent server: reason %q (%v), want timeout", reasonOf(err), err)
	}
}

func TestHTTPGetReadsBodyOnlyForDigest(t *testing.T) {
	// The body never ends: only a check that reads it waits for the timeout.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	ch := mustChecker(t, addr, Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}, ConnectTimeout: 500 * time.Millisecond})
	start := time.Now()
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatalf("no digest: %v", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("check without digest took %v: it read the body", d)
	}
	ch = mustChecker(t, addr, Check{Type: HTTPGet, URLs: []URL{{Path: "/", Digest: md5hex("partial")}}, ConnectTimeout: 200 * time.Millisecond})
	if _, err := ch.Check(context.Background()); reasonOf(err) != "timeout" {
		t.Fatalf("digest over an endless body: %v, want timeout", err)
	}
}

func TestHTTPGetConnectionOptions(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	real := netip.MustParseAddrPort("192.0.2.100:80") // never dialled: connect_ip/port override it
	t0 := time.Now()
	ch := mustChecker(t, real, Check{
		Type:        HTTPGet,
		ConnectIP:   srv.addrPort().Addr(),
		ConnectPort: srv.addrPort().Port(),
		BindTo:      netip.MustParseAddr("127.0.0.2"),
		VirtualHost: "www.mydomain.example",
		URLs:        []URL{{Path: "/a"}, {Path: "/b", VirtualHost: "other.example"}},
	})
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	hits := srv.hitsSince(t0)
	if len(hits) != 2 {
		t.Fatalf("%d requests, want 2", len(hits))
	}
	if hits[0].host != "www.mydomain.example" || hits[1].host != "other.example" {
		t.Errorf("Host headers %q, %q; want the check's then the url's virtualhost", hits[0].host, hits[1].host)
	}
	for _, h := range hits {
		if !strings.HasPrefix(h.remote, "127.0.0.2:") {
			t.Errorf("request came from %s, want bindto 127.0.0.2", h.remote)
		}
	}

	// bind_port: twice in a row from the same source port.
	port := closedPort(t).Port()
	ch = mustChecker(t, srv.addrPort(), Check{Type: HTTPGet, BindPort: port, URLs: []URL{{Path: "/"}}})
	t1 := time.Now()
	for i := range 2 {
		if _, err := ch.Check(context.Background()); err != nil {
			t.Fatalf("bind_port check %d: %v", i, err)
		}
	}
	for _, h := range srv.hitsSince(t1) {
		if want := ":" + strconv.Itoa(int(port)); !strings.HasSuffix(h.remote, want) {
			t.Errorf("request from %s, want source port %d", h.remote, port)
		}
	}

	// No virtualhost: the Host header is the connect address.
	t2 := time.Now()
	ch = mustChecker(t, srv.addrPort(), Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}})
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := srv.hitsSince(t2); len(h) != 1 || h[0].host != srv.addrPort().String() {
		t.Errorf("Host header %v, want %s", h, srv.addrPort())
	}
}

func TestHTTPGetRefused(t *testing.T) {
	ch := mustChecker(t, closedPort(t), Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}})
	if _, err := ch.Check(context.Background()); reasonOf(err) != "connection refused" {
		t.Fatalf("reason %q (%v), want connection refused", reasonOf(err), err)
	}
}

func TestSSLGet(t *testing.T) {
	noLeaks(t)
	cert, caFile := selfSigned(t, "www.example.test")
	var sni atomic.Pointer[string]
	srv := newFlipTLSServer(t, cert, &sni)
	addr := srv.addrPort()
	gotSNI := func() string {
		if p := sni.Load(); p != nil {
			return *p
		}
		return "<none>"
	}
	for _, tc := range []struct {
		name    string
		check   Check
		reason  string
		wantSNI string
	}{
		{"no verification by default", Check{VirtualHost: "www.example.test"}, "", ""},
		{"enable_sni sends the virtualhost", Check{VirtualHost: "www.example.test", EnableSNI: true}, "", "www.example.test"},
		{"verify against the CA file and virtualhost", Check{VirtualHost: "www.example.test", TLSVerify: true, CAFile: caFile}, "", ""},
		{"verify against the CA file and the IP", Check{TLSVerify: true, CAFile: caFile}, "", ""},
		{"verify with the wrong name fails", Check{VirtualHost: "evil.example.test", TLSVerify: true, CAFile: caFile}, "TLS error", ""},
		{"verify against system roots fails for a self-signed cert", Check{VirtualHost: "www.example.test", TLSVerify: true}, "TLS error", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sni.Store(nil)
			c := tc.check
			c.Type = SSLGet
			c.URLs = []URL{{Path: "/"}}
			c.ConnectTimeout = 2 * time.Second
			_, err := mustChecker(t, addr, c).Check(context.Background())
			t.Logf("reason %q", reasonOf(err))
			if got := reasonOf(err); !strings.HasPrefix(got, tc.reason) || (tc.reason == "" && got != "") {
				t.Fatalf("reason %q (%v), want prefix %q", got, err, tc.reason)
			}
			if tc.reason == "" && gotSNI() != tc.wantSNI {
				t.Fatalf("server saw SNI %q, want %q", gotSNI(), tc.wantSNI)
			}
		})
	}

	// Plain HTTP against the TLS port fails the check with a cause.
	srv.status.Store(200)
	_, err := mustChecker(t, addr, Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}, ConnectTimeout: time.Second}).Check(context.Background())
	if err == nil {
		t.Fatal("HTTP_GET against a TLS server passed")
	}
	// SSL_GET against a plain HTTP server is a TLS error.
	plain := newFlipServer(t)
	_, err = mustChecker(t, plain.addrPort(), Check{Type: SSLGet, URLs: []URL{{Path: "/"}}, ConnectTimeout: time.Second}).Check(context.Background())
	if r := reasonOf(err); !strings.HasPrefix(r, "TLS error") {
		t.Fatalf("SSL_GET to plain HTTP: reason %q (%v), want a TLS error", r, err)
	}
	srv.status.Store(503)
	_, err = mustChecker(t, addr, Check{Type: SSLGet, URLs: []URL{{Path: "/x"}}}).Check(context.Background())
	if reasonOf(err) != "status 503 on /x" {
		t.Fatalf("SSL_GET 503: %v", err)
	}
}

func TestHTTPChecksLeakNothing(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	body := strings.Repeat("x", 100_000)
	srv.body.Store(&body)
	cert, _ := selfSigned(t)
	var sni atomic.Pointer[string]
	tlsSrv := newFlipTLSServer(t, cert, &sni)
	tlsSrv.body.Store(&body)
	checks := []Checker{
		mustChecker(t, srv.addrPort(), Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}}),
		mustChecker(t, srv.addrPort(), Check{Type: HTTPGet, URLs: []URL{{Path: "/", Digest: md5hex(body)}}}),
		mustChecker(t, tlsSrv.addrPort(), Check{Type: SSLGet, URLs: []URL{{Path: "/"}}}),
		mustChecker(t, closedPort(t), Check{Type: HTTPGet, URLs: []URL{{Path: "/"}}}),
	}
	for i := range 50 {
		for j, ch := range checks {
			_, err := ch.Check(context.Background())
			if (j == 3) != (err != nil) {
				t.Fatalf("round %d check %d: %v", i, j, err)
			}
		}
	}
}

// TestHTTPProtocol: http_protocol sends the request keepalived sends.
func TestHTTPProtocol(t *testing.T) {
	type seen struct{ proto, conn string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Proto, r.Header.Get("Connection")}
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	for _, tc := range []struct{ protocol, proto, conn string }{
		{"", "HTTP/1.1", "close"},
		{"1.1", "HTTP/1.1", "close"},
		{"1.0", "HTTP/1.0", ""},
		{"1.0C", "HTTP/1.0", "close"},
		{"1.0c", "HTTP/1.0", "close"},
	} {
		ch := mustChecker(t, addr, Check{Type: HTTPGet, HTTPProtocol: tc.protocol, URLs: []URL{{Path: "/"}}, ConnectTimeout: 2 * time.Second})
		if _, err := ch.Check(t.Context()); err != nil {
			t.Fatalf("http_protocol %q: %v", tc.protocol, err)
		}
		if s := <-got; s.proto != tc.proto || s.conn != tc.conn {
			t.Errorf("http_protocol %q: server saw %s with Connection %q, want %s %q", tc.protocol, s.proto, s.conn, tc.proto, tc.conn)
		}
	}
}

func TestHTTPGetRegex(t *testing.T) {
	noLeaks(t)
	srv := newFlipServer(t)
	body := "<html>status: OK\nversion 2.4</html>"
	srv.body.Store(&body)
	for _, tc := range []struct {
		name   string
		status int
		url    URL
		reason string
	}{
		{"match", 200, URL{Path: "/", Regex: `status: OK`}, ""},
		{"anchored per line", 200, URL{Path: "/", Regex: `(?m)^version \d+\.\d+`}, ""},
		{"no match", 200, URL{Path: "/h", Regex: `status: FAIL`}, "regex did not match on /h"},
		{"regex_no_match passes without a match", 200, URL{Path: "/", Regex: `FAIL`, RegexNoMatch: true}, ""},
		{"regex_no_match fails on a match", 200, URL{Path: "/h", Regex: `OK`, RegexNoMatch: true}, "regex_no_match matched on /h"},
		{"status first", 503, URL{Path: "/h", Regex: `OK`}, "status 503 on /h"},
		{"with a digest", 200, URL{Path: "/", Regex: `OK`, Digest: md5hex(body)}, ""},
		{"digest checked too", 200, URL{Path: "/h", Regex: `OK`, Digest: md5hex("x")}, "digest mismatch on /h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.status.Store(int32(tc.status))
			_, err := mustChecker(t, srv.addrPort(), Check{Type: HTTPGet, URLs: []URL{tc.url}, ConnectTimeout: 2 * time.Second}).Check(t.Context())
			if got := reasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
	// PCRE constructs RE2 lacks are refused when the checker is built.
	for _, re := range []string{`OK(?=\n)`, `(a)\1`, `a++`, `(?<!x)OK`} {
		if _, err := NewChecker(srv.addrPort(), Check{Type: HTTPGet, URLs: []URL{{Path: "/", Regex: re}}}); err == nil || !strings.Contains(err.Error(), "RE2") {
			t.Errorf("regex %q: %v, want an RE2 error", re, err)
		}
	}
}
