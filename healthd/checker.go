package healthd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

// Checker probes one target once. Each CheckType has one; NewChecker
// builds them.
type Checker interface {
	// Check probes once. A nil error means the target passed. weight is
	// the weight the target reported (MISC_CHECK with misc_dynamic), or -1
	// when it reports none; for FILE_CHECK it is the amount (of either
	// sign) to add to the real's weight. Errors are *CheckError values
	// whose Reason is the short cause.
	Check(ctx context.Context) (weight int, err error)
	// String names the checker and its target, e.g. "TCP_CHECK
	// 192.0.2.100:80".
	String() string
}

// CheckError is a failed probe.
type CheckError struct {
	// Reason is the short cause, for logs, events and status: "timeout",
	// "connection refused", "status 503 on /", "digest mismatch on /",
	// "exit code 1", "TLS error: …".
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *CheckError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *CheckError) Unwrap() error { return e.Err }

func fail(reason string, err error) *CheckError { return &CheckError{Reason: reason, Err: err} }

// reasonOf returns the short cause of a check failure.
func reasonOf(err error) string {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return classify(err)
}

// classify names the cause of a network error the way operators say it.
func classify(err error) string {
	var (
		certErr  *tls.CertificateVerificationError
		alertErr tls.AlertError
		recErr   tls.RecordHeaderError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
		netErr   net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return "cannot bind source address"
	case errors.As(err, &certErr), errors.As(err, &alertErr), errors.As(err, &recErr),
		errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invErr):
		return "TLS error: " + strings.TrimPrefix(err.Error(), "tls: ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by peer"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	return err.Error()
}

// NewChecker builds the checker of c for a real at addr. Zero fields take
// keepalived's defaults, as in Monitor.Set.
func NewChecker(addr netip.AddrPort, c Check) (Checker, error) {
	n := normalize(c, 0, addr)
	if err := n.validate(); err != nil {
		return nil, err
	}
	return n.build()
}

// spec is a Check with its defaults filled in and its target resolved.
type spec struct {
	Check
	Target netip.AddrPort
	Local  netip.AddrPort
}

// normalize fills c's defaults from keepalived's and resolves its target.
func normalize(c Check, vsDelay time.Duration, addr netip.AddrPort) spec {
	if c.DelayLoop <= 0 {
		c.DelayLoop = vsDelay
	}
	if c.DelayLoop <= 0 {
		c.DelayLoop = DefaultDelayLoop
	}
	if c.Type == FileCheck {
		// keepalived's FILE_CHECK has no scheduling options: the file's
		// state applies at once, without retries.
		c.DelayLoop, c.Retry, c.Warmup = FileCheckInterval, 0, -1
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.DelayBeforeRetry <= 0 {
		c.DelayBeforeRetry = DefaultDelayBeforeRetry(c.Type)
	}
	if c.DelayBeforeRetry <= 0 {
		c.DelayBeforeRetry = c.DelayLoop // DNS_CHECK
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = c.DelayLoop
	case c.Warmup < 0:
		c.Warmup = 0
	}
	if c.MiscTimeout <= 0 {
		c.MiscTimeout = c.DelayLoop
	}
	urls := make([]URL, len(c.URLs))
	for i, u := range c.URLs {
		if len(u.StatusCodes) == 0 {
			u.StatusCodes = []StatusRange{{200, 299}}
		}
		u.Digest = strings.ToLower(u.Digest)
		if u.VirtualHost == "" {
			u.VirtualHost = c.VirtualHost
		}
		urls[i] = u
	}
	c.URLs = urls
	switch c.Type {
	case HTTPGet, SSLGet:
		if c.HTTPProtocol == "" {
			c.HTTPProtocol = "1.1"
		}
		if strings.EqualFold(c.HTTPProtocol, "1.0c") {
			c.HTTPProtocol = "1.0C"
		}
	case DNSCheck:
		c.DNSType = strings.ToUpper(c.DNSType)
		if c.DNSType == "" {
			c.DNSType = DefaultDNSType
		}
		if c.DNSName == "" {
			c.DNSName = "."
		}
	case UDPCheck:
		if c.MaxReplyLength == 0 {
			c.MaxReplyLength = DefaultMaxReplyLength
		}
	case SMTPCheck:
		if c.HeloName == "" {
			c.HeloName = DefaultHeloName
		}
	}
	ip := addr.Addr().Unmap()
	if c.ConnectIP.IsValid() {
		ip = c.ConnectIP.Unmap()
	}
	port := addr.Port()
	if c.ConnectPort != 0 {
		port = c.ConnectPort
	}
	if c.Type == PingCheck {
		port, c.BindPort = 0, 0
	}
	s := spec{Check: c, Target: netip.AddrPortFrom(ip, port)}
	if c.BindTo.IsValid() || c.BindPort != 0 {
		bind := c.BindTo.Unmap()
		if !bind.IsValid() {
			bind = netip.IPv4Unspecified()
			if ip.Is6() {
				bind = netip.IPv6Unspecified()
			}
		}
		s.Local = netip.AddrPortFrom(bind, c.BindPort)
	}
	return s
}

func (s spec) String() string {
	return s.Type.String() + " " + s.target()
}

// target names what the check probes, for logs and status.
func (s spec) target() string {
	switch s.Type {
	case MiscCheck:
		return s.MiscPath
	case FileCheck:
		return s.TrackFile + " (" + s.FilePath + ")"
	case PingCheck:
		return s.Target.Addr().String()
	}
	return s.Target.String()
}

// build returns the checker for a validated spec.
func (s spec) build() (Checker, error) {
	switch s.Type {
	case HTTPGet, SSLGet:
		return newHTTPChecker(s)
	case TCPCheck:
		return newTCPChecker(s), nil
	case MiscCheck:
		return newMiscChecker(s)
	case DNSCheck:
		return newDNSChecker(s)
	case UDPCheck:
		return newUDPChecker(s)
	case PingCheck:
		return newPingChecker(s), nil
	case SMTPCheck:
		return newSMTPChecker(s), nil
	case FileCheck:
		return newFileChecker(s), nil
	}
	return nil, fmt.Errorf("unknown checker type %v", s.Type)
}

// dialer returns the dialer for network checks: no TCP keepalive (a probe
// lives for one request), the bindto/bind_port source if any, and
// SO_REUSEADDR when the source port is fixed, so the previous probe's
// TIME_WAIT does not block the next one.
//
// Without bindto/bind_port the dialer has no LocalAddr at all: a zero
// source address would still make Go bind(2) to port 0 before connecting
// (Dialer.DialTCP does so for a zero netip.AddrPort), and a bind-time port
// search is far dearer than connect's and cannot share a port between
// destinations; at 10 000 checks a second it cost more than a core.
func (s spec) dialer() *net.Dialer {
	d := &net.Dialer{KeepAlive: -1}
	if s.Local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(s.Local)
	}
	if s.Local.Port() != 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

// deadline is when a probe starting now must end: connect_timeout from now,
// or ctx's deadline if sooner.
func (s spec) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(s.ConnectTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// dialUDP returns a connected UDP socket to the target, from the
// bindto/bind_port source if any. A connected socket receives only the
// target's datagrams and the ICMP errors about them (ECONNREFUSED for port
// unreachable, EHOSTUNREACH, ENETUNREACH).
func (s spec) dialUDP(ctx context.Context) (*net.UDPConn, error) {
	d := &net.Dialer{}
	if s.Local.IsValid() {
		d.LocalAddr = net.UDPAddrFromAddrPort(s.Local)
	}
	c, err := d.DialContext(ctx, "udp", s.Target.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// bound sets c's deadline and aborts its blocked I/O when ctx ends; call
// the returned stop when done.
func bound(ctx context.Context, c interface{ SetDeadline(time.Time) error }, deadline time.Time) (stop func() bool) {
	_ = c.SetDeadline(deadline)
	return context.AfterFunc(ctx, func() { _ = c.SetDeadline(aLongTimeAgo) })
}

// classifyDatagram names the cause of an error on a connected UDP socket:
// ICMP errors show as the errors of a refused or unreachable connection.
func classifyDatagram(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "port unreachable"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	}
	return classify(err)
}
