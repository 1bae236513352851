package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"aipaint-mcp/config"
)

// MetricsPath is where the metrics listener serves the metrics.
const MetricsPath = "/metrics"

// CheckMetricsAddr refuses a metrics listener on the MCP port: the metrics
// have no token, the MCP endpoint must have one. Port 0 (any free port)
// never clashes.
func CheckMetricsAddr(metricsAddr, mcpAddr string) error {
	_, mport, err := net.SplitHostPort(metricsAddr)
	if err != nil {
		return fmt.Errorf("%s %q: want host:port", config.MetricsAddr, metricsAddr)
	}
	_, port, err := net.SplitHostPort(mcpAddr)
	if err == nil && port == mport && port != "0" {
		return fmt.Errorf("%s %q is on the MCP port (--addr %s): give the metrics a port of their own, e.g. :9464", config.MetricsAddr, metricsAddr, mcpAddr)
	}
	return nil
}

// Metrics binds addr and serves h at /metrics (nothing else) until stop is
// called. The listener has no token: it is meant for a private address a
// Prometheus scrapes.
func Metrics(addr string, h http.Handler, logger *slog.Logger) (stop func(), _ error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readHeaderTimeout,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug), // as the MCP listener's
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "err", err)
		}
	}()
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", MetricsPath)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
