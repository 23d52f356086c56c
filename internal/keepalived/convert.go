package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/xlb/xlb/internal/config"
)

// Result is an imported configuration.
type Result struct {
	// TOML is the xlb configuration, with the operator's comments and the
	// importer's "# xlb:" notes.
	TOML []byte
	// Config is TOML as config.Parse reads it (what xlbd check validates,
	// host checks aside).
	Config *config.Config
	// Findings list what could not be imported as written, in the order
	// they were found (the parser's first, then block by block).
	Findings []Finding
}

// Unsupported counts the findings that are not imported.
func (r *Result) Unsupported() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Unsupported {
			n++
		}
	}
	return n
}

// ImportOptions are the options of Import.
type ImportOptions struct {
	Options
	// IPTables names an iptables-save file of the director's gateway rules;
	// empty for none.
	IPTables string
	// Interfaces are [dataplane] interfaces, which keepalived has no
	// setting for; empty: inferred from where the vrrp_instances hold the
	// virtual servers' and the real servers' gateway addresses.
	Interfaces []string
}

// Import reads the keepalived configuration at path, and the iptables
// rules when opts.IPTables is set, and converts them. See Convert.
func Import(path string, opts ImportOptions) (*Result, error) {
	f, err := ParseFile(path, opts.Options)
	if err != nil {
		if f != nil {
			return &Result{Findings: f.Findings}, err
		}
		return nil, err
	}
	var rules *Rules
	if opts.IPTables != "" {
		fsys := opts.FS
		if fsys == nil {
			fsys = OSFS{}
		}
		data, err := fsys.ReadFile(opts.IPTables)
		if err != nil {
			return nil, fmt.Errorf("read iptables rules: %w", err)
		}
		if rules, err = ParseIPTables(opts.IPTables, data); err != nil {
			return nil, err
		}
	}
	return convert(f, rules, opts.Interfaces)
}

// Convert turns a parsed keepalived configuration, and the gateway's
// iptables rules (nil for none), into an xlb configuration that means the
// same thing, and checks it with config.Parse.
//
// Bad input (unknown keywords and blocks, values keepalived rejects, values
// xlb rejects) is returned as an error joining *Error values with the
// keepalived file and line; the Result then holds only the findings. What
// xlb cannot express is listed in Result.Findings and noted in the TOML.
func Convert(f *File, rules *Rules) (*Result, error) {
	return convert(f, rules, nil)
}

func convert(f *File, rules *Rules, interfaces []string) (*Result, error) {
	c := newConverter(f, rules)
	c.interfaces = interfaces
	c.convert()
	res := &Result{Findings: c.findings}
	if err := joinErrors(c.errs); err != nil {
		return res, err
	}
	lines := render(c.tables())
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	res.TOML = []byte(b.String())
	cfg, err := config.Parse(outputName, res.TOML)
	if err != nil {
		return res, mapConfigErrors(err, lines)
	}
	res.Config = cfg
	return res, nil
}

// outputName is the name config.Parse sees for the imported TOML.
const outputName = "imported.toml"

// mapConfigErrors turns config.Parse's errors about the output into errors
// about the keepalived line each output line came from.
func mapConfigErrors(err error, lines []outLine) error {
	var errs []error
	for _, e := range config.Errors(err) {
		ke := &Error{Keyword: e.Key, Msg: e.Msg}
		if e.Line > 0 && e.Line <= len(lines) {
			l := lines[e.Line-1]
			ke.Pos = l.origin
			// An element of a one-line array: its own keepalived line.
			if i := strings.LastIndexByte(e.Key, '['); l.item != nil && l.item.array && i >= 0 && strings.HasSuffix(e.Key, "]") {
				if n, err := strconv.Atoi(e.Key[i+1 : len(e.Key)-1]); err == nil && n < len(l.item.elems) && l.item.elems[n].origin.File != "" {
					ke.Pos = l.item.elems[n].origin
				}
			}
		}
		if ke.Pos.File == "" {
			ke.Pos = Pos{File: outputName, Line: e.Line}
		}
		ke.Msg = "xlb rejects the imported value: " + ke.Msg
		errs = append(errs, ke)
	}
	return joinErrors(errs)
}

