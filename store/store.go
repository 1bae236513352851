// Package store keeps every submitted task on disk so it can be found again
// after a restart, and coordinates the processes that share one data folder
// (a user with Claude Desktop and Cursor open runs two servers): one
// cross-process lock guards the daily spending ledger and the record files.
//
// Layout of the folder:
//
//	store.lock               the lock (flock / LockFileEx), never holds data
//	tasks/<task id>.json     one record per task, replaced atomically
//	ledger/<YYYY-MM-DD>.jsonl  append-only: reservations and their outcomes
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"aipaint-mcp/atomicfile"
)

// Task statuses.
const (
	StatusPending = "pending"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// How long the upstream keeps things (API.md): task ids for a month, image
// URLs for three.
const (
	taskIDMonths = 1
	imageMonths  = 3
)

// Request is the normalised request behind a task.
type Request struct {
	Text       string `json:"text,omitempty"`
	Style      string `json:"style,omitempty"`
	Resolution string `json:"resolution,omitempty"`
	Num        int    `json:"num,omitempty"`
}

// Key identifies identical requests for deduplication.
func (r Request) Key() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%q|%q|%q|%d", r.Text, r.Style, r.Resolution, r.Num)))
	return hex.EncodeToString(sum[:16])
}

// Image is one picture of a task.
type Image struct {
	Index     int       `json:"index"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Path      string    `json:"path,omitempty"`       // absolute, once saved
	SaveError string    `json:"save_error,omitempty"` // last failed attempt to save
}

// Record is everything known about one task.
type Record struct {
	TaskID string `json:"task_id"`
	TaskNo string `json:"task_no,omitempty"`
	Request
	Status      string    `json:"status"`
	Error       string    `json:"error,omitempty"` // why a task failed
	SubmittedAt time.Time `json:"submitted_at"`    // local clock, when recorded
	CreatedAt   time.Time `json:"created_at"`      // upstream's createTime, else SubmittedAt
	DoneAt      time.Time `json:"done_at,omitzero"`
	// TookSeconds is how long the task took from creation to done, when a
	// poll saw it finish (not when it was found done later): polling
	// schedules learn from it.
	TookSeconds float64   `json:"took_seconds,omitempty"`
	Images      []Image   `json:"images,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// TaskExpiresAt is when the upstream forgets the task id.
func (r Record) TaskExpiresAt() time.Time { return r.Created().AddDate(0, taskIDMonths, 0) }

// ImagesExpireAt is when the image URLs stop working.
func (r Record) ImagesExpireAt() time.Time { return r.Created().AddDate(0, imageMonths, 0) }

// Created is the upstream's creation time, or the submit time when the
// upstream has not said.
func (r Record) Created() time.Time {
	if !r.CreatedAt.IsZero() {
		return r.CreatedAt
	}
	return r.SubmittedAt
}

// SetImages records the image URLs of a finished task, keeping the local
// paths already saved for the same URLs.
func (r *Record) SetImages(urls []string) {
	old := map[string]Image{}
	for _, img := range r.Images {
		old[img.URL] = img
	}
	r.Images = make([]Image, len(urls))
	for i, u := range urls {
		img := old[u]
		img.Index, img.URL, img.ExpiresAt = i+1, u, r.ImagesExpireAt()
		r.Images[i] = img
	}
}

// Store is one data folder. Safe for concurrent use, within and across processes.
type Store struct {
	dir  string
	now  func() time.Time
	mu   sync.Mutex // serialises this process's holders of the file lock
	lock *flock.Flock
	// ledgers caches the parsed ledger days; guarded by mu.
	ledgers map[string]*ledgerDay
}

// Open creates the folder layout if needed.
func Open(dir string) (*Store, error) {
	return open(dir, time.Now)
}

func open(dir string, now func() time.Time) (*Store, error) {
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
	return &Store{dir: dir, now: now, lock: l, ledgers: map[string]*ledgerDay{}}, nil
}

// Dir is the data folder.
func (s *Store) Dir() string { return s.dir }

// Close releases the lock file.
func (s *Store) Close() error { return s.lock.Close() }

// locked runs f holding the lock of every process sharing the folder.
func (s *Store) locked(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.lock.Lock(); err != nil {
		return fmt.Errorf("task store: lock: %w", err)
	}
	defer func() { _ = s.lock.Unlock() }()
	return f()
}

// ErrNotFound is returned by Get for an unknown task id.
var ErrNotFound = errors.New("task not in the store")

// Get reads one record. Reads hold the lock too: on Windows a file open for
// reading cannot be replaced, so a writer must never meet a reader.
func (s *Store) Get(taskID string) (Record, error) {
	var r Record
	err := s.locked(func() (err error) {
		r, err = s.read(s.recordPath(taskID))
		return err
	})
	return r, err
}

func (s *Store) read(path string) (Record, error) {
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
func (s *Store) Put(r Record) (Record, error) {
	var out Record
	err := s.locked(func() (err error) {
		out, err = s.putLocked(r)
		return err
	})
	return out, err
}

func (s *Store) putLocked(r Record) (Record, error) {
	return s.updateLocked(r.TaskID, func(old *Record) { *old = merge(*old, r) })
}

// Update changes one record under the lock; f sees a Record with only the
// task id set when there is none yet.
func (s *Store) Update(taskID string, f func(*Record)) (Record, error) {
	var out Record
	err := s.locked(func() (err error) {
		out, err = s.updateLocked(taskID, f)
		return err
	})
	return out, err
}

func (s *Store) updateLocked(taskID string, f func(*Record)) (Record, error) {
	if taskID == "" {
		return Record{}, errors.New("task store: empty task id")
	}
	path := s.recordPath(taskID)
	r, err := s.read(path)
	stored := err == nil
	switch {
	case errors.Is(err, ErrNotFound):
		r = Record{TaskID: taskID}
	case err != nil:
		return Record{}, err
	}
	before := r
	before.Images = slices.Clone(r.Images)
	f(&r)
	r.TaskID = taskID
	if r.SubmittedAt.IsZero() {
		r.SubmittedAt = s.now()
	}
	if r.Status == "" {
		r.Status = StatusPending
	}
	for i := range r.Images {
		r.Images[i].ExpiresAt = r.ImagesExpireAt()
	}
	if stored && sameJSON(before, r) {
		return r, nil // nothing new: no write (a pending task looked at again)
	}
	r.UpdatedAt = s.now()
	return r, writeJSON(path, r)
}

// sameJSON compares records as stored, with every time in UTC: the same
// instant in another zone is no change.
func sameJSON(a, b Record) bool {
	ja, erra := json.Marshal(a.inUTC())
	jb, errb := json.Marshal(b.inUTC())
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

func (r Record) inUTC() Record {
	r.SubmittedAt, r.CreatedAt, r.DoneAt, r.UpdatedAt = r.SubmittedAt.UTC(), r.CreatedAt.UTC(), r.DoneAt.UTC(), r.UpdatedAt.UTC()
	r.Images = slices.Clone(r.Images)
	for i := range r.Images {
		r.Images[i].ExpiresAt = r.Images[i].ExpiresAt.UTC()
	}
	return r
}

func merge(old, n Record) Record {
	if old.Status == "" { // not stored before
		return n
	}
	out := old
	if n.TaskNo != "" {
		out.TaskNo = n.TaskNo
	}
	if n.Request != (Request{}) {
		out.Request = n.Request
	}
	if !n.CreatedAt.IsZero() {
		out.CreatedAt = n.CreatedAt
	}
	if out.SubmittedAt.IsZero() {
		out.SubmittedAt = n.SubmittedAt
	}
	if old.Status != StatusDone && n.Status != "" {
		out.Status, out.Error = n.Status, n.Error
		if !n.DoneAt.IsZero() {
			out.DoneAt = n.DoneAt
		}
	}
	if len(n.Images) > 0 {
		paths := map[string]Image{}
		for _, img := range old.Images {
			paths[img.URL] = img
		}
		out.Images = append([]Image(nil), n.Images...)
		for i, img := range out.Images {
			if img.Path == "" {
				out.Images[i].Path = paths[img.URL].Path
			}
		}
	}
	return out
}

// List returns the records newest first (by submit time), at most limit of
// them (0 = all). Damaged files are skipped: one bad record must not hide
// the others.
func (s *Store) List(limit int) ([]Record, error) { return s.list(limit, time.Time{}) }

// UpdatedSince returns the records written at or after since, newest first.
func (s *Store) UpdatedSince(since time.Time) ([]Record, error) { return s.list(0, since) }

// list reads only what it needs: a record's file is written whenever the
// record changes, so its modification time is at or after its submit time.
// Files are read newest first, and reading stops once no older file can
// hold one of the limit newest records.
func (s *Store) list(limit int, since time.Time) ([]Record, error) {
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
			if r, err := s.read(filepath.Join(s.dir, "tasks", f.name)); err == nil {
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
func (s *Store) recordPath(taskID string) string {
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

// waitTick is how often a call waiting for another process's submit looks again.
const waitTick = 200 * time.Millisecond
