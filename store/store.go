// Package store keeps every submitted task so it can be found again after a
// restart, and guards spending across the processes that share it: the
// Store interface is what the paint service needs of a store; File is the
// embedded implementation (one data folder on this machine); storetest is
// the conformance suite every implementation passes.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Status is where a task stands.
type Status string

// Task statuses, as written in the task file.
const (
	StatusPending Status = "pending"
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
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
	Status      Status    `json:"status"`
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

// Usage is how many images were submitted today (local day) out of the limit
// (0 = no limit).
type Usage struct {
	Today int `json:"today"`
	Limit int `json:"limit"`
}

// Policy is what Reserve enforces.
type Policy struct {
	DedupWindow time.Duration // 0 = no deduplication
	DailyLimit  int           // 0 = no limit
	ForceNew    bool          // skip deduplication for this request
}

// Reservation is the permission to submit one request, or the task that
// already answers it. Callers hand it back unchanged to Commit, Release or
// Abandon; ID and Day are the store's own (Day: the day its spending counts
// in, for a store that files the ledger by day).
type Reservation struct {
	ID       string
	Day      string
	Existing *Record // set when an identical recent request already has a task
	Usage    Usage   // including this reservation's images
}

// LimitError refuses a request that would pass the daily limit.
type LimitError struct {
	Usage     Usage
	Requested int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("daily image limit reached: %d of %d used today, %d more requested", e.Usage.Today, e.Usage.Limit, e.Requested)
}

// StaleReservation is how long a reservation without an outcome makes an
// identical request wait for it; after that its process is presumed gone.
// It exceeds the longest a submit may run (paint bounds it to 2 minutes).
// Every implementation uses this bound (storetest checks it).
const StaleReservation = 3 * time.Minute

// ErrNotFound is returned by Get for an unknown task id.
var ErrNotFound = errors.New("task not in the store")

// Store is what the paint service needs of a task store. Every
// implementation passes the conformance suite in storetest, including with
// several handles open on one backing store (as several processes would).
//
// Spending: Reserve decides deduplication and the daily limit atomically
// across every handle; the reservation then ends in exactly one of Commit
// (a task was created), Release (nothing was billed) or Abandon (it may have
// been billed, but no task id came back: its images keep counting).
//
// A store shared by several servers will add, beside these, an owner per
// task and leases on pending tasks (one follower per task); they extend
// this interface rather than change it.
type Store interface {
	Reserve(ctx context.Context, req Request, p Policy) (Reservation, error)
	Commit(res Reservation, r Record) (Record, error)
	Release(res Reservation) error
	Abandon(res Reservation) error

	// Get reads one task; ErrNotFound when it is not stored.
	Get(taskID string) (Record, error)
	// Update changes one task atomically; f sees a Record with only the
	// task id set when there is none yet.
	Update(taskID string, f func(*Record)) (Record, error)
	// List returns the newest tasks first (by submit time), at most limit
	// (0 = all).
	List(limit int) ([]Record, error)
	// UpdatedSince returns the tasks written at or after since, newest first.
	UpdatedSince(since time.Time) ([]Record, error)
	// Usage reports today's submitted images against limit.
	Usage(limit int) (Usage, error)

	Close() error
}

var _ Store = (*File)(nil)
