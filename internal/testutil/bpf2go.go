package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// RequireGeneratedUpToDate rebuilds a package's BPF object and Go bindings
// with the bpf2go directive of its gen.go (run from the package's
// directory, as go test does) into a temporary directory and fails the
// test if the committed files differ: they are what `go build` embeds.
// files are the generated files to compare, pkg the Go package name.
func RequireGeneratedUpToDate(t *testing.T, pkg string, files ...string) {
	t.Helper()
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate go tool bpf2go (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("gen.go has no bpf2go directive")
	}
	args := strings.Fields(string(m[1]))
	if len(args) < 2 || args[0] != "-cc" {
		t.Fatalf("gen.go's directive must start with -cc COMPILER: %q", m[1])
	}
	if _, err := exec.LookPath(args[1]); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed: run `make deps`", args[1])
		}
		t.Skipf("skipped: %s not installed (make deps installs it)", args[1])
	}
	out := t.TempDir()
	cmd := exec.Command("go", append([]string{"tool", "bpf2go", "-output-dir", out}, args...)...)
	cmd.Env = append(os.Environ(), "GOPACKAGE="+pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, b)
	}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make generate` (go generate) and commit it", f)
		}
	}
}
