package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector turns the daemon's status into Prometheus metrics at each
// scrape, so they are never staler than the dataplane's counters.
type collector struct{ d *Daemon }

var (
	svcLabels  = []string{"vip", "protocol"}
	realLabels = []string{"vip", "protocol", "real"}

	descSvcConns      = prometheus.NewDesc("xlb_service_connections_total", "Connections scheduled by the virtual server.", svcLabels, nil)
	descSvcPktsIn     = prometheus.NewDesc("xlb_service_packets_in_total", "Packets from clients to the virtual server.", svcLabels, nil)
	descSvcPktsOut    = prometheus.NewDesc("xlb_service_packets_out_total", "Packets from the reals back to clients.", svcLabels, nil)
	descSvcBytesIn    = prometheus.NewDesc("xlb_service_bytes_in_total", "Bytes from clients to the virtual server.", svcLabels, nil)
	descSvcBytesOut   = prometheus.NewDesc("xlb_service_bytes_out_total", "Bytes from the reals back to clients.", svcLabels, nil)
	descSvcQuorum     = prometheus.NewDesc("xlb_service_quorum", "1 while the virtual server has its quorum of live reals.", svcLabels, nil)
	descSvcSorry      = prometheus.NewDesc("xlb_service_sorry_active", "1 while the sorry server answers.", svcLabels, nil)
	descRealUp        = prometheus.NewDesc("xlb_real_up", "1 when the real passes its health checks.", realLabels, nil)
	descRealDrained   = prometheus.NewDesc("xlb_real_drained", "1 when an operator drained the real.", realLabels, nil)
	descRealWeight    = prometheus.NewDesc("xlb_real_weight", "The real's configured (or operator-set) weight.", realLabels, nil)
	descRealEffective = prometheus.NewDesc("xlb_real_effective_weight", "The weight the scheduler uses now (0: no new connections).", realLabels, nil)
	descRealActive    = prometheus.NewDesc("xlb_real_active_connections", "Established connections (ipvsadm ActiveConn).", realLabels, nil)
	descRealInactive  = prometheus.NewDesc("xlb_real_inactive_connections", "Other tracked connections (ipvsadm InActConn).", realLabels, nil)
	descRealConns     = prometheus.NewDesc("xlb_real_connections_total", "Connections scheduled to the real.", realLabels, nil)
	descRealPktsIn    = prometheus.NewDesc("xlb_real_packets_in_total", "Packets forwarded to the real.", realLabels, nil)
	descRealPktsOut   = prometheus.NewDesc("xlb_real_packets_out_total", "Packets from the real rewritten back to the VIP.", realLabels, nil)
	descFrames        = prometheus.NewDesc("xlb_dataplane_frames_total", "Frames seen by the XDP program, by verdict and reason.", []string{"reason"}, nil)
	descReloads       = prometheus.NewDesc("xlb_config_last_reload_successful", "1 if the last reload was applied, 0 if it was rejected.", nil, nil)
	descVRRPState     = prometheus.NewDesc("xlb_vrrp_master", "1 while the VRRP instance is master.", []string{"instance"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSvcConns, descSvcPktsIn, descSvcPktsOut, descSvcBytesIn, descSvcBytesOut, descSvcQuorum, descSvcSorry,
		descRealUp, descRealDrained, descRealWeight, descRealEffective, descRealActive, descRealInactive, descRealConns, descRealPktsIn, descRealPktsOut,
		descFrames, descReloads, descVRRPState} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.status()
	for _, s := range st.Services {
		l := []string{s.Address, s.Protocol}
		ch <- prometheus.MustNewConstMetric(descSvcConns, prometheus.CounterValue, float64(s.Traffic.Conns), l...)
		ch <- prometheus.MustNewConstMetric(descSvcPktsIn, prometheus.CounterValue, float64(s.Traffic.PacketsIn), l...)
		ch <- prometheus.MustNewConstMetric(descSvcPktsOut, prometheus.CounterValue, float64(s.Traffic.PacketsOut), l...)
		ch <- prometheus.MustNewConstMetric(descSvcBytesIn, prometheus.CounterValue, float64(s.Traffic.BytesIn), l...)
		ch <- prometheus.MustNewConstMetric(descSvcBytesOut, prometheus.CounterValue, float64(s.Traffic.BytesOut), l...)
		ch <- prometheus.MustNewConstMetric(descSvcQuorum, prometheus.GaugeValue, b2f(s.Quorum), l...)
		ch <- prometheus.MustNewConstMetric(descSvcSorry, prometheus.GaugeValue, b2f(s.SorryActive), l...)
		for _, r := range s.Reals {
			rl := []string{s.Address, s.Protocol, r.Address}
			ch <- prometheus.MustNewConstMetric(descRealUp, prometheus.GaugeValue, b2f(r.Health == "up"), rl...)
			ch <- prometheus.MustNewConstMetric(descRealDrained, prometheus.GaugeValue, b2f(r.Drained), rl...)
			ch <- prometheus.MustNewConstMetric(descRealWeight, prometheus.GaugeValue, float64(r.Weight), rl...)
			ch <- prometheus.MustNewConstMetric(descRealEffective, prometheus.GaugeValue, float64(r.EffectiveWeight), rl...)
			ch <- prometheus.MustNewConstMetric(descRealActive, prometheus.GaugeValue, float64(r.ActiveConns), rl...)
			ch <- prometheus.MustNewConstMetric(descRealInactive, prometheus.GaugeValue, float64(r.InactiveConns), rl...)
			ch <- prometheus.MustNewConstMetric(descRealConns, prometheus.CounterValue, float64(r.Traffic.Conns), rl...)
			ch <- prometheus.MustNewConstMetric(descRealPktsIn, prometheus.CounterValue, float64(r.Traffic.PacketsIn), rl...)
			ch <- prometheus.MustNewConstMetric(descRealPktsOut, prometheus.CounterValue, float64(r.Traffic.PacketsOut), rl...)
		}
	}
	for _, v := range st.VRRP {
		ch <- prometheus.MustNewConstMetric(descVRRPState, prometheus.GaugeValue, b2f(v.State == "MASTER"), v.Name)
	}
	if frames, err := c.d.dp.Counters(); err == nil {
		for reason, n := range frames {
			ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(n), reason)
		}
	}
	ok := true
	if st.LastReload != nil {
		ok = st.LastReload.OK
	}
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.GaugeValue, b2f(ok))
}

// metricsHandler serves /metrics.
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// serveMetrics serves /metrics on metrics_listen, if set.
func (d *Daemon) serveMetrics(ctx context.Context, addr string) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", d.metricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
