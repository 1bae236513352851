package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/people"
)

// The spending decision and the record update, as pure functions: every
// store gathers the facts (under whatever lock makes them current), calls
// Decide or Apply, and persists what they return. The rules live here once.

// Outcome is how a reservation ended; "" while its submit is in flight.
type Outcome string

// Outcomes of a reservation, as every store writes them.
const (
	OutcomeTask     Outcome = "task"     // submitted: the reservation names its task
	OutcomeReleased Outcome = "released" // nothing was billed: its images do not count
	OutcomeUnknown  Outcome = "unknown"  // may have been billed without a task id: its images count
)

// StaleReservation is how long a reservation without an outcome makes an
// identical request wait for it; after that its process is presumed gone.
// It exceeds the longest a submit may run (paint bounds it to 2 minutes).
const StaleReservation = 3 * time.Minute

// WaitTick is how often a Reserve waiting for an identical request in
// flight looks again. It holds no lock while it waits.
const WaitTick = 100 * time.Millisecond

// Facts are what a store knows when it decides a reservation.
type Facts struct {
	// Team and Mine are today's images (in the store's zone) of the
	// reservations not released: the whole account's, and the asking
	// person's.
	Team, Mine int
	// Latest is the person's latest reservation of the identical request
	// (same Request.Key) that was not released, when the policy
	// deduplicates (Policy.Dedups); nil when there is none. Stores may
	// leave out those older than the window: Decide checks it.
	Latest *Prior
}

// Prior is an earlier reservation of the identical request.
type Prior struct {
	At      time.Time
	Outcome Outcome // "" while in flight
	// Task is the stored task of an OutcomeTask reservation; nil when it
	// is not stored (or cannot be read).
	Task *Record
}

// Verdict is what Decide makes of a request.
type Verdict int

// Verdicts.
const (
	// Reserve: record a new reservation of the request's images; the
	// store adds its ID and Day to the Decision's Reservation.
	Reserve Verdict = iota
	// Answer: the Decision's Reservation.Existing answers the request.
	Answer
	// Wait: an identical request is in flight; decide again after WaitTick.
	Wait
	// Refuse: Err (a *LimitError) says why.
	Refuse
)

// Decision is Decide's verdict and what comes with it.
type Decision struct {
	Verdict     Verdict
	Reservation Reservation // Owner and Usage; Existing when Answer
	Err         error       // when Refuse
}

// Dedups reports whether the policy looks for identical requests.
func (p Policy) Dedups() bool { return p.DedupWindow > 0 && !p.ForceNew }

// Decide decides a request of p.Person at now, given the facts:
//  1. a person whose limit is 0 is refused, whatever they ask (not even a
//     duplicate is answered);
//  2. with deduplication, the person's latest identical request within the
//     window answers it when its task is stored and has not failed, and
//     one still in flight (no outcome, younger than StaleReservation) is
//     waited for; one whose outcome is unknown, or whose task failed or is
//     not stored, answers nothing;
//  3. otherwise the person's own limit, then the account's, decide a new
//     reservation.
func Decide(p Policy, req client.Request, now time.Time, f Facts) Decision {
	d := Decision{Reservation: Reservation{Owner: p.Person.Name}}
	if blocked(p.Person) {
		_, d.Err = checkLimits(p, req.Num, f.Team, f.Mine)
		d.Verdict = Refuse
		return d
	}
	if l := f.Latest; l != nil && p.Dedups() && now.Sub(l.At) < p.DedupWindow {
		switch {
		case l.Outcome == OutcomeTask && l.Task != nil && l.Task.Status != StatusFailed:
			d.Verdict, d.Reservation.Existing = Answer, l.Task
			d.Reservation.Usage = UsageOf(p, f.Team, f.Mine)
			return d
		case l.Outcome == "" && now.Sub(l.At) < StaleReservation:
			d.Verdict = Wait
			return d
		}
	}
	d.Reservation.Usage, d.Err = checkLimits(p, req.Num, f.Team, f.Mine)
	if d.Err != nil {
		d.Verdict = Refuse
	}
	return d
}

