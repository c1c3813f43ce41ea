package resources

import "testing"

// TestUnknownOwnerIsItsID: a path owned by an id no account has shows the
// id, not stat's "UNKNOWN".
func TestUnknownOwnerIsItsID(t *testing.T) {
	pi, err := readPathInfo(ProbeOutput{Values: map[string]string{"type": "file", "mode": "644", "uid": "4242", "gid": "4343",
		"owner": "UNKNOWN", "group": "UNKNOWN", "size": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	if pi.Owner != "4242" || pi.Group != "4343" {
		t.Errorf("owner %q, group %q; want 4242 and 4343", pi.Owner, pi.Group)
	}
	pi, _ = readPathInfo(ProbeOutput{Values: map[string]string{"type": "file", "mode": "644", "uid": "0", "gid": "0",
		"owner": "root", "group": "root", "size": "3"}})
	if pi.Owner != "root" || pi.Group != "root" {
		t.Errorf("owner %q, group %q; want root", pi.Owner, pi.Group)
	}
}
