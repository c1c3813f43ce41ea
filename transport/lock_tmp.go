package transport

import (
	"context"
	"errors"
	"time"
)

// LockInfo identifies the run holding a host.
type LockInfo struct {
	RunID, User, Controller, Command string
	PID                              int
	Started                          time.Time
}

// Locker is implemented by transports that can hold the host's run lock.
type Locker interface {
	Lock(ctx context.Context, info LockInfo, wait time.Duration) (release func() error, err error)
}

// ErrConnLost is wrapped by errors of a connection that was lost.
var ErrConnLost = errors.New("connection lost")
