package lab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Servers are the processes of a lab host, run in-process in its
// namespace. Close stops them all.
type Servers struct {
	closers []io.Closer
	mu      sync.Mutex
	sick    map[string]*atomic.Bool // web server name -> failing its health URL
}

// SetHealthy makes a web server's health check target (/icons/unknown.gif)
// answer 200 (true) or 503 (false); the rest of it keeps serving.
func (s *Servers) SetHealthy(name string, ok bool) {
	s.sickFlag(name).Store(!ok)
}

func (s *Servers) sickFlag(name string) *atomic.Bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sick == nil {
		s.sick = map[string]*atomic.Bool{}
	}
	if s.sick[name] == nil {
		s.sick[name] = new(atomic.Bool)
	}
	return s.sick[name]
}

// Close stops every server.
func (s *Servers) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i].Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

func (s *Servers) listen(ns *NS, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.Do(func() (err error) { ln, err = net.Listen(network, addr); return err })
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", ns.Name, addr, err)
	}
	s.closers = append(s.closers, ln)
	return ln, nil
}

// WebHandler is a web server of the farm: "/" answers with its name (and
// the client address it sees in X-Client), /icons/unknown.gif is the
// seed's health check target, /stream?n=N&every=D sends N chunks of 64
// KiB one every D (N ≤ 10000), POST /upload reads the body (up to 64
// MiB) and answers with its length, and /work?ms=N answers with its name after
// N ms times the server's slowness (a slow server holds its connections
// longer).
func WebHandler(name string, slowness float64) http.Handler {
	return webHandler(name, slowness, new(atomic.Bool))
}

func webHandler(name string, slowness float64, sick *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", name)
		mux.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Client", r.RemoteAddr)
		fmt.Fprint(w, name)
	})
	mux.HandleFunc("/icons/unknown.gif", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("GIF89a"))
	})
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		var ms float64
		fmt.Sscan(r.URL.Query().Get("ms"), &ms)
		time.Sleep(min(time.Duration(ms*slowness*float64(time.Millisecond)), time.Minute))
		fmt.Fprint(w, name)
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		every, _ := time.ParseDuration(r.URL.Query().Get("every"))
		chunk := bytes.Repeat([]byte{'x'}, 64<<10)
		for range min(n, 10000) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(min(every, time.Second))
		}
	})
	return named
}

// ServeWeb runs a farm web server in ns on addr: HTTP on :80, HTTPS on
// :443 (self-signed www.example.com) and a UDP echo on :5300 that answers
// "NAME:<datagram>".
func (s *Servers) ServeWeb(ns *NS, name, addr string) error {
	return s.ServeWebSlow(ns, name, addr, 1)
}

// ServeWebSlow is ServeWeb with a slowness factor for /work.
func (s *Servers) ServeWebSlow(ns *NS, name, addr string, slowness float64) error {
	cert, err := SelfSigned("www.example.com")
	if err != nil {
		return err
	}
	ln, err := s.listen(ns, "tcp", net.JoinHostPort(addr, "80"))
	if err != nil {
		return err
	}
	tln, err := s.listen(ns, "tcp", net.JoinHostPort(addr, "443"))
	if err != nil {
		return err
	}
	for _, l := range []net.Listener{ln, tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{cert}})} {
		srv := &http.Server{Handler: webHandler(name, slowness, s.sickFlag(name)), ReadHeaderTimeout: 5 * time.Second}
		s.closers = append(s.closers, srv)
		go srv.Serve(l)
	}
	var pc net.PacketConn
	if err := ns.Do(func() (err error) { pc, err = net.ListenPacket("udp", net.JoinHostPort(addr, "5300")); return err }); err != nil {
		return fmt.Errorf("%s: udp echo: %w", ns.Name, err)
	}
	s.closers = append(s.closers, pc)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	return nil
}

// ServeWhoAmI runs an HTTP server in ns on addr that answers with the
// client address it sees: the "internet host" that shows masquerade.
func (s *Servers) ServeWhoAmI(ns *NS, addr string) error {
	ln, err := s.listen(ns, "tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	s.closers = append(s.closers, srv)
	go srv.Serve(ln)
	return nil
}

// HTTPClient makes requests from ns, a new connection each, accepting
// any certificate.
func HTTPClient(ns *NS, timeout time.Duration) *http.Client {
	return HTTPClientFrom(ns, netip.Addr{}, timeout)
}

// HTTPClientFrom is HTTPClient with the given source address (zero: the
// kernel's choice).
func HTTPClientFrom(ns *NS, src netip.Addr, timeout time.Duration) *http.Client {
	var local net.Addr
	if src.IsValid() {
		local = &net.TCPAddr{IP: src.AsSlice()}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = ns.Do(func() error {
				d := net.Dialer{LocalAddr: local}
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

// SelfSigned makes a throw-away certificate for name.
func SelfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
