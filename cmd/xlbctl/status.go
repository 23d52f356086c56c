package main

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/xlb/xlb/internal/api"
)

func commands() []*cli.Command {
	cmds := []*cli.Command{
		{
			Name:   "status",
			Usage:  "virtual services and their reals, like ipvsadm -Ln",
			Action: status,
		},
		{
			Name:  "conns",
			Usage: "tracked connections (from the dataplane's conntrack map)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "service", Usage: "only connections to `VIP:PORT`"},
				&cli.IntFlag{Name: "limit", Value: 1000, Usage: "at most `N` connections (0: all)"},
			},
			Action: conns,
		},
		{
			Name:   "stats",
			Usage:  "the dataplane's frame counters by verdict and reason",
			Action: stats,
		},
		{
			Name:  "reload",
			Usage: "reload the configuration file; a rejected one changes nothing and is reported",
			Action: func(c *cli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				if err := call(c, "POST", api.PathReload, nil, nil, nil); err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, "reloaded")
				return nil
			},
		},
	}
	cmds = append(cmds, importCommand)
	cmds = append(cmds, extraCommands...)
	for _, cmd := range cmds {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
				return usageError(c, "%v", err)
			}
		}
	}
	return cmds
}

// extraCommands are registered by other files of the command.
var extraCommands []*cli.Command

func status(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	var st api.Status
	if err := call(c, "GET", api.PathStatus, nil, nil, &st); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, st)
	}
	out := c.App.Writer
	fmt.Fprintf(out, "xlbd %s  interfaces %v  up since %s\n", st.RouterID, st.Interfaces, st.Started.Format("2006-01-02 15:04:05"))
	if r := st.LastReload; r != nil && !r.OK {
		fmt.Fprintf(out, "last reload REJECTED at %s: %s\n", r.At.Format("15:04:05"), r.Error)
	}
	for _, v := range st.VRRP {
		fmt.Fprintf(out, "vrrp %s  %s  priority %d  master %s\n", v.Name, v.State, v.Priority, v.Master)
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	fmt.Fprintln(w, "  -> RemoteAddress:Port\tForward\tWeight\tEffective\tHealth\tActiveConn\tInActConn\tConns\tInPkts\tOutPkts")
	for _, s := range st.Services {
		flags := ""
		if s.Persistence != "" {
			flags = " persistent " + s.Persistence
		}
		if !s.Quorum {
			flags += " NO-QUORUM"
		}
		if s.SorryActive {
			flags += " sorry " + s.SorryServer
		}
		fmt.Fprintf(w, "%s  %s %s%s\n", s.Protocol, s.Address, s.Scheduler, flags)
		for _, r := range s.Reals {
			health := r.Health
			if r.Drained {
				health += ",drained"
			}
			if r.Reason != "" && r.Health != "up" {
				health += " (" + r.Reason + ")"
			}
			fmt.Fprintf(w, "  -> %s\tMasq\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\n", r.Address, r.Weight, r.EffectiveWeight, health,
				r.ActiveConns, r.InactiveConns, r.Traffic.Conns, r.Traffic.PacketsIn, r.Traffic.PacketsOut)
		}
	}
	return w.Flush()
}

func conns(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if c.Int("limit") < 0 {
		return usageError(c, "--limit %d: want 0 or more", c.Int("limit"))
	}
	q := url.Values{"limit": {strconv.Itoa(c.Int("limit"))}}
	if s := c.String("service"); s != "" {
		if _, err := parseAddrPort(s); err != nil {
			return usageError(c, "--service %q: %v", s, err)
		}
		q.Set("service", s)
	}
	var out []api.Conn
	if err := call(c, "GET", api.PathConns, q, nil, &out); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, out)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "Pro\tState\tIdle\tClient\tVirtual\tReal")
	for _, cn := range out {
		fmt.Fprintf(w, "%s\t%s\t%ds\t%s\t%s\t%s\n", cn.Protocol, cn.State, cn.IdleSec, cn.Client, cn.VIP, cn.Real)
	}
	return w.Flush()
}

func stats(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	var st api.Stats
	if err := call(c, "GET", api.PathStats, nil, nil, &st); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, st)
	}
	names := make([]string, 0, len(st.Counters))
	for n := range st.Counters {
		names = append(names, n)
	}
	sort.Strings(names)
	w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, n := range names {
		fmt.Fprintf(w, "%s\t%d\t\n", n, st.Counters[n])
	}
	return w.Flush()
}
