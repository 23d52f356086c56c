package healthd

import (
	"context"
	"net"
	"time"
)

// tcpChecker is TCP_CHECK: the real passes when a connection is established
// within connect_timeout. The probe then closes with a reset, so it leaves no
// TIME_WAIT socket behind, which matters at thousands of probes a second.
type tcpChecker struct {
	s      spec
	target string
	dialer *net.Dialer
}

func newTCPChecker(s spec) *tcpChecker {
	return &tcpChecker{s: s, target: s.Target.String(), dialer: s.dialer()}
}

func (t *tcpChecker) String() string { return t.s.String() }

func (t *tcpChecker) Check(ctx context.Context) (int, error) {
	deadline := time.Now().Add(t.s.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := t.connect(ctx, deadline); err != nil {
		return -1, fail(classify(err), err)
	}
	return -1, nil
}

// dialAndReset is the portable probe: connect with net.Dialer, close with
// a reset.
func (t *tcpChecker) dialAndReset(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := t.dialer.DialContext(ctx, "tcp", t.target)
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return conn.Close()
}
