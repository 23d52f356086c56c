package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// DefaultSMTPTimeout is keepalived's smtp_connect_timeout default.
const DefaultSMTPTimeout = 30 * time.Second

// MailConfig is keepalived's global_defs mail settings.
type MailConfig struct {
	// Server is smtp_server: "host" or "host:port", port 25 by default. A
	// host name is allowed because operators write "localhost".
	Server string
	// From is notification_email_from.
	From string
	// To is notification_email.
	To []string
	// HeloName is smtp_helo_name; empty means the host name.
	HeloName string
	// ConnectTimeout is smtp_connect_timeout; it bounds the whole SMTP
	// session, from dial to QUIT. 0 means DefaultSMTPTimeout.
	ConnectTimeout time.Duration
}

// Mailer sends short plain-text alerts through one SMTP relay, without TLS or
// authentication, as keepalived does. It is safe for concurrent use; every
// Send is its own SMTP session.
type Mailer struct {
	cfg  MailConfig
	addr string
	host string
	// envelope addresses: the bare addr-spec of From and To
	envFrom string
	envTo   []string
}

// NewMailer checks cfg and returns a Mailer.
func NewMailer(cfg MailConfig) (*Mailer, error) {
	var errs []error
	host, addr := cfg.Server, cfg.Server
	if h, _, err := net.SplitHostPort(cfg.Server); err == nil {
		host = h
	} else {
		addr = net.JoinHostPort(strings.Trim(cfg.Server, "[]"), "25")
		host = strings.Trim(cfg.Server, "[]")
	}
	if host == "" {
		errs = append(errs, errors.New("smtp server: empty"))
	}
	m := &Mailer{addr: addr, host: host}
	if a, err := mail.ParseAddress(cfg.From); err != nil || hasCRLF(cfg.From) {
		errs = append(errs, fmt.Errorf("notification_email_from %q: invalid address", cfg.From))
	} else {
		m.envFrom = a.Address
	}
	if len(cfg.To) == 0 {
		errs = append(errs, errors.New("notification_email: no recipient"))
	}
	for _, to := range cfg.To {
		if a, err := mail.ParseAddress(to); err != nil || hasCRLF(to) {
			errs = append(errs, fmt.Errorf("notification_email %q: invalid address", to))
		} else {
			m.envTo = append(m.envTo, a.Address)
		}
	}
	if hasCRLF(cfg.HeloName) || strings.ContainsAny(cfg.HeloName, " \t") {
		errs = append(errs, fmt.Errorf("smtp_helo_name %q: invalid", cfg.HeloName))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("mail config: %w", err)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultSMTPTimeout
	}
	if cfg.HeloName == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			cfg.HeloName = h
		} else {
			cfg.HeloName = "localhost"
		}
	}
	cfg.To = append([]string(nil), cfg.To...)
	m.cfg = cfg
	return m, nil
}

// Send mails subject and body to every recipient in one SMTP session bounded
// by the connect timeout and ctx.
func (m *Mailer) Send(ctx context.Context, subject, body string) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("smtp connect %s: %w", m.addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("smtp %s: %w", m.addr, err)
	}
	// A cancelled ctx unblocks whatever read or write is under way.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("smtp %s: greeting: %w", m.addr, err)
	}
	defer c.Close()
	if err := c.Hello(m.cfg.HeloName); err != nil {
		return fmt.Errorf("smtp %s: helo: %w", m.addr, err)
	}
	if err := c.Mail(m.envFrom); err != nil {
		return fmt.Errorf("smtp %s: mail from: %w", m.addr, err)
	}
	for _, to := range m.envTo {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp %s: rcpt to %s: %w", m.addr, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: data: %w", m.addr, err)
	}
	if _, err := w.Write(m.message(subject, body, time.Now())); err != nil {
		return fmt.Errorf("smtp %s: write message: %w", m.addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: end of data: %w", m.addr, err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp %s: quit: %w", m.addr, err)
	}
	return nil
}

// message renders the RFC 5322 message. Line ends are "\n"; the DATA writer
// turns them into CRLF and dot-stuffs the body.
func (m *Mailer) message(subject, body string, now time.Time) []byte {
	var id [8]byte
	_, _ = rand.Read(id[:])
	subject = strings.Join(strings.Fields(subject), " ")
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\n", m.cfg.From)
	fmt.Fprintf(&b, "To: %s\n", strings.Join(m.cfg.To, ", "))
	fmt.Fprintf(&b, "Subject: %s\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%d.%s@%s>\n", now.UnixNano(), hex.EncodeToString(id[:]), m.cfg.HeloName)
	b.WriteString("MIME-Version: 1.0\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\n")
	b.WriteString("Content-Transfer-Encoding: 8bit\n")
	b.WriteString("\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\n")
	}
	return []byte(b.String())
}

func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }
