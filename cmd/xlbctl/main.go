// Command xlbctl talks to a running xlbd over its control socket: status
// in the shape of `ipvsadm -Ln`, tracked connections, counters, reloads,
// and importing a keepalived configuration.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlb/xlb/internal/api"
)

// Exit codes scripts can rely on.
const (
	exitOK       = 0
	exitFailure  = 1 // the daemon refused or failed (e.g. a rejected reload)
	exitUsage    = 2 // bad command line
	exitNoDaemon = 3 // xlbd is not running / socket not reachable
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(c *cli.Context, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if c != nil && c.Command != nil {
		fmt.Fprintf(c.App.ErrWriter, "xlbctl %s: %s\n\n", c.Command.Name, msg)
		if l := c.Lineage(); len(l) > 1 {
			cli.ShowCommandHelp(l[1], c.Command.Name)
		}
	}
	return &exitError{code: exitUsage, err: errors.New(msg)}
}

func main() {
	app := newApp(os.Stdout, os.Stderr)
	if err := app.Run(interspersed(os.Args, app.Commands)); err != nil {
		os.Exit(report(os.Stderr, err))
	}
}

// report prints err and returns its exit code.
func report(w io.Writer, err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code != exitUsage { // usage errors were printed with help
			fmt.Fprintln(w, "xlbctl:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(w, "xlbctl:", err)
	return exitFailure
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "xlbctl",
		Usage:                "control a running xlbd",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Value: api.DefaultSocket, Usage: "xlbd control `SOCKET`", EnvVars: []string{"XLB_SOCKET"}},
			&cli.BoolFlag{Name: "json", Usage: "print JSON as the API returns it"},
			&cli.DurationFlag{Name: "api-timeout", Value: 10 * time.Second, Usage: "give up on an answer from xlbd after this long"},
		},
		Commands: commands(),
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError(c, "%v", err)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main reports
	}
}

// call runs one API request with the global flags.
func call(c *cli.Context, method, path string, query map[string][]string, in, out any) error {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("api-timeout"))
	defer cancel()
	err := api.NewClient(c.String("socket")).Do(ctx, method, path, query, in, out)
	if errors.Is(err, api.ErrNotRunning) {
		return &exitError{code: exitNoDaemon, err: err}
	}
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func noArgs(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return usageError(c, "unexpected argument %q", c.Args().First())
	}
	return nil
}
