package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials gathers what a Dial can authenticate with: the agent (one
// connection for all hops) and private key files (each read once). It never
// prompts: an encrypted key it cannot use is skipped with a note, and the
// notes are reported if authentication fails.
type credentials struct {
	agent     agent.ExtendedAgent
	agentConn net.Conn
	agentKeys []gossh.Signer
	// agentNote says why the agent is not used, if it was asked for.
	agentNote string
	files     map[string]*keyFile
}

type keyFile struct {
	signer gossh.Signer
	// pub is the public half when the private key could not be used but a
	// .pub file sits next to it (so an agent copy can stand in).
	pub  gossh.PublicKey
	note string // why the file is not usable; "" when signer != nil
}

func newCredentials(socket string) *credentials {
	c := &credentials{files: map[string]*keyFile{}}
	if socket == "" {
		return c
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		c.agentNote = fmt.Sprintf("ssh-agent at %s: %v", socket, err)
		return c
	}
	c.agentConn = conn
	c.agent = agent.NewClient(conn)
	keys, err := c.agent.Signers()
	if err != nil {
		c.agentNote = fmt.Sprintf("ssh-agent at %s: list keys: %v", socket, err)
		return c
	}
	c.agentKeys = keys
	if len(keys) == 0 {
		c.agentNote = fmt.Sprintf("ssh-agent at %s holds no keys", socket)
	}
	return c
}

// Close ends the agent connection; call it once every handshake is over.
func (c *credentials) Close() {
	if c.agentConn != nil {
		c.agentConn.Close()
	}
}

func (c *credentials) load(f identityFile) *keyFile {
	if k, ok := c.files[f.path]; ok {
		return k
	}
	k := readKeyFile(f)
	c.files[f.path] = k
	return k
}

// keyFiles keeps each private key file parsed, by path, while its size
// and modification time stay the same: every host of a run authenticates
// with the same few files, and parsing a key (an RSA key's checks above
// all) is worth doing once. Only usable keys are kept; a keyFile is
// only read from afterwards.
var keyFiles sync.Map // path → *parsedKey

type parsedKey struct {
	size int64
	mod  time.Time
	k    *keyFile
}

// readKeyFile reads and parses f, or returns it parsed already.
func readKeyFile(f identityFile) *keyFile {
	k := &keyFile{}
	fi, err := os.Stat(f.path)
	if err == nil {
		if v, ok := keyFiles.Load(f.path); ok {
			if p := v.(*parsedKey); p.size == fi.Size() && p.mod.Equal(fi.ModTime()) {
				return p.k
			}
		}
	}
	pem, err := os.ReadFile(f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !f.explicit {
			return k // a default key that is simply not there: no note
		}
		k.note = fmt.Sprintf("identity file %s: %v", f.path, err)
		return k
	}
	signer, err := gossh.ParsePrivateKey(pem)
	var missing *gossh.PassphraseMissingError
	switch {
	case err == nil:
		k.signer = signer
	case errors.As(err, &missing):
		k.note = fmt.Sprintf("identity file %s is encrypted and tend never prompts for passphrases: load it into ssh-agent with `ssh-add %s`", f.path, f.path)
		k.pub = missing.PublicKey
		if k.pub == nil {
			if b, err := os.ReadFile(f.path + ".pub"); err == nil {
				k.pub, _, _, _, _ = gossh.ParseAuthorizedKey(b)
			}
		}
	default:
		k.note = fmt.Sprintf("identity file %s: %v", f.path, err)
	}
	if fi != nil && k.signer != nil {
		keyFiles.Store(f.path, &parsedKey{size: fi.Size(), mod: fi.ModTime(), k: k})
	}
	return k
}

func (c *credentials) agentSigner(pub gossh.PublicKey) gossh.Signer {
	if pub == nil {
		return nil
	}
	want := pub.Marshal()
	for _, s := range c.agentKeys {
		if bytes.Equal(s.PublicKey().Marshal(), want) {
			return s
		}
	}
	return nil
}

// methods returns the auth methods for e, and notes on every credential
// that was skipped and why.
func (c *credentials) methods(e *endpoint, identitiesOnly bool) ([]gossh.AuthMethod, []string) {
	var signers []gossh.Signer
	var notes []string
	seen := map[string]bool{}
	add := func(s gossh.Signer) {
		k := string(s.PublicKey().Marshal())
		if !seen[k] {
			seen[k] = true
			signers = append(signers, s)
		}
	}
	// Named files first, then the agent, then OpenSSH's default files: a
	// server counts every key offered against MaxAuthTries (default 6).
	fromFile := func(f identityFile) {
		k := c.load(f)
		if k.signer != nil {
			add(k.signer)
			return
		}
		if s := c.agentSigner(k.pub); s != nil {
			add(s) // the encrypted file's key, unlocked in the agent
			return
		}
		if k.note != "" {
			notes = append(notes, k.note)
		}
	}
	for _, f := range e.identityFiles {
		if f.explicit {
			fromFile(f)
		}
	}
	if !identitiesOnly {
		for _, s := range c.agentKeys {
			add(s)
		}
	}
	for _, f := range e.identityFiles {
		if !f.explicit {
			fromFile(f)
		}
	}
	if c.agentNote != "" {
		notes = append(notes, c.agentNote)
	}

	var methods []gossh.AuthMethod
	if len(signers) > 0 {
		methods = append(methods, gossh.PublicKeys(signers...))
	}
	if e.password != "" {
		pw := e.password
		methods = append(methods,
			gossh.Password(pw),
			gossh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				// PAM asks for the password through keyboard-interactive;
				// anything else (OTP, ...) cannot be answered unattended.
				answers := make([]string, len(questions))
				for i, q := range questions {
					if echos[i] || !strings.Contains(strings.ToLower(q), "password") {
						return nil, fmt.Errorf("cannot answer prompt %q unattended", q)
					}
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	return methods, notes
}
