package healthd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testLogger writes the Monitor's log into the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// hit is one request a flipServer answered.
type hit struct {
	at     time.Time
	status int
	host   string
	remote string
}

// flipServer is an HTTP server whose answer the test flips.
type flipServer struct {
	*httptest.Server
	status atomic.Int32
	delay  atomic.Int64 // nanoseconds to wait before answering
	body   atomic.Pointer[string]

	mu       sync.Mutex
	hits     []hit
	inflight atomic.Int32
	maxIn    atomic.Int32
}

func newFlipServer(t *testing.T) *flipServer {
	f := &flipServer{}
	f.status.Store(200)
	body := "hello\n"
	f.body.Store(&body)
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func newFlipTLSServer(t *testing.T, cert tls.Certificate, sni *atomic.Pointer[string]) *flipServer {
	f := &flipServer{}
	f.status.Store(200)
	body := "hello\n"
	f.body.Store(&body)
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			name := hello.ServerName
			sni.Store(&name)
			return nil, nil
		},
	}
	f.StartTLS()
	t.Cleanup(f.Close)
	return f
}

func (f *flipServer) serve(w http.ResponseWriter, r *http.Request) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	if d := time.Duration(f.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	status := int(f.status.Load())
	f.mu.Lock()
	f.hits = append(f.hits, hit{at: time.Now(), status: status, host: r.Host, remote: r.RemoteAddr})
	f.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, *f.body.Load())
}

func (f *flipServer) addrPort() netip.AddrPort {
	return netip.MustParseAddrPort(f.Listener.Addr().String())
}

func (f *flipServer) hitsSince(t0 time.Time) []hit {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []hit
	for _, h := range f.hits {
		if !h.at.Before(t0) {
			out = append(out, h)
		}
	}
	return out
}

// selfSigned makes a certificate for dns and 127.0.0.1 that is its own CA,
// and writes it as a PEM CA file.
func selfSigned(t *testing.T, dns ...string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "healthd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              dns,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return cert, caFile
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return ap
}

// writeScript writes an executable shell script into a fresh temp dir.
func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFileAtomic replaces path's content in one step, for state files
// that scripts read while the test changes them.
func writeFileAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// settle waits until cond holds or fails the test after timeout.
func settle(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noLeaks records goroutines and fds now and, at cleanup, checks that they
// came back (fds within slack for the test's own listeners closing late).
func noLeaks(t *testing.T) {
	t.Helper()
	g0 := runtime.NumGoroutine()
	fd0 := countFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			g, fd := runtime.NumGoroutine(), countFDs(t)
			if g <= g0 && fd <= fd0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("leak: goroutines %d -> %d, fds %d -> %d\n%s", g0, g, fd0, fd, buf[:n])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// events collects a Monitor's events.
type events struct {
	ch chan timedEvent
}

type timedEvent struct {
	at time.Time
	ev Event
}

func newEvents() *events { return &events{ch: make(chan timedEvent, 10000)} }

func (e *events) on(ev Event) { e.ch <- timedEvent{time.Now(), ev} }

// waitReal returns the next RealEvent for real, skipping other events.
func (e *events) waitReal(t *testing.T, real string, timeout time.Duration) (RealEvent, time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case te := <-e.ch:
			if re, ok := te.ev.(RealEvent); ok && re.Real == real {
				return re, te.at
			}
		case <-deadline:
			t.Fatalf("no event for real %s within %v", real, timeout)
		}
	}
}

// waitQuorum returns the next QuorumEvent for service.
func (e *events) waitQuorum(t *testing.T, service string, timeout time.Duration) QuorumEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case te := <-e.ch:
			if qe, ok := te.ev.(QuorumEvent); ok && qe.Service == service {
				return qe
			}
		case <-deadline:
			t.Fatalf("no quorum event for %s within %v", service, timeout)
		}
	}
}

// none checks that no event arrives for d.
func (e *events) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case te := <-e.ch:
		t.Fatalf("unexpected event %+v", te.ev)
	case <-time.After(d):
	}
}

// start runs m until the test ends and checks that Run returns nil.
func start(t *testing.T, m *Monitor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func fmtHits(hs []hit) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s %d; ", h.at.Format("15:04:05.000"), h.status)
	}
	return b.String()
}
