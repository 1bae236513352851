package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// withHealth answers GET /healthz before anything else: no token, no
// Origin rule, for a load balancer. The body is only "ok", "not ok" or
// "draining" (503 from the stop signal on, while everything else is still
// served): the error stays in the log.
func withHealth(next http.Handler, h *health) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if h.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "draining\n")
			return
		}
		if h.ok(r.Context()) {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ok\n")
	})
}

// health runs at most one check at a time: requests arriving meanwhile
// share its outcome, so a flood of /healthz (which needs no token) costs
// the store one check in flight, not one each.
type health struct {
	check   func(context.Context) error // nil: always healthy
	timeout time.Duration
	logger  *slog.Logger

	flight   singleflight.Group
	failing  atomic.Bool // the last check failed (logged when it changes)
	draining atomic.Bool // the server is stopping: the balancers must route elsewhere
}

// ok reports whether a check (this request's or the one in flight) passed
// within the timeout. A check that outlives it is abandoned, not waited for:
// until it returns, requests answer "not ok" after the timeout.
func (h *health) ok(ctx context.Context) bool {
	if h.check == nil {
		return true
	}
	c := h.flight.DoChan("", func() (any, error) { return nil, h.run() })
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case res := <-c:
		return res.Err == nil
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// run is one check, on a context of its own: the requests that share it
// may leave before it ends.
func (h *health) run() (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	defer func() {
		// DoChan would re-panic on a goroutine of its own, ending the server.
		if p := recover(); p != nil {
			err = fmt.Errorf("health check panicked: %v", p)
		}
		if failing := err != nil; h.failing.Swap(failing) != failing {
			if failing {
				h.logger.Warn("health check failing: /healthz answers not ok", "err", err)
			} else {
				h.logger.Info("health check passing again: /healthz answers ok")
			}
		}
	}()
	return h.check(ctx)
}
