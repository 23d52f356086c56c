//go:build !linux

package healthd

import (
	"context"
	"time"
)

func (t *tcpChecker) connect(ctx context.Context, deadline time.Time) error {
	return t.dialAndReset(ctx, deadline)
}
