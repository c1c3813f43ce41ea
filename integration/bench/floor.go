package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// floorMain is the SSH floor: the least any agentless tool can do. It
// connects to every host at once (one TCP connection, one handshake, one
// public key authentication each, host keys checked against known_hosts),
// opens one exec session per host and runs one command: `true`, or
// `/bin/sh -s` fed with that host's probe script (-scripts DIR holds
// ADDRESS.sh files), or -command's command, whose output it collects and
// prints, host by host, as an ad-hoc tool must. It is run as a child of the benchmark so that its
// wall time, CPU and memory are measured the way tend's are: a whole
// process, Go runtime start included.
func floorMain(args []string) int {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	key := fs.String("key", "", "private key file")
	known := fs.String("known-hosts", "", "known_hosts file")
	user := fs.String("user", "root", "login user")
	scripts := fs.String("scripts", "", "directory of ADDRESS.sh probe scripts; empty runs `true`")
	command := fs.String("command", "", "run this command instead of `true`, printing its output")
	parallel := fs.Int("parallel", 0, "hosts handled at once (0: all)")
	addrFile := fs.String("addresses", "", "read more addresses from this file, one a line (a host may repeat)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// An address without a port is port 22's.
	addrs := fs.Args()
	if *addrFile != "" {
		data, err := os.ReadFile(*addrFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			return 1
		}
		addrs = append(addrs, strings.Fields(string(data))...)
	}
	if *parallel <= 0 {
		*parallel = max(len(addrs), 1)
	}
	sem := make(chan struct{}, *parallel)
	pem, err := os.ReadFile(*key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	signer, err := gossh.ParsePrivateKey(pem)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	hostKeys, err := knownhosts.New(*known)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	cfg := &gossh.ClientConfig{
		User:              *user,
		Auth:              []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: []string{gossh.KeyAlgoED25519},
		Timeout:           30 * time.Second,
	}
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	var outMu sync.Mutex
	for i, a := range addrs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var script []byte
			if *scripts != "" {
				s, err := os.ReadFile(filepath.Join(*scripts, a+".sh"))
				if err != nil {
					errs[i] = err
					return
				}
				script = s
			}
			if *command != "" {
				var out []byte
				if out, errs[i] = floorCommand(a, cfg, *command); errs[i] == nil {
					outMu.Lock()
					fmt.Printf("%s: %s", a, out)
					outMu.Unlock()
				}
				return
			}
			errs[i] = floorHost(a, cfg, script)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	return 0
}

// floorHost runs one command on addr: `true` when script is nil, else the
// script through `/bin/sh -s`, reading (and discarding) its output.
func floorHost(addr string, cfg *gossh.ClientConfig, script []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", endpoint(addr))
	if err != nil {
		return err
	}
	sc, chans, reqs, err := gossh.NewClientConn(conn, endpoint(addr), cfg)
	if err != nil {
		conn.Close()
		return fmt.Errorf("%s: %w", addr, err)
	}
	client := gossh.NewClient(sc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	defer sess.Close()
	sess.Stdout = io.Discard
	var stderr strings.Builder
	sess.Stderr = &stderr
	cmd := "true"
	if script != nil {
		sess.Stdin = strings.NewReader(string(script))
		cmd = "/bin/sh -s"
	}
	if err := sess.Run(cmd); err != nil {
		return fmt.Errorf("%s: %s: %w: %s", addr, cmd, err, stderr.String())
	}
	return nil
}

// floorCommand runs command on addr in one exec session and returns its
// standard output.
func floorCommand(addr string, cfg *gossh.ClientConfig, command string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", endpoint(addr))
	if err != nil {
		return nil, err
	}
	sc, chans, reqs, err := gossh.NewClientConn(conn, endpoint(addr), cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	client := gossh.NewClient(sc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer sess.Close()
	var stdout, stderr strings.Builder
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run(command); err != nil {
		return nil, fmt.Errorf("%s: %s: %w: %s", addr, command, err, stderr.String())
	}
	return []byte(stdout.String()), nil
}

// endpoint is addr with port 22 when it has no port.
func endpoint(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, "22")
}
