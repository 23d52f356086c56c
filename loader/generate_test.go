package loader

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGeneratedUpToDate rebuilds the BPF object and bindings from bpf/
// with the go:generate directive of gen.go and fails if the committed
// ones differ: they are what `go build` embeds.
func TestGeneratedUpToDate(t *testing.T) {
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate go tool bpf2go (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("gen.go has no bpf2go directive")
	}
	args := strings.Fields(string(m[1]))
	if _, err := exec.LookPath(args[1]); err != nil { // -cc <compiler>
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed: run `make deps`", args[1])
		}
		t.Skipf("skipped: %s not installed (make deps installs it)", args[1])
	}
	out := t.TempDir()
	cmd := exec.Command("go", append([]string{"tool", "bpf2go", "-output-dir", out}, args...)...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=loader")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, b)
	}
	for _, f := range []string{"xlb_bpfel.go", "xlb_bpfel.o"} {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make generate` and commit it", f)
		}
	}
}
