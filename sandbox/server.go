package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

const shutdownTimeout = 5 * time.Second

// Start returns a Sandbox serving on 127.0.0.1 at a free port. Call Close
// when done.
func Start(opts Options) (*Sandbox, error) {
	s := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go s.serve(ln)
	s.log.Info("sandbox listening", "url", s.url)
	return s, nil
}

func (s *Sandbox) serve(ln net.Listener) {
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("sandbox serve", "err", err)
	}
}

// URL is the base URL ("http://127.0.0.1:PORT") once started, else "".
func (s *Sandbox) URL() string { return s.url }

// SubmitURL is the URL of the submit API once started, else "".
func (s *Sandbox) SubmitURL() string { return s.urlOf(SubmitPath) }

// QueryURL is the URL of the query API once started, else "".
func (s *Sandbox) QueryURL() string { return s.urlOf(QueryPath) }

func (s *Sandbox) urlOf(path string) string {
	if s.url == "" {
		return ""
	}
	return s.url + path
}

// Close shuts the server down gracefully, waiting up to a few seconds for
// requests in flight. It may be called more than once; a Sandbox that was
// never started has nothing to close.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		if s.srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("sandbox: shutdown: %w", err)
		}
	})
	return s.closeErr
}