// Reserving runs attempt (Decide on facts gathered afresh, and the
// reservation recorded when the verdict is Reserve) until the verdict is
// not Wait, every WaitTick; the end of ctx ends the wait. It returns the
// Decision's Reservation, or its Err when refused.
func Reserving(ctx context.Context, attempt func() (Decision, error)) (Reservation, error) {
	for {
		d, err := attempt()
		switch {
		case err != nil:
			return Reservation{}, err
		case d.Verdict == Refuse:
			return Reservation{}, d.Err
		case d.Verdict != Wait:
			return d.Reservation, nil
		}
		if err := client.Sleep(ctx, WaitTick); err != nil {
			return Reservation{}, fmt.Errorf("waiting for an identical request in progress: %w", err)
		}
	}
}

// blocked reports a person whose limit lets them submit nothing.
func blocked(p people.Person) bool { return p.Limit != nil && *p.Limit <= 0 }

// personUsage is p's share of today's images, or nil for the unnamed person.
func personUsage(p people.Person, today int) *PersonUsage {
	if p.Name == "" {
		return nil
	}
	return &PersonUsage{Name: p.Name, Today: today, Limit: own(p.Limit)}
}

// own is a copy of the limit l (nil = no limit), so that a Usage never
// shares a limit with the Policy it came from.
func own(l *int) *int {
	if l == nil {
		return nil
	}
	return new(*l)
}

// checkLimits decides a new reservation of n images against the account's
// limit and the person's, given today's counts before it (team: everyone's;
// mine: the person's). It returns the usage including the reservation, or
// a *LimitError. The person's own limit is checked first (it is theirs to
// know about), and a person whose limit is 0 is refused whatever they ask.
func checkLimits(p Policy, n, team, mine int) (Usage, error) {
	u := UsageOf(p, team, mine)
	if l := p.Person.Limit; l != nil && (*l <= 0 || mine+n > *l) {
		return u, &LimitError{Usage: u, Requested: n, Person: true}
	}
	if l := p.DailyLimit; l != nil && team+n > *l {
		return u, &LimitError{Usage: u, Requested: n}
	}
	u.Today += n
	if u.Person != nil {
		u.Person.Today += n
	}
	return u, nil
}

// UsageOf is the Usage a store reports for p, given today's counts.
func UsageOf(p Policy, team, mine int) Usage {
	return Usage{Today: team, Limit: own(p.DailyLimit), Person: personUsage(p.Person, mine)}
}

// Apply is what an update makes of the stored record old (Record{TaskID:
// id} when there is none: a stored record always has a Status) at now:
// change applied to a copy, then the defaults of every record (its task
// id kept, submitted now if never, pending if no status, image expiry from
// the creation time). changed is false when the result is old as stored
// (every time compared in UTC): the store writes nothing then. A changed
// record is updated now.
func Apply(old Record, now time.Time, change func(*Record)) (r Record, changed bool) {
	r = old
	r.Images = slices.Clone(old.Images)
	change(&r)
	r.TaskID = old.TaskID
	if r.SubmittedAt.IsZero() {
		r.SubmittedAt = now
	}
	if r.Status == "" {
		r.Status = StatusPending
	}
	for i := range r.Images {
		r.Images[i].ExpiresAt = r.ImagesExpireAt()
	}
	if old.Status != "" && sameJSON(old, r) {
		return r, false // nothing new (a pending task looked at again)
	}
	r.UpdatedAt = now
	return r, true
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

// Committed is what Commit makes of the stored old (zero when none) and the
// reservation's record n: Merge, except that the owner is n's, the one
// who reserved. A task can be stored before its commit (the commit failed
// and is retried, and meanwhile check_task looked the id up and recorded
// it as the asker's); the reservation proves who paid for it. Every store
// commits through it.
func Committed(old, n Record) Record {
	out := Merge(old, n)
	out.Owner = n.Owner
	return out
}

// Merge is what storing n makes of the stored old (zero when none): a done
// task never goes back to pending, saved image paths are kept, the owner
// never changes once known.
func Merge(old, n Record) Record {
	if old.Status == "" { // not stored before
		return n
	}
	out := old
	if n.TaskNo != "" {
		out.TaskNo = n.TaskNo
	}
	if n.Request != (client.Request{}) {
		out.Request = n.Request
	}
	if out.Owner == "" { // a task's owner never changes once known
		out.Owner = n.Owner
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
