// Package store keeps every submitted task so it can be found again after a
// restart, and guards spending across the processes that share it: the
// Store interface is what the paint service needs of a store; Decide and
// Apply (decide.go) are the rules of spending and of a record update, which
// every implementation follows by calling them; File is the embedded
// implementation (one data folder on this machine); storetest is the
// conformance suite every implementation passes.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/people"
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
	client.Request
	Owner       string    `json:"owner,omitempty"` // the person's Name; "" on a desktop
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

// Usage is how many images were submitted today (in the store's zone) out of
// the account's daily limit, and the asking person's share when the person
// has a name. A limit is a *int here as everywhere inside: nil = no limit.
// Its wire form is schema.Usage (tools converts).
type Usage struct {
	Today  int
	Limit  *int         // the account's; nil = no limit
	Person *PersonUsage // set when the Policy's Person has a Name
}

// PersonUsage is one person's images today against their own limit.
type PersonUsage struct {
	Name  string
	Today int
	Limit *int // nil: no personal limit; 0: may not submit
}

// Policy is what Reserve enforces.
type Policy struct {
	DedupWindow time.Duration // 0 = no deduplication
	DailyLimit  *int          // the whole account's (config.Config.DailyLimit), nil = no limit
	ForceNew    bool          // skip deduplication for this request
	// Person asks. Deduplication only matches the same person's requests
	// (people never share tasks), and the person's own limit applies
	// besides the account's. The zero Person is the single user of a
	// desktop: they see every task and have no personal limit.
	Person people.Person
}

// Reservation is the permission to submit one request, or the task that
// already answers it. Callers hand it back unchanged to Commit, Release or
// Abandon; ID and Day are the store's own (Day: the day its spending counts
// in, for a store that files the ledger by day).
type Reservation struct {
	ID       string
	Day      string
	Owner    string  // the Policy's Person.Name; Commit records it as the task's Owner
	Existing *Record // set when an identical recent request already has a task
	Usage    Usage   // including this reservation's images
}

// LimitError refuses a request that would pass a daily limit: the
// account's, or (Person) the asking person's own.
type LimitError struct {
	Usage     Usage
	Requested int
	Person    bool // true: the person's own limit refused it (Usage.Person is set); false: the account's
}

// Limit is the limit that refused the request: the person's when Person,
// else the account's. Decide refuses only by a limit that is set; a
// LimitError built without one reads 0.
func (e *LimitError) Limit() int {
	l := e.Usage.Limit
	if e.Person && e.Usage.Person != nil {
		l = e.Usage.Person.Limit
	}
	if l == nil {
		return 0
	}
	return *l
}

func (e *LimitError) Error() string {
	if e.Person && e.Usage.Person != nil {
		p := e.Usage.Person
		if e.Limit() == 0 {
			return fmt.Sprintf("%s may not submit images (personal daily limit 0)", p.Name)
		}
		return fmt.Sprintf("personal daily image limit of %s reached: %d of %d used today, %d more requested", p.Name, p.Today, e.Limit(), e.Requested)
	}
	return fmt.Sprintf("daily image limit reached: %d of %d used today, %d more requested", e.Usage.Today, e.Limit(), e.Requested)
}

// Spend is one person's images, for the `aipaint-mcp usage` report.
type Spend struct {
	Owner string // "" = the desktop's single user / tasks from before the tokens file
	Today int    // images counted today (the day of the daily limit)
	Month int    // this calendar month, in the same zone
}

// ErrNotFound is returned by Get for an unknown task id.
var ErrNotFound = errors.New("task not in the store")

// Store is what the paint service needs of a task store. Every
// implementation passes the conformance suite in storetest, including with
// several handles open on one backing store (as several processes would).
//
// Spending: Reserve decides deduplication, the account's daily limit and
// the person's atomically across every handle; the reservation then ends in
// exactly one of Commit (a task was created), Release (nothing was billed)
// or Abandon (it may have been billed, but no task id came back: its images
// keep counting). "Today" and "this month" are in the store's zone
// (WithLocation; the local zone by default).
//
// Every method but Close takes the caller's ctx first, as database/sql's
// ...Context methods do: a call whose caller gave up stops its work on a
// store over the network. The file store's work is local and short: it
// heeds ctx only where it waits (Reserve).
type Store interface {
	Reserve(ctx context.Context, req client.Request, p Policy) (Reservation, error)
	Commit(ctx context.Context, res Reservation, r Record) (Record, error)
	Release(ctx context.Context, res Reservation) error
	Abandon(ctx context.Context, res Reservation) error

	// Get reads one task, whoever owns it (the paint service checks
	// owners); ErrNotFound when it is not stored.
	Get(ctx context.Context, taskID string) (Record, error)
	// Update changes one task atomically; f sees a Record with only the
	// task id set when there is none yet.
	Update(ctx context.Context, taskID string, f func(*Record)) (Record, error)
	// List returns owner's newest tasks first (by submit time), at most
	// limit (0 = all); owner "" lists every owner's.
	List(ctx context.Context, owner string, limit int) ([]Record, error)
	// UpdatedSince returns every owner's tasks written at or after since,
	// newest first.
	UpdatedSince(ctx context.Context, since time.Time) ([]Record, error)
	// Usage reports today's images of the whole account against
	// p.DailyLimit, and p.Person's own when the person has a name.
	Usage(ctx context.Context, p Policy) (Usage, error)
	// Spending reports each owner's images today and this month, sorted by
	// owner; owners with none this month are left out.
	Spending(ctx context.Context) ([]Spend, error)

	// Close takes no ctx, as io.Closer and sql.DB.Close: closing is not
	// a request anyone cancels.
	Close() error
}

// Leaser is a store shared by several servers (replicas): each pending task
// is followed by one holder at a time. The PostgreSQL store implements it;
// the file store does not (one machine, where every process may follow).
type Leaser interface {
	// Claim takes (or renews) the lease of one task for holder until
	// now+ttl, unless another holder's lease is live (live: now <
	// its end). ok=false when someone else holds it; ErrNotFound when the
	// task is not stored.
	Claim(ctx context.Context, taskID, holder string, ttl time.Duration) (ok bool, err error)
	// ClaimPending takes up to max pending tasks submitted at or after
	// since whose lease is free or expired, for holder until now+ttl, and
	// returns them. Tasks holder already holds live are not returned (it
	// follows them already); no task is returned to two callers.
	ClaimPending(ctx context.Context, holder string, since time.Time, ttl time.Duration, max int) ([]Record, error)
	// Renew extends holder's leases on taskIDs (an expired one too, when
	// nobody else took it meanwhile); it returns the ids holder no longer
	// holds: taken by another, let go, or never held.
	Renew(ctx context.Context, holder string, taskIDs []string, ttl time.Duration) (lost []string, err error)
	// Unclaim lets go of holder's lease (the task finished, or the server
	// stops).
	Unclaim(ctx context.Context, taskID, holder string) error
	// Holders counts the holders of live leases: the servers polling the
	// upstream for this account now, which share its poll rate.
	Holders(ctx context.Context) (int, error)
}

// Pinger is a store on a network: it answers whether it is reachable (for
// /healthz).
type Pinger interface {
	Ping(ctx context.Context) error
}

var _ Store = (*File)(nil)
