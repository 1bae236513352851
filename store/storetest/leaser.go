package storetest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"aipaint-mcp/store"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunLeaser runs the suite of store.Leaser: one holder follows a pending
// task at a time, across handles (replicas). Every handle open makes must
// implement store.Leaser. Leases are timed by the store's clock (now).
func RunLeaser(t *testing.T, open Opener) {
	for _, c := range leaserCases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: start}
			c.test(t, &env{clock: clk, loc: time.Local, open: open(t, clk.now, time.Local)})
		})
	}
}

var leaserCases = []testCase{
	{name: "ClaimIsExclusiveAcrossHandles", test: claimIsExclusiveAcrossHandles},
	{name: "ExpiryLetsAnotherHolderClaim", test: expiryLetsAnotherHolderClaim},
	{name: "RenewReportsLostLeases", test: renewReportsLostLeases},
	{name: "UnclaimFrees", test: unclaimFrees},
	{name: "ClaimPendingSkipsLiveLeases", test: claimPendingSkipsLiveLeases},
	{name: "ConcurrentClaimPendingNeverSharesATask", test: concurrentClaimPendingNeverSharesATask},
	{name: "HoldersCountsLiveLeases", test: holdersCountsLiveLeases},
}

func holders(t *testing.T, l store.Leaser) int {
	t.Helper()
	n, err := l.Holders(t.Context())
	require.NoError(t, err)
	return n
}

func holdersCountsLiveLeases(t *testing.T, e *env) {
	a, b := leaser(t, e), leaser(t, e)
	assert.Zero(t, holders(t, a))
	pending(t, e, "t1", "t2", "t3")
	require.True(t, claim(t, a, "t1", "A"))
	require.True(t, claim(t, a, "t2", "A"))
	assert.Equal(t, 1, holders(t, b), "one holder, however many tasks")
	e.clock.add(ttl / 2)
	require.True(t, claim(t, b, "t3", "B"))
	assert.Equal(t, 2, holders(t, a))
	require.NoError(t, a.Unclaim(t.Context(), "t1", "A"))
	assert.Equal(t, 2, holders(t, a), "A still holds t2")
	e.clock.add(ttl/2 + time.Second)
	assert.Equal(t, 1, holders(t, a), "A's leases expired; B's is live")
	_, err := e.handle(t).Update(t.Context(), "t3", func(r *store.Record) { r.Status = store.StatusDone })
	require.NoError(t, err)
	assert.Zero(t, holders(t, a), "a finished task's lease polls nothing")
}

const ttl = time.Minute

func leaser(t *testing.T, e *env) store.Leaser {
	t.Helper()
	s := e.handle(t)
	l, ok := s.(store.Leaser)
	require.True(t, ok, "%T does not implement store.Leaser", s)
	return l
}

// pending records pending tasks, each submitted one second after the last.
func pending(t *testing.T, e *env, ids ...string) {
	t.Helper()
	s := e.handle(t)
	for _, id := range ids {
		at := e.clock.now()
		_, err := s.Update(t.Context(), id, func(r *store.Record) { r.SubmittedAt, r.Request = at, panda })
		require.NoError(t, err)
		e.clock.add(time.Second)
	}
}

func claim(t *testing.T, l store.Leaser, taskID, holder string) bool {
	t.Helper()
	ok, err := l.Claim(t.Context(), taskID, holder, ttl)
	require.NoError(t, err)
	return ok
}

func claimIsExclusiveAcrossHandles(t *testing.T, e *env) {
	a, b := leaser(t, e), leaser(t, e)
	pending(t, e, "t1", "t2")
	assert.True(t, claim(t, a, "t1", "A"))
	assert.False(t, claim(t, b, "t1", "B"), "A holds it")
	assert.False(t, claim(t, a, "t1", "B"), "whichever handle B asks through")
	assert.True(t, claim(t, b, "t1", "A"), "the holder may claim again (renewing), through any handle")
	assert.True(t, claim(t, b, "t2", "B"), "leases are per task")

	_, err := a.Claim(t.Context(), "unknown", "A", ttl)
	require.ErrorIs(t, err, store.ErrNotFound, "only stored tasks are leased")
}

func expiryLetsAnotherHolderClaim(t *testing.T, e *env) {
	a, b := leaser(t, e), leaser(t, e)
	pending(t, e, "t1")
	require.True(t, claim(t, a, "t1", "A"))
	e.clock.add(ttl - time.Second)
	assert.False(t, claim(t, b, "t1", "B"), "still live")
	require.True(t, claim(t, a, "t1", "A"), "renewed for another ttl")
	e.clock.add(ttl - time.Second)
	assert.False(t, claim(t, b, "t1", "B"), "the renewal counts from when it was made")
	e.clock.add(2 * time.Second)
	assert.True(t, claim(t, b, "t1", "B"), "an expired lease is free")
	assert.False(t, claim(t, a, "t1", "A"), "and now B holds it")
}

