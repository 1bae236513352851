package people

import (
	"aipaint-mcp/internal/syncbuf"
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// watched is a tokens file in a temporary folder, its Watcher and its log.
type watched struct {
	path string
	w    *Watcher
	logs *syncbuf.Buffer
}

func newWatched(t *testing.T, content string, o WatchOptions) *watched {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.txt")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	logs := &syncbuf.Buffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := NewWatcher(path, o)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, tok := range []string{tokAlice, tokBob, tokCarol, "SECRET-marker"} {
			assert.NotContains(t, logs.String(), tok, "a token must never be logged")
		}
	})
	return &watched{path: path, w: w, logs: logs}
}

// write replaces the file's content and moves its modification time on, so
// that a change is seen even on a file system with a coarse clock.
func (f *watched) write(t *testing.T, content string, age time.Duration) {
	t.Helper()
	require.NoError(t, os.WriteFile(f.path, []byte(content), 0o600))
	mtime := time.Now().Add(age)
	require.NoError(t, os.Chtimes(f.path, mtime, mtime))
}

// replace swaps in a new file by a rename, as an editor or a deployment
// does: a reload running meanwhile reads the old file or the new one, whole.
func (f *watched) replace(t *testing.T, content string) {
	t.Helper()
	tmp := f.path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, f.path))
}

func (f *watched) knows(token string) bool {
	_, ok := f.w.Lookup(token)
	return ok
}

func TestNewWatcherRefusesAMalformedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte("alice "+tokAlice+"\nbob SECRET-marker-x 1 2\n"), 0o600))
	_, err := NewWatcher(path, WatchOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2: too many fields")
	assert.NotContains(t, err.Error(), "SECRET-marker")

	_, err = NewWatcher(filepath.Join(t.TempDir(), "none"), WatchOptions{})
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// A hangup reloads: a token removed from the file stops working, a new
// one starts, and a malformed version is rejected whole.
func TestWatcherHangup(t *testing.T) {
	hup := make(chan os.Signal)
	f := newWatched(t, "alice "+tokAlice+"\nbob "+tokBob+" 5\n", WatchOptions{Hangup: hup, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := f.w.Start(ctx)
	defer func() { cancel(); <-done }()
	require.True(t, f.knows(tokAlice))
	require.True(t, f.knows(tokBob))

	// Revoke bob, add carol. Only the hangup can make the watcher read the
	// file: it looks at it once an hour.
	f.replace(t, "alice "+tokAlice+"\ncarol "+tokCarol+" 0\n")
	hup <- os.Interrupt
	hup <- os.Interrupt // any signal will do; the first has been handled once the second is received
	assert.True(t, f.knows(tokAlice))
	assert.False(t, f.knows(tokBob), "revoked")
	p, ok := f.w.Lookup(tokCarol)
	assert.True(t, ok)
	assert.Equal(t, Person{Name: "carol", Limit: new(0)}, p)

	// A malformed version: the previous set stays, the error is logged with its line.
	f.replace(t, "alice "+tokAlice+"\nbob "+tokBob+" many\n")
	hup <- os.Interrupt
	hup <- os.Interrupt
	assert.True(t, f.knows(tokCarol), "the previous set is kept")
	assert.False(t, f.knows(tokBob), "nothing of the rejected file is taken")
	assert.Contains(t, f.logs.String(), "tokens file rejected")
	assert.Contains(t, f.logs.String(), "line 2:")
}

// Without a signal, a change of the file is seen by looking at it.
func TestWatcherCheckSeesChanges(t *testing.T) {
	f := newWatched(t, "alice "+tokAlice+"\n", WatchOptions{Interval: time.Hour})

	f.w.check() // unchanged: not read again
	assert.Equal(t, 1, bytes.Count([]byte(f.logs.String()), []byte("tokens file")), f.logs.String())

	f.write(t, "alice "+tokAlice+"\nbob "+tokBob+"\n", time.Second)
	f.w.check()
	assert.True(t, f.knows(tokBob))

	// Same size, other modification time.
	f.write(t, "alice "+tokAlice+"\nbob "+tokCarol[:len(tokBob)]+"\n", 2*time.Second)
	f.w.check()
	assert.False(t, f.knows(tokBob))

	// Replaced by a rename (how editors and Kubernetes swap files).
	other := f.path + ".new"
	require.NoError(t, os.WriteFile(other, []byte("carol "+tokCarol+"\n"), 0o600))
	mtime := time.Now().Add(3 * time.Second)
	require.NoError(t, os.Chtimes(other, mtime, mtime))
	require.NoError(t, os.Rename(other, f.path))
	f.w.check()
	assert.True(t, f.knows(tokCarol))
	assert.False(t, f.knows(tokAlice))

	// Malformed: rejected once, and not read (nor logged) again until it changes.
	f.write(t, "carol "+tokCarol+"\ndave SECRET-marker\n", 4*time.Second)
	f.w.check()
	f.w.check()
	assert.True(t, f.knows(tokCarol))
	assert.Equal(t, 1, bytes.Count([]byte(f.logs.String()), []byte("tokens file rejected")), f.logs.String())
	assert.Contains(t, f.logs.String(), "line 2:")

	// Gone: the people stay (a missing file neither locks everyone out nor
	// lets anyone in), said once.
	require.NoError(t, os.Remove(f.path))
	f.w.check()
	f.w.check()
	assert.True(t, f.knows(tokCarol))
	assert.Equal(t, 1, bytes.Count([]byte(f.logs.String()), []byte("tokens file unreadable")), f.logs.String())

	// Back, fixed.
	f.write(t, "alice "+tokAlice+"\n", 5*time.Second)
	f.w.check()
	assert.True(t, f.knows(tokAlice))
	assert.False(t, f.knows(tokCarol))
	require.NoError(t, f.w.Reload())
}

// The goroutine looks at the file every Interval.
func TestWatcherPolls(t *testing.T) {
	f := newWatched(t, "alice "+tokAlice+"\n", WatchOptions{Interval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := f.w.Start(ctx)
	f.write(t, "bob "+tokBob+"\n", time.Second)
	deadline := time.Now().Add(10 * time.Second) // a bound on a hang, not a timed assertion
	for !f.knows(tokBob) {
		require.True(t, time.Now().Before(deadline), "the change was not picked up")
		time.Sleep(5 * time.Millisecond)
	}
	assert.False(t, f.knows(tokAlice))
	cancel()
	<-done
}

func TestWatcherEmptyFileWarns(t *testing.T) {
	f := newWatched(t, "# nobody\n", WatchOptions{})
	assert.False(t, f.knows(tokAlice))
	assert.Contains(t, f.logs.String(), "every request is refused")
	assert.Zero(t, f.w.Set().Len())
}

func TestReloadReturnsTheError(t *testing.T) {
	f := newWatched(t, "alice "+tokAlice+"\n", WatchOptions{})
	f.write(t, "alice SECRET-marker\n", time.Second)
	err := f.w.Reload()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1:")
	assert.NotContains(t, err.Error(), "SECRET-marker")
	assert.True(t, f.knows(tokAlice))
}
