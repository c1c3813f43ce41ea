package lang

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/vault"
)

// DefaultSecretTimeout bounds how long a cmd: secret source may run.
const DefaultSecretTimeout = 30 * time.Second

// Secrets resolves the secret(...) references of one run. Each reference
// is resolved once, when first evaluated, and its value (or why it could
// not be had) is kept for the rest of the run: a `cmd:` source runs once,
// however many hosts use it. Safe for concurrent use.
//
// Resolution is lazy: secret(...) in configuration or an inventory
// evaluates to an unknown value marked Sensitive and UnresolvedSecret when
// its source cannot give the value, so validating, formatting, listing
// the inventory and planning hosts that do not use it go on; only what
// needs the value (a resource's desired state, a connection's password)
// fails, naming the reference.
type Secrets struct {
	dir string
	// Timeout bounds a cmd: source's run; zero means
	// DefaultSecretTimeout.
	Timeout time.Duration

	mu sync.Mutex
	m  map[string]*resolution
}

type resolution struct {
	once sync.Once
	val  cty.Value
	err  error
}

// NewSecrets returns the resolver of a run whose configuration directory
// is dir: file: paths are relative to it, and cmd: programs run in it.
func NewSecrets(dir string) *Secrets { return &Secrets{dir: dir} }

// UnresolvedSecret is the mark of a secret(...) that could not be
// resolved, and the error Secrets.Resolve returns then.
type UnresolvedSecret = resources.UnresolvedSecret

// unknownSourceError is a reference naming no source tend has: a mistake
// in the configuration, which validation reports (it does not wait for
// the value to be needed).
type unknownSourceError struct{ ref, src string }

func (e *unknownSourceError) Error() string {
	if e.src == "" {
		return fmt.Sprintf("secret reference %q has no source; use \"env:NAME\", \"file:PATH\" or \"cmd:PROGRAM ARGS...\"", e.ref)
	}
	return fmt.Sprintf("unknown secret source %q in %q; supported: env, file, cmd, vault", e.src, e.ref)
}

// Resolve returns the secret ref names, marked Sensitive and with its
// resources.SecretRef (the reference and the value's SHA-256, which a
// journal keeps instead of the value). An error is an UnresolvedSecret,
// or a reference naming no source.
func (s *Secrets) Resolve(ref string) (cty.Value, error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*resolution{}
	}
	r := s.m[ref]
	if r == nil {
		r = &resolution{}
		s.m[ref] = r
	}
	s.mu.Unlock()
	r.once.Do(func() {
		src, name, ok := strings.Cut(ref, ":")
		if !ok {
			r.err = &unknownSourceError{ref: ref}
			return
		}
		v, err := s.read(src, name)
		var us *unknownSourceError
		switch {
		case errors.As(err, &us):
			us.ref = ref
			r.err = us
		case err != nil:
			r.err = UnresolvedSecret{Ref: ref, Reason: err.Error()}
		default:
			// Registered before anything can print it: the value is
			// scrubbed from every output from now on.
			redact.Add(v)
			r.val = cty.StringVal(v).Mark(Sensitive).Mark(resources.SecretRef{Ref: ref, Sum: sha256.Sum256([]byte(v))})
		}
	})
	return r.val, r.err
}

// read returns the value of the secret named name in source src. Its
// error says why the value cannot be had, without the value; a source
// tend does not know is an *unknownSourceError.
func (s *Secrets) read(src, name string) (string, error) {
	switch src {
	case "env":
		return readEnv(name)
	case "file":
		return readSecretFile(resolve(s.dir, name))
	case "cmd":
		return s.runCommand(name)
	case "vault":
		// An Ansible Vault encrypted file (relative to the configuration
		// directory), decrypted with the run's vault passwords.
		return vault.Resolve(resolve(s.dir, name))
	default:
		return "", &unknownSourceError{src: src}
	}
}

func readEnv(name string) (string, error) {
	v, ok := os.LookupEnv(name)
	switch {
	case !ok:
		return "", fmt.Errorf("the environment variable %s is not set", name)
	case v == "":
		return "", fmt.Errorf("the environment variable %s is empty", name)
	}
	return v, nil
}

// readSecretFile reads a file holding a secret, refusing one that
// other users may read (as ssh refuses such a private key): its secret
// may already have leaked.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s is readable or writable by group or others (mode %04o); make it 0600 or 0400", path, perm)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return "", err
	}
	v := trimNewline(b.String())
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// trimNewline removes one line ending, as a file or a command's output
// written with echo ends.
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// runCommand runs a secret manager's command line (pass show ..., vault
// kv get -field=...) without a shell and returns what it printed. Its
// output is never part of an error: on failure it may hold part of a
// secret, or a secret of something else.
func (s *Secrets) runCommand(line string) (string, error) {
	args, err := shell.Split(line, false)
	if err != nil {
		return "", fmt.Errorf("cannot split the command line: %w", err)
	}
	if len(args) == 0 {
		return "", errors.New("no command given")
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSecretTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = s.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A child the program leaves holding its output must not keep tend
	// waiting past the timeout.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s did not finish within %s", args[0], timeout)
	case errors.As(err, &ee):
		msg := fmt.Sprintf("%s failed (%s)", args[0], ee.ProcessState)
		if l := lastLine(stderr.String()); l != "" {
			msg += ": " + l
		}
		return "", errors.New(msg)
	case err != nil:
		return "", err
	}
	v := trimNewline(stdout.String())
	if v == "" {
		return "", fmt.Errorf("%s printed nothing", args[0])
	}
	return v, nil
}

// lastLine returns the last non-empty line of s, where a program says
// why it failed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// function is secret(ref) for configuration and inventories: the
// secret, or, when its source cannot give it now, an unknown value
// marked Sensitive and UnresolvedSecret, to be reported by what needs it.
func (s *Secrets) function() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "ref", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			ref := args[0].AsString()
			v, err := s.Resolve(ref)
			var us UnresolvedSecret
			if errors.As(err, &us) {
				return cty.UnknownVal(cty.String).Mark(Sensitive).Mark(us), nil
			}
			return v, err
		},
	})
}

// ResolveSecret resolves a secret reference as secret(ref) does, with
// file: paths relative to the working directory; `tend rollback` uses it
// to get back a secret a journaled state names. Unlike secret(ref), a
// value that cannot be had is an error.
func ResolveSecret(ref string) (cty.Value, error) { return NewSecrets(".").Resolve(ref) }

// UnresolvedIn returns the secrets v needs that could not be resolved,
// by the path within v that needs each (sorted by path), or nil when v
// needs none.
func UnresolvedIn(v cty.Value) []UnresolvedAt {
	_, pvm := v.UnmarkDeepWithPaths()
	var out []UnresolvedAt
	for _, pm := range pvm {
		for m := range pm.Marks {
			if us, ok := m.(UnresolvedSecret); ok {
				out = append(out, UnresolvedAt{Path: pm.Path, Secret: us})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := pathString(out[i].Path), pathString(out[j].Path)
		if a != b {
			return a < b
		}
		return out[i].Secret.Ref < out[j].Secret.Ref
	})
	return out
}

// UnresolvedAt is a secret that could not be resolved and where in a
// value it is needed.
type UnresolvedAt struct {
	Path   cty.Path
	Secret UnresolvedSecret
}

// Attr is the top-level attribute of the path, "" when the path is the
// value itself.
func (u UnresolvedAt) Attr() string {
	if len(u.Path) > 0 {
		if s, ok := u.Path[0].(cty.GetAttrStep); ok {
			return s.Name
		}
	}
	return ""
}

func pathString(p cty.Path) string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case cty.GetAttrStep:
			b.WriteString("." + s.Name)
		case cty.IndexStep:
			b.WriteString(fmt.Sprintf("[%#v]", s.Key))
		}
	}
	return b.String()
}
