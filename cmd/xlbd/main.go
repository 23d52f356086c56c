// Command xlbd is the xlb daemon: it loads the XDP dataplane, runs the
// health checkers and VRRP, and serves the control API.
//
//	xlbd --config /etc/xlb/xlb.toml      run
//	xlbd check --config FILE             validate a configuration and exit
//
// SIGHUP reloads the configuration (a rejected one changes nothing),
// SIGTERM stops cleanly (VIPs, programs, pins and rules go), SIGUSR2 exits
// leaving the dataplane forwarding for the next xlbd (upgrades).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/xlb/xlb/internal/config"
	"github.com/xlb/xlb/internal/daemon"
)

const defaultConfig = "/etc/xlb/xlb.toml"

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "xlbd:", err)
		os.Exit(exitCode(err))
	}
}

// errInvalid marks a configuration that was read but rejected.
var errInvalid = errors.New("configuration rejected")

func exitCode(err error) int {
	if errors.Is(err, errInvalid) {
		return 2
	}
	return 1
}

func configFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: defaultConfig, Usage: "configuration `FILE`", EnvVars: []string{"XLB_CONFIG"}}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "xlbd",
		Usage: "XDP layer-4 load balancer daemon (keepalived + LVS-NAT, in one)",
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "log-format", Value: "json", Usage: "log format: json or text"},
			&cli.BoolFlag{Name: "keep-dataplane", Usage: "on exit, leave programs, maps and rules running (for upgrades)"},
			&cli.BoolFlag{Name: "reset-maps", Usage: "replace pinned maps of another layout (forgets tracked connections)"},
		},
		Commands: []*cli.Command{{
			Name:      "check",
			Usage:     "validate a configuration file and exit (0 valid, 2 invalid)",
			Flags:     []cli.Flag{configFlag()},
			ArgsUsage: " ",
			Action: func(c *cli.Context) error {
				path := c.String("config")
				cfg, err := daemon.LoadConfig(path)
				if err != nil {
					for _, e := range config.Errors(err) {
						fmt.Fprintln(c.App.ErrWriter, e)
					}
					return fmt.Errorf("%s: %w", path, errInvalid)
				}
				fmt.Fprintf(c.App.Writer, "%s: ok (%d virtual servers, %d vrrp instances)\n", path, len(cfg.VirtualServers), len(cfg.VRRPInstances))
				return nil
			},
		}},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return fmt.Errorf("unexpected argument %q (did you mean `xlbd check`?)", c.Args().First())
			}
			level := new(slog.LevelVar)
			opts := &slog.HandlerOptions{Level: level}
			var h slog.Handler
			switch c.String("log-format") {
			case "json":
				h = slog.NewJSONHandler(os.Stderr, opts)
			case "text":
				h = slog.NewTextHandler(os.Stderr, opts)
			default:
				return fmt.Errorf("--log-format %q: want json or text", c.String("log-format"))
			}
			err := daemon.Run(context.Background(), daemon.Options{
				ConfigPath:    c.String("config"),
				Logger:        slog.New(h),
				LogLevel:      level,
				KeepDataplane: c.Bool("keep-dataplane"),
				ResetMaps:     c.Bool("reset-maps"),
			})
			var ce *config.Error
			if errors.As(err, &ce) {
				return fmt.Errorf("%w:\n%v", errInvalid, err)
			}
			return err
		},
	}
}
