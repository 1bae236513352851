// Package storetest is the conformance suite of store.Store: the spending
// rules (deduplication per person, the account's daily limit and each
// person's, the outcome of every reservation, the day and month in the
// store's zone) and the task records with their owners, as the paint
// service relies on them. Every implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time, loc *time.Location) func() store.Store {
//			dir := t.TempDir()
//			return func() store.Store {
//				s, err := store.Open(dir, store.WithClock(now), store.WithLocation(loc))
//				require.NoError(t, err)
//				return s
//			}
//		})
//	}
//
// A store shared by replicas runs RunLeaser too (store.Leaser).
//
// It checks behaviour only, never how a store keeps its data.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests' zones, on machines without a zone database

	"aipaint-mcp/client"
	"aipaint-mcp/people"
	"aipaint-mcp/store"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Opener makes one fresh, empty backing store for one test and returns a
// function that opens a new handle on that same backing store each time it
// is called, as another process (or replica) would. The suite closes the
// handles it opens; the Opener removes the backing store itself (with
// t.Cleanup, which runs after the handles are closed). A failure to open
// fails t.
//
// Every time the store records or compares (submit and update times, ledger
// entries, dedup windows, the stale bound, leases, the day of the daily
// limit) comes from now. The suite's clock moves in whole seconds, so a
// store that keeps microseconds loses nothing. loc is the zone whose days
// and months the store counts in (store.WithLocation): time.Local for most
// tests, another zone where the test is about zones.
type Opener func(t *testing.T, now func() time.Time, loc *time.Location) func() store.Store

// Run runs the suite, one subtest per behaviour, each on a fresh backing
// store.
func Run(t *testing.T, open Opener) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc := time.Local
			if c.zone != "" {
				var err error
				loc, err = time.LoadLocation(c.zone)
				require.NoError(t, err)
			}
			clk := &clock{t: start}
			c.test(t, &env{clock: clk, loc: loc, open: open(t, clk.now, loc)})
		})
	}
}

type testCase struct {
	name string
	test func(t *testing.T, e *env)
	zone string // the store's zone, an IANA name; "": time.Local
}

var cases = []testCase{
	{name: "ReserveCountsANewRequest", test: reserveCountsANewRequest},
	{name: "ReserveDeduplicatesWithinTheWindow", test: reserveDeduplicatesWithinTheWindow},
	{name: "ReserveIgnoresFailedTasksAndReleasedReservations", test: reserveIgnoresFailedTasksAndReleasedReservations},
	{name: "ReleaseGivesTheImagesBack", test: releaseGivesTheImagesBack},
	{name: "AbandonKeepsCountingWithoutMakingOthersWait", test: abandonKeepsCountingWithoutMakingOthersWait},
	{name: "DailyLimit", test: dailyLimit},
	{name: "IdenticalRequestWaitsForTheOutcome", test: identicalRequestWaitsForTheOutcome},
	{name: "StaleReservationNoLongerBlocks", test: staleReservationNoLongerBlocks},
	{name: "UsageCountsOnlyToday", test: usageCountsOnlyToday},
	{name: "GetUnknownIsNotFound", test: getUnknownIsNotFound},
	{name: "UpdateCreatesAndChanges", test: updateCreatesAndChanges},
	{name: "CommitIsVisibleToOtherHandles", test: commitIsVisibleToOtherHandles},
	{name: "TaskIDsOfAnyShape", test: taskIDsOfAnyShape},
	{name: "ListNewestFirst", test: listNewestFirst},
	{name: "UpdatedSince", test: updatedSince},
	{name: "ConcurrentIdenticalRequestsReserveOnce", test: concurrentIdenticalRequestsReserveOnce},
	{name: "ConcurrentDistinctRequestsNeverPassTheLimit", test: concurrentDistinctRequestsNeverPassTheLimit},
	{name: "OwnerIsRecorded", test: ownerIsRecorded},
	{name: "CommitOwnsTheTask", test: commitOwnsTheTask},
	{name: "DeduplicationStaysWithinOneOwner", test: deduplicationStaysWithinOneOwner},
	{name: "ListFiltersByOwner", test: listFiltersByOwner},
	{name: "PersonLimit", test: personLimit},
	{name: "PersonLimitZeroRefusesEverything", test: personLimitZeroRefusesEverything},
	{name: "UnlimitedPersonHasNoOwnLimit", test: unlimitedPersonHasNoOwnLimit},
	{name: "TeamAndPersonLimitsTogether", test: teamAndPersonLimitsTogether},
	{name: "UsageWithAPerson", test: usageWithAPerson},
	{name: "SpendingPerOwnerTodayAndMonth", test: spendingPerOwnerTodayAndMonth},
	{name: "ZoneFollowsTheLocation/Asia-Shanghai", test: zoneFollowsTheLocation, zone: "Asia/Shanghai"},
	{name: "ZoneFollowsTheLocation/Pacific-Honolulu", test: zoneFollowsTheLocation, zone: "Pacific/Honolulu"},
	{name: "ConcurrentPeopleAcrossHandles", test: concurrentPeopleAcrossHandles},
	{name: "ConcurrentIdenticalRequestsOfTwoPeople", test: concurrentIdenticalRequestsOfTwoPeople},
}

// start is noon, far from midnight and from any daylight-saving change.
var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.Local)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type env struct {
	clock *clock
	loc   *time.Location
	open  func() store.Store
}

// handle opens one more handle on the test's backing store.
func (e *env) handle(t *testing.T) store.Store {
	t.Helper()
	s := e.open()
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

var panda = client.Request{Text: "竹林里的熊猫", Style: "古风", Resolution: "1024*1024", Num: 2}

// waitProbe is how long a request that must wait is watched: long enough
// for a store that polls to look several times.
const waitProbe = 600 * time.Millisecond

// noWait bounds a Reserve that must not wait: were it to wait, its context
// would end it with an error.
func noWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func commitID(t *testing.T, s store.Store, res store.Reservation, taskID string) {
	t.Helper()
	_, err := s.Commit(t.Context(), res, store.Record{TaskID: taskID})
	require.NoError(t, err)
}

func usage(t *testing.T, s store.Store, limit *int) store.Usage {
	t.Helper()
	u, err := s.Usage(t.Context(), store.Policy{DailyLimit: limit})
	require.NoError(t, err)
	return u
}

func usageOf(t *testing.T, s store.Store, p store.Policy) store.Usage {
	t.Helper()
	u, err := s.Usage(t.Context(), p)
	require.NoError(t, err)
	return u
}

// utc makes records comparable whatever zone a store reads times back in.
func utc(r store.Record) store.Record {
	r.SubmittedAt, r.CreatedAt, r.DoneAt, r.UpdatedAt = r.SubmittedAt.UTC(), r.CreatedAt.UTC(), r.DoneAt.UTC(), r.UpdatedAt.UTC()
	r.Images = append([]store.Image(nil), r.Images...)
	for i := range r.Images {
		r.Images[i].ExpiresAt = r.Images[i].ExpiresAt.UTC()
	}
	return r
}

func ids(rs []store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.TaskID
	}
	return out
}

func reserveCountsANewRequest(t *testing.T, e *env) {
	s := e.handle(t)
	assert.Equal(t, store.Usage{Today: 0, Limit: new(100)}, usage(t, s, new(100)))
	res, err := s.Reserve(context.Background(), panda, store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(100)})
	require.NoError(t, err)
	assert.Nil(t, res.Existing)
	assert.NotEmpty(t, res.ID)
	assert.Equal(t, store.Usage{Today: 2, Limit: new(100)}, res.Usage, "the reservation's images count")
	assert.Equal(t, store.Usage{Today: 2, Limit: new(100)}, usage(t, s, new(100)))
	assert.Equal(t, store.Usage{Today: 2}, usage(t, e.handle(t), nil), "another handle sees it")
	commitID(t, s, res, "t1")
	assert.Equal(t, 2, usage(t, s, nil).Today, "a committed reservation keeps counting")
}

func reserveDeduplicatesWithinTheWindow(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	ctx := context.Background()
	p := store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(100)}

	first, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	assert.Nil(t, first.Existing)
	assert.Equal(t, store.Usage{Today: 2, Limit: new(100)}, first.Usage)
	_, err = s.Commit(t.Context(), first, store.Record{TaskID: "t1", Request: panda})
	require.NoError(t, err)

	e.clock.add(9 * time.Minute)
	dup, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	require.NotNil(t, dup.Existing)
	assert.Equal(t, "t1", dup.Existing.TaskID)
	assert.Equal(t, panda, dup.Existing.Request)
	assert.Equal(t, store.Usage{Today: 2, Limit: new(100)}, dup.Usage, "a duplicate costs nothing")
	dup, err = other.Reserve(ctx, panda, p)
	require.NoError(t, err)
	require.NotNil(t, dup.Existing, "another handle finds it too")
	assert.Equal(t, "t1", dup.Existing.TaskID)
	assert.Equal(t, 2, usage(t, s, nil).Today, "duplicates reserved nothing")

	forced, err := s.Reserve(ctx, panda, store.Policy{DedupWindow: 10 * time.Minute, ForceNew: true})
	require.NoError(t, err)
	assert.Nil(t, forced.Existing)
	require.NoError(t, s.Release(t.Context(), forced))

	diff := panda
	diff.Num = 1
	d, err := s.Reserve(ctx, diff, p)
	require.NoError(t, err)
	assert.Nil(t, d.Existing, "num is part of the request")
	require.NoError(t, s.Release(t.Context(), d))

	e.clock.add(2 * time.Minute) // 11 minutes after the first: outside the window
	late, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	assert.Nil(t, late.Existing)

	off, err := s.Reserve(ctx, client.Request{Text: "x", Num: 1}, store.Policy{})
	require.NoError(t, err)
	commitID(t, s, off, "t9")
	again, err := s.Reserve(ctx, client.Request{Text: "x", Num: 1}, store.Policy{})
	require.NoError(t, err)
	assert.Nil(t, again.Existing, "a zero window turns deduplication off")
}

func reserveIgnoresFailedTasksAndReleasedReservations(t *testing.T, e *env) {
	s := e.handle(t)
	ctx := noWait(t)
	p := store.Policy{DedupWindow: time.Hour}
	r1, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	require.NoError(t, s.Release(t.Context(), r1))
	r2, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	assert.Nil(t, r2.Existing)
	_, err = s.Commit(t.Context(), r2, store.Record{TaskID: "t2", Status: store.StatusFailed})
	require.NoError(t, err)
	r3, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	assert.Nil(t, r3.Existing, "a failed task is not an answer")
	require.NoError(t, s.Abandon(t.Context(), r3))
	r4, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	assert.Nil(t, r4.Existing, "an abandoned submit has no task to return")
	assert.Equal(t, 6, usage(t, s, nil).Today, "released images do not count; failed and abandoned ones may have been billed")

	// A task that fails after it was committed stops answering too.
	commitID(t, s, r4, "t4")
	dup, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	require.NotNil(t, dup.Existing)
	assert.Equal(t, "t4", dup.Existing.TaskID)
	_, err = s.Update(t.Context(), "t4", func(r *store.Record) { r.Status, r.Error = store.StatusFailed, "refused" })
	require.NoError(t, err)
	r5, err := s.Reserve(ctx, panda, p)
	require.NoError(t, err)
	assert.Nil(t, r5.Existing, "a task that failed later is not an answer")
}

func releaseGivesTheImagesBack(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	p := store.Policy{DedupWindow: time.Hour, DailyLimit: new(3)}
	res, err := s.Reserve(noWait(t), panda, p)
	require.NoError(t, err)
	assert.Equal(t, store.Usage{Today: 2, Limit: new(3)}, res.Usage)
	require.NoError(t, s.Release(t.Context(), res))
	assert.Equal(t, store.Usage{Today: 0, Limit: new(3)}, usage(t, other, new(3)))

	// Nothing waits for a released reservation; its images are free again.
	again, err := other.Reserve(noWait(t), panda, p)
	require.NoError(t, err)
	assert.Nil(t, again.Existing)
	assert.Equal(t, store.Usage{Today: 2, Limit: new(3)}, again.Usage)
}

func abandonKeepsCountingWithoutMakingOthersWait(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	p := store.Policy{DedupWindow: time.Hour, DailyLimit: new(4)}
	res, err := s.Reserve(noWait(t), panda, p)
	require.NoError(t, err)
	require.NoError(t, s.Abandon(t.Context(), res))
	assert.Equal(t, store.Usage{Today: 2, Limit: new(4)}, usage(t, other, new(4)), "it may have been billed")

	again, err := other.Reserve(noWait(t), panda, p)
	require.NoError(t, err, "nobody waits for an abandoned submit")
	assert.Nil(t, again.Existing)
	assert.Equal(t, store.Usage{Today: 4, Limit: new(4)}, again.Usage)
	require.NoError(t, other.Release(t.Context(), again))

	_, err = other.Reserve(noWait(t), client.Request{Text: "more", Num: 3}, p)
	var le *store.LimitError
	require.ErrorAs(t, err, &le, "abandoned images count against the limit")
	assert.Equal(t, store.Usage{Today: 2, Limit: new(4)}, le.Usage)
}

func dailyLimit(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	ctx := context.Background()
	p := store.Policy{DailyLimit: new(5)}
	for _, text := range []string{"a", "b"} {
		r, err := s.Reserve(ctx, client.Request{Text: text, Num: 2}, p)
		require.NoError(t, err)
		commitID(t, s, r, "t-"+text)
	}
	_, err := other.Reserve(ctx, client.Request{Text: "c", Num: 2}, p)
	var le *store.LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, store.Usage{Today: 4, Limit: new(5)}, le.Usage)
	assert.Equal(t, 2, le.Requested)
	assert.Equal(t, 4, usage(t, s, nil).Today, "a refusal reserves nothing")
	r, err := other.Reserve(ctx, client.Request{Text: "c", Num: 1}, p)
	require.NoError(t, err, "exactly reaching the limit is allowed")
	assert.Equal(t, store.Usage{Today: 5, Limit: new(5)}, r.Usage)
	require.NoError(t, other.Release(t.Context(), r))

	// An identical request is answered by its task even at the limit: it costs nothing.
	dup, err := s.Reserve(ctx, client.Request{Text: "a", Num: 2}, store.Policy{DailyLimit: new(4), DedupWindow: time.Hour})
	require.NoError(t, err)
	require.NotNil(t, dup.Existing)
	assert.Equal(t, "t-a", dup.Existing.TaskID)

	e.clock.add(12 * time.Hour) // the next local day
	r, err = s.Reserve(ctx, client.Request{Text: "d", Num: 5}, p)
	require.NoError(t, err)
	assert.Equal(t, 5, r.Usage.Today)
}

func identicalRequestWaitsForTheOutcome(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	p := store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(100)}
	first, err := s.Reserve(context.Background(), panda, p)
	require.NoError(t, err)

	// While the first has no outcome, an identical request waits (on any
	// handle) until its context ends, and reserves nothing.
	ctx, cancel := context.WithTimeout(context.Background(), waitProbe)
	defer cancel()
	_, err = other.Reserve(ctx, panda, p)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the wait ends with the caller")
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = s.Reserve(ctx, panda, p)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 2, usage(t, s, nil).Today, "a waiting request reserved nothing")

	// ForceNew and a zero window do not wait.
	forced, err := other.Reserve(noWait(t), panda, store.Policy{DedupWindow: 10 * time.Minute, ForceNew: true})
	require.NoError(t, err)
	assert.Nil(t, forced.Existing)
	require.NoError(t, other.Release(t.Context(), forced))
	off, err := other.Reserve(noWait(t), panda, store.Policy{})
	require.NoError(t, err)
	assert.Nil(t, off.Existing)
	require.NoError(t, other.Release(t.Context(), off))

	// A waiter gets the task once it is committed elsewhere.
	got := make(chan store.Reservation, 1)
	go func() {
		r, err := other.Reserve(context.Background(), panda, p)
		assert.NoError(t, err)
		got <- r
	}()
	select {
	case r := <-got:
		t.Fatalf("an identical request must wait while the first is being submitted, got %+v", r)
	case <-time.After(waitProbe / 4):
	}
	_, err = s.Commit(t.Context(), first, store.Record{TaskID: "t1", Request: panda})
	require.NoError(t, err)
	r := <-got
	require.NotNil(t, r.Existing)
	assert.Equal(t, "t1", r.Existing.TaskID)
	assert.Equal(t, store.Usage{Today: 2, Limit: new(100)}, r.Usage)
	assert.Equal(t, 2, usage(t, s, nil).Today)
}

func staleReservationNoLongerBlocks(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	p := store.Policy{DedupWindow: time.Hour}
	_, err := s.Reserve(context.Background(), panda, p) // its process dies: no outcome ever
	require.NoError(t, err)

	e.clock.add(store.StaleReservation - time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = other.Reserve(ctx, panda, p)
	require.ErrorIs(t, err, context.DeadlineExceeded, "still within the stale bound: it waits")

	e.clock.add(2 * time.Second)
	r, err := other.Reserve(noWait(t), panda, p)
	require.NoError(t, err, "past the stale bound a reservation no longer blocks")
	assert.Nil(t, r.Existing)
	assert.Equal(t, 4, r.Usage.Today, "the stale reservation may have been billed: it still counts")
}

func usageCountsOnlyToday(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	e.clock.set(time.Date(2026, 11, 27, 23, 58, 0, 0, time.Local))
	p := store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(2)}
	res, err := s.Reserve(context.Background(), panda, p)
	require.NoError(t, err)
	assert.Equal(t, store.Usage{Today: 2, Limit: new(2)}, res.Usage)
	e.clock.add(time.Minute) // committed at 23:59
	commitID(t, s, res, "t-yesterday")
	assert.Equal(t, 2, usage(t, other, nil).Today)

	e.clock.add(2 * time.Minute) // 00:01 the next day
	assert.Equal(t, store.Usage{Today: 0, Limit: new(2)}, usage(t, other, new(2)))
	// Yesterday's task still answers within the window, and costs nothing today.
	dup, err := other.Reserve(noWait(t), panda, p)
	require.NoError(t, err)
	require.NotNil(t, dup.Existing, "the dedup window reaches across midnight")
	assert.Equal(t, "t-yesterday", dup.Existing.TaskID)
	assert.Equal(t, store.Usage{Today: 0, Limit: new(2)}, dup.Usage)

	r, err := other.Reserve(noWait(t), client.Request{Text: "today", Num: 2}, p)
	require.NoError(t, err, "yesterday's images do not count against today's limit")
	assert.Equal(t, store.Usage{Today: 2, Limit: new(2)}, r.Usage)
	commitID(t, other, r, "t-today")
	assert.Equal(t, 2, usage(t, s, nil).Today)
}

func getUnknownIsNotFound(t *testing.T, e *env) {
	s := e.handle(t)
	_, err := s.Get(t.Context(), "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Update(t.Context(), "known", func(*store.Record) {})
	require.NoError(t, err)
	_, err = e.handle(t).Get(t.Context(), "Known")
	require.ErrorIs(t, err, store.ErrNotFound, "task ids are case-sensitive")
	_, err = s.Update(t.Context(), "", func(*store.Record) {})
	require.Error(t, err, "a task needs an id")
	list, err := s.List(t.Context(), "", 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"known"}, ids(list))
}

func updateCreatesAndChanges(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	created := e.clock.now()
	r, err := s.Update(t.Context(), "t1", func(r *store.Record) {
		assert.Equal(t, store.Record{TaskID: "t1"}, *r, "a new task: only its id is set")
		r.TaskNo, r.Request = "no1", panda
	})
	require.NoError(t, err)
	assert.Equal(t, "t1", r.TaskID)
	assert.Equal(t, store.StatusPending, r.Status, "status defaults to pending")
	assert.True(t, created.Equal(r.SubmittedAt), "submit time defaults to now: %v", r.SubmittedAt)
	assert.True(t, created.Equal(r.UpdatedAt), "%v", r.UpdatedAt)
	got, err := other.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, utc(r), utc(got))

	e.clock.add(time.Minute)
	done := e.clock.now()
	upstreamCreated := time.Date(2026, 11, 27, 19, 59, 0, 0, time.FixedZone("CST", 8*3600))
	r, err = other.Update(t.Context(), "t1", func(r *store.Record) {
		assert.Equal(t, "no1", r.TaskNo, "f sees the stored task")
		assert.Equal(t, panda, r.Request)
		r.TaskID = "ignored" // the id is the one asked for
		r.Status, r.DoneAt, r.CreatedAt, r.TookSeconds = store.StatusDone, done, upstreamCreated, 42.5
		r.SetImages([]string{"https://img/1.png", "https://img/2.png"})
		r.Images[0].Path = "/pics/t1_1.png"
	})
	require.NoError(t, err)
	assert.Equal(t, "t1", r.TaskID)
	assert.True(t, created.Equal(r.SubmittedAt), "the submit time stays")
	assert.True(t, done.Equal(r.UpdatedAt))
	got, err = s.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, utc(r), utc(got))
	assert.Equal(t, store.StatusDone, got.Status)
	assert.True(t, upstreamCreated.Equal(got.CreatedAt))
	require.Len(t, got.Images, 2)
	assert.Equal(t, "/pics/t1_1.png", got.Images[0].Path)
	assert.True(t, upstreamCreated.AddDate(0, 3, 0).Equal(got.Images[1].ExpiresAt), "%v", got.Images[1].ExpiresAt)
	_, err = s.Get(t.Context(), "ignored")
	require.ErrorIs(t, err, store.ErrNotFound)

	// A task's own submit time is kept when given.
	at := start.Add(-time.Hour)
	r, err = s.Update(t.Context(), "t2", func(r *store.Record) { r.SubmittedAt, r.Status = at, store.StatusFailed })
	require.NoError(t, err)
	assert.True(t, at.Equal(r.SubmittedAt))
	assert.Equal(t, store.StatusFailed, r.Status)
}

