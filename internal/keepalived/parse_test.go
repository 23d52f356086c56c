package keepalived

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// parse parses text as /etc/keepalived/keepalived.conf with files (more
// files of the in-memory file system) and the given instance name.
func parse(t *testing.T, text string, instance string, files MapFS) *File {
	t.Helper()
	fsys := MapFS{"/etc/keepalived/keepalived.conf": text}
	for k, v := range files {
		fsys[k] = v
	}
	f, err := ParseFile("/etc/keepalived/keepalived.conf", Options{FS: fsys, Instance: instance})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

// lines renders the tree one node per line: "FILE:LINE KEYWORD ARGS", with
// the block's lines indented.
func lines(nodes []*Node) []string {
	var out []string
	var walk func([]*Node, string)
	walk = func(ns []*Node, indent string) {
		for _, n := range ns {
			out = append(out, indent+n.Pos.String()+" "+strings.Join(append([]string{n.Keyword}, n.Args...), "|"))
			walk(n.Block, indent+"  ")
		}
	}
	walk(nodes, "")
	return out
}

const kc = "/etc/keepalived/keepalived.conf"

func TestParseWords(t *testing.T) {
	f := parse(t, `global_defs {   # the globals
! a bang comment
    router_id "lb #1"   ! after the value
    notification_email_from a\#b@example.com
    smtp_helo_name x"y z"w
}
`, "", nil)
	g := f.Nodes[0]
	if g.Comment != " the globals" || !g.HasBlock || len(g.Block) != 3 {
		t.Fatalf("global_defs = %+v", g)
	}
	r := g.Block[0]
	if !slices.Equal(r.Args, []string{"lb #1"}) || r.Comment != " after the value" || !slices.Equal(r.Comments, []string{" a bang comment"}) {
		t.Errorf("router_id = %+v", r)
	}
	if got := g.Block[1].Args; !slices.Equal(got, []string{"a#b@example.com"}) {
		t.Errorf("escaped '#': %q", got)
	}
	// keepalived splits at a quote: x "y z" w.
	if got := g.Block[2].Args; !slices.Equal(got, []string{"x", "y z", "w"}) {
		t.Errorf("quotes inside a word: %q", got)
	}
}

func TestParseBraces(t *testing.T) {
	f := parse(t, `virtual_server 192.0.2.1 80 { real_server 192.0.2.2 80 { weight 2 } }
vrrp_instance VI_1
{
    virtual_ipaddress { 203.0.113.1
        203.0.113.2 }
}
`, "", nil)
	want := []string{
		kc + ":1 virtual_server|192.0.2.1|80",
		"  " + kc + ":1 real_server|192.0.2.2|80",
		"    " + kc + ":1 weight|2",
		kc + ":2 vrrp_instance|VI_1",
		"  " + kc + ":4 virtual_ipaddress",
		"    " + kc + ":4 203.0.113.1",
		"    " + kc + ":5 203.0.113.2",
	}
	if got := lines(f.Nodes); !slices.Equal(got, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := f.Nodes[1]; n.End.Line != 6 {
		t.Errorf("vrrp_instance ends at %s", n.End)
	}
}

func TestParseIncludes(t *testing.T) {
	f := parse(t, `include conf.d/*.conf
include /srv/{x,y}.conf
`, "", MapFS{
		"/etc/keepalived/conf.d/a.conf":      "global_defs {\n  include ../defs/router.conf\n}\n",
		"/etc/keepalived/conf.d/b.conf":      "vrrp_script b {\n}\n",
		"/etc/keepalived/conf.d/skip.txt":    "not matched\n",
		"/etc/keepalived/defs/router.conf":   "# relative to conf.d/a.conf\nrouter_id r1\n",
		"/srv/x.conf":                        "vrrp_script x {\n}\n",
		"/srv/y.conf":                        "vrrp_script y {\n}\n",
		"/etc/keepalived/keepalived.conf.sw": "ignored",
	})
	want := []string{
		"/etc/keepalived/conf.d/a.conf:1 global_defs",
		"  /etc/keepalived/defs/router.conf:2 router_id|r1",
		"/etc/keepalived/conf.d/b.conf:1 vrrp_script|b",
		"/srv/x.conf:1 vrrp_script|x",
		"/srv/y.conf:1 vrrp_script|y",
	}
	if got := lines(f.Nodes); !slices.Equal(got, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := f.Nodes[0].Block[0].Comments; !slices.Equal(c, []string{" relative to conf.d/a.conf"}) {
		t.Errorf("comments of the included line = %q", c)
	}
}

func TestParseIncludeNoMatch(t *testing.T) {
	f := parse(t, "include missing/*.conf\nglobal_defs {\n}\n", "", nil)
	if len(f.Nodes) != 1 || len(f.Findings) != 1 {
		t.Fatalf("nodes %v, findings %v", lines(f.Nodes), f.Findings)
	}
	if got, want := f.Findings[0].String(), kc+`:1: include: warning: no file matches "missing/*.conf"; keepalived skips the include too`; got != want {
		t.Errorf("finding = %s, want %s", got, want)
	}
}

func TestParseDefinitions(t *testing.T) {
	f := parse(t, `$IF=eth0   # the public side
$NET=192.0.2
# ADDR is substituted where it is used, with SUB's value then
$ADDR=${NET}.${SUB}
$SUB=1
a $IF ${IF}x $IFx $UNDEFINED ${ADDR} $5
$SUB=2
b ${ADDR},$IF
$EMPTY=
c x${EMPTY}y
$BLOCK= \
    vrrp_instance VI_${N} { \
        priority ${N}0 \
    }
$N=1
$BLOCK
$N=2
  $BLOCK
d $BLOCK x
e ${_HASH}${_BANG} ${_INSTANCE} ${_PWD} ${_RANDOM 1 9} x${_ENV HOME}y
$IF_A=@a
$IF_A f selected
$IF_B=@b
$IF_B g dropped
`, "a", nil)
	want := []string{
		kc + ":6 a|eth0|eth0x|$IFx|$UNDEFINED|192.0.2.1|$5",
		kc + ":8 b|192.0.2.2,eth0",
		kc + ":10 c|xy",
		kc + ":16 vrrp_instance|VI_1",
		"  " + kc + ":16 priority|10",
		kc + ":18 vrrp_instance|VI_2",
		"  " + kc + ":18 priority|20",
		// A multiline definition is expanded only at the end of a line.
		kc + ":19 d|$BLOCK|x",
		kc + ":20 e|#!|a|/etc/keepalived|1|xy",
		kc + ":22 f|selected",
	}
	if got := lines(f.Nodes); !slices.Equal(got, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := f.Nodes[0].Comments; len(c) != 2 || c[0] != " the public side" || !strings.Contains(c[1], "ADDR is substituted") {
		t.Errorf("the comment before definitions goes to the next keyword: %q", c)
	}
	// What the importer cannot know is reported.
	if len(f.Findings) != 2 || f.Findings[0].String() != kc+":20: ${_RANDOM}: not supported (keepalived picks a random number; the importer wrote 1, the lowest it could pick)" ||
		f.Findings[1].String() != kc+":20: ${_ENV}: not supported (the importer does not know keepalived's environment on the director; it wrote nothing for HOME)" {
		t.Errorf("findings = %v", f.Findings)
	}
}

func TestParseConditionals(t *testing.T) {
	const text = `@lb1 router_id lb1
@lb2 router_id lb2
@^lb1 smtp_server not-lb1
@lb1
@lb1 $P=150
@^lb1 $P=100
priority $P
`
	for _, tc := range []struct {
		instance string
		want     []string
		warn     bool
	}{
		{"lb1", []string{kc + ":1 router_id|lb1", kc + ":7 priority|150"}, false},
		{"lb2", []string{kc + ":2 router_id|lb2", kc + ":3 smtp_server|not-lb1", kc + ":7 priority|100"}, false},
		{"", []string{kc + ":3 smtp_server|not-lb1", kc + ":7 priority|100"}, true},
	} {
		t.Run("instance="+tc.instance, func(t *testing.T) {
			f := parse(t, text, tc.instance, nil)
			if got := lines(f.Nodes); !slices.Equal(got, tc.want) {
				t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if warned := len(f.Findings) == 1 && strings.Contains(f.Findings[0].String(), kc+":1: @lb1: warning: conditional lines are selected for no instance name"); warned != tc.warn {
				t.Errorf("findings = %v", f.Findings)
			}
		})
	}
}

func TestParseContinuation(t *testing.T) {
	f := parse(t, `notify_master "/etc/notify.sh \
    master" \
    root
virtual_ipaddress { \
# a comment inside is skipped
    192.0.2.1 }
weight 2 \`, "", nil)
	want := []string{
		kc + `:1 notify_master|/etc/notify.sh master|root`,
		kc + ":4 virtual_ipaddress",
		"  " + kc + ":4 192.0.2.1",
		kc + ":7 weight|2",
	}
	if got := lines(f.Nodes); !slices.Equal(got, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if raw := f.Nodes[0].Raw; raw != `notify_master "/etc/notify.sh master" root` {
		t.Errorf("raw = %q", raw)
	}
}

func TestParseSequenceBlocks(t *testing.T) {
	const want = "k.conf:1: ~SEQ: not supported (sequence and list blocks are not expanded by the importer; write the lines out)"
	f, err := Parse("k.conf", []byte("~SEQ(N, 1, 3) vrrp_script s$N\nglobal_defs {\n}\n"), Options{})
	if err != nil || len(f.Findings) != 1 || f.Findings[0].String() != want || len(f.Nodes) != 1 {
		t.Errorf("findings = %v, error %v", f.Findings, err)
	}
	// Leaving the line out may unbalance the braces: the finding comes
	// with the error.
	f, err = Parse("k.conf", []byte("~SEQ(N, 1, 3) vrrp_script s$N {\n}\n"), Options{})
	if err == nil || f == nil || len(f.Findings) != 1 || f.Findings[0].String() != want {
		t.Errorf("findings = %v, error %v", f, err)
	}
}

// TestParseErrors checks the exact message of each kind of bad input.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		opts       Options
		want       []string
	}{
		{"unterminated quote", "router_id \"lb1\n", Options{},
			[]string{"k.conf:1: unterminated quote (expected a closing '\"')"}},
		{"extra closing brace", "global_defs {\n}\n}\n", Options{},
			[]string{"k.conf:3: unexpected '}' (no block is open)"}},
		{"unclosed block", "global_defs {\n  router_id a\nvrrp_instance X {\n", Options{},
			[]string{"k.conf:3: vrrp_instance: block is not closed (expected '}' before the end of the file)"}},
		{"brace without keyword", "{\n}\n", Options{},
			[]string{"k.conf:1: unexpected '{' (expected it after a keyword that takes a block)", "k.conf:2: unexpected '}' (no block is open)"}},
		{"second brace", "global_defs {\n{\n}\n}\n", Options{},
			[]string{"k.conf:2: unexpected '{' (expected it after a keyword that takes a block)", "k.conf:4: unexpected '}' (no block is open)"}},
		{"include with two files", "include a.conf b.conf\n", Options{},
			[]string{"k.conf:1: include: expected one file name or pattern, got 2 words"}},
		{"include loop", "include k.conf\n", Options{},
			[]string{"k.conf:1: include: includes nest deeper than 16 (a file that includes itself?)"}},
		{"include loop, shallower limit", "include k.conf\n", Options{MaxIncludeDepth: 2},
			[]string{"k.conf:1: include: includes nest deeper than 2 (a file that includes itself?)"}},
		{"self-referring definition", "$A=${A}x\nrouter_id $A\n", Options{},
			[]string{"k.conf:2: $A: more than 256 substitutions in one line (a definition that refers to itself?)"}},
		{"multiline definition expanding itself", "$A=\\\nx \\\n$A\n\n$A\n", Options{},
			[]string{"k.conf:5: multiline definitions nest deeper than 32 (a definition that expands to itself?)"}},
		{"too many lines", strings.Repeat("a b\n", 11), Options{MaxLines: 10},
			[]string{"k.conf:11: more than 10 lines after includes and definitions are expanded (a definition or include loop?)"}},
		{"growing definition", "$A=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n$B=$A $A $A $A $A $A $A $A\n$C=$B $B $B $B $B $B $B $B\n$D=$C $C $C $C $C $C $C $C\n$E=$D $D $D $D $D $D $D $D\nx $E\n", Options{MaxLines: 10},
			[]string{"k.conf:6: $A: definitions expand to more than 5120 bytes (a definition that grows without end?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.FS = MapFS{"k.conf": tc.text}
			_, err := ParseFile("k.conf", opts)
			var got []string
			for _, e := range Errors(err) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestExpandBraces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a.conf", []string{"a.conf"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"x/{a,b{1,2}}/c", []string{"x/a/c", "x/b1/c", "x/b2/c"}},
		{"{,d/}k", []string{"k", "d/k"}},
		{"{unbalanced", []string{"{unbalanced"}},
	} {
		got, ok := expandBraces(tc.in, 10)
		if !ok || !slices.Equal(got, tc.want) {
			t.Errorf("expandBraces(%q) = %q, %t; want %q", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := expandBraces(strings.Repeat("{a,b}", 4), 10); ok {
		t.Error("16 patterns fit a limit of 10")
	}
}

func TestNodeString(t *testing.T) {
	f := parse(t, "virtual_server 192.0.2.1 80 {  # top\n  virtualhost \"a b\"  # host\n  # the real\n  real_server 192.0.2.2 80 {\n  # nothing yet\n  }\n}\n", "", nil)
	want := "virtual_server 192.0.2.1 80 {\n    virtualhost \"a b\"  # host\n    # the real\n    real_server 192.0.2.2 80 {\n        # nothing yet\n    }\n}\n"
	if got := f.Nodes[0].String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestDecomment(t *testing.T) {
	for _, tc := range []struct {
		in            string
		inQuote       bool
		text, comment string
		cont, quote   bool
	}{
		{"  a b  # c  ", false, "a b", " c", false, false},
		{`a "#b" !c`, false, `a "#b"`, "c", false, false},
		{`a \#b \!c`, false, "a #b !c", "", false, false},
		{`a \`, false, "a", "", true, false},
		{`a "b \`, false, `a "b`, "", true, true},
		{`c" d # e`, true, `c" d`, " e", false, false},
		{`a \\`, false, `a \\`, "", false, false},
	} {
		text, comment, cont, quote := decomment(tc.in, tc.inQuote)
		if got := []any{text, comment, cont, quote}; !reflect.DeepEqual(got, []any{tc.text, tc.comment, tc.cont, tc.quote}) {
			t.Errorf("decomment(%q, %t) = %q", tc.in, tc.inQuote, got)
		}
	}
}

// TestParseNestedMultiline expands a multiline definition inside another,
// as keepalived's manual shows with $VS and $RS.
func TestParseNestedMultiline(t *testing.T) {
	f := parse(t, `$RS= \
real_server 192.0.2.${RS_NUM} 80 { \
    weight ${RS_NUM} \
}
$VS= \
virtual_server 203.0.113.${VS_NUM} 80 { \
    $RS_NUM=1 \
    $RS \
    $RS_NUM=2 \
    $RS \
}

$VS_NUM=1
$VS
`, "", nil)
	want := []string{
		kc + ":14 virtual_server|203.0.113.1|80",
		"  " + kc + ":14 real_server|192.0.2.1|80",
		"    " + kc + ":14 weight|1",
		"  " + kc + ":14 real_server|192.0.2.2|80",
		"    " + kc + ":14 weight|2",
	}
	if got := lines(f.Nodes); !slices.Equal(got, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