// converter holds the state of one conversion.
type converter struct {
	file  *File
	rules *Rules

	errs     []error
	findings []Finding

	top       *table   // header comments
	global    *table   // [global]
	dataplane *table   // [dataplane]
	timeouts  *table   // [dataplane.timeouts]
	gateway   *table   // [gateway]
	sync      *table   // [sync]
	body      []*table // [[vrrp_script]], [[vrrp_instance]], …, in input order

	// Settings of global_defs that act as defaults elsewhere.
	vrrpVersion     int
	vrrpVersionNode *Node
	garpDefaults    map[string]*Node // garp_master_* key → the vrrp_garp_master_* line
	smtpAlert       *Node            // global smtp_alert / smtp_alert_vrrp that is on
	checkerMailOff  bool
	interfaces      []string // given dataplane interfaces (ImportOptions)
	mailTo          bool     // notification_email has addresses
	mailServer      bool     // smtp_server is set

	syncIface      string
	syncNode       *Node
	syncInstance   string // lvs_sync_daemon's vrrp_instance argument
	instanceNames  map[string]bool
	memberOf       map[string]string // vrrp_instance → its sync group
	scriptNames    map[string]bool
	trackFileNames map[string]bool // track_file blocks with a file
	instances      []*instance
	services       []*service
	firstService   *Node
}

func newConverter(f *File, rules *Rules) *converter {
	c := &converter{
		file:           f,
		rules:          rules,
		garpDefaults:   map[string]*Node{},
		instanceNames:  map[string]bool{},
		scriptNames:    map[string]bool{},
		trackFileNames: map[string]bool{},
	}
	c.findings = append(c.findings, f.Findings...)
	return c
}

func (c *converter) errorf(n *Node, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pos: n.Pos, Keyword: n.Keyword, Msg: fmt.Sprintf(format, args...)})
}

func (c *converter) warnf(n *Node, format string, args ...any) {
	c.findings = append(c.findings, Finding{Pos: n.Pos, Keyword: n.Keyword, Severity: Warning, Msg: fmt.Sprintf(format, args...)})
}

// unsupported reports n as not imported and leaves a note in t where n
// was, with n itself commented out when it has a block.
func (c *converter) unsupported(t *table, n *Node, format string, args ...any) {
	reason := fmt.Sprintf(format, args...)
	c.findings = append(c.findings, Finding{Pos: n.Pos, Keyword: n.Keyword, Severity: Unsupported, Msg: reason})
	t.add(&item{lead: notImported(n, reason), origin: n.Pos})
}

// notImported is the comment left in place of n: its comments, the note,
// and n's block commented out.
func notImported(n *Node, reason string) []string {
	lead := opComments(n.Comments)
	if !n.HasBlock {
		line := n.Line()
		if n.Comment != "" {
			line += "  #" + n.Comment
		}
		return append(lead, noteComment("not imported: %s (%s)", line, reason))
	}
	if n.Comment != "" {
		lead = append(lead, opComment(n.Comment))
	}
	lead = append(lead, noteComment("not imported: %s (%s):", strings.TrimSpace(n.Keyword+" "+strings.Join(n.Args, " ")), reason))
	for _, l := range strings.Split(strings.TrimRight(n.String(), "\n"), "\n") {
		lead = append(lead, "#   "+commentText(l))
	}
	return lead
}

// note leaves a comment of the importer's in place of n, keeping n's own
// comments, without reporting anything.
func note(t *table, n *Node, format string, args ...any) *item {
	lead := append(opComments(n.Comments), noteComment(format, args...))
	if n.Comment != "" {
		lead = append(lead, opComment(n.Comment))
	}
	return t.add(&item{lead: lead, origin: n.Pos})
}

// set writes key = value for node n into t, with n's comments. A key set
// again overrides the earlier one, as keepalived's handlers do; the earlier
// line is left as a note.
func (c *converter) set(t *table, n *Node, key, value string) *item {
	if old := t.get(key); old != nil {
		c.warnf(n, "%s is set again; keepalived uses this one (line %d) and ignores the earlier one (line %d)", n.Keyword, n.Pos.Line, old.origin.Line)
		old.lead = append(old.lead, noteComment("%s = %s: overridden by %s", key, old.value, n.Pos))
		if old.comment != "" {
			old.lead = append(old.lead, old.comment)
		}
		old.key, old.comment = "", ""
	}
	return t.add(&item{key: key, value: value, lead: opComments(n.Comments), comment: trailingComment(n.Comment), origin: n.Pos})
}