func commitIsVisibleToOtherHandles(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	res, err := s.Reserve(context.Background(), panda, store.Policy{DedupWindow: time.Minute})
	require.NoError(t, err)
	rec := store.Record{TaskID: "t1", TaskNo: "no1", Request: panda}
	out, err := s.Commit(t.Context(), res, rec)
	require.NoError(t, err)
	assert.Equal(t, store.StatusPending, out.Status)
	assert.True(t, e.clock.now().Equal(out.SubmittedAt), "%v", out.SubmittedAt)
	got, err := other.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, utc(out), utc(got))
	assert.Equal(t, "no1", got.TaskNo)
	assert.Equal(t, panda, got.Request)
}

func taskIDsOfAnyShape(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	all := []string{"../../etc/passwd", `..\..\win.ini`, "a/b", "..", ".", "CON", "nul", "Abc", "abc", "任务", "/abs", "t 1"}
	for i, id := range all {
		_, err := s.Update(t.Context(), id, func(r *store.Record) { r.TaskNo = fmt.Sprint(i) })
		require.NoError(t, err, "%q", id)
	}
	for i, id := range all {
		got, err := other.Get(t.Context(), id)
		require.NoError(t, err, "%q", id)
		assert.Equal(t, id, got.TaskID)
		assert.Equal(t, fmt.Sprint(i), got.TaskNo, "%q is a task of its own", id)
	}
	list, err := other.List(t.Context(), "", 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, all, ids(list))
}

func listNewestFirst(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	list, err := s.List(t.Context(), "", 0)
	require.NoError(t, err)
	assert.Empty(t, list)
	// Written in an order that is not the submit order, from two handles.
	for i, id := range []string{"t2", "t0", "t4", "t1", "t3"} {
		h := []store.Store{s, other}[i%2]
		at := start.Add(-time.Duration('9'-id[1]) * time.Minute) // t4 newest, all before they are written
		_, err := h.Update(t.Context(), id, func(r *store.Record) { r.SubmittedAt = at })
		require.NoError(t, err)
		e.clock.add(time.Second)
	}
	e.clock.add(10 * time.Minute)
	_, err = s.Update(t.Context(), "t0", func(r *store.Record) { r.Status = store.StatusDone }) // updated last, submitted first
	require.NoError(t, err)
	for _, h := range []store.Store{s, other} {
		list, err := h.List(t.Context(), "", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"t4", "t3", "t2", "t1", "t0"}, ids(list))
		list, err = h.List(t.Context(), "", 2)
		require.NoError(t, err)
		assert.Equal(t, []string{"t4", "t3"}, ids(list))
		list, err = h.List(t.Context(), "", 1)
		require.NoError(t, err)
		assert.Equal(t, []string{"t4"}, ids(list))
		list, err = h.List(t.Context(), "", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{"t4", "t3", "t2", "t1", "t0"}, ids(list))
	}
}

func updatedSince(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	t0 := e.clock.now()
	_, err := s.Update(t.Context(), "a", func(*store.Record) {})
	require.NoError(t, err)
	e.clock.add(time.Minute)
	_, err = other.Update(t.Context(), "b", func(*store.Record) {})
	require.NoError(t, err)
	e.clock.add(time.Minute)
	t2 := e.clock.now()
	_, err = other.Update(t.Context(), "a", func(r *store.Record) { r.TaskNo = "changed" })
	require.NoError(t, err)
	e.clock.add(time.Minute)

	for _, h := range []store.Store{s, other} {
		got, err := h.UpdatedSince(t.Context(), t0)
		require.NoError(t, err)
		assert.Equal(t, []string{"b", "a"}, ids(got), "newest submitted first")
		got, err = h.UpdatedSince(t.Context(), t0.Add(30*time.Second))
		require.NoError(t, err)
		assert.Equal(t, []string{"b", "a"}, ids(got), "a was written again at t2")
		got, err = h.UpdatedSince(t.Context(), t2)
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, ids(got), "written at since counts")
		require.Len(t, got, 1)
		assert.Equal(t, "changed", got[0].TaskNo)
		got, err = h.UpdatedSince(t.Context(), t2.Add(time.Second))
		require.NoError(t, err)
		assert.Empty(t, got)
	}
}

