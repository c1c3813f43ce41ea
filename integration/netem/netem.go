// Package netem puts lab hosts (integration/lab) behind real network
// conditions: a userspace TCP proxy (toxiproxy, run in this process) in
// front of each host's sshd adds latency with jitter, bandwidth limits,
// stalls, slow closes and connection resets, on loopback. The machines
// the lab runs on have no sch_netem, so the kernel cannot do it.
//
// Packet loss is modelled by its effect on TCP, which is what an SSH
// client sees: a lost segment is retransmitted after a delay, so loss
// shows up as latency spikes (Spike), never as missing bytes.
//
// A Link is one proxy: an address (127.0.11.X, X being the lab host's
// own octet, so labs running at once never collide) and a port; several
// links may lead to one lab host, so that an inventory can name more
// hosts than the lab boots (aliases). WriteInventory writes a tend
// inventory that reaches every host through its link, and a known_hosts
// file that accepts each host's key at its link's address.
package netem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/rs/zerolog"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
)

// FirstPort is the port of a lab host's first link; its k-th alias
// listens on FirstPort+k.
const FirstPort = 2200

// Net is the proxies in front of a lab's hosts.
type Net struct {
	Links []*Link

	lab *lab.Lab
	srv *toxiproxy.ApiServer
}

// Link is one proxy in front of one lab host's sshd.
type Link struct {
	// Name is the inventory name of the host reached through the link:
	// the lab host's name, with "-K" appended for its alias K > 0.
	Name string
	// Host is the lab host's index (lab.Host).
	Host int
	// Addr and Port are where the proxy listens.
	Addr string
	Port int

	proxy *toxiproxy.Proxy
	mu    sync.Mutex
	seq   int
}

// Start starts perHost links in front of each of l's hosts.
func Start(l *lab.Lab, perHost int) (*Net, error) {
	if perHost < 1 {
		perHost = 1
	}
	n := &Net{lab: l, srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
	for _, h := range l.Hosts {
		ip := net.ParseIP(h.Address).To4()
		if ip == nil {
			n.Close()
			return nil, fmt.Errorf("netem: %s: address %q is not IPv4", h.Name, h.Address)
		}
		addr := fmt.Sprintf("127.0.11.%d", ip[3])
		for k := 0; k < perHost; k++ {
			name := h.Name
			if k > 0 {
				name = fmt.Sprintf("%s-%d", h.Name, k)
			}
			lk := &Link{Name: name, Host: h.Index, Addr: addr, Port: FirstPort + k}
			lk.proxy = toxiproxy.NewProxy(n.srv, name, net.JoinHostPort(addr, strconv.Itoa(lk.Port)), net.JoinHostPort(h.Address, "22"))
			if err := lk.proxy.Start(); err != nil {
				n.Close()
				return nil, fmt.Errorf("netem: proxy for %s on %s:%d: %w", name, addr, lk.Port, err)
			}
			n.Links = append(n.Links, lk)
		}
	}
	return n, nil
}

// Close stops every proxy, closing the connections through it.
func (n *Net) Close() {
	for _, lk := range n.Links {
		lk.proxy.Stop()
	}
}

// Endpoint is host:port of the link.
func (lk *Link) Endpoint() string { return net.JoinHostPort(lk.Addr, strconv.Itoa(lk.Port)) }

// Toxic is one network condition on a link, in one direction
// (downstream: from the host to the controller; upstream: the other way).
type Toxic struct {
	// Type is a toxiproxy toxic: latency, bandwidth, timeout, slow_close,
	// reset_peer.
	Type string
	// Stream is "downstream" or "upstream".
	Stream string
	// Attributes are the toxic's (milliseconds, KB/s).
	Attributes map[string]int64
}

// Delay is latency ± jitter added in each direction: a round trip of
// twice latency.
func Delay(latency, jitter int64) []Toxic {
	a := map[string]int64{"latency": latency, "jitter": jitter}
	return []Toxic{{"latency", "downstream", a}, {"latency", "upstream", a}}
}

// Bandwidth limits both directions to kbps kilobits per second.
func Bandwidth(kbps int64) []Toxic {
	a := map[string]int64{"rate": kbps / 8} // toxiproxy's rate is in KB/s
	return []Toxic{{"bandwidth", "downstream", a}, {"bandwidth", "upstream", a}}
}

// Blackhole drops everything in both directions, and has the proxy close
// a connection that carried nothing for ms milliseconds (0: never): a
// firewall or NAT that lost the connection's state.
func Blackhole(ms int64) []Toxic {
	a := map[string]int64{"timeout": ms}
	return []Toxic{{"timeout", "downstream", a}, {"timeout", "upstream", a}}
}

// Spike delays everything by ms milliseconds in both directions and
// loses nothing: a link that stops and comes back, as TCP sees a burst of
// loss it recovers by retransmission.
func Spike(ms int64) []Toxic { return Delay(ms, 0) }

// Reset resets the connection (TCP RST) as soon as either end sends
// something.
func Reset() []Toxic {
	a := map[string]int64{"timeout": 0}
	return []Toxic{{"reset_peer", "downstream", a}, {"reset_peer", "upstream", a}}
}

// SlowClose delays the close of each direction by ms milliseconds.
func SlowClose(ms int64) []Toxic {
	a := map[string]int64{"delay": ms}
	return []Toxic{{"slow_close", "downstream", a}, {"slow_close", "upstream", a}}
}

// Add puts toxics on the link, on its open connections and on new ones,
// and returns a function that removes them again.
func (lk *Link) Add(toxics []Toxic) (remove func() error, err error) {
	var names []string
	remove = func() error {
		var errs []error
		for _, name := range names {
			if err := lk.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
				errs = append(errs, fmt.Errorf("netem: %s: remove %s: %w", lk.Name, name, err))
			}
		}
		names = nil
		return errors.Join(errs...)
	}
	for _, t := range toxics {
		lk.mu.Lock()
		lk.seq++
		name := fmt.Sprintf("%s_%s_%d", t.Type, t.Stream, lk.seq)
		lk.mu.Unlock()
		body, err := json.Marshal(map[string]any{"name": name, "type": t.Type, "stream": t.Stream, "attributes": t.Attributes})
		if err != nil {
			return remove, err
		}
		if _, err := lk.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			return remove, errors.Join(fmt.Errorf("netem: %s: add %s: %w", lk.Name, t.Type, err), remove())
		}
		names = append(names, name)
	}
	return remove, nil
}

