package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/testutil"
)

// testLogger writes the Gateway's log lines to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newGateway returns a Gateway working in ns, closed at test end.
func newGateway(t *testing.T, ns *lab.NS) *Gateway {
	t.Helper()
	g, err := New(testLogger(t), WithNetNS(int(ns.Handle())))
	testutil.Must(t, err)
	t.Cleanup(g.Close)
	return g
}

// routerNS is a namespace with a veth pair pub0 -- farm0 inside it, enough
// for rules and sysctls that need existing interfaces.
func routerNS(t *testing.T) *lab.NS {
	t.Helper()
	testutil.RequireNetNSTests(t)
	ns := testutil.NewNS(t, "xlbgw-")
	testutil.Must(t, lab.Veth(ns, "pub0", ns, "farm0"))
	return ns
}

// sysctl reads a key ("net.ipv4.ip_forward"; an interface's dots as
// slashes) in ns.
func sysctl(t *testing.T, ns *lab.NS, name string) string {
	t.Helper()
	var parts []string
	for _, p := range strings.Split(name, ".") {
		parts = append(parts, strings.ReplaceAll(p, "/", "."))
	}
	var v string
	err := ns.Do(func() error {
		b, err := os.ReadFile(filepath.Join(append([]string{"/proc/sys"}, parts...)...))
		v = strings.TrimSpace(string(b))
		return err
	})
	testutil.Must(t, err)
	return v
}

// wantSysctls checks several keys at once.
func wantSysctls(t *testing.T, ns *lab.NS, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if got := sysctl(t, ns, k); got != want[k] {
			t.Errorf("%s = %s, want %s", k, got, want[k])
		}
	}
}

// nft runs the nft command in ns and returns its standard output.
func nft(t *testing.T, ns *lab.NS, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := ns.Command(ctx, "nft", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &nftError{err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return out, nil
}

type nftError struct {
	err    error
	stderr string
}

func (e *nftError) Error() string { return e.err.Error() + ": " + e.stderr }

// mustNFT is nft that fails the test on error.
func mustNFT(t *testing.T, ns *lab.NS, args ...string) []byte {
	t.Helper()
	out, err := nft(t, ns, args...)
	if err != nil {
		t.Fatalf("nft %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// nftLoad feeds a ruleset in nft syntax to `nft -f -` in ns.
func nftLoad(t *testing.T, ns *lab.NS, ruleset string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
}

// xlbJSON returns `nft -j list table inet xlb` without the metainfo entry
// and handles, with set elements sorted: what the table holds, not how the
// kernel numbered it.
func xlbJSON(t *testing.T, ns *lab.NS) string {
	t.Helper()
	return normalizeNFTJSON(t, mustNFT(t, ns, "-j", "list", "table", "inet", "xlb"))
}

func normalizeNFTJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var doc struct {
		Nftables []map[string]any `json:"nftables"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse nft json: %v\n%s", err, raw)
	}
	var objs []any
	for _, o := range doc.Nftables {
		if _, ok := o["metainfo"]; ok {
			continue
		}
		objs = append(objs, stripHandles(o))
	}
	b, err := json.MarshalIndent(objs, "", "  ")
	testutil.Must(t, err)
	return string(b)
}

func stripHandles(v any) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "handle")
		for k, x := range v {
			v[k] = stripHandles(x)
		}
		if elems, ok := v["elem"].([]any); ok {
			slices.SortFunc(elems, func(a, b any) int {
				as, _ := json.Marshal(a)
				bs, _ := json.Marshal(b)
				return bytes.Compare(as, bs)
			})
		}
	case []any:
		for i, x := range v {
			v[i] = stripHandles(x)
		}
	}
	return v
}

// canonJSON re-indents a hand-written JSON document like normalizeNFTJSON.
func canonJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expected json: %v", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	testutil.Must(t, err)
	return string(b)
}
