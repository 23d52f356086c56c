package healthd

import (
	"context"
	"errors"
	"fmt"

	"github.com/xlb/xlb/internal/notify"
)

// miscChecker is MISC_CHECK: it runs misc_path; exit 0 passes, 1 fails, and
// with misc_dynamic 2-255 pass and set the weight to code-2. Without
// misc_dynamic any non-zero exit fails.
type miscChecker struct {
	s   spec
	cmd *notify.Command
}

func newMiscChecker(s spec) (*miscChecker, error) {
	cmd, err := notify.Script{
		Line:    s.MiscPath,
		Shell:   s.Shell,
		User:    s.User,
		Timeout: s.MiscTimeout,
	}.Compile()
	if err != nil {
		return nil, fmt.Errorf("misc_path: %w", err)
	}
	return &miscChecker{s: s, cmd: cmd}, nil
}

func (m *miscChecker) String() string { return m.s.String() }

func (m *miscChecker) Check(ctx context.Context) (int, error) {
	res, err := m.cmd.Run(ctx)
	switch {
	case errors.Is(err, notify.ErrTimeout):
		return -1, fail(fmt.Sprintf("timeout after %v (killed)", m.s.MiscTimeout), err)
	case err != nil:
		return -1, fail(classify(err), err)
	case res.ExitCode == 0:
		return -1, nil
	case m.s.MiscDynamic && res.ExitCode >= 2 && res.ExitCode <= 255:
		return res.ExitCode - 2, nil
	case res.ExitCode < 0:
		return -1, fail("killed by a signal", nil)
	}
	return -1, fail(fmt.Sprintf("exit code %d", res.ExitCode), outputError(res.Output))
}

func outputError(out string) error {
	if out == "" {
		return nil
	}
	return errors.New("output: " + out)
}
