// Package reporttest makes plans of large synthetic fleets, for the
// report's size test and its benchmark: no host is contacted.
package reporttest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
)

// Fleet returns a plan of hosts × perHost file resources: about one host
// in a hundred unreachable and one failed; on two hosts in five a tenth
// of the files change, each with a content diff, a third of them naming
// the host (a diff of its own) and the rest alike across hosts; on one
// host in seven a tenth of the files change mode only; the rest are in
// sync.
func Fleet(hosts, perHost int) *plan.Plan {
	pl := &plan.Plan{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Target: "all"}
	for h := range hosts {
		name := fmt.Sprintf("web%04d.dc%d.example.com", h, h%4)
		hp := &plan.HostPlan{Name: name, Address: fmt.Sprintf("10.%d.%d.%d", h/65536, h/256%256, h%256),
			Groups: []string{"all", "web", fmt.Sprintf("dc%d", h%4)}, Duration: time.Duration(40+h%60) * time.Millisecond}
		switch h % 100 {
		case 7:
			hp.Err = &plan.UnreachableError{Err: fmt.Errorf("dial tcp %s:22: connect: connection refused", hp.Address)}
		case 13:
			hp.Err = errors.New("probe of file.conf_3 failed: sh: 1: stat: Permission denied")
		}
		if hp.Err == nil {
			for r := range perHost {
				hp.Changes = append(hp.Changes, change(name, h, r))
			}
		}
		pl.Hosts = append(pl.Hosts, hp)
	}
	return pl
}

func change(host string, h, r int) *plan.Change {
	path := fmt.Sprintf("/etc/app/conf_%02d.conf", r)
	attrs := func(mode string) map[string]cty.Value {
		return map[string]cty.Value{"path": cty.StringVal(path), "mode": cty.StringVal(mode), "owner": cty.StringVal("root")}
	}
	desired := config(host, r, "v2")
	ch := &plan.Change{Address: fmt.Sprintf("file.conf_%02d", r), Type: "file", Action: plan.NoOp,
		Before: &resources.State{Present: true, Attrs: attrs("0644"), Content: content(desired)},
		After:  &resources.State{Present: true, Attrs: attrs("0644"), Content: content(desired)}}
	switch {
	case h%5 < 2 && (h+r)%10 == 0:
		ch.Action, ch.Changed = plan.Update, []string{plan.ContentChange}
		ch.Before.Content = content(config(host, r, "v1"))
	case h%7 == 0 && (h+r)%10 == 5:
		ch.Action, ch.Changed = plan.Update, []string{"mode"}
		ch.After.Attrs = attrs("0600")
	}
	return ch
}

// config is a configuration file of 40 lines; a third of the files name
// their host.
func config(host string, r int, version string) string {
	var b strings.Builder
	for i := range 40 {
		switch {
		case i == 3 && r%3 == 0:
			fmt.Fprintf(&b, "server_name = %s\n", host)
		case i%13 == 5:
			fmt.Fprintf(&b, "setting_%02d = %s-%d\n", i, version, i)
		default:
			fmt.Fprintf(&b, "setting_%02d = value %d of file %d\n", i, i, r)
		}
	}
	return b.String()
}

func content(s string) *resources.Content {
	sum := sha256.Sum256([]byte(s))
	return &resources.Content{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(s)), Data: []byte(s), Known: true}
}