func renewReportsLostLeases(t *testing.T, e *env) {
	a, b := leaser(t, e), leaser(t, e)
	pending(t, e, "t1", "t2", "t3")
	for _, id := range []string{"t1", "t2", "t3"} {
		require.True(t, claim(t, a, id, "A"))
	}
	lost, err := a.Renew(t.Context(), "A", []string{"t1", "t2", "t3"}, ttl)
	require.NoError(t, err)
	assert.Empty(t, lost)

	e.clock.add(ttl / 2)
	lost, err = b.Renew(t.Context(), "A", []string{"t1", "t3"}, ttl) // t2 is not renewed
	require.NoError(t, err)
	assert.Empty(t, lost)
	e.clock.add(ttl/2 + time.Second)
	require.True(t, claim(t, b, "t2", "B"), "t2's lease ran out")
	assert.False(t, claim(t, b, "t1", "B"), "t1's was renewed")

	require.NoError(t, a.Unclaim(t.Context(), "t3", "A"))
	lost, err = a.Renew(t.Context(), "A", []string{"t1", "t2", "t3", "unknown"}, ttl)
	require.NoError(t, err)
	sort.Strings(lost)
	assert.Equal(t, []string{"t2", "t3", "unknown"}, lost, "taken by B, let go, never held")
	lost, err = a.Renew(t.Context(), "A", nil, ttl)
	require.NoError(t, err)
	assert.Empty(t, lost)

	// A lease that ran out but that nobody took is still its holder's to renew.
	e.clock.add(2 * ttl)
	lost, err = a.Renew(t.Context(), "A", []string{"t1"}, ttl)
	require.NoError(t, err)
	assert.Empty(t, lost)
	assert.False(t, claim(t, b, "t1", "B"), "renewed")
}

func unclaimFrees(t *testing.T, e *env) {
	a, b := leaser(t, e), leaser(t, e)
	pending(t, e, "t1")
	require.True(t, claim(t, a, "t1", "A"))
	require.NoError(t, b.Unclaim(t.Context(), "t1", "B"), "letting go of what one does not hold is no error")
	assert.False(t, claim(t, b, "t1", "B"), "and changes nothing")
	require.NoError(t, a.Unclaim(t.Context(), "t1", "A"))
	assert.True(t, claim(t, b, "t1", "B"), "free once its holder lets go")
	require.NoError(t, a.Unclaim(t.Context(), "unknown", "A"))

	// A lease does not change the task.
	got, err := e.handle(t).Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, store.StatusPending, got.Status)
	assert.Equal(t, panda, got.Request)
}

func claimPendingSkipsLiveLeases(t *testing.T, e *env) {
	a, b := leaser(t, e), leaser(t, e)
	s := e.handle(t)
	pending(t, e, "old")
	since := e.clock.now()
	pending(t, e, "p1", "p2", "p3", "p4", "done", "failed")
	for id, st := range map[string]store.Status{"done": store.StatusDone, "failed": store.StatusFailed} {
		_, err := s.Update(t.Context(), id, func(r *store.Record) { r.Status = st })
		require.NoError(t, err)
	}
	require.True(t, claim(t, b, "p2", "X"))

	got, err := a.ClaimPending(t.Context(), "A", since, ttl, 2)
	require.NoError(t, err)
	require.Len(t, got, 2, "at most max")
	rest, err := a.ClaimPending(t.Context(), "A", since, ttl, 10)
	require.NoError(t, err)
	claimed := append(ids(got), ids(rest)...)
	assert.ElementsMatch(t, []string{"p1", "p3", "p4"}, claimed,
		"pending, submitted at or after since, not held by another: each once")
	for _, r := range append(got, rest...) {
		assert.Equal(t, store.StatusPending, r.Status)
		assert.Equal(t, panda, r.Request, "whole records")
	}
	for _, id := range claimed {
		assert.False(t, claim(t, b, id, "B"), "%s is A's now", id)
	}
	none, err := b.ClaimPending(t.Context(), "B", since, ttl, 10)
	require.NoError(t, err)
	assert.Empty(t, none, "every pending task has a live lease")

	e.clock.add(ttl + time.Second)
	lost, err := a.Renew(t.Context(), "A", []string{"p1"}, ttl)
	require.NoError(t, err)
	assert.Empty(t, lost)
	later, err := b.ClaimPending(t.Context(), "B", since, ttl, 10)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"p2", "p3", "p4"}, ids(later), "expired leases are free again; p1's was renewed")
	all, err := b.ClaimPending(t.Context(), "B", time.Time{}, ttl, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"old"}, ids(all), "a zero since reaches every pending task")
}

// concurrentClaimPendingNeverSharesATask: three handles, each with holders
// claiming in a loop, share out the pending tasks: every task once.
func concurrentClaimPendingNeverSharesATask(t *testing.T, e *env) {
	handles := []store.Leaser{leaser(t, e), leaser(t, e), leaser(t, e)}
	var all []string
	for i := range 30 {
		all = append(all, fmt.Sprintf("t%02d", i))
	}
	pending(t, e, all...)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[string][]string{} // task -> holders that claimed it
	)
	begin := make(chan struct{})
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, holder := handles[i%len(handles)], fmt.Sprint("holder-", i)
			<-begin
			for {
				rs, err := h.ClaimPending(t.Context(), holder, time.Time{}, ttl, 3)
				if !assert.NoError(t, err) || len(rs) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rs {
					got[r.TaskID] = append(got[r.TaskID], holder)
				}
				mu.Unlock()
			}
		}()
	}
	close(begin)
	wg.Wait()
	assert.Len(t, got, len(all), "every pending task was claimed")
	for id, holders := range got {
		assert.Len(t, holders, 1, "%s claimed by %v", id, holders)
	}
}
