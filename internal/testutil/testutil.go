// Package testutil holds helpers shared by xlb's tests.
package testutil

import (
	"os"
	"testing"

	"github.com/xlb/xlb/internal/lab"
)

// RequireRoot skips the test with a clear message unless it runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipped: needs root (BPF, network namespaces); run `sudo make test`")
	}
}

// RequireNetNSTests skips network-namespace tests in -short mode and when
// not root.
func RequireNetNSTests(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipped in -short mode: builds network namespaces")
	}
	RequireRoot(tb)
}

// NewNS creates a uniquely named network namespace deleted at test end.
func NewNS(tb testing.TB, prefix string) *lab.NS {
	tb.Helper()
	RequireRoot(tb)
	ns, err := lab.NewNS(lab.UniqueName(prefix))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := ns.Close(); err != nil {
			tb.Error(err)
		}
	})
	return ns
}

// Must fails the test on a non-nil error.
func Must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
