// Package keepalived imports keepalived configurations into xlb's TOML.
//
// Parse reads keepalived's configuration language as keepalived does:
// blocks in braces, '#' and '!' comments, double-quoted words, include with
// globs and {a,b} alternatives relative to the including file,
// $NAME=VALUE definitions (multiline ones with trailing backslashes) and
// $NAME / ${NAME} substitution, and @NAME / @^NAME conditional lines
// selected by an instance name like keepalived's -i. Every keyword keeps its
// file and line. Includes, definitions and lines are bounded (see Options),
// so a file that includes itself or a definition that expands to itself
// fails instead of looping.
//
// Convert maps the tree onto xlb's configuration (package config):
// global_defs to [global], vrrp_script, track_file, vrrp_sync_group and
// vrrp_instance to their arrays of tables, virtual_server with its
// real_servers and HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, DNS_CHECK,
// UDP_CHECK, PING_CHECK, SMTP_CHECK and FILE_CHECK checks, lvs_sync_daemon and
// lvs_sync_daemon_interface to [sync], and an iptables-save file's
// masquerade rules (ParseIPTables) to [gateway]. It spells out what
// keepalived decides by itself (the address owner's state and priority,
// rounded advert intervals, HTTP_GET's 3 s delay_before_retry, check
// settings inherited from the real and the service, …), writes the TOML
// text itself so that the operator's comments stay next to what they
// describe, and checks the result with config.Parse.
//
// What xlb cannot express is never dropped silently: it is a Finding
// ("FILE:LINE: KEYWORD: not supported (…)") and a "# xlb: not imported"
// comment in the output. Bad input is an *Error with the file and line.
package keepalived
