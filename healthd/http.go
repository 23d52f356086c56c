package healthd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// httpChecker is HTTP_GET and SSL_GET: each URL is fetched over its own
// connection (HTTP/1.1 with Connection: close, or what http_protocol says)
// and must answer with an accepted status code and, when a digest is set, a
// body with that MD5, and when a regex is set, a body it matches (or with
// regex_no_match, does not). The body is read only for a digest or a regex,
// and at most MaxDigestBody bytes of it.
type httpChecker struct {
	s      spec
	target string
	dialer *net.Dialer
	urls   []httpURL
}

type httpURL struct {
	URL
	request []byte
	digest  []byte
	regex   *regexp.Regexp
	tls     *tls.Config
}

// CompileRegex compiles a url regex. Go's regexp is RE2, not keepalived's
// PCRE2: no backreferences, no lookahead or lookbehind, no possessive
// quantifiers or atomic groups; the error says which construct failed.
func CompileRegex(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("regex %q is not valid in Go's RE2 syntax (which has no backreferences or lookaround): %w", expr, err)
	}
	return re, nil
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func newHTTPChecker(s spec) (*httpChecker, error) {
	h := &httpChecker{s: s, target: s.Target.String(), dialer: s.dialer()}
	var roots *x509.CertPool
	if s.Type == SSLGet && s.TLSVerify && s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s: no PEM certificate", s.CAFile)
		}
	}
	for _, u := range s.URLs {
		hu := httpURL{URL: u, request: h.request(u)}
		if u.Digest != "" {
			d, err := hex.DecodeString(u.Digest)
			if err != nil {
				return nil, fmt.Errorf("digest %q: %w", u.Digest, err)
			}
			hu.digest = d
		}
		if u.Regex != "" {
			re, err := CompileRegex(u.Regex)
			if err != nil {
				return nil, err
			}
			hu.regex = re
		}
		if s.Type == SSLGet {
			hu.tls = h.tlsConfig(u, roots)
		}
		h.urls = append(h.urls, hu)
	}
	return h, nil
}

// request renders the GET for u. Without a virtual host the Host header is
// the target address.
func (h *httpChecker) request(u URL) []byte {
	host := u.VirtualHost
	if host == "" {
		defPort := uint16(80)
		if h.s.Type == SSLGet {
			defPort = 443
		}
		host = h.s.Target.Addr().String()
		if h.s.Target.Addr().Is6() {
			host = "[" + host + "]"
		}
		if h.s.Target.Port() != defPort {
			host += ":" + strconv.Itoa(int(h.s.Target.Port()))
		}
	}
	// keepalived's http_protocol: 1.0 is a bare HTTP/1.0 request, 1.0C adds
	// Connection: close, 1.1 always has it.
	version, closeHdr := "1.1", "Connection: close\r\n"
	switch h.s.HTTPProtocol {
	case "1.0":
		version, closeHdr = "1.0", ""
	case "1.0C":
		version = "1.0"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/%s\r\nHost: %s\r\nUser-Agent: xlb-healthd\r\nAccept: */*\r\n%s\r\n", u.Path, version, host, closeHdr)
	return b.Bytes()
}

// tlsConfig sends SNI only with enable_sni, as keepalived, and verifies the
// peer only with TLSVerify, against the virtual host or else the connect
// address. Go ties SNI and verification to one name, so verification is done
// here rather than by crypto/tls.
func (h *httpChecker) tlsConfig(u URL, roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // keepalived semantics; TLSVerify turns verification on
	if h.s.EnableSNI && u.VirtualHost != "" {
		cfg.ServerName = u.VirtualHost
	}
	if !h.s.TLSVerify {
		return cfg
	}
	name := u.VirtualHost
	if name == "" {
		name = h.s.Target.Addr().String()
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			DNSName:       name,
		})
		if err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
		}
		return nil
	}
	return cfg
}

func (h *httpChecker) String() string { return h.s.String() }

func (h *httpChecker) Check(ctx context.Context) (int, error) {
	for i := range h.urls {
		if err := h.fetch(ctx, &h.urls[i]); err != nil {
			return -1, err
		}
	}
	return -1, nil
}

// aLongTimeAgo is a deadline in the past, to abort blocked I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// fetch checks one URL on one connection, all of it within connect_timeout.
func (h *httpChecker) fetch(ctx context.Context, u *httpURL) error {
	ctx, cancel := context.WithTimeout(ctx, h.s.ConnectTimeout)
	defer cancel()
	tcp, err := h.dialer.DialContext(ctx, "tcp", h.target)
	if err != nil {
		return fail(classify(err), err)
	}
	defer tcp.Close()
	if h.s.Local.Port() != 0 {
		// With a fixed source port the next probe reuses this exact
		// 4-tuple: close with a reset so no TIME_WAIT blocks it.
		if tc, ok := tcp.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	deadline, _ := ctx.Deadline()
	_ = tcp.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = tcp.SetDeadline(aLongTimeAgo) })
	defer stop()

	conn := tcp
	if u.tls != nil {
		tc := tls.Client(tcp, u.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			if r := classify(err); r == "timeout" || r == "connection reset" || r == "connection closed by peer" {
				return fail(r+" during TLS handshake", err)
			}
			return fail("TLS error: "+trimTLS(err), err)
		}
		conn = tc
	}
	if _, err := conn.Write(u.request); err != nil {
		return fail(classify(err), fmt.Errorf("send request for %s: %w", u.Path, err))
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fail(classify(err), fmt.Errorf("read response for %s: %w", u.Path, err))
	}
	// resp.Body is not closed: Close would drain it. The connection's
	// close ends the exchange instead.
	if !statusOK(u.StatusCodes, resp.StatusCode) {
		return fail(fmt.Sprintf("status %d on %s", resp.StatusCode, u.Path), nil)
	}
	if u.digest == nil && u.regex == nil {
		return nil
	}
	// The body is kept only for a regex; a digest alone is computed as it
	// streams by.
	sum := md5.New()
	var body bytes.Buffer
	w := io.Writer(sum)
	if u.regex != nil {
		w = io.MultiWriter(sum, &body)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, MaxDigestBody+1))
	if err != nil {
		return fail(classify(err), fmt.Errorf("read body of %s: %w", u.Path, err))
	}
	if n > MaxDigestBody {
		return fail(fmt.Sprintf("body of %s larger than %d bytes", u.Path, MaxDigestBody), nil)
	}
	if u.digest != nil {
		if got := sum.Sum(nil); !bytes.Equal(got, u.digest) {
			return fail("digest mismatch on "+u.Path, fmt.Errorf("md5 %x, want %x", got, u.digest))
		}
	}
	if u.regex != nil && u.regex.Match(body.Bytes()) == u.RegexNoMatch {
		if u.RegexNoMatch {
			return fail("regex_no_match matched on "+u.Path, fmt.Errorf("regex %q", u.Regex))
		}
		return fail("regex did not match on "+u.Path, fmt.Errorf("regex %q", u.Regex))
	}
	return nil
}

func trimTLS(err error) string {
	s := err.Error()
	if len(s) > 5 && s[:5] == "tls: " {
		return s[5:]
	}
	return s
}

func statusOK(ranges []StatusRange, code int) bool {
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}
