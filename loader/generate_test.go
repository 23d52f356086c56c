package loader

import (
	"testing"

	"github.com/xlb/xlb/internal/testutil"
)

// TestGeneratedUpToDate fails when the committed BPF object and bindings
// are not what bpf/ builds into.
func TestGeneratedUpToDate(t *testing.T) {
	testutil.RequireGeneratedUpToDate(t, "loader", "xlb_bpfel.go", "xlb_bpfel.o")
}
