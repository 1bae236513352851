package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/people"
	"aipaint-mcp/store"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The people of a team: alice and bob have their own limits (or none);
// the unnamed person is a desktop's single user.
var (
	alice = people.Person{Name: "alice", Limit: new(3)}
	bob   = people.Person{Name: "bob"}
)

func as(p people.Person, policy store.Policy) store.Policy {
	policy.Person = p
	return policy
}

func personUsage(name string, today int, limit *int) *store.PersonUsage {
	return &store.PersonUsage{Name: name, Today: today, Limit: limit}
}

func ownerIsRecorded(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	res, err := s.Reserve(noWait(t), panda, as(bob, store.Policy{DedupWindow: time.Hour}))
	require.NoError(t, err)
	assert.Equal(t, "bob", res.Owner, "the reservation carries the person")
	out, err := s.Commit(t.Context(), res, store.Record{TaskID: "t1", Request: panda})
	require.NoError(t, err)
	assert.Equal(t, "bob", out.Owner, "Commit records the reservation's owner")
	got, err := other.Get(t.Context(), "t1")
	require.NoError(t, err, "Get is not filtered by owner")
	assert.Equal(t, "bob", got.Owner)

	_, err = other.Update(t.Context(), "t1", func(r *store.Record) { r.Status = store.StatusDone })
	require.NoError(t, err)
	got, err = s.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, "bob", got.Owner, "an update keeps the owner")

	res, err = s.Reserve(noWait(t), client.Request{Text: "mine", Num: 1}, store.Policy{})
	require.NoError(t, err)
	assert.Empty(t, res.Owner, "the unnamed person owns nothing by name")
	out, err = s.Commit(t.Context(), res, store.Record{TaskID: "t2"})
	require.NoError(t, err)
	assert.Empty(t, out.Owner)

	since, err := other.UpdatedSince(t.Context(), start.Add(-time.Hour))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"t1", "t2"}, ids(since), "UpdatedSince is every owner's")
}

// commitOwnsTheTask: a task recorded before its commit (someone's
// check_task looked its id up while the commit kept failing) becomes the
// reserver's when the commit lands: the reservation proves who paid.
func commitOwnsTheTask(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	res, err := s.Reserve(noWait(t), panda, as(alice, store.Policy{DedupWindow: time.Hour}))
	require.NoError(t, err)
	_, err = other.Update(t.Context(), "t1", func(r *store.Record) {
		if r.Status == "" && r.Owner == "" {
			r.Owner = "bob"
		}
		r.Status = store.StatusDone
	})
	require.NoError(t, err)
	out, err := s.Commit(t.Context(), res, store.Record{TaskID: "t1", Request: panda, Status: store.StatusPending})
	require.NoError(t, err)
	assert.Equal(t, "alice", out.Owner, "the commit's owner wins over a look-up's")
	assert.Equal(t, store.StatusDone, out.Status, "and what the look-up saw is kept")
	got, err := other.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, "alice", got.Owner)
	mine, err := other.List(t.Context(), "bob", 0)
	require.NoError(t, err)
	assert.Empty(t, mine)
}

func deduplicationStaysWithinOneOwner(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	p := store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(100)}

	a, err := s.Reserve(noWait(t), panda, as(alice, p))
	require.NoError(t, err)
	// alice's submit is in flight: bob and the unnamed person do not wait for it.
	b, err := other.Reserve(noWait(t), panda, as(bob, p))
	require.NoError(t, err, "another person's identical request neither waits nor shares")
	assert.Nil(t, b.Existing)
	u, err := other.Reserve(noWait(t), panda, p)
	require.NoError(t, err)
	assert.Nil(t, u.Existing)
	assert.Equal(t, 6, u.Usage.Today, "three people, three reservations")

	_, err = s.Commit(t.Context(), a, store.Record{TaskID: "t-alice", Request: panda})
	require.NoError(t, err)
	_, err = other.Commit(t.Context(), b, store.Record{TaskID: "t-bob", Request: panda})
	require.NoError(t, err)
	_, err = other.Commit(t.Context(), u, store.Record{TaskID: "t-desk", Request: panda})
	require.NoError(t, err)

	e.clock.add(time.Minute)
	for _, c := range []struct {
		p    people.Person
		want string
	}{{alice, "t-alice"}, {bob, "t-bob"}, {people.Person{}, "t-desk"}} {
		for _, h := range []store.Store{s, other} {
			dup, err := h.Reserve(noWait(t), panda, as(c.p, p))
			require.NoError(t, err)
			require.NotNil(t, dup.Existing, "%q", c.p.Name)
			assert.Equal(t, c.want, dup.Existing.TaskID, "each person gets their own task")
			assert.Equal(t, c.p.Name, dup.Existing.Owner)
		}
	}
	carol, err := s.Reserve(noWait(t), panda, as(people.Person{Name: "carol"}, p))
	require.NoError(t, err)
	assert.Nil(t, carol.Existing, "nobody else's task answers carol")
	assert.Equal(t, 8, usage(t, other, nil).Today)
}

func listFiltersByOwner(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	// Oldest first; bob's are the newest, so a limit on alice's list must
	// look past them.
	owners := []string{"alice", "", "alice", "bob", "alice", "bob", "bob"}
	for i, owner := range owners {
		h := []store.Store{s, other}[i%2]
		id := fmt.Sprintf("t%d", i)
		if i%3 == 0 { // some through a reservation, some written directly
			res, err := h.Reserve(noWait(t), client.Request{Text: id, Num: 1}, store.Policy{Person: people.Person{Name: owner}})
			require.NoError(t, err)
			_, err = h.Commit(t.Context(), res, store.Record{TaskID: id})
			require.NoError(t, err)
		} else {
			_, err := h.Update(t.Context(), id, func(r *store.Record) { r.Owner = owner })
			require.NoError(t, err)
		}
		e.clock.add(time.Second)
	}
	for _, h := range []store.Store{s, other} {
		for _, c := range []struct {
			owner string
			limit int
			want  []string
		}{
			{"alice", 0, []string{"t4", "t2", "t0"}},
			{"alice", 2, []string{"t4", "t2"}},
			{"alice", 1, []string{"t4"}},
			{"bob", 0, []string{"t6", "t5", "t3"}},
			{"carol", 0, nil},
			{"", 0, []string{"t6", "t5", "t4", "t3", "t2", "t1", "t0"}},
			{"", 3, []string{"t6", "t5", "t4"}},
		} {
			list, err := h.List(t.Context(), c.owner, c.limit)
			require.NoError(t, err)
			assert.Equal(t, c.want, nilIfEmpty(ids(list)), "List(%q, %d)", c.owner, c.limit)
			for _, r := range list {
				if c.owner != "" {
					assert.Equal(t, c.owner, r.Owner)
				}
			}
		}
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func personLimit(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	p := as(alice, store.Policy{DedupWindow: time.Hour})
	r1, err := s.Reserve(noWait(t), client.Request{Text: "a", Num: 2}, p)
	require.NoError(t, err)
	assert.Equal(t, store.Usage{Today: 2, Person: personUsage("alice", 2, new(3))}, r1.Usage)
	commitID(t, s, r1, "t-a")
	r2, err := other.Reserve(noWait(t), client.Request{Text: "b", Num: 1}, p)
	require.NoError(t, err, "exactly reaching one's limit is allowed")
	assert.Equal(t, store.Usage{Today: 3, Person: personUsage("alice", 3, new(3))}, r2.Usage)

	_, err = s.Reserve(noWait(t), client.Request{Text: "c", Num: 1}, p)
	var le *store.LimitError
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Person, "the person's own limit refused it")
	assert.Equal(t, 1, le.Requested)
	assert.Equal(t, store.Usage{Today: 3, Person: personUsage("alice", 3, new(3))}, le.Usage)
	assert.Contains(t, le.Error(), "alice")

	// Others are not bound by alice's limit, and their images are not hers.
	rb, err := s.Reserve(noWait(t), client.Request{Text: "c", Num: 4}, as(bob, store.Policy{}))
	require.NoError(t, err)
	assert.Equal(t, store.Usage{Today: 7, Person: personUsage("bob", 4, nil)}, rb.Usage)
	commitID(t, s, rb, "t-bob")

	// A duplicate costs nothing, even at the limit.
	dup, err := other.Reserve(noWait(t), client.Request{Text: "a", Num: 2}, p)
	require.NoError(t, err)
	require.NotNil(t, dup.Existing)
	assert.Equal(t, "t-a", dup.Existing.TaskID)

	// Released images are given back to the person; abandoned ones still count.
	require.NoError(t, other.Release(t.Context(), r2))
	r3, err := s.Reserve(noWait(t), client.Request{Text: "d", Num: 1}, p)
	require.NoError(t, err)
	require.NoError(t, s.Abandon(t.Context(), r3))
	_, err = s.Reserve(noWait(t), client.Request{Text: "e", Num: 1}, p)
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Person)
	assert.Equal(t, 3, le.Usage.Person.Today)

	e.clock.add(12 * time.Hour) // the next day
	r4, err := other.Reserve(noWait(t), client.Request{Text: "e", Num: 3}, p)
	require.NoError(t, err, "a new day, a new allowance")
	assert.Equal(t, 3, r4.Usage.Person.Today)
}

