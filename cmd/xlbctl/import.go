package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/xlb/xlb/internal/keepalived"
)

// importCommand turns a keepalived.conf, and the gateway's iptables rules,
// into an xlb.toml. Exit codes: 0 imported (warnings on stderr), 1 items
// not supported with --strict (or the output could not be written), 2 bad
// input.
var importCommand = &cli.Command{
	Name:      "import-keepalived",
	Usage:     "turn a keepalived.conf (and iptables-save rules) into an xlb.toml",
	ArgsUsage: "FILE",
	Description: "Reads FILE as keepalived does (includes, $definitions, @conditional lines) and writes the xlb\n" +
		"configuration that means the same thing, keeping the comments. What xlb cannot express is\n" +
		"listed on stderr as FILE:LINE: KEYWORD: not supported (…) and left as a '# xlb: not imported'\n" +
		"comment in the output. Exit status: 0 imported, 1 unsupported items with --strict, 2 bad input.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "iptables", Usage: "the gateway's rules in iptables-save `FILE` (masquerade rules are imported)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the configuration to `FILE` (mode 0600) instead of standard output"},
		&cli.BoolFlag{Name: "strict", Usage: "fail, writing nothing, when anything is not supported"},
		&cli.StringFlag{Name: "instance", Aliases: []string{"i"}, Usage: "config id selecting @`NAME` lines, as keepalived -i does"},
		&cli.StringSliceFlag{Name: "interfaces", Usage: "[dataplane] interfaces `IF,IF` (XDP runs there); default: inferred from the vrrp_instances"},
	},
	Action: importKeepalived,
}

func importKeepalived(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return usageError(c, "want one keepalived configuration FILE, got %d arguments", c.Args().Len())
	}
	path := c.Args().First()
	stderr := c.App.ErrWriter
	res, err := keepalived.Import(path, keepalived.ImportOptions{
		Options:    keepalived.Options{Instance: c.String("instance")},
		IPTables:   c.String("iptables"),
		Interfaces: c.StringSlice("interfaces"),
	})
	if res != nil {
		for _, f := range res.Findings {
			fmt.Fprintln(stderr, f)
		}
	}
	if err != nil {
		problems := keepalived.Errors(err)
		for _, e := range problems {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "xlbctl import-keepalived: %s: %s; nothing written\n", path, count(len(problems), "problem"))
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: bad input", path)}
	}
	if n := res.Unsupported(); n > 0 && c.Bool("strict") {
		return &exitError{code: exitFailure, err: fmt.Errorf("import-keepalived: %s not supported (--strict); nothing written", count(n, "item"))}
	}
	out := c.String("output")
	if out == "" || out == "-" {
		_, err = c.App.Writer.Write(res.TOML)
	} else {
		err = writeFile(out, res.TOML)
	}
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("import-keepalived: %w", err)}
	}
	if n, w := res.Unsupported(), len(res.Findings)-res.Unsupported(); n+w > 0 {
		fmt.Fprintf(stderr, "xlbctl import-keepalived: %s not supported, %s; review the '# xlb:' comments\n", count(n, "item"), count(w, "warning"))
	}
	return nil
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// writeFile replaces name with data atomically, readable by its owner only:
// the configuration holds VRRP passwords.
func writeFile(name string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
