package healthd

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/xlb/xlb/internal/notify"
)

// Validate checks a whole configuration and returns every problem found,
// joined. Set runs it before changing anything.
func Validate(vss []VirtualServer) error {
	var errs []error
	seen := map[string]bool{}
	for _, vs := range vss {
		errs = append(errs, validateVS(vs, seen)...)
	}
	return errors.Join(errs...)
}

func validateVS(vs VirtualServer, seen map[string]bool) []error {
	var errs []error
	where := fmt.Sprintf("virtual_server %q", vs.Key)
	add := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, a...))
	}
	switch {
	case vs.Key == "":
		add("empty key")
	case seen[vs.Key]:
		add("duplicate key")
	}
	seen[vs.Key] = true
	if vs.DelayLoop < 0 {
		add("negative delay_loop %v", vs.DelayLoop)
	}
	if vs.Quorum < 0 {
		add("negative quorum %d", vs.Quorum)
	}
	if vs.Hysteresis < 0 {
		add("negative hysteresis %d", vs.Hysteresis)
	}
	for name, line := range map[string]string{"quorum_up": vs.QuorumUp, "quorum_down": vs.QuorumDown} {
		if err := checkCommandLine(line); err != nil {
			add("%s: %v", name, err)
		}
	}
	reals := map[string]bool{}
	for _, r := range vs.Reals {
		rwhere := fmt.Sprintf("%s real_server %q", where, r.Key)
		radd := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf(rwhere+": "+format, a...))
		}
		switch {
		case r.Key == "":
			radd("empty key")
		case reals[r.Key]:
			radd("duplicate key")
		}
		reals[r.Key] = true
		if !r.Addr.IsValid() {
			radd("no address")
		}
		if r.Weight < 0 {
			radd("negative weight %d", r.Weight)
		}
		for name, line := range map[string]string{"notify_up": r.NotifyUp, "notify_down": r.NotifyDown} {
			if err := checkCommandLine(line); err != nil {
				radd("%s: %v", name, err)
			}
		}
		for i, c := range r.Checks {
			if err := normalize(c, vs.DelayLoop, r.Addr).validate(); err != nil {
				radd("check %d (%v): %v", i, c.Type, err)
			}
		}
	}
	return errs
}

func checkCommandLine(line string) error {
	if line == "" {
		return nil
	}
	words, err := notify.SplitCommandLine(line)
	if err != nil {
		return err
	}
	if len(words) == 0 || words[0] == "" {
		return errors.New("names no program")
	}
	return nil
}

// validate checks a normalized check.
func (s spec) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Retry < 0 {
		add("negative retry %d", s.Retry)
	}
	switch s.Type {
	case HTTPGet, SSLGet, TCPCheck, DNSCheck, UDPCheck, SMTPCheck, PingCheck:
		if !s.Target.Addr().IsValid() || (s.Target.Port() == 0 && s.Type != PingCheck) {
			add("no address or port to connect to (%v)", s.Target)
		}
		if s.Local.IsValid() && s.Local.Addr().Is4() != s.Target.Addr().Is4() {
			add("bindto %v and connect address %v are of different families", s.Local.Addr(), s.Target.Addr())
		}
	case FileCheck:
		if s.FilePath == "" {
			add("no file")
		}
	case MiscCheck:
		if s.MiscPath == "" {
			add("no misc_path")
		} else if !s.Shell {
			if err := checkCommandLine(s.MiscPath); err != nil {
				add("misc_path: %v", err)
			}
		}
	default:
		add("unknown checker type %d", int(s.Type))
	}
	switch s.Type {
	case DNSCheck:
		if _, ok := dnsTypes[s.DNSType]; !ok {
			add("type %q: want %s", s.DNSType, DNSTypes)
		}
		if _, err := ParseDNSName(s.DNSName); err != nil {
			add("%v", err)
		}
	case UDPCheck:
		if s.Payload != "" {
			if _, _, err := ParseHex(s.Payload, false); err != nil {
				add("payload: %v", err)
			}
		}
		if s.ReplyData != "" {
			if !s.RequireReply {
				add("reply data without require_reply")
			}
			if _, _, err := ParseHex(s.ReplyData, true); err != nil {
				add("require_reply: %v", err)
			}
		}
		if s.MinReplyLength < 0 || s.MaxReplyLength < 0 || s.MinReplyLength > s.MaxReplyLength || s.MaxReplyLength > 65535 {
			add("reply length range %d-%d: want 0 <= min <= max <= 65535", s.MinReplyLength, s.MaxReplyLength)
		}
	case SMTPCheck:
		if strings.ContainsAny(s.HeloName, " \t\r\n") {
			add("helo_name %q has blanks", s.HeloName)
		}
	}
	if s.Type == HTTPGet || s.Type == SSLGet {
		switch s.HTTPProtocol {
		case "1.0", "1.0C", "1.1":
		default:
			add("http_protocol %q: want 1.0, 1.0C or 1.1", s.HTTPProtocol)
		}
		if len(s.URLs) == 0 {
			add("no url")
		}
		for i, u := range s.URLs {
			if u.Path == "" || strings.ContainsAny(u.Path, " \t\r\n") {
				add("url %d: path %q: empty or with blanks", i, u.Path)
			}
			if strings.ContainsAny(u.VirtualHost, " \t\r\n") {
				add("url %d: virtualhost %q has blanks", i, u.VirtualHost)
			}
			for _, r := range u.StatusCodes {
				if err := r.validate(); err != nil {
					add("url %d: %v", i, err)
				}
			}
			if u.Digest != "" {
				if b, err := hex.DecodeString(u.Digest); err != nil || len(b) != 16 {
					add("url %d: digest %q is not an MD5 in hex", i, u.Digest)
				}
			}
			if u.Regex != "" {
				if _, err := CompileRegex(u.Regex); err != nil {
					add("url %d: %v", i, err)
				}
			} else if u.RegexNoMatch {
				add("url %d: regex_no_match without regex", i)
			}
		}
	}
	if s.TLSVerify && s.Type != SSLGet {
		add("ssl verification only applies to SSL_GET")
	}
	if s.TLSVerify && s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			add("ca file: %v", err)
		}
	}
	return errors.Join(errs...)
}