func personLimitZeroRefusesEverything(t *testing.T, e *env) {
	s := e.handle(t)
	free := people.Person{Name: "dave"}
	res, err := s.Reserve(noWait(t), panda, as(free, store.Policy{DedupWindow: time.Hour}))
	require.NoError(t, err)
	commitID(t, s, res, "t-dave")

	// dave's limit is now 0: he may not submit, not even what he asked before.
	blocked := people.Person{Name: "dave", Limit: new(0)}
	for _, req := range []client.Request{panda, {Text: "new", Num: 1}} {
		_, err := s.Reserve(noWait(t), req, as(blocked, store.Policy{DedupWindow: time.Hour, DailyLimit: new(100)}))
		var le *store.LimitError
		require.ErrorAs(t, err, &le, "%+v", req)
		assert.True(t, le.Person)
		assert.Equal(t, store.Usage{Today: 2, Limit: new(100), Person: personUsage("dave", 2, new(0))}, le.Usage)
	}
	assert.Equal(t, 2, usage(t, s, nil).Today, "refusals reserve nothing")
}

func unlimitedPersonHasNoOwnLimit(t *testing.T, e *env) {
	s := e.handle(t)
	// No Limit (nil) is no personal limit.
	p := store.Policy{Person: people.Person{Name: "erin"}}
	for i := range 3 {
		r, err := s.Reserve(noWait(t), client.Request{Text: fmt.Sprint(i), Num: 5}, p)
		require.NoError(t, err)
		assert.Equal(t, personUsage("erin", 5*(i+1), nil), r.Usage.Person)
	}
}

func teamAndPersonLimitsTogether(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	team := store.Policy{DailyLimit: new(5)}
	ra, err := s.Reserve(noWait(t), client.Request{Text: "a", Num: 3}, as(alice, team))
	require.NoError(t, err)
	assert.Equal(t, store.Usage{Today: 3, Limit: new(5), Person: personUsage("alice", 3, new(3))}, ra.Usage)
	rb, err := other.Reserve(noWait(t), client.Request{Text: "b", Num: 2}, as(bob, team))
	require.NoError(t, err)
	assert.Equal(t, store.Usage{Today: 5, Limit: new(5), Person: personUsage("bob", 2, nil)}, rb.Usage)

	var le *store.LimitError
	_, err = s.Reserve(noWait(t), client.Request{Text: "c", Num: 1}, as(bob, team))
	require.ErrorAs(t, err, &le)
	assert.False(t, le.Person, "bob has no limit of his own: the team's refused it")
	assert.Equal(t, store.Usage{Today: 5, Limit: new(5), Person: personUsage("bob", 2, nil)}, le.Usage)

	// Both limits passed: the person's own is the one reported.
	_, err = other.Reserve(noWait(t), client.Request{Text: "c", Num: 1}, as(alice, team))
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Person)

	// alice's limit left room, the team's did not.
	require.NoError(t, s.Release(t.Context(), ra))
	rb2, err := s.Reserve(noWait(t), client.Request{Text: "d", Num: 2}, as(bob, team))
	require.NoError(t, err)
	assert.Equal(t, 4, rb2.Usage.Today)
	_, err = other.Reserve(noWait(t), client.Request{Text: "e", Num: 2}, as(alice, team))
	require.ErrorAs(t, err, &le)
	assert.False(t, le.Person, "alice may still ask for 3 herself, but the team has 1 left")
	assert.Equal(t, store.Usage{Today: 4, Limit: new(5), Person: personUsage("alice", 0, new(3))}, le.Usage)
	r, err := other.Reserve(noWait(t), client.Request{Text: "e", Num: 1}, as(alice, team))
	require.NoError(t, err)
	assert.Equal(t, store.Usage{Today: 5, Limit: new(5), Person: personUsage("alice", 1, new(3))}, r.Usage)
}

