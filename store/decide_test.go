package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/people"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every branch of the spending decision, as the file store and the
// PostgreSQL store each implemented it before they shared Decide.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	req := client.Request{Text: "熊猫", Num: 2}
	ann := people.Person{Name: "ann"}
	annLimited := func(limit int) people.Person { return people.Person{Name: "ann", Limit: &limit} }
	window := 10 * time.Minute
	pending := &Record{TaskID: "t1", Status: StatusPending}
	done := &Record{TaskID: "t1", Status: StatusDone}
	failed := &Record{TaskID: "t1", Status: StatusFailed}
	task := func(rec *Record, ago time.Duration) *Prior {
		return &Prior{At: now.Add(-ago), Outcome: OutcomeTask, Task: rec}
	}
	inFlight := func(ago time.Duration) *Prior { return &Prior{At: now.Add(-ago)} }
	lim := func(n int) *int { return &n }

	for _, c := range []struct {
		name    string
		p       Policy
		f       Facts
		want    Verdict
		usage   Usage       // when not refused
		refused *LimitError // when refused (Usage and Requested compared)
		answer  *Record
	}{
		{name: "no limits, nothing before", p: Policy{}, f: Facts{Team: 5}, want: Reserve,
			usage: Usage{Today: 7}},
		{name: "named person without a limit", p: Policy{Person: ann}, f: Facts{Team: 5, Mine: 1}, want: Reserve,
			usage: Usage{Today: 7, Person: &PersonUsage{Name: "ann", Today: 3}}},
		{name: "account limit reached exactly", p: Policy{DailyLimit: new(7)}, f: Facts{Team: 5}, want: Reserve,
			usage: Usage{Today: 7, Limit: new(7)}},
		{name: "account limit passed", p: Policy{DailyLimit: new(6)}, f: Facts{Team: 5}, want: Refuse,
			refused: &LimitError{Usage: Usage{Today: 5, Limit: new(6)}, Requested: 2}},
		{name: "personal limit reached exactly", p: Policy{Person: annLimited(3)}, f: Facts{Team: 5, Mine: 1}, want: Reserve,
			usage: Usage{Today: 7, Person: &PersonUsage{Name: "ann", Today: 3, Limit: lim(3)}}},
		{name: "personal limit passed", p: Policy{Person: annLimited(2)}, f: Facts{Team: 5, Mine: 1}, want: Refuse,
			refused: &LimitError{Usage: Usage{Today: 5, Person: &PersonUsage{Name: "ann", Today: 1, Limit: lim(2)}}, Requested: 2, Person: true}},
		{name: "both passed: the person's is told", p: Policy{DailyLimit: new(1), Person: annLimited(2)}, f: Facts{Team: 5, Mine: 1}, want: Refuse,
			refused: &LimitError{Usage: Usage{Today: 5, Limit: new(1), Person: &PersonUsage{Name: "ann", Today: 1, Limit: lim(2)}}, Requested: 2, Person: true}},
		{name: "blocked person", p: Policy{Person: annLimited(0)}, f: Facts{}, want: Refuse,
			refused: &LimitError{Usage: Usage{Person: &PersonUsage{Name: "ann", Limit: lim(0)}}, Requested: 2, Person: true}},
		{name: "blocked person with a negative limit", p: Policy{Person: annLimited(-1)}, f: Facts{}, want: Refuse,
			refused: &LimitError{Usage: Usage{Person: &PersonUsage{Name: "ann", Limit: lim(-1)}}, Requested: 2, Person: true}},
		{name: "blocked person is not answered by a duplicate", p: Policy{DedupWindow: window, Person: annLimited(0)},
			f: Facts{Latest: task(done, time.Minute)}, want: Refuse,
			refused: &LimitError{Usage: Usage{Person: &PersonUsage{Name: "ann", Limit: lim(0)}}, Requested: 2, Person: true}},
		{name: "duplicate with a pending task answers", p: Policy{DedupWindow: window, DailyLimit: new(100)},
			f: Facts{Team: 4, Latest: task(pending, time.Minute)}, want: Answer, answer: pending,
			usage: Usage{Today: 4, Limit: new(100)}},
		{name: "duplicate with a done task answers, limits or not", p: Policy{DedupWindow: window, DailyLimit: new(4), Person: annLimited(1)},
			f: Facts{Team: 4, Mine: 1, Latest: task(done, time.Minute)}, want: Answer, answer: done,
			usage: Usage{Today: 4, Limit: new(4), Person: &PersonUsage{Name: "ann", Today: 1, Limit: lim(1)}}},
		{name: "duplicate whose task failed: a new one", p: Policy{DedupWindow: window},
			f: Facts{Latest: task(failed, time.Minute)}, want: Reserve, usage: Usage{Today: 2}},
		{name: "duplicate whose task is not stored: a new one", p: Policy{DedupWindow: window},
			f: Facts{Latest: task(nil, time.Minute)}, want: Reserve, usage: Usage{Today: 2}},
		{name: "duplicate whose outcome is unknown: a new one", p: Policy{DedupWindow: window},
			f: Facts{Latest: &Prior{At: now.Add(-time.Minute), Outcome: OutcomeUnknown}}, want: Reserve, usage: Usage{Today: 2}},
		{name: "duplicate in flight is waited for", p: Policy{DedupWindow: window},
			f: Facts{Latest: inFlight(time.Minute)}, want: Wait},
		{name: "duplicate in flight, limits or not", p: Policy{DedupWindow: window, DailyLimit: new(1)},
			f: Facts{Team: 1, Latest: inFlight(0)}, want: Wait},
		{name: "duplicate in flight for StaleReservation: a new one", p: Policy{DedupWindow: window},
			f: Facts{Latest: inFlight(StaleReservation)}, want: Reserve, usage: Usage{Today: 2}},
		{name: "duplicate just out of the window", p: Policy{DedupWindow: window},
			f: Facts{Latest: task(done, window)}, want: Reserve, usage: Usage{Today: 2}},
		{name: "duplicate in flight out of the window", p: Policy{DedupWindow: time.Minute},
			f: Facts{Latest: inFlight(time.Minute)}, want: Reserve, usage: Usage{Today: 2}},
		{name: "force new skips the duplicate", p: Policy{DedupWindow: window, ForceNew: true},
			f: Facts{Latest: task(done, time.Minute)}, want: Reserve, usage: Usage{Today: 2}},
		{name: "no window: no deduplication", p: Policy{},
			f: Facts{Latest: task(done, 0)}, want: Reserve, usage: Usage{Today: 2}},
		{name: "a new one still meets the limits", p: Policy{DedupWindow: window, DailyLimit: new(3)},
			f: Facts{Team: 2, Latest: task(failed, time.Minute)}, want: Refuse,
			refused: &LimitError{Usage: Usage{Today: 2, Limit: new(3)}, Requested: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.p, req, now, c.f)
			require.Equal(t, c.want, d.Verdict)
			assert.Equal(t, c.p.Person.Name, d.Reservation.Owner)
			assert.Empty(t, d.Reservation.ID, "the store names a reservation")
			switch c.want {
			case Refuse:
				var le *LimitError
				require.ErrorAs(t, d.Err, &le)
				assert.Equal(t, c.refused, le)
			case Wait:
				assert.NoError(t, d.Err)
				assert.Nil(t, d.Reservation.Existing)
			default:
				assert.NoError(t, d.Err)
				assert.Equal(t, c.usage, d.Reservation.Usage)
				assert.Same(t, c.answer, d.Reservation.Existing)
			}
		})
	}
}

