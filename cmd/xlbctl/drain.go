package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlb/xlb/internal/api"
)

func init() {
	protoFlag := &cli.StringFlag{Name: "protocol", Value: "TCP", Usage: "the service's `PROTOCOL`: TCP or UDP"}
	extraCommands = append(extraCommands,
		&cli.Command{
			Name:      "drain",
			Usage:     "stop new connections to a real (persistent clients included); established ones continue",
			ArgsUsage: "VIP:PORT REAL:PORT",
			Flags: []cli.Flag{protoFlag,
				&cli.BoolFlag{Name: "wait", Usage: "wait until the real has no active connections left"},
				&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "with --wait, give up (exit 1) after this long"},
			},
			Action: func(c *cli.Context) error { return setReal(c, ptr(true), nil) },
		},
		&cli.Command{
			Name:      "undrain",
			Usage:     "let a drained real take new connections again, at its configured weight",
			ArgsUsage: "VIP:PORT REAL:PORT",
			Flags:     []cli.Flag{protoFlag},
			Action:    func(c *cli.Context) error { return setReal(c, ptr(false), nil) },
		},
		&cli.Command{
			Name:      "weight",
			Usage:     "set a real's weight at runtime (until undrain or a reload that changes the real)",
			ArgsUsage: "VIP:PORT REAL:PORT WEIGHT",
			Flags:     []cli.Flag{protoFlag},
			Action: func(c *cli.Context) error {
				if c.Args().Len() != 3 {
					return usageError(c, "want VIP:PORT REAL:PORT WEIGHT, got %d arguments", c.Args().Len())
				}
				w, err := strconv.Atoi(c.Args().Get(2))
				if err != nil || w < 0 || w > 65535 {
					return usageError(c, "weight %q: want an integer 0..65535", c.Args().Get(2))
				}
				return setReal(c, nil, &w)
			},
		},
	)
}

func ptr[T any](v T) *T { return &v }

func setReal(c *cli.Context, drain *bool, weight *int) error {
	want := 2
	if weight != nil {
		want = 3
	}
	if c.Args().Len() != want {
		return usageError(c, "want VIP:PORT REAL:PORT%s, got %d arguments", map[bool]string{true: " WEIGHT"}[weight != nil], c.Args().Len())
	}
	svc, rl := c.Args().Get(0), c.Args().Get(1)
	if _, err := parseAddrPort(svc); err != nil {
		return usageError(c, "virtual server %q: %v", svc, err)
	}
	if _, err := parseAddrPort(rl); err != nil {
		return usageError(c, "real server %q: %v", rl, err)
	}
	path := api.PathWeight
	if drain != nil {
		path = api.PathDrain
	}
	req := api.RealRequest{Service: svc, Protocol: c.String("protocol"), Real: rl, Drain: drain, Weight: weight}
	var out api.Real
	if err := call(c, "POST", path, nil, req, &out); err != nil {
		return err
	}
	if c.Bool("json") && !c.Bool("wait") {
		return printJSON(c.App.Writer, out)
	}
	fmt.Fprintf(c.App.Writer, "%s %s: weight %d, effective %d, %d active, %d inactive connections\n",
		svc, rl, out.Weight, out.EffectiveWeight, out.ActiveConns, out.InactiveConns)
	if drain == nil || !*drain || !c.Bool("wait") {
		return nil
	}
	return waitDrained(c, svc, rl, c.Duration("timeout"))
}

// waitDrained polls the real's active connections until none is left.
func waitDrained(c *cli.Context, svc, rl string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := uint64(1<<64 - 1)
	for {
		var st api.Status
		if err := call(c, "GET", api.PathStatus, nil, nil, &st); err != nil {
			return err
		}
		active, found := uint64(0), false
		for _, s := range st.Services {
			if s.Address != svc {
				continue
			}
			for _, r := range s.Reals {
				if r.Address == rl {
					active, found = r.ActiveConns, true
				}
			}
		}
		if !found {
			return &exitError{code: exitFailure, err: fmt.Errorf("%s %s vanished while draining (reloaded?)", svc, rl)}
		}
		if active != last {
			fmt.Fprintf(c.App.Writer, "%s %s: %d active connections\n", svc, rl, active)
			last = active
		}
		if active == 0 {
			fmt.Fprintf(c.App.Writer, "%s %s: drained\n", svc, rl)
			return nil
		}
		if time.Now().After(deadline) {
			return &exitError{code: exitFailure, err: fmt.Errorf("%s %s: %d active connections left after %s", svc, rl, active, timeout)}
		}
		time.Sleep(200 * time.Millisecond)
	}
}