func usageWithAPerson(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	for _, c := range []struct {
		p   people.Person
		req client.Request
	}{{alice, client.Request{Text: "a", Num: 2}}, {bob, client.Request{Text: "b", Num: 1}}, {people.Person{}, client.Request{Text: "c", Num: 4}}} {
		r, err := s.Reserve(noWait(t), c.req, as(c.p, store.Policy{}))
		require.NoError(t, err)
		commitID(t, s, r, "t-"+c.req.Text)
	}
	assert.Equal(t, store.Usage{Today: 7, Limit: new(10), Person: personUsage("alice", 2, new(3))},
		usageOf(t, other, as(alice, store.Policy{DailyLimit: new(10)})))
	assert.Equal(t, store.Usage{Today: 7, Person: personUsage("bob", 1, nil)},
		usageOf(t, other, as(bob, store.Policy{})))
	assert.Equal(t, store.Usage{Today: 7, Person: personUsage("carol", 0, new(5))},
		usageOf(t, s, as(people.Person{Name: "carol", Limit: new(5)}, store.Policy{})))
	assert.Equal(t, store.Usage{Today: 7, Limit: new(10)}, usageOf(t, s, store.Policy{DailyLimit: new(10)}),
		"the unnamed person has no share of their own")
}

func spendingPerOwnerTodayAndMonth(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	spend := func(owner string, n int, at time.Time, end string) {
		t.Helper()
		e.clock.set(at)
		r, err := s.Reserve(noWait(t), client.Request{Text: fmt.Sprint(owner, at), Num: n}, store.Policy{Person: people.Person{Name: owner}})
		require.NoError(t, err)
		switch end {
		case "commit":
			commitID(t, s, r, fmt.Sprint("t-", owner, "-", at.Unix()))
		case "release":
			require.NoError(t, s.Release(t.Context(), r))
		case "abandon":
			require.NoError(t, s.Abandon(t.Context(), r))
		}
	}
	spending := func() []store.Spend {
		t.Helper()
		sp, err := other.Spending(t.Context())
		require.NoError(t, err)
		return sp
	}
	at := func(month time.Month, day, hour, minute int) time.Time {
		return time.Date(2026, month, day, hour, minute, 0, 0, e.loc)
	}
	assert.Empty(t, spending())

	spend("alice", 1, at(10, 31, 23, 50), "commit") // last month
	spend("alice", 2, at(11, 1, 0, 10), "commit")   // the first minutes of this month
	spend("bob", 4, at(11, 15, 12, 0), "commit")
	spend("alice", 1, at(11, 30, 9, 0), "commit")
	spend("", 3, at(11, 30, 10, 0), "abandon")    // may have been billed: counts
	spend("bob", 5, at(11, 30, 11, 0), "release") // billed nothing
	spend("carol", 2, at(11, 30, 11, 30), "")     // no outcome yet: counts
	e.clock.set(at(11, 30, 12, 0))
	assert.Equal(t, []store.Spend{
		{Owner: "", Today: 3, Month: 3},
		{Owner: "alice", Today: 1, Month: 3},
		{Owner: "bob", Today: 0, Month: 4},
		{Owner: "carol", Today: 2, Month: 2},
	}, spending(), "sorted by owner")

	e.clock.set(at(12, 1, 0, 30)) // a new month
	assert.Empty(t, spending(), "nothing yet this month")
	spend("bob", 2, at(12, 1, 0, 40), "commit")
	assert.Equal(t, []store.Spend{{Owner: "bob", Today: 2, Month: 2}}, spending())
}

// zoneFollowsTheLocation: the day of the daily limit and the month of
// Spending are the store's zone's, whatever zone the clock's times are in.
// In Asia/Shanghai (UTC+8), 23:30 UTC is already the next day; in
// Pacific/Honolulu (UTC-10) the day ends at 10:00 UTC.
func zoneFollowsTheLocation(t *testing.T, e *env) {
	s, other := e.handle(t), e.handle(t)
	at := func(month time.Month, day, hour, minute int) time.Time {
		// Given to the store in UTC: the store must count in its own zone.
		return time.Date(2026, month, day, hour, minute, 0, 0, e.loc).UTC()
	}
	p := as(bob, store.Policy{DailyLimit: new(2)})
	e.clock.set(at(11, 27, 23, 30))
	r, err := s.Reserve(noWait(t), client.Request{Text: "late", Num: 2}, p)
	require.NoError(t, err)
	commitID(t, s, r, "t-late")
	e.clock.set(at(11, 27, 23, 59))
	_, err = other.Reserve(noWait(t), client.Request{Text: "still today", Num: 1}, p)
	var le *store.LimitError
	require.ErrorAs(t, err, &le, "the same day in the store's zone")

	// An hour later it is the next day in the store's zone, though (for
	// both zones here) the same day in UTC and, for one of them at least,
	// in the local zone.
	e.clock.set(at(11, 28, 0, 30))
	assert.Equal(t, store.Usage{Today: 0, Limit: new(2), Person: personUsage("bob", 0, nil)}, usageOf(t, other, p))
	r, err = other.Reserve(noWait(t), client.Request{Text: "early", Num: 2}, p)
	require.NoError(t, err, "a new day in the store's zone")
	commitID(t, other, r, "t-early")

	// The month, too.
	e.clock.set(at(11, 30, 23, 30))
	r, err = s.Reserve(noWait(t), client.Request{Text: "end of month", Num: 1}, store.Policy{})
	require.NoError(t, err)
	commitID(t, s, r, "t-eom")
	e.clock.set(at(12, 1, 0, 30))
	r, err = s.Reserve(noWait(t), client.Request{Text: "new month", Num: 1}, store.Policy{})
	require.NoError(t, err)
	commitID(t, s, r, "t-nm")
	sp, err := other.Spending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []store.Spend{{Owner: "", Today: 1, Month: 1}}, sp)
}

