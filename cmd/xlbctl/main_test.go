package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/api"
)

// fakeXlbd serves canned API answers on a unix socket.
func fakeXlbd(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "xlbd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.Status{RouterID: "lb1", Started: time.Unix(0, 0), Interfaces: []string{"eth0"},
			Services: []api.Service{{Address: "203.0.113.10:80", Protocol: "TCP", Scheduler: "wlc", Persistence: "50s", Quorum: true,
				Reals: []api.Real{{Address: "192.0.2.100:80", Weight: 1, EffectiveWeight: 1, Health: "up", ActiveConns: 3, InactiveConns: 1}}}}})
	})
	mux.HandleFunc("GET "+api.PathConns, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("service") != "203.0.113.10:80" {
			w.WriteHeader(400)
			return
		}
		json.NewEncoder(w).Encode([]api.Conn{{Protocol: "TCP", Client: "198.51.100.10:4000", VIP: "203.0.113.10:80", Real: "192.0.2.100:80", State: "ESTABLISHED"}})
	})
	mux.HandleFunc("POST "+api.PathReload, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(api.Error{Error: "xlb.toml:3: global.nope: unknown key"})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	app := newApp(&o, &e)
	err := app.Run(interspersed(append([]string{"xlbctl"}, args...), app.Commands))
	if err != nil {
		code = report(&e, err)
	}
	return code, o.String(), e.String()
}

func TestCommands(t *testing.T) {
	sock := fakeXlbd(t)
	for _, tc := range []struct {
		name        string
		args        []string
		code        int
		out, errOut string
	}{
		{"status_prints_an_ipvsadm_like_table", []string{"--socket", sock, "status"}, 0, "-> 192.0.2.100:80  Masq", ""},
		{"status_json", []string{"--socket", sock, "--json", "status"}, 0, `"router_id": "lb1"`, ""},
		{"conns_of_a_service", []string{"--socket", sock, "conns", "--service", "203.0.113.10:80"}, 0, "ESTABLISHED", ""},
		{"rejected_reload_exits_1_with_the_reason", []string{"--socket", sock, "reload"}, 1, "", "xlb.toml:3: global.nope: unknown key"},
		{"bad_service_argument_is_a_usage_error", []string{"--socket", sock, "conns", "--service", "1.2.3"}, 2, "", "want IP:PORT"},
		{"unexpected_argument_is_a_usage_error", []string{"--socket", sock, "status", "now"}, 2, "", `unexpected argument "now"`},
		{"unknown_flag_is_a_usage_error", []string{"--socket", sock, "conns", "--nope"}, 2, "", "flag provided but not defined"},
		{"flags_after_arguments_work", []string{"--socket", sock, "conns", "--limit", "5", "--service", "203.0.113.10:80"}, 0, "ESTABLISHED", ""},
		{"no_daemon_exits_3", []string{"--socket", filepath.Join(t.TempDir(), "none.sock"), "status"}, 3, "", "xlbd is not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout lacks %q:\n%s", tc.out, out)
			}
			if tc.name == "status_prints_an_ipvsadm_like_table" {
				for _, l := range strings.Split(out, "\n") {
					if f := strings.Fields(l); len(f) > 2 && f[1] == "192.0.2.100:80" {
						if got := strings.Join(f[2:8], " "); got != "Masq 1 1 up 3 1" {
							t.Errorf("real row %q, want forward, weights, health, active, inactive = Masq 1 1 up 3 1", got)
						}
					}
				}
			}
			if !strings.Contains(errOut, tc.errOut) {
				t.Errorf("stderr lacks %q:\n%s", tc.errOut, errOut)
			}
		})
	}
}
