package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"aipaint-mcp/store"
	"aipaint-mcp/store/postgres/pgtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stallProxy is a loopback TCP proxy in front of PostgreSQL that can hold
// the server's answers back (a slow database, as the client sees it) and
// tells when it holds one, and when a client asks the server to cancel
// what a connection runs (a CancelRequest, on a connection of its own).
type stallProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	gate    chan struct{} // closed: answers pass; open: they wait
	stalled chan struct{} // receives when an answer is held
	cancels chan struct{} // receives when a client sends a CancelRequest
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln, target: target, gate: make(chan struct{}), stalled: make(chan struct{}, 16), cancels: make(chan struct{}, 16)}
	close(p.gate)
	go p.serve()
	t.Cleanup(func() {
		p.release()
		_ = ln.Close()
	})
	return p
}

func (p *stallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *stallProxy) pipe(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { // server -> client, through the gate
		buf := make([]byte, 32<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				p.mu.Lock()
				gate := p.gate
				p.mu.Unlock()
				select {
				case <-gate:
				default:
					p.stalled <- struct{}{}
					<-gate
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = c.Close()
				return
			}
		}
	}()
	// client -> server. A CancelRequest is a connection's first and only
	// message: length 16, code 80877102.
	first := make([]byte, 8)
	if _, err := io.ReadFull(c, first); err != nil {
		return
	}
	if binary.BigEndian.Uint32(first) == 16 && binary.BigEndian.Uint32(first[4:]) == 80877102 {
		p.cancels <- struct{}{}
	}
	if _, err := up.Write(first); err == nil {
		_, _ = io.Copy(up, c)
	}
}

// hold makes the server's next answers wait until release.
func (p *stallProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
	}
}

func (p *stallProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// A caller that gives up during a slow database call ends that call: the
// store returns the caller's cancellation and asks the database to cancel
// (then drops the connection, which ends the backend's transaction),
// instead of running on for the store's own timeout, set here to an hour
// so that only ctx can end it.
func TestCancelledCallEndsItsDatabaseWork(t *testing.T) {
	base := pgtest.URL(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	proxy := newStallProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	u.RawQuery += "&pool_max_conns=1" // one connection: the one stalled
	s, err := Open(context.Background(), u.String(), Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Hour})
	require.NoError(t, err)
	defer s.Close()
	// Released before Close: pgx closes a cancelled connection in the
	// background, reading the held answers until they come.
	defer proxy.release()
	_, err = s.Update(t.Context(), "t1", func(r *store.Record) { r.Owner = "ann" })
	require.NoError(t, err)

	for name, call := range map[string]func(ctx context.Context) error{
		"get":   func(ctx context.Context) error { _, err := s.Get(ctx, "t1"); return err },
		"list":  func(ctx context.Context) error { _, err := s.List(ctx, "", 0); return err },
		"usage": func(ctx context.Context) error { _, err := s.Usage(ctx, store.Policy{}); return err },
		"update": func(ctx context.Context) error {
			_, err := s.Update(ctx, "t1", func(r *store.Record) { r.TaskNo = "x" })
			return err
		},
		"reserve": func(ctx context.Context) error { _, err := s.Reserve(ctx, request("x"), store.Policy{}); return err },
		"claim":   func(ctx context.Context) error { _, err := s.Claim(ctx, "t1", "A", time.Minute); return err },
		"holders": func(ctx context.Context) error { _, err := s.Holders(ctx); return err },
		"ping":    s.Ping,
	} {
		t.Run(name, func(t *testing.T) {
			proxy.release()
			require.NoError(t, s.Ping(t.Context()), "a live connection to stall")
			proxy.hold()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- call(ctx) }()
			waitFor(t, proxy.stalled, "the database's answer held back")
			cancel()
			err := waitFor(t, done, "the call to return")
			require.Error(t, err)
			assert.ErrorIs(t, err, context.Canceled)
			waitFor(t, proxy.cancels, "the store to ask the database to cancel")
		})
	}
}

// waitFor receives from c. The bound only keeps a broken store from
// hanging the test run (its own timeout here is an hour); it measures
// nothing.
func waitFor[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("still waiting for %s", what)
		panic("unreachable")
	}
}

// A reservation's outcome is recorded even when the caller has given up
// (the upstream has billed by then): Commit, Release and Abandon outlive
// the caller's ctx, bounded by the store's timeout.
func TestOutcomesOutliveTheCaller(t *testing.T) {
	s, err := Open(context.Background(), pgtest.URL(t), Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer s.Close()
	gone, cancel := context.WithCancel(t.Context())
	cancel()

	res, err := s.Reserve(t.Context(), request("a"), store.Policy{})
	require.NoError(t, err)
	_, err = s.Commit(gone, res, store.Record{TaskID: "a"})
	require.NoError(t, err)
	got, err := s.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, store.StatusPending, got.Status)

	for _, end := range []func(context.Context, store.Reservation) error{s.Release, s.Abandon} {
		res, err := s.Reserve(t.Context(), request("b"), store.Policy{})
		require.NoError(t, err)
		require.NoError(t, end(gone, res))
	}
	u, err := s.Usage(t.Context(), store.Policy{})
	require.NoError(t, err)
	assert.Equal(t, 2, u.Today, "a's commit and b's abandon count; b's release does not")

	_, err = s.Get(gone, "a")
	assert.True(t, errors.Is(err, context.Canceled), "a read is the caller's: %v", err)
}
