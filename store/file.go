package store

import (
	"aipaint-mcp/atomicfile"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// File is the task store in one data folder, shared by the processes of
// one machine (a user with Claude Desktop and Cursor open runs two servers):
// one cross-process lock guards the daily spending ledger and the record
// files. Safe for concurrent use, within and across processes.
//
// Layout of the folder:
//
//	store.lock               the lock (flock / LockFileEx), never holds data
//	tasks/<task id>.json     one record per task, replaced atomically
//	ledger/<YYYY-MM-DD>.jsonl  append-only: reservations and their outcomes
type File struct {
	dir  string
	now  func() time.Time
	loc  *time.Location // the zone of "today" and "this month"
	mu   sync.Mutex     // serialises this process's holders of the file lock
	lock *flock.Flock
	// ledgers caches the parsed ledger days; guarded by mu.
	ledgers map[string]*ledgerDay
}

// Option configures a File at Open.
type Option func(*File)

// WithClock makes the store take every time it records (submit, update,
// ledger entries, the day of the daily limit) from now instead of the wall
// clock: tests move it across a day or a dedup window.
func WithClock(now func() time.Time) Option {
	return func(s *File) { s.now = now }
}

// WithLocation sets the zone whose days the daily limits, Usage and
// Spending count in (time.Local by default): a team's server may run in
// UTC while its people's day is another zone's.
func WithLocation(loc *time.Location) Option {
	return func(s *File) {
		if loc != nil {
			s.loc = loc
		}
	}
}

// Open creates the folder layout if needed.
func Open(dir string, opts ...Option) (*File, error) {
	for _, d := range []string{dir, filepath.Join(dir, "tasks"), filepath.Join(dir, "ledger")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("task store: %w", err)
		}
	}
	l := flock.New(filepath.Join(dir, "store.lock"), flock.SetPermissions(0o600))
	// Fail now, not on the first paid call, when the folder is not usable.
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("task store: lock %s: %w", dir, err)
	}
	_ = l.Unlock()
	s := &File{dir: dir, now: time.Now, loc: time.Local, lock: l, ledgers: map[string]*ledgerDay{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Dir is the data folder.
func (s *File) Dir() string { return s.dir }

// Close releases the lock file.
func (s *File) Close() error { return s.lock.Close() }

// locked runs f holding the lock of every process sharing the folder.
func (s *File) locked(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.lock.Lock(); err != nil {
		return fmt.Errorf("task store: lock: %w", err)
	}
	defer func() { _ = s.lock.Unlock() }()
	return f()
}

// Get reads one record. Reads hold the lock too: on Windows a file open for
// reading cannot be replaced, so a writer must never meet a reader.
func (s *File) Get(_ context.Context, taskID string) (Record, error) {
	var r Record
	err := s.locked(func() (err error) {
		r, err = s.read(s.recordPath(taskID))
		return err
	})
	return r, err
}

func (s *File) read(path string) (Record, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("task store: %w", err)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, fmt.Errorf("task store: %s is damaged: %w", filepath.Base(path), err)
	}
	return r, nil
}

// Put records a task, merged with what is already stored (another process
// may have saved images meanwhile): a done task never goes back to pending,
// and saved paths are kept.
func (s *File) Put(_ context.Context, r Record) (Record, error) {
	var out Record
	err := s.locked(func() (err error) {
		out, err = s.putLocked(r)
		return err
	})
	return out, err
}

func (s *File) putLocked(r Record) (Record, error) {
	return s.updateLocked(r.TaskID, func(old *Record) { *old = Merge(*old, r) })
}

// Update changes one record under the lock; f sees a Record with only the
// task id set when there is none yet.
func (s *File) Update(_ context.Context, taskID string, f func(*Record)) (Record, error) {
	var out Record
	err := s.locked(func() (err error) {
		out, err = s.updateLocked(taskID, f)
		return err
	})
	return out, err
}

func (s *File) updateLocked(taskID string, f func(*Record)) (Record, error) {
	if taskID == "" {
		return Record{}, errors.New("task store: empty task id")
	}
	path := s.recordPath(taskID)
	old, err := s.read(path)
	switch {
	case errors.Is(err, ErrNotFound):
		old = Record{TaskID: taskID}
	case err != nil:
		return Record{}, err
	}
	r, changed := Apply(old, s.now(), f)
	if !changed {
		return r, nil // no write
	}
	if err := writeJSON(path, r); err != nil {
		return Record{}, err
	}
	// The file's time is the record's: List and UpdatedSince go by file
	// times, and must agree with the store's clock (an injected one, or a
	// file system whose timestamps are coarser than time.Now). Best effort:
	// the record is written, and a file whose time could not be set (a
	// scanner holding it on Windows) keeps the time of its write, which
	// differs by no more than the write took.
	_ = os.Chtimes(path, time.Time{}, r.UpdatedAt)
	return r, nil
}

// List returns owner's records newest first (by submit time), at most
// limit of them (0 = all); owner "" = everyone's. Damaged files are
// skipped: one bad record must not hide the others.
func (s *File) List(_ context.Context, owner string, limit int) ([]Record, error) {
	return s.list(owner, limit, time.Time{})
}

// UpdatedSince returns the records written at or after since, newest first.
func (s *File) UpdatedSince(_ context.Context, since time.Time) ([]Record, error) {
	return s.list("", 0, since)
}

// list reads only what it needs: a record's file is written whenever the
// record changes, so its modification time is at or after its submit time.
// Files are read newest first, and reading stops once no older file can
// hold one of the limit newest records.
func (s *File) list(owner string, limit int, since time.Time) ([]Record, error) {
	var out []Record
	err := s.locked(func() error {
		entries, err := os.ReadDir(filepath.Join(s.dir, "tasks"))
		if err != nil {
			return fmt.Errorf("task store: %w", err)
		}
		type file struct {
			name  string
			mtime time.Time
		}
		var files []file
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			info, err := e.Info()
			if err != nil || info.ModTime().Before(since) {
				continue
			}
			files = append(files, file{e.Name(), info.ModTime()})
		}
		sort.Slice(files, func(i, j int) bool { return files[i].mtime.After(files[j].mtime) })
		for _, f := range files {
			if limit > 0 && len(out) >= limit {
				sortNewestFirst(out)
				out = out[:limit]
				if f.mtime.Before(out[limit-1].SubmittedAt) {
					break // every older file was submitted before the newest limit
				}
			}
			if r, err := s.read(filepath.Join(s.dir, "tasks", f.name)); err == nil && (owner == "" || r.Owner == owner) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortNewestFirst(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func sortNewestFirst(rs []Record) {
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].SubmittedAt.Equal(rs[j].SubmittedAt) {
			return rs[i].SubmittedAt.After(rs[j].SubmittedAt)
		}
		return rs[i].TaskID > rs[j].TaskID
	})
}

// plainID reports a task id that is its own file name on every OS: 1 to
// 100 bytes of lower case letters, digits, _ - and . (Windows and macOS
// ignore case in names; no separators), no dot first. The regexp
// ^[a-z0-9_-][a-z0-9._-]{0,99}$ says the same (store_test compares them),
// but compiling it took 0.2-0.3 ms of every start, in package init.
func plainID(id string) bool {
	if len(id) == 0 || len(id) > 100 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
		case c == '.' && i > 0:
		default:
			return false
		}
	}
	return true
}

// recordPath maps a task id to its file; ids that are not plainly safe are
// hashed, so nothing the upstream or a caller sends can leave tasks/.
func (s *File) recordPath(taskID string) string {
	name := taskID
	if !plainID(taskID) || windowsDevice(taskID) {
		sum := sha256.Sum256([]byte(taskID))
		name = "h-" + hex.EncodeToString(sum[:16])
	}
	return filepath.Join(s.dir, "tasks", name+".json")
}

// windowsDevice reports names that Windows maps to devices whatever their
// extension (nul.json is the null device).
func windowsDevice(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	switch base {
	case "con", "prn", "aux", "nul":
		return true
	}
	return len(base) == 4 && (strings.HasPrefix(base, "com") || strings.HasPrefix(base, "lpt")) && base[3] >= '0' && base[3] <= '9'
}

// writeJSON replaces path atomically: a crash leaves the old or the new
// content, never half of one.
func writeJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		err = atomicfile.Write(path, raw, 0o600)
	}
	if err != nil {
		return fmt.Errorf("task store: %w", err)
	}
	return nil
}
