package people

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often a Watcher looks at the file's modification
// time and size: the way to notice an edit where there is no SIGHUP (Windows).
const DefaultInterval = time.Minute

// WatchOptions configure a Watcher.
type WatchOptions struct {
	Logger *slog.Logger
	// Interval between looks at the file; 0 = DefaultInterval.
	Interval time.Duration
	// Hangup, when set, makes every signal received on it reload the file
	// (main passes a channel given to signal.Notify for SIGHUP; tests their own).
	Hangup <-chan os.Signal
}

// Watcher holds the current Set of a tokens file and reloads it when the
// file changes or a hangup signal arrives. A file that no longer parses is
// rejected whole: the previous Set stays, and the error is logged.
type Watcher struct {
	path    string
	o       WatchOptions
	set     atomic.Pointer[Set]
	mu      sync.Mutex  // serialises reloads
	seen    os.FileInfo // the file as last read (or rejected)
	missing bool        // the last look found no file (said once, not every minute)
}

// NewWatcher loads the file at path. A malformed or unreadable file is an
// error (the server does not start); later ones are only logged.
func NewWatcher(path string, o WatchOptions) (*Watcher, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Interval = cmp.Or(o.Interval, DefaultInterval)
	s, fi, err := load(path)
	if err != nil {
		return nil, err
	}
	w := &Watcher{path: path, o: o, seen: fi}
	w.set.Store(s)
	w.logLoaded("tokens file loaded", s)
	return w, nil
}

// Lookup finds the person of a token in the current Set.
func (w *Watcher) Lookup(token string) (Person, bool) { return w.set.Load().Lookup(token) }

// Named finds the person of a name in the current Set.
func (w *Watcher) Named(name string) (Person, bool) { return w.set.Load().Named(name) }

// Set is the current Set.
func (w *Watcher) Set() *Set { return w.set.Load() }

// Start follows the file until ctx ends, on a goroutine of its own. The
// returned channel is closed once that goroutine has returned.
func (w *Watcher) Start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.o.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.o.Hangup:
				_ = w.Reload()
			case <-t.C:
				w.check()
			}
		}
	}()
	return done
}

// Reload reads the file now. On an error the current Set stays; the error
// (naming the line, never a token) is logged and returned.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reload()
}

// check reloads the file if it is not the file last read: another file
// (replaced by a rename), another modification time or another size.
func (w *Watcher) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi, err := os.Stat(w.path)
	if err != nil {
		if !w.missing {
			w.missing = true
			w.o.Logger.Error("tokens file unreadable; keeping the people loaded before", "err", err)
		}
		return
	}
	w.missing = false
	if w.seen != nil && os.SameFile(fi, w.seen) && fi.ModTime().Equal(w.seen.ModTime()) && fi.Size() == w.seen.Size() {
		return
	}
	_ = w.reload()
}

func (w *Watcher) reload() error {
	s, fi, err := load(w.path)
	if fi != nil {
		// A rejected version is not read again until it changes (or a hangup asks).
		w.seen = fi
	}
	if err != nil {
		w.o.Logger.Error("tokens file rejected; keeping the people loaded before", "err", err)
		return err
	}
	w.set.Store(s)
	w.logLoaded("tokens file reloaded", s)
	return nil
}

func (w *Watcher) logLoaded(msg string, s *Set) {
	w.o.Logger.Info(msg, "path", w.path, "people", s.Len())
	if s.Len() == 0 {
		w.o.Logger.Warn("the tokens file lists nobody: every request is refused", "path", w.path)
	}
}
