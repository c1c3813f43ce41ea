package main

import "testing"

// TestCheckAdhoc: an adhoc run counts only when every host answered.
func TestCheckAdhoc(t *testing.T) {
	tests := []struct {
		tool, out string
		bad       bool
	}{
		{"tend", "---\nlab[1-2] (2)\n---\nLinux lab1 6.1\n\n2 hosts: 2 exit 0 (lab[1-2]).\n", false},
		{"tend", "Linux lab1 6.1\n\n2 hosts: 1 exit 0 (lab1), 1 unreachable (lab2).\n", true},
		{"floor", "127.0.10.1: Linux lab1\n127.0.10.2: Linux lab2\n", false},
		{"floor", "127.0.10.1: Linux lab1\n", true},
		{"openssh", "Linux lab1\nLinux lab2\n", false},
		{"ansible", "lab1 | CHANGED | rc=0 >>\nLinux\nlab2 | CHANGED | rc=0 >>\nLinux\n", false},
		{"ansible", "lab1 | CHANGED | rc=0 >>\nLinux\nlab2 | UNREACHABLE! => {}\n", true},
	}
	for _, tc := range tests {
		if got := checkAdhoc(tc.tool, 2, tc.out); (got != "") != tc.bad {
			t.Errorf("checkAdhoc(%s, %q) = %q, want bad=%v", tc.tool, tc.out, got, tc.bad)
		}
	}
}
