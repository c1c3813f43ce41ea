package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/transport/local"
)

// TestHealthCheckWords: a health check that fails at once reports the
// command's exit status and stderr; "timed out" only when it timed out.
func TestHealthCheckWords(t *testing.T) {
	hc := &engine.HealthCheck{Command: "echo 'not healthy' >&2; exit 7", Timeout: 10 * time.Second}
	start := time.Now()
	err := engine.RunHealthCheck(context.Background(), local.New(), hc)
	if err == nil || !strings.Contains(err.Error(), "exit status 7: not healthy") || strings.Contains(err.Error(), "timed out") {
		t.Errorf("failing check: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a check failing at once took %s", time.Since(start))
	}
	hc = &engine.HealthCheck{Command: "sleep 5", Timeout: 200 * time.Millisecond, Retries: 1, Delay: 10 * time.Millisecond}
	err = engine.RunHealthCheck(context.Background(), local.New(), hc)
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") || !strings.Contains(err.Error(), "2 attempts") {
		t.Errorf("slow check: %v", err)
	}
	hc = &engine.HealthCheck{Command: "true", Timeout: time.Second}
	if err := engine.RunHealthCheck(context.Background(), local.New(), hc); err != nil {
		t.Errorf("passing check: %v", err)
	}
}
