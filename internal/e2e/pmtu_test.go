package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/lab"
)

// TestPathMTUDiscovery narrows one link of the path to 1280 while every
// host's own interface stays at 1500, so TCP's MSS says 1460 and the
// first full-size segment with DF meets a link it does not fit: path MTU
// discovery must tell its sender, through the NAT. Each case fails as a
// stalled transfer (a PMTU black hole) when the sender is not told.
//
//   - the router's link to the client: the router's "fragmentation
//     needed" goes to the VIP; xlb hands it to the real, quote translated.
//   - the director's public link: xlb gives the reply to the kernel
//     un-NATed, and the kernel's error goes to the real.
//   - the director's farm link (an upload): xlb answers the client from
//     the VIP about what it sent, as IPVS does.
func TestPathMTUDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ns      func(e *env) *lab.NS
		link    string
		upload  bool
		counter string
	}{
		{"router_to_client_link", func(e *env) *lab.NS { return e.topo.Inet }, "eth1", false, "icmp_translated"},
		{"director_public_link", func(e *env) *lab.NS { return e.topo.LBs[0] }, "eth0", false, "pass_frag_needed"},
		{"director_farm_link", func(e *env) *lab.NS { return e.topo.LBs[0] }, "eth1", true, "tx_frag_needed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1, false)
			e.startXlbd(0, e.config("xlb.toml"))
			e.waitUp(10 * time.Second)

			nl := tc.ns(e).Netlink()
			l, err := nl.LinkByName(tc.link)
			if err != nil {
				t.Fatal(err)
			}
			if err := nl.LinkSetMTU(l, 1280); err != nil {
				t.Fatal(err)
			}
			labels := map[string]string{"reason": tc.counter}
			before := e.metric(t, "xlb_dataplane_frames_total", labels)

			const size = 1 << 20
			done := make(chan error, 1)
			go func() {
				if tc.upload {
					done <- upload(e, size)
					return
				}
				n, err := stream(e, size/(64<<10), 0)
				if err == nil && n != size {
					err = fmt.Errorf("got %d of %d bytes", n, size)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("transfer stalled: its sender never learnt the path MTU")
			}
			if got := e.metric(t, "xlb_dataplane_frames_total", labels) - before; got < 1 {
				t.Errorf("%s went up by %v, want at least 1", tc.counter, got)
			}
			// The sender has the 1280 path MTU cached.
			senders := e.topo.Webs
			dst := lab.ClientAddr
			if tc.upload {
				senders, dst = []*lab.NS{e.topo.Client}, lab.VIP
			}
			learnt := false
			for _, ns := range senders {
				rs, err := ns.Netlink().RouteGet(net.ParseIP(dst))
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					t.Logf("%s: route to %s, mtu %d", ns.Name, dst, r.MTU)
					learnt = learnt || r.MTU == 1280
				}
			}
			if !learnt {
				t.Errorf("no sender has the 1280 path MTU to %s cached", dst)
			}
		})
	}
}

// upload posts n bytes to a real through the VIP.
func upload(e *env, n int) error {
	resp, err := httpClient(e.topo.Client, time.Minute).Post(vipURL+"upload", "application/octet-stream", bytes.NewReader(make([]byte, n)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if got, _ := strconv.Atoi(string(b)); got != n {
		return fmt.Errorf("the real read %q bytes of %d", b, n)
	}
	return nil
}
