package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xlb/xlb/internal/config"
)

const seedDir = "../../internal/keepalived/testdata/seed"

// runImport runs import-keepalived in an app of its own, so the test does
// not depend on how main registers the command.
func runImport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	app := &cli.App{
		Name:           "xlbctl",
		Writer:         &o,
		ErrWriter:      &e,
		Commands:       []*cli.Command{importCommand},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	err := app.Run(append([]string{"xlbctl", "import-keepalived"}, args...))
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("error without an exit code: %v", err)
		}
		code = ee.code
		report(&e, err)
	}
	return code, o.String(), e.String()
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportSeedToStdout(t *testing.T) {
	code, out, errOut := runImport(t, "--iptables", seedDir+"/iptables.rules", seedDir+"/keepalived.conf")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	c, err := config.Parse("xlb.toml", []byte(out))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if len(c.VirtualServers) != 1 || len(c.VRRPInstances) != 2 || len(c.Gateway.Masquerade) != 1 {
		t.Errorf("imported %d services, %d instances, %d masquerade rules", len(c.VirtualServers), len(c.VRRPInstances), len(c.Gateway.Masquerade))
	}
	for _, want := range []string{
		"keepalived.conf:50: auth_pass: warning: keepalived uses only the first 8 characters",
		"iptables.rules:6: -A INPUT -i lo -j ACCEPT: warning",
		"0 items not supported, 7 warnings",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestImportWritesOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "xlb.toml")
	code, stdout, errOut := runImport(t, "-o", out, seedDir+"/keepalived.conf")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing with -o", stdout)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds VRRP passwords)", st.Mode().Perm())
	}
	if _, err := config.Load(out); err != nil {
		t.Errorf("written file does not load: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".xlb.toml.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// unsupported holds a keyword xlb cannot express.
const unsupported = `vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    use_vmac
    virtual_ipaddress {
        203.0.113.10/24
    }
}
`

func TestImportStrict(t *testing.T) {
	in := writeTemp(t, "keepalived.conf", unsupported)
	out := filepath.Join(t.TempDir(), "xlb.toml")

	code, _, errOut := runImport(t, "--strict", "-o", out, in)
	if code != 1 {
		t.Fatalf("--strict: exit %d, want 1; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "keepalived.conf:6: use_vmac: not supported (xlb has no VRRP virtual MAC") {
		t.Errorf("stderr lacks the unsupported item:\n%s", errOut)
	}
	if !strings.Contains(errOut, "1 item not supported (--strict); nothing written") {
		t.Errorf("stderr lacks the summary:\n%s", errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--strict failure wrote %s", out)
	}

	code, stdout, errOut := runImport(t, in)
	if code != 0 {
		t.Fatalf("without --strict: exit %d; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(stdout, "# xlb: not imported: use_vmac (xlb has no VRRP virtual MAC") {
		t.Errorf("output lacks the not-imported comment:\n%s", stdout)
	}
	if !strings.Contains(errOut, "use_vmac: not supported") {
		t.Errorf("stderr lacks the unsupported item:\n%s", errOut)
	}
}

func TestImportBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, conf, want string
	}{
		{"unbalanced_braces", "vrrp_instance VI_1 {\n    state MASTER\n", "keepalived.conf:1: vrrp_instance: block is not closed (expected '}' before the end of the file)"},
		{"unknown_block", "vrrp_instanse VI_1 {\n}\n", "keepalived.conf:1: vrrp_instanse: unknown block"},
		{"bad_address", "virtual_server 203.0.113.300 80 {\n}\n", `keepalived.conf:1: virtual_server: bad address "203.0.113.300"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writeTemp(t, "keepalived.conf", tc.conf)
			out := filepath.Join(t.TempDir(), "xlb.toml")
			code, stdout, errOut := runImport(t, "-o", out, in)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut)
			}
			if !strings.Contains(errOut, "1 problem; nothing written") {
				t.Errorf("stderr lacks the summary:\n%s", errOut)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("bad input wrote %s", out)
			}
		})
	}
}

func TestImportUsage(t *testing.T) {
	code, _, errOut := runImport(t)
	if code != 2 || !strings.Contains(errOut, "want one keepalived configuration FILE, got 0 arguments") {
		t.Errorf("no FILE: exit %d, stderr:\n%s", code, errOut)
	}
	code, _, errOut = runImport(t, filepath.Join(t.TempDir(), "none.conf"))
	if code != 2 || !strings.Contains(errOut, "none.conf") {
		t.Errorf("missing FILE: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestImportInstance(t *testing.T) {
	in := writeTemp(t, "keepalived.conf", `global_defs {
    @lb1 router_id lb1
    @lb2 router_id lb2
}
`)
	for _, name := range []string{"lb1", "lb2"} {
		code, out, errOut := runImport(t, "--instance", name, in)
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, errOut)
		}
		if !strings.Contains(out, `router_id = "`+name+`"`) || strings.Count(out, "router_id =") != 1 {
			t.Errorf("--instance %s:\n%s", name, out)
		}
	}
}

// TestImportLVSOnlyNeedsInterfaces: a keepalived.conf without vrrp_instance
// gives no hint where XDP must run; the import says so, and --interfaces
// completes it.
func TestImportLVSOnlyNeedsInterfaces(t *testing.T) {
	in := writeTemp(t, "keepalived.conf", `virtual_server 203.0.113.10 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 192.0.2.100 80 {
    TCP_CHECK {
      connect_timeout 3
    }
  }
}
`)
	code, _, errOut := runImport(t, in)
	if code != 2 || !strings.Contains(errOut, "name them with --interfaces") {
		t.Errorf("without --interfaces: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut := runImport(t, "--interfaces", "eth0,eth1", in)
	if code != 0 || !strings.Contains(out, `interfaces = ["eth0", "eth1"]`) {
		t.Errorf("with --interfaces: exit %d, stderr %q, output:\n%s", code, errOut, out)
	}
}
