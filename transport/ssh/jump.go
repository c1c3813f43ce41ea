package ssh

import (
	"context"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
)

// JumpHosts shares jump host (ProxyJump) connections between the
// Transports dialled with it: hosts behind one bastion open their
// direct-tcpip channels over one SSH connection to it instead of one
// connection each, as OpenSSH's ControlMaster would. A jump connection is
// keyed by the chain that reaches it (user, address and port of every hop
// so far); the first host to need it authenticates it, with its own
// credentials. It is closed when the last Transport using it closes. A
// connection that has died is replaced by the next Dial. Safe for
// concurrent use.
type JumpHosts struct {
	mu    sync.Mutex
	conns map[string]*jumpConn
	// dials counts the jump connections opened, for tests.
	dials int64
}

// NewJumpHosts returns an empty set of shared jump connections.
func NewJumpHosts() *JumpHosts {
	return &JumpHosts{conns: map[string]*jumpConn{}}
}

type jumpConn struct {
	ready  chan struct{} // closed once the dial has ended
	client *gossh.Client // set before ready closes, nil if the dial failed
	err    error
	dead   chan struct{} // closed when the connection ends
	refs   int
}

// Dials is how many jump connections j has opened.
func (j *JumpHosts) Dials() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.dials
}

// jumpKey names the hop at the end of chain by every hop up to it.
func jumpKey(chain []endpoint) string {
	var b strings.Builder
	for i, e := range chain {
		if i > 0 {
			b.WriteString(" > ")
		}
		b.WriteString(e.user)
		b.WriteByte('@')
		b.WriteString(e.addr())
	}
	return b.String()
}

// acquire returns the shared connection for key, dialling it with dial if
// there is none alive (concurrent callers wait for one dial), and a
// release to call when the caller no longer needs it. opened says
// whether this call made the connection.
func (j *JumpHosts) acquire(ctx context.Context, key string, dial func() (*gossh.Client, error)) (c *gossh.Client, release func(), opened bool, err error) {
	for {
		j.mu.Lock()
		jc := j.conns[key]
		if jc != nil {
			select {
			case <-jc.dead:
				// Gone: forget it; its users still hold their references.
				delete(j.conns, key)
				jc = nil
			default:
			}
		}
		if jc == nil {
			jc = &jumpConn{ready: make(chan struct{}), dead: make(chan struct{}), refs: 1}
			j.conns[key] = jc
			j.dials++
			j.mu.Unlock()
			jc.client, jc.err = dial()
			if jc.err != nil {
				j.mu.Lock()
				if j.conns[key] == jc {
					delete(j.conns, key)
				}
				j.mu.Unlock()
				close(jc.dead)
				close(jc.ready)
				return nil, nil, false, jc.err
			}
			go func() {
				_ = jc.client.Wait()
				close(jc.dead)
			}()
			close(jc.ready)
			return jc.client, j.releaser(key, jc), true, nil
		}
		jc.refs++
		j.mu.Unlock()
		select {
		case <-jc.ready:
		case <-ctx.Done():
			j.releaser(key, jc)()
			return nil, nil, false, ctx.Err()
		}
		if jc.err != nil {
			// The dial this call waited for failed: this caller tries on
			// its own (the bastion may have been busy only for a moment).
			j.mu.Lock()
			jc.refs--
			j.mu.Unlock()
			if err := ctx.Err(); err != nil {
				return nil, nil, false, err
			}
			continue
		}
		return jc.client, j.releaser(key, jc), false, nil
	}
}

// releaser drops one reference to jc, closing it with the last one.
func (j *JumpHosts) releaser(key string, jc *jumpConn) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			j.mu.Lock()
			jc.refs--
			last := jc.refs == 0
			if last && j.conns[key] == jc {
				delete(j.conns, key)
			}
			j.mu.Unlock()
			if last && jc.client != nil {
				jc.client.Close()
			}
		})
	}
}
