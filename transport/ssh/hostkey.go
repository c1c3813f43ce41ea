package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostKeyError is returned when a server's host key is in no
// known_hosts file and host key checking is strict. Its message says how to
// verify and record the key.
type UnknownHostKeyError struct {
	// Host is the address the key was looked up under (host:port).
	Host string
	// Key is the key the server presented.
	Key gossh.PublicKey
	// KnownHostsFile is where the key would be recorded.
	KnownHostsFile string
}

func (e *UnknownHostKeyError) Error() string {
	host, port := splitHostPort(e.Host)
	portFlag := ""
	if port != "22" {
		portFlag = "-p " + port + " "
	}
	return fmt.Sprintf("host key for %s is unknown (%s key fingerprint %s); verify it and run `ssh-keyscan %s-t %s %s >> %s`, or pass --accept-new-host-keys",
		knownhosts.Normalize(e.Host), keyTypeName(e.Key), gossh.FingerprintSHA256(e.Key),
		portFlag, keyscanType(e.Key), host, tildePath(e.KnownHostsFile))
}

// HostKeyChangedError is returned when a server presents a key different
// from the one recorded for it: either the host was reinstalled or someone
// is intercepting the connection. It is never accepted automatically.
type HostKeyChangedError struct {
	// Host is the address the key was looked up under (host:port).
	Host string
	// Key is the key the server presented.
	Key gossh.PublicKey
	// Want are the recorded keys, with the file and line of each.
	Want []knownhosts.KnownKey
}

func (e *HostKeyChangedError) Error() string {
	var b strings.Builder
	b.WriteString("REMOTE HOST IDENTIFICATION HAS CHANGED for ")
	b.WriteString(knownhosts.Normalize(e.Host))
	b.WriteString(": IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY (a man-in-the-middle attack), or the host key was just changed. ")
	fmt.Fprintf(&b, "The server sent %s key %s", keyTypeName(e.Key), gossh.FingerprintSHA256(e.Key))
	for _, w := range e.Want {
		fmt.Fprintf(&b, "; recorded %s key %s at %s:%d", keyTypeName(w.Key), gossh.FingerprintSHA256(w.Key), tildePath(w.Filename), w.Line)
	}
	host, port := splitHostPort(e.Host)
	target := host
	if port != "22" {
		target = "[" + host + "]:" + port
	}
	if len(e.Want) > 0 {
		fmt.Fprintf(&b, ". If the change is expected, remove the old key with `ssh-keygen -R %s -f %s` and verify the new one", target, tildePath(e.Want[0].Filename))
	}
	return b.String()
}

// RevokedHostKeyError is returned for a host key marked @revoked.
type RevokedHostKeyError struct {
	// Host is the address the key was looked up under (host:port).
	Host string
	// Key is the key the server presented.
	Key gossh.PublicKey
	// At is the @revoked line.
	At knownhosts.KnownKey
}

func (e *RevokedHostKeyError) Error() string {
	return fmt.Sprintf("host key %s for %s is marked @revoked at %s:%d", gossh.FingerprintSHA256(e.Key), knownhosts.Normalize(e.Host), tildePath(e.At.Filename), e.At.Line)
}

// hostKeys checks server keys against known_hosts files and, in the
// accept-new and no modes, records unknown ones in the first user file.
type hostKeys struct {
	userFiles   []string
	globalFiles []string
	mode        string
	hash        bool
	warn        io.Writer
	home        string
}

// knownHostsMu serialises reading and appending known_hosts files within
// this process (many hosts dial in parallel); lockFile adds an advisory
// lock against other processes.
var knownHostsMu sync.Mutex

// knownHostsCache is the checker last built, and the files (with their
// sizes and modification times) it was built from: every host of a run
// checks its key against the same files, which change only when a key
// is recorded. Guarded by knownHostsMu.
var knownHostsCache struct {
	stamp string
	cb    gossh.HostKeyCallback
}

