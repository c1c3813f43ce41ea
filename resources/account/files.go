package account

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	Name    string
	UID     int64
	GID     string
	Comment string
	Home    string
	Shell   string
}

func parsePasswd(line string) (passwdEntry, error) {
	f := strings.Split(line, ":")
	if len(f) != 7 {
		return passwdEntry{}, fmt.Errorf("malformed /etc/passwd line (%d fields, want 7): %q", len(f), line)
	}
	uid, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || uid < 0 {
		return passwdEntry{}, fmt.Errorf("malformed /etc/passwd line (uid %q): %q", f[2], line)
	}
	if _, err := strconv.ParseUint(f[3], 10, 32); err != nil {
		return passwdEntry{}, fmt.Errorf("malformed /etc/passwd line (gid %q): %q", f[3], line)
	}
	return passwdEntry{Name: f[0], UID: uid, GID: f[3], Comment: f[4], Home: f[5], Shell: f[6]}, nil
}

// groupEntry is one line of /etc/group.
type groupEntry struct {
	Name    string
	GID     string
	Members []string
}

func parseGroup(line string) (groupEntry, error) {
	f := strings.Split(line, ":")
	if len(f) != 4 {
		return groupEntry{}, fmt.Errorf("malformed /etc/group line (%d fields, want 4): %q", len(f), line)
	}
	if _, err := strconv.ParseUint(f[2], 10, 32); err != nil {
		return groupEntry{}, fmt.Errorf("malformed /etc/group line (gid %q): %q", f[2], line)
	}
	return groupEntry{Name: f[0], GID: f[2], Members: splitList(f[3])}, nil
}

// shadowEntry is one line of /etc/shadow: the hash and the aging fields
// (last change, min, max, warn, inactive, expire), kept as text because
// empty means "unset" and chage takes -1 for it.
type shadowEntry struct {
	Name  string
	Hash  string
	Aging [6]string
}

func parseShadow(line string) (shadowEntry, error) {
	f := strings.Split(line, ":")
	if len(f) != 9 {
		// Never quote the line: it holds the hash.
		return shadowEntry{}, fmt.Errorf("malformed /etc/shadow line for %q (%d fields, want 9)", f[0], len(f))
	}
	e := shadowEntry{Name: f[0], Hash: f[1]}
	copy(e.Aging[:], f[2:8])
	for _, v := range e.Aging {
		if v == "" {
			continue
		}
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return shadowEntry{}, fmt.Errorf("malformed /etc/shadow line for %q (aging field %q)", f[0], v)
		}
	}
	return e, nil
}

// AgingString is the aging fields as stored in state ("19000:0:99999:7::").
func (e shadowEntry) AgingString() string { return strings.Join(e.Aging[:], ":") }

// gshadowEntry is one line of /etc/gshadow.
type gshadowEntry struct {
	Name    string
	Hash    string
	Admins  []string
	Members []string
}

func parseGshadow(line string) (gshadowEntry, error) {
	f := strings.Split(line, ":")
	if len(f) != 4 {
		return gshadowEntry{}, fmt.Errorf("malformed /etc/gshadow line for %q (%d fields, want 4)", f[0], len(f))
	}
	return gshadowEntry{Name: f[0], Hash: f[1], Admins: splitList(f[2]), Members: splitList(f[3])}, nil
}

// subIDRange is one line of /etc/subuid or /etc/subgid for a user, as
// "start-last" (the form usermod -v/-w take).
func parseSubID(line string) (string, error) {
	f := strings.Split(line, ":")
	if len(f) != 3 {
		return "", fmt.Errorf("malformed subordinate id line %q", line)
	}
	start, err1 := strconv.ParseUint(f[1], 10, 32)
	count, err2 := strconv.ParseUint(f[2], 10, 32)
	if err1 != nil || err2 != nil || count == 0 {
		return "", fmt.Errorf("malformed subordinate id line %q", line)
	}
	return fmt.Sprintf("%d-%d", start, start+count-1), nil
}

// splitList splits a comma-separated member list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		if m != "" {
			out = append(out, m)
		}
	}
	return out
}

// sortedUnique returns a sorted copy of list without duplicates.
func sortedUnique(list []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isNumeric reports whether s is a numeric id.
func isNumeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// checkName validates a user or group name as shadow-utils would accept
// it without --badname: no separators, whitespace or leading dash.
func checkName(attr, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s must not be empty", attr)
	case len(s) > 32:
		return fmt.Errorf("%s %q is longer than 32 characters", attr, s)
	case s[0] == '-' || s[0] == '+' || s[0] == '~':
		return fmt.Errorf("%s %q must not start with %q", attr, s, s[0])
	case s == "." || s == "..":
		return fmt.Errorf("%s %q is not a valid name", attr, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || (c == '$' && i == len(s)-1)
		if !ok {
			return fmt.Errorf("%s %q may contain only letters, digits, '_', '-', '.' (and a final '$')", attr, s)
		}
	}
	if isNumeric(s) {
		return fmt.Errorf("%s %q must not be all digits", attr, s)
	}
	return nil
}

// checkField validates a free-text passwd field (comment, shell, home).
func checkField(attr, s string) error {
	if strings.ContainsAny(s, ":\n\r") {
		return fmt.Errorf("%s must not contain ':' or a newline", attr)
	}
	return nil
}