// AddAll puts toxics on every link.
func (n *Net) AddAll(toxics []Toxic) error {
	for _, lk := range n.Links {
		if _, err := lk.Add(toxics); err != nil {
			return err
		}
	}
	return nil
}

// Link returns the link named name, or nil.
func (n *Net) Link(name string) *Link {
	for _, lk := range n.Links {
		if lk.Name == name {
			return lk
		}
	}
	return nil
}

// InventoryOptions change what WriteInventory writes.
type InventoryOptions struct {
	// Links are the links to list; nil means all.
	Links []*Link
	// Groups every host is in; nil means ["lab"].
	Groups []string
	// SSHConfig, when set, is every host's ssh config file (e.g. a
	// ConnectTimeout).
	SSHConfig string
}

// WriteInventory writes a tend HCL inventory to path reaching each link's
// host through the link, as root with the lab's key, and beside it
// (path + ".known_hosts") the known_hosts file it names, which holds each
// host's key at its link's address and port.
func (n *Net) WriteInventory(path string, o InventoryOptions) error {
	links := o.Links
	if links == nil {
		links = n.Links
	}
	groups := o.Groups
	if groups == nil {
		groups = []string{"lab"}
	}
	known := path + ".known_hosts"
	var kb strings.Builder
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	gv := make([]cty.Value, len(groups))
	for i, g := range groups {
		gv[i] = cty.StringVal(g)
	}
	for _, lk := range links {
		pub, err := os.ReadFile(n.lab.HostKeyFile(lk.Host) + ".pub")
		if err != nil {
			return err
		}
		fields := strings.Fields(string(pub))
		if len(fields) < 2 {
			return fmt.Errorf("netem: host key of %s: %q is not a public key", lk.Name, pub)
		}
		fmt.Fprintf(&kb, "[%s]:%d %s %s\n", lk.Addr, lk.Port, fields[0], fields[1])
		hb := body.AppendNewBlock("host", []string{lk.Name}).Body()
		hb.SetAttributeValue("address", cty.StringVal(lk.Addr))
		hb.SetAttributeValue("port", cty.NumberIntVal(int64(lk.Port)))
		hb.SetAttributeValue("user", cty.StringVal("root"))
		hb.SetAttributeValue("identity_file", cty.StringVal(n.lab.ClientKeyFile()))
		hb.SetAttributeValue("groups", cty.ListVal(gv))
		sb := hb.AppendNewBlock("ssh", nil).Body()
		sb.SetAttributeValue("known_hosts_file", cty.StringVal(known))
		if o.SSHConfig != "" {
			sb.SetAttributeValue("config_file", cty.StringVal(o.SSHConfig))
		}
		body.AppendNewline()
	}
	if err := writeFile(known, []byte(kb.String())); err != nil {
		return err
	}
	return writeFile(path, f.Bytes())
}

// writeFile writes data to path through a temporary file and a rename.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".netem-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