// appendElems adds elements to the array key of t, creating it (with n's
// comments) the first time; keepalived adds repeated blocks to one list.
func appendElems(t *table, n *Node, key string, elems []elem) *item {
	if it := t.get(key); it != nil {
		it.lead = append(it.lead, opComments(n.Comments)...)
		it.elems = append(it.elems, elems...)
		return it
	}
	if !slices.ContainsFunc(elems, func(e elem) bool { return e.value != "" }) {
		// Nothing left to list: keep the comments only.
		lead := opComments(n.Comments)
		if n.Comment != "" {
			lead = append(lead, opComment(n.Comment))
		}
		for _, e := range elems {
			lead = append(lead, e.lead...)
			if e.comment != "" {
				lead = append(lead, e.comment)
			}
		}
		return t.add(&item{lead: lead, origin: n.Pos})
	}
	return t.add(&item{key: key, array: true, elems: elems, lead: opComments(n.Comments), comment: trailingComment(n.Comment), origin: n.Pos})
}

// --- argument checks ---

// leaf checks that n takes no block and has between min and max words
// (max < 0: no limit).
func (c *converter) leaf(n *Node, min, max int) bool {
	if n.HasBlock {
		c.errorf(n, "takes no block (expected a value, not '{')")
		return false
	}
	switch {
	case len(n.Args) < min && min == max:
		c.errorf(n, "expected %s", plural(min, "value"))
	case len(n.Args) < min:
		c.errorf(n, "expected at least %s", plural(min, "value"))
	case max >= 0 && len(n.Args) > max && min == max:
		c.errorf(n, "expected %s, got %d", plural(max, "value"), len(n.Args))
	case max >= 0 && len(n.Args) > max:
		c.errorf(n, "expected at most %s, got %d", plural(max, "value"), len(n.Args))
	default:
		return true
	}
	return false
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// block checks that n has a block and between min and max words.
func (c *converter) block(n *Node, min, max int) bool {
	if !n.HasBlock {
		c.errorf(n, "expected '{' (%s starts a block)", n.Keyword)
		return false
	}
	if len(n.Args) < min || max >= 0 && len(n.Args) > max {
		switch {
		case min == max && min == 0:
			c.errorf(n, "expected '{' right after %s, got %q", n.Keyword, n.Args[0])
		case min == max:
			c.errorf(n, "expected %s before '{', got %d", plural(min, "value"), len(n.Args))
		default:
			c.errorf(n, "expected %d to %d values before '{', got %d", min, max, len(n.Args))
		}
		return false
	}
	return true
}

// intArg parses word i of n as an integer in [lo, hi].
func (c *converter) intArg(n *Node, i int, lo, hi int64) (int64, bool) {
	v, err := strconv.ParseInt(n.Args[i], 10, 64)
	if err != nil || v < lo || v > hi {
		c.errorf(n, "expected an integer from %d to %d, got %q", lo, hi, n.Args[i])
		return 0, false
	}
	return v, true
}

// timerArg parses word i of n as a number of seconds in [lo, hi].
func (c *converter) timerArg(n *Node, i int, lo, hi float64) (float64, bool) {
	s := n.Args[i]
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXpPnNiI") || math.IsNaN(v) || v < lo || v > hi {
		c.errorf(n, "expected a number of seconds from %s to %s, got %q", tomlSeconds(lo), tomlSeconds(hi), s)
		return 0, false
	}
	// keepalived's timers count microseconds.
	return math.Round(v*1e6) / 1e6, true
}

// boolArg parses an optional <BOOL> at word i (on|off|true|false|yes|no);
// absent means true.
func (c *converter) boolArg(n *Node, i int) (bool, bool) {
	v, ok := parseBool(n.Args, i)
	if !ok {
		c.errorf(n, "expected on, off, true, false, yes or no, got %q", n.Args[i])
	}
	return v, ok
}

// parseBool reads an optional <BOOL> at args[i]; absent means true.
func parseBool(args []string, i int) (v, ok bool) {
	if len(args) <= i {
		return true, true
	}
	switch args[i] {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	return false, false
}

// addr parses an IP address as keepalived writes it.
func (c *converter) addr(n *Node, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		c.errorf(n, "bad address %q (expected an IPv4 or IPv6 address)", s)
		return netip.Addr{}, false
	}
	return a, true
}