// concurrentIdenticalRequestsReserveOnce: identical requests from many
// goroutines over three handles make one reservation; the others get its task.
func concurrentIdenticalRequestsReserveOnce(t *testing.T, e *env) {
	handles := []store.Store{e.handle(t), e.handle(t), e.handle(t)}
	const n = 12
	reserved, answers := raceIdentical(t, handles, []people.Person{{}}, n)
	assert.Equal(t, map[string]int{"": 1}, reserved, "identical requests reserve once")
	require.Len(t, answers[""], n)
	for _, a := range answers[""] {
		assert.Equal(t, answers[""][0], a, "every caller gets the one task")
	}
	assert.Equal(t, 2, usage(t, handles[0], nil).Today)
	list, err := handles[1].List(t.Context(), "", 0)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

// raceIdentical has n goroutines, spread over handles and people, reserve
// panda at once; a caller without an existing task commits one after a
// while (the submit), as the paint service would. It returns, per person,
// how many reservations were made and the task id each caller got.
func raceIdentical(t *testing.T, handles []store.Store, people []people.Person, n int) (reserved map[string]int, answers map[string][]string) {
	t.Helper()
	reserved, answers = map[string]int{}, map[string][]string{}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	begin := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			h, who := handles[i%len(handles)], people[i%len(people)]
			<-begin
			p := store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(100), Person: who}
			r, err := h.Reserve(ctx, panda, p)
			if !assert.NoError(t, err) {
				return
			}
			answer := fmt.Sprintf("t-%s-%d", who.Name, i)
			if r.Existing != nil {
				answer = r.Existing.TaskID
				assert.Equal(t, who.Name, r.Existing.Owner)
			} else {
				<-time.After(waitProbe / 4) // the submit takes a while: the others wait for it
				_, err = h.Commit(t.Context(), r, store.Record{TaskID: answer, Request: panda})
				assert.NoError(t, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if r.Existing == nil {
				reserved[who.Name]++
			}
			answers[who.Name] = append(answers[who.Name], answer)
		})
	}
	close(begin)
	wg.Wait()
	return reserved, answers
}

// concurrentDistinctRequestsNeverPassTheLimit: distinct requests from many
// goroutines over three handles are reserved one at a time against the
// limit: each success sees a different count, and none passes the limit.
func concurrentDistinctRequestsNeverPassTheLimit(t *testing.T, e *env) {
	handles := []store.Store{e.handle(t), e.handle(t), e.handle(t)}
	const limit, n = 10, 24
	p := store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(limit)}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		counts  []int
		refused int
	)
	begin := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := handles[i%len(handles)]
			<-begin
			r, err := h.Reserve(context.Background(), client.Request{Text: fmt.Sprint("request ", i), Num: 1}, p)
			var le *store.LimitError
			if errors.As(err, &le) {
				assert.Equal(t, store.Usage{Today: limit, Limit: new(limit)}, le.Usage)
				assert.Equal(t, 1, le.Requested)
				mu.Lock()
				refused++
				mu.Unlock()
				return
			}
			if !assert.NoError(t, err) {
				return
			}
			assert.Nil(t, r.Existing)
			_, err = h.Commit(t.Context(), r, store.Record{TaskID: fmt.Sprintf("t-%d", i)})
			assert.NoError(t, err)
			mu.Lock()
			counts = append(counts, r.Usage.Today)
			mu.Unlock()
		}()
	}
	close(begin)
	wg.Wait()
	sort.Ints(counts)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, counts, "reservations are serialised")
	assert.Equal(t, n-limit, refused)
	for _, h := range handles {
		assert.Equal(t, store.Usage{Today: limit, Limit: new(limit)}, usage(t, h, new(limit)))
	}
	list, err := handles[0].List(t.Context(), "", 0)
	require.NoError(t, err)
	assert.Len(t, list, limit)
}