func TestPolicyDedups(t *testing.T) {
	assert.True(t, Policy{DedupWindow: time.Second}.Dedups())
	assert.False(t, Policy{DedupWindow: time.Second, ForceNew: true}.Dedups())
	assert.False(t, Policy{}.Dedups())
}

func TestApply(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	created := time.Date(2026, 12, 7, 19, 0, 0, 0, time.FixedZone("CST", 8*3600))
	stored := Record{TaskID: "t1", Status: StatusPending, SubmittedAt: earlier, UpdatedAt: earlier, CreatedAt: created,
		Images: []Image{{Index: 1, URL: "u1", ExpiresAt: created.AddDate(0, imageMonths, 0)}}}

	for _, c := range []struct {
		name    string
		old     Record
		change  func(*Record)
		want    Record
		changed bool
	}{
		{name: "a new task gets the defaults", old: Record{TaskID: "t2"}, change: func(*Record) {},
			want: Record{TaskID: "t2", Status: StatusPending, SubmittedAt: now, UpdatedAt: now}, changed: true},
		{name: "a new task keeps what the change set", old: Record{TaskID: "t2"},
			change: func(r *Record) { r.Status, r.SubmittedAt, r.Owner = StatusDone, earlier, "ann" },
			want:   Record{TaskID: "t2", Status: StatusDone, SubmittedAt: earlier, UpdatedAt: now, Owner: "ann"}, changed: true},
		{name: "nothing changed: no write, the old update time", old: stored, change: func(*Record) {},
			want: stored, changed: false},
		{name: "the same instants in another zone are no change", old: stored,
			change: func(r *Record) { r.CreatedAt, r.SubmittedAt = created.UTC(), earlier.In(time.FixedZone("X", 3600)) },
			want: func() Record {
				r := stored
				r.CreatedAt, r.SubmittedAt = created.UTC(), earlier.In(time.FixedZone("X", 3600))
				r.Images = []Image{{Index: 1, URL: "u1", ExpiresAt: created.UTC().AddDate(0, imageMonths, 0)}} // from the creation time, as set
				return r
			}(),
			changed: false},
		{name: "a change is written now", old: stored, change: func(r *Record) { r.TaskNo = "no1" },
			want: func() Record { r := stored; r.TaskNo, r.UpdatedAt = "no1", now; return r }(), changed: true},
		{name: "the task id stays", old: stored, change: func(r *Record) { r.TaskID = "other" },
			want: stored, changed: false},
		{name: "a cleared status is pending again", old: stored, change: func(r *Record) { r.Status = "" },
			want: stored, changed: false},
		{name: "image expiry follows the creation time", old: stored,
			change: func(r *Record) { r.Images = append(r.Images, Image{Index: 2, URL: "u2"}) },
			want: func() Record {
				r := stored
				r.Images = []Image{stored.Images[0], {Index: 2, URL: "u2", ExpiresAt: created.AddDate(0, imageMonths, 0)}}
				r.UpdatedAt = now
				return r
			}(), changed: true},
		{name: "image expiry follows the submit time without a creation time", old: Record{TaskID: "t2"},
			change: func(r *Record) { r.Images = []Image{{Index: 1, URL: "u"}} },
			want: Record{TaskID: "t2", Status: StatusPending, SubmittedAt: now, UpdatedAt: now,
				Images: []Image{{Index: 1, URL: "u", ExpiresAt: now.AddDate(0, imageMonths, 0)}}}, changed: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			old := c.old
			old.Images = append([]Image(nil), c.old.Images...)
			got, changed := Apply(old, now, c.change)
			assert.Equal(t, c.changed, changed)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.old.Images, old.Images, "the stored record is not changed in place")
		})
	}
}