// load builds a checker from the files that exist; call it holding
// knownHostsMu.
func (k *hostKeys) load() (gossh.HostKeyCallback, error) {
	var files []string
	var stamp strings.Builder
	for _, f := range append(append([]string(nil), k.userFiles...), k.globalFiles...) {
		if fi, err := os.Stat(f); err == nil {
			files = append(files, f)
			fmt.Fprintf(&stamp, "%s\x00%d\x00%d\x00", f, fi.Size(), fi.ModTime().UnixNano())
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	if len(files) == 0 {
		return func(string, net.Addr, gossh.PublicKey) error {
			return &knownhosts.KeyError{}
		}, nil
	}
	if knownHostsCache.cb != nil && knownHostsCache.stamp == stamp.String() {
		return knownHostsCache.cb, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	knownHostsCache.stamp, knownHostsCache.cb = stamp.String(), cb
	return cb, nil
}

// callback returns the HostKeyCallback for a server whose keys are filed
// under keyHost (host:port).
func (k *hostKeys) callback(keyHost string) gossh.HostKeyCallback {
	return func(_ string, remote net.Addr, key gossh.PublicKey) error {
		knownHostsMu.Lock()
		cb, err := k.load()
		knownHostsMu.Unlock()
		if err != nil {
			return err
		}
		err = k.classify(keyHost, key, cb(keyHost, remote, key))
		// A changed key is refused in every mode, "no" included: unlike
		// OpenSSH we do not carry on with a crippled session, because tend
		// would still send become passwords and files to the impostor.
		var unknown *UnknownHostKeyError
		if errors.As(err, &unknown) && k.mode != strictYes {
			return k.record(keyHost, remote, key)
		}
		return err
	}
}

// classify turns knownhosts' errors into ours.
func (k *hostKeys) classify(keyHost string, key gossh.PublicKey, err error) error {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &revoked):
		return &RevokedHostKeyError{Host: keyHost, Key: key, At: revoked.Revoked}
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		return &UnknownHostKeyError{Host: keyHost, Key: key, KnownHostsFile: k.writeFile()}
	case errors.As(err, &keyErr):
		return &HostKeyChangedError{Host: keyHost, Key: key, Want: keyErr.Want}
	}
	return err
}

func (k *hostKeys) writeFile() string {
	if len(k.userFiles) == 0 {
		return filepath.Join(k.home, ".ssh", "known_hosts")
	}
	return k.userFiles[0]
}

// record appends key for keyHost to the user known_hosts file, checking
// again under the lock in case another dial (or process) recorded it first.
func (k *hostKeys) record(keyHost string, remote net.Addr, key gossh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	path := k.writeFile()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("record host key: lock %s: %w", path, err)
	}
	defer unlockFile(f)

	cb, err := k.load()
	if err != nil {
		return err
	}
	err = k.classify(keyHost, key, cb(keyHost, remote, key))
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) {
		return err // recorded meanwhile (nil), or changed meanwhile
	}

	name := knownhosts.Normalize(keyHost)
	if k.hash {
		name = knownhosts.HashHostname(name)
	}
	line := knownhosts.Line([]string{name}, key) + "\n"
	// Start on a fresh line if the file does not end with one.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("record host key in %s: %w", path, err)
	}
	fmt.Fprintf(k.warn, "tend: permanently added %s key %s for %s to %s\n", keyTypeName(key), gossh.FingerprintSHA256(key), knownhosts.Normalize(keyHost), tildePath(path))
	return nil
}

var (
	probeKeyOnce sync.Once
	probeKey     gossh.PublicKey
)

// algorithms returns the host key algorithms to ask the server for: those
// of the keys recorded for keyHost, so that a server with several keys
// offers the one we know instead of failing as "changed". Nil means no
// preference (nothing recorded, or certificates in play).
func (k *hostKeys) algorithms(keyHost string) []string {
	probeKeyOnce.Do(func() {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err == nil {
			probeKey, _ = gossh.NewPublicKey(pub)
		}
	})
	if probeKey == nil {
		return nil
	}
	knownHostsMu.Lock()
	cb, err := k.load()
	knownHostsMu.Unlock()
	if err != nil {
		return nil
	}
	// The probe key matches nothing, so the error lists every recorded key.
	var keyErr *knownhosts.KeyError
	if !errors.As(cb(keyHost, &net.TCPAddr{IP: net.IPv4zero}, probeKey), &keyErr) || len(keyErr.Want) == 0 {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
	}
	for _, w := range keyErr.Want {
		switch t := w.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			add(gossh.KeyAlgoRSASHA512)
			add(gossh.KeyAlgoRSASHA256)
			add(gossh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// keyTypeName is the short name OpenSSH prints: ED25519, ECDSA, RSA.
func keyTypeName(k gossh.PublicKey) string {
	switch t := k.Type(); {
	case t == gossh.KeyAlgoED25519:
		return "ED25519"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ECDSA"
	case t == gossh.KeyAlgoRSA:
		return "RSA"
	default:
		return t
	}
}

// keyscanType is ssh-keyscan's -t name for a key.
func keyscanType(k gossh.PublicKey) string {
	switch t := k.Type(); {
	case t == gossh.KeyAlgoED25519:
		return "ed25519"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ecdsa"
	case t == gossh.KeyAlgoRSA:
		return "rsa"
	default:
		return t
	}
}

func splitHostPort(hp string) (host, port string) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, "22"
	}
	return h, p
}

// tildePath shortens a path under $HOME to ~/..., as users write it.
func tildePath(p string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return p
	}
	if rel, err := filepath.Rel(home, p); err == nil && !strings.HasPrefix(rel, "..") && rel != "." {
		return "~/" + filepath.ToSlash(rel)
	}
	return p
}