// fingerprint identifies what a check probes: its type, target and
// request. Scheduling and timeouts (delay_loop, retry, delay_before_retry,
// warmup, connect_timeout, misc_timeout) are left out, so a reload that only
// retunes them keeps the checker and its state.
func (s spec) fingerprint() string {
	var id struct {
		Type          CheckType
		Target, Local string `json:",omitempty"`
		URLs          []URL  `json:",omitempty"`
		EnableSNI     bool   `json:",omitempty"`
		TLSVerify     bool   `json:",omitempty"`
		CAFile        string `json:",omitempty"`
		MiscPath      string `json:",omitempty"`
		MiscDynamic   bool   `json:",omitempty"`
		User          string `json:",omitempty"`
		Shell         bool   `json:",omitempty"`
		HTTPProtocol  string `json:",omitempty"`
		DNSType       string `json:",omitempty"`
		DNSName       string `json:",omitempty"`
		Payload       string `json:",omitempty"`
		RequireReply  bool   `json:",omitempty"`
		ReplyData     string `json:",omitempty"`
		MinReply      int    `json:",omitempty"`
		MaxReply      int    `json:",omitempty"`
		HeloName      string `json:",omitempty"`
		FilePath      string `json:",omitempty"`
		FileWeight    int    `json:",omitempty"`
		FileReverse   bool   `json:",omitempty"`
	}
	id.Type = s.Type
	switch s.Type {
	case MiscCheck:
		id.MiscPath, id.MiscDynamic, id.User, id.Shell = s.MiscPath, s.MiscDynamic, s.User, s.Shell
	case FileCheck:
		id.FilePath, id.FileWeight, id.FileReverse = s.FilePath, s.FileWeight, s.FileReverse
	default:
		id.Target = s.Target.String()
		if s.Local.IsValid() {
			id.Local = s.Local.String()
		}
		switch s.Type {
		case HTTPGet, SSLGet:
			id.URLs, id.HTTPProtocol = s.URLs, s.HTTPProtocol
		case DNSCheck:
			id.DNSType, id.DNSName = s.DNSType, s.DNSName
		case UDPCheck:
			id.Payload, id.RequireReply, id.ReplyData = s.Payload, s.RequireReply, s.ReplyData
			id.MinReply, id.MaxReply = s.MinReplyLength, s.MaxReplyLength
		case SMTPCheck:
			id.HeloName = s.HeloName
		}
		if s.Type == SSLGet {
			id.EnableSNI, id.TLSVerify, id.CAFile = s.EnableSNI, s.TLSVerify, s.CAFile
		}
	}
	b, err := json.Marshal(id)
	if err != nil {
		// Every field marshals; keep checkers distinct if one ever fails.
		return fmt.Sprintf("%p", &id)
	}
	return string(b)
}
