package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/internal/config"
	xsync "github.com/xlb/xlb/internal/sync"
)

// syncConfig translates [sync], reading the key file if there is one.
func syncConfig(c config.Sync) (xsync.Config, error) {
	sc := xsync.Config{
		Interface: c.Interface,
		Peers:     c.Peers,
		Group:     c.Group,
		Port:      c.Port,
		Key:       []byte(c.Key),
		MaxRate:   c.MaxRate,
	}
	if c.KeyFile != "" {
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return sc, fmt.Errorf("sync.key_file: %w", err)
		}
		sc.Key = []byte(strings.TrimSpace(string(b)))
	}
	return sc, nil
}

// startSync opens connection sync when [sync] is on; the director starts
// as backup and follows VRRP from there.
func (d *Daemon) startSync(cfg *config.Config) error {
	if !cfg.Sync.Enabled {
		return nil
	}
	sc, err := syncConfig(cfg.Sync)
	if err != nil {
		return err
	}
	s, err := xsync.New(sc, d.dp, d.logger.With("component", "sync"))
	if err != nil {
		return fmt.Errorf("connection sync: %w", err)
	}
	d.syncer = s
	return nil
}

// awaitSyncBeforeVRRP holds back VRRP (and so any preemption) until this
// director has the master's whole flow table: a director that starts or
// returns must not take over knowing nothing of the flows. It gives up
// waiting when no master answers (this director is alone) or after
// maxWait.
func (d *Daemon) awaitSyncBeforeVRRP(ctx context.Context, alone, maxWait time.Duration) {
	if d.syncer == nil {
		return
	}
	start := time.Now()
	converged, changed := d.syncer.Convergence()
	for !converged {
		waited := time.Since(start)
		st := d.syncer.Status()
		switch {
		case waited > maxWait:
			d.logger.Warn("connection sync did not converge; starting vrrp anyway", "waited", waited.Round(time.Millisecond))
			return
		case waited > alone && !st.Peer.IsValid():
			d.logger.Info("no master to sync from; starting vrrp", "waited", waited.Round(time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		}
		converged, changed = d.syncer.Convergence()
	}
	d.logger.Info("flow table synced from the master; starting vrrp", "waited", time.Since(start).Round(time.Millisecond))
}

// roleChanged asks the role loop to look at the VRRP states again. It
// never blocks (VRRP callbacks call it).
func (d *Daemon) roleChanged() {
	select {
	case d.roles <- struct{}{}:
	default:
	}
}

// roleLoop follows VRRP: with connection sync, a director that becomes
// master first gives the flows it learnt their full timeouts, then sends,
// and one that stops being master receives; health checks of virtual
// servers with ha_suspend run only on the master.
func (d *Daemon) roleLoop(ctx context.Context) error {
	master := false
	if d.syncer != nil {
		d.syncer.SetMaster(false)
	}
	for {
		if now := d.isMaster(); now != master {
			if now && d.syncer != nil {
				if err := d.dp.Touch(); err != nil {
					d.logger.Warn("refresh learnt flows", "err", err)
				}
			}
			if d.syncer != nil {
				d.syncer.SetMaster(now)
			}
			master = now
			d.logger.Info("director role", "master", master)
			d.setHealthRole(master)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.roles:
		}
	}
}

func (d *Daemon) syncStatus() *api.Sync {
	if d.syncer == nil {
		return nil
	}
	st := d.syncer.Status()
	s := &api.Sync{
		Master:           st.Master,
		Converged:        st.Converged,
		SentEntries:      st.SentEntries,
		ReceivedEntries:  st.ReceivedEntries,
		InstalledEntries: st.InstalledEntries,
		BulkSent:         st.BulkSent,
		BulkReceived:     st.BulkReceived,
		Rejected:         st.Rejected.Total(),
	}
	if st.Peer.IsValid() {
		s.Peer = st.Peer.String()
	}
	return s
}