// concurrentPeopleAcrossHandles: distinct requests of three people from
// many goroutines over three handles never pass the team's limit nor a
// person's, and are counted one at a time.
func concurrentPeopleAcrossHandles(t *testing.T, e *env) {
	handles := []store.Store{e.handle(t), e.handle(t), e.handle(t)}
	const team, n = 9, 30
	persons := []people.Person{
		{Name: "alice", Limit: new(3)},
		{Name: "bob", Limit: new(4)},
		{Name: "carol"},
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts []int
		mine   = map[string][]int{}
	)
	begin := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, who := handles[i%len(handles)], persons[i%len(persons)]
			<-begin
			r, err := h.Reserve(context.Background(), client.Request{Text: fmt.Sprint("request ", i), Num: 1},
				as(who, store.Policy{DedupWindow: time.Hour, DailyLimit: new(team)}))
			var le *store.LimitError
			if errors.As(err, &le) {
				if !assert.NotNil(t, le.Usage.Person) {
					return
				}
				if le.Person {
					assert.Equal(t, *who.Limit, le.Usage.Person.Today, "refused by %s's limit", who.Name)
				} else {
					assert.Equal(t, team, le.Usage.Today)
				}
				return
			}
			if !assert.NoError(t, err) {
				return
			}
			_, err = h.Commit(t.Context(), r, store.Record{TaskID: fmt.Sprintf("t-%d", i)})
			assert.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			counts = append(counts, r.Usage.Today)
			mine[who.Name] = append(mine[who.Name], r.Usage.Person.Today)
		}()
	}
	close(begin)
	wg.Wait()
	sort.Ints(counts)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, counts, "the team's limit is reached exactly, one at a time")
	for _, who := range persons {
		got := mine[who.Name]
		sort.Ints(got)
		for i, c := range got {
			assert.Equal(t, i+1, c, "%s's images are counted one at a time", who.Name)
		}
		if who.Limit != nil {
			assert.LessOrEqual(t, len(got), *who.Limit, "%s stays within her limit", who.Name)
		}
		list, err := handles[0].List(t.Context(), who.Name, 0)
		require.NoError(t, err)
		assert.Len(t, list, len(got))
	}
	// alice and bob have 10 requests each, carol 10: at most 3+4 go to
	// alice and bob, so carol has at least 2 of the 9.
	assert.GreaterOrEqual(t, len(mine["carol"]), 2)
	assert.Equal(t, team, usage(t, handles[1], nil).Today)
}

// concurrentIdenticalRequestsOfTwoPeople: two people ask the same thing at
// once, many times over three handles: one reservation each, and each
// person's callers get that person's task.
func concurrentIdenticalRequestsOfTwoPeople(t *testing.T, e *env) {
	handles := []store.Store{e.handle(t), e.handle(t), e.handle(t)}
	persons := []people.Person{alice, bob}
	const n = 12
	reserved, answers := raceIdentical(t, handles, persons, n)
	assert.Equal(t, map[string]int{"alice": 1, "bob": 1}, reserved, "one reservation per person")
	for _, who := range persons {
		got := answers[who.Name]
		require.Len(t, got, n/2)
		for _, a := range got {
			assert.Equal(t, got[0], a, "every caller of %s gets %s's one task", who.Name, who.Name)
		}
	}
	assert.NotEqual(t, answers["alice"][0], answers["bob"][0])
	assert.Equal(t, 4, usage(t, handles[0], nil).Today)
}