func TestApplyDoesNotAliasTheOldImages(t *testing.T) {
	old := Record{TaskID: "t1", Status: StatusDone, Images: []Image{{Index: 1, URL: "u"}}}
	_, changed := Apply(old, time.Now(), func(r *Record) { r.Images[0].Path = "/saved" })
	assert.True(t, changed)
	assert.Empty(t, old.Images[0].Path)
}

func TestReserving(t *testing.T) {
	t.Run("waits, then returns the reservation", func(t *testing.T) {
		n := 0
		res, err := Reserving(t.Context(), func() (Decision, error) {
			n++
			if n < 3 {
				return Decision{Verdict: Wait}, nil
			}
			return Decision{Verdict: Reserve, Reservation: Reservation{ID: "r1"}}, nil
		})
		require.NoError(t, err)
		assert.Equal(t, "r1", res.ID)
		assert.Equal(t, 3, n)
	})
	t.Run("refused", func(t *testing.T) {
		le := &LimitError{Requested: 1}
		res, err := Reserving(t.Context(), func() (Decision, error) {
			return Decision{Verdict: Refuse, Err: le, Reservation: Reservation{Owner: "ann"}}, nil
		})
		assert.Same(t, le, err)
		assert.Zero(t, res)
	})
	t.Run("a store's error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := Reserving(t.Context(), func() (Decision, error) { return Decision{}, boom })
		assert.Same(t, boom, err)
	})
	t.Run("the end of ctx ends the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		_, err := Reserving(ctx, func() (Decision, error) {
			n++
			cancel()
			return Decision{Verdict: Wait}, nil
		})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, n)
	})
}
