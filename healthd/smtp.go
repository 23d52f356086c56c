package healthd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
)

// maxSMTPReply bounds what one SMTP_CHECK reads from the server.
const maxSMTPReply = 64 << 10

// smtpChecker is SMTP_CHECK, keepalived's conversation: connect, read the
// greeting (220), send "HELO helo_name", read the reply (250), send QUIT
// and read its reply (any line: keepalived only waits for one). All of it
// within connect_timeout. Unlike keepalived, a multi-line reply ("220-…"
// continued by "220 …", RFC 5321) is read whole rather than failed.
type smtpChecker struct {
	s      spec
	target string
	dialer *net.Dialer
	helo   []byte
}

func newSMTPChecker(s spec) *smtpChecker {
	return &smtpChecker{s: s, target: s.Target.String(), dialer: s.dialer(), helo: []byte("HELO " + s.HeloName + "\r\n")}
}

func (c *smtpChecker) String() string { return c.s.String() }

func (c *smtpChecker) Check(ctx context.Context) (int, error) {
	ctx, cancel := context.WithDeadline(ctx, c.s.deadline(ctx))
	defer cancel()
	conn, err := c.dialer.DialContext(ctx, "tcp", c.target)
	if err != nil {
		return -1, fail(classify(err), err)
	}
	defer conn.Close()
	if c.s.Local.Port() != 0 {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // the next probe reuses the 4-tuple
		}
	}
	deadline, _ := ctx.Deadline()
	defer bound(ctx, conn, deadline)()
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(conn, maxSMTPReply)))

	if err := smtpExpect(tp, 220, "banner"); err != nil {
		return -1, err
	}
	if _, err := conn.Write(c.helo); err != nil {
		return -1, fail(classify(err), fmt.Errorf("send HELO: %w", err))
	}
	if err := smtpExpect(tp, 250, "HELO reply"); err != nil {
		return -1, err
	}
	if _, err := conn.Write([]byte("QUIT\r\n")); err != nil {
		return -1, fail(classify(err), fmt.Errorf("send QUIT: %w", err))
	}
	if _, err := tp.ReadLine(); err != nil {
		return -1, fail(classify(err)+" (no reply to QUIT)", err)
	}
	return -1, nil
}

// smtpExpect reads one reply and checks its code.
func smtpExpect(tp *textproto.Reader, code int, what string) error {
	got, msg, err := tp.ReadResponse(code)
	var te *textproto.Error
	var pe textproto.ProtocolError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return fail(fmt.Sprintf("bad %s %d", what, got), errors.New(msg))
	case errors.As(err, &pe):
		return fail("bad "+what+": not an SMTP reply", err)
	}
	return fail(classify(err)+" (waiting for the "+what+")", err)
}