// port parses a port number.
func (c *converter) port(n *Node, s string) (int, bool) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 65535 {
		c.errorf(n, "bad port %q (expected a number from 0 to 65535)", s)
		return 0, false
	}
	return v, true
}

// ifName checks an interface name.
func (c *converter) ifName(n *Node, s string) bool {
	if s == "" || len(s) > 15 || strings.ContainsAny(s, "/: \t\n") || s == "." || s == ".." {
		c.errorf(n, "bad interface name %q", s)
		return false
	}
	return true
}

// script converts a script keyword's line into a command line for xlb.
// extra is what followed the command (a user and group).
func (c *converter) script(n *Node) (cmd string, extra []string, ok bool) {
	if n.HasBlock {
		c.errorf(n, "takes no block (expected a command, not '{')")
		return "", nil, false
	}
	argv, extra, err := scriptLine(n.Raw)
	if err != nil {
		c.errorf(n, "%s", err)
		return "", nil, false
	}
	return commandLine(argv), extra, true
}

// --- the whole file ---

// convert converts every top-level block.
func (c *converter) convert() {
	for _, n := range c.file.Nodes {
		switch n.Keyword {
		case "vrrp_instance":
			if len(n.Args) > 0 {
				c.instanceNames[n.Args[0]] = true
			}
		case "vrrp_script":
			// keepalived removes a vrrp_script without script, and
			// ignores track_script entries naming it.
			if len(n.Args) > 0 && slices.ContainsFunc(n.Block, func(k *Node) bool { return k.Keyword == "script" }) {
				c.scriptNames[n.Args[0]] = true
			}
		case "track_file", "vrrp_track_file":
			// keepalived ignores a track_file without file.
			if len(n.Args) > 0 && slices.ContainsFunc(n.Block, func(k *Node) bool { return k.Keyword == "file" }) {
				c.trackFileNames[n.Args[0]] = true
			}
		}
	}
	// global_defs sets defaults for what follows, wherever it is.
	for _, n := range c.file.Nodes {
		if n.Keyword == "global_defs" {
			c.globalDefs(n)
		}
	}
	type pendingGroup struct {
		t *table
		n *Node
	}
	var groups []pendingGroup
	for _, n := range c.file.Nodes {
		switch n.Keyword {
		case "global_defs":
		case "vrrp_script":
			c.vrrpScript(n)
		case "vrrp_sync_group":
			// Converted once every instance is known; placed here.
			t := &table{}
			c.body = append(c.body, t)
			groups = append(groups, pendingGroup{t, n})
		case "vrrp_instance":
			c.vrrpInstance(n)
		case "virtual_server":
			c.virtualServer(n)
		case "track_file", "vrrp_track_file":
			c.trackFile(n)
		default:
			if reason, ok := rootUnsupported[n.Keyword]; ok {
				t := &table{origin: n.Pos}
				c.body = append(c.body, t)
				c.unsupported(t, n, "%s", reason)
				continue
			}
			c.errorf(n, "unknown block (expected global_defs, vrrp_script, vrrp_sync_group, vrrp_instance, virtual_server or another keepalived top-level keyword)")
		}
	}
	for _, g := range groups {
		*g.t = *c.vrrpSyncGroup(g.n)
	}
	c.finishSync()
	c.inferDataplane()
	c.importRules()
	c.checkerMail()
	if len(c.file.Comments) > 0 {
		t := &table{tail: opComments(c.file.Comments)}
		c.body = append(c.body, t)
	}
}

// tables returns the output's tables in order.
func (c *converter) tables() []*table {
	name := ""
	if len(c.file.Nodes) > 0 {
		name = c.file.Nodes[0].Pos.File
	}
	top := &table{lead: []string{"# xlb configuration imported by xlbctl import-keepalived from " + commentText(name)}}
	if c.rules != nil {
		top.lead = append(top.lead, "#   and "+commentText(c.rules.Name))
	}
	top.lead = append(top.lead, `# Comments starting with "xlb:" are the importer's; the others come from the input.`)
	out := []*table{top}
	for _, t := range []*table{c.global, c.dataplane, c.gateway, c.sync} {
		if t != nil {
			out = append(out, t)
		}
	}
	return append(out, c.body...)
}
