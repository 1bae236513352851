package wait

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/client/clienttest"
)

// fastBackoff polls every millisecond or two, so waits take a few ms.
var fastBackoff = Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Factor: 2}

func pollRecorder() (*[]Poll, func(Poll)) {
	var polls []Poll
	return &polls, func(p Poll) { polls = append(polls, p) }
}

func TestWaitDoneAfterPolls(t *testing.T) {
	const pending = 4
	u := clienttest.Start(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= pending {
			clienttest.JSON(200, clienttest.PendingBody)(n, w, r)
			return
		}
		clienttest.JSON(200, clienttest.DoneBody)(n, w, r)
	})
	p := newTestPoller(t, u)
	polls, onPoll := pollRecorder()
	task, err := p.Wait(t.Context(), "tid", Options{Timeout: time.Minute, Backoff: fastBackoff, OnPoll: onPoll})
	require.NoError(t, err)
	assert.True(t, task.Done)
	assert.Equal(t, "tid", task.TaskID)
	assert.Equal(t, "TN-done", task.TaskNo)
	assert.Equal(t, []string{"https://img.example/1.png", "https://img.example/2.png"}, task.Images)
	assert.Equal(t, pending+1, u.Count())

	require.Len(t, *polls, pending+1, "OnPoll after every query")
	var prev time.Duration
	for i, p := range *polls {
		assert.Equal(t, i+1, p.N)
		assert.GreaterOrEqual(t, p.Elapsed, prev, "elapsed is monotonic")
		prev = p.Elapsed
		assert.NoError(t, p.Err)
		assert.Equal(t, i == pending, p.Task.Done)
		if i < pending {
			assert.Equal(t, "TN-pending", p.Task.TaskNo)
		}
	}
	for _, h := range u.Requests() {
		assert.Equal(t, queryPath, h.Path)
		assert.Equal(t, testAppCode, h.Header.Get(appCodeHdr), "each poll carries the credentials")
	}
}

func TestWaitTimeout(t *testing.T) {
	u := clienttest.Start(t, clienttest.JSON(200, clienttest.PendingBody))
	p := newTestPoller(t, u)
	polls, onPoll := pollRecorder()
	task, err := p.Wait(t.Context(), "tid", Options{Timeout: 30 * time.Millisecond, Backoff: fastBackoff, OnPoll: onPoll})
	require.ErrorIs(t, err, ErrStillPending)
	assert.Equal(t, ErrStillPending, err, "no transient failure to report")
	assert.False(t, task.Done)
	assert.Equal(t, "tid", task.TaskID)
	assert.Equal(t, "TN-pending", task.TaskNo, "the last known state")
	assert.GreaterOrEqual(t, u.Count(), 2)
	assert.Len(t, *polls, u.Count())
}

func TestWaitTimeoutAfterTransientFailure(t *testing.T) {
	u := clienttest.Start(t, clienttest.Seq(clienttest.JSON(200, clienttest.PendingBody), clienttest.JSON(200, clienttest.Business(500, "maintenance"))))
	p := newTestPoller(t, u)
	task, err := p.Wait(t.Context(), "tid", Options{Timeout: 20 * time.Millisecond, Backoff: fastBackoff})
	require.ErrorIs(t, err, ErrStillPending)
	e := apiError(t, err)
	assert.Equal(t, 500, e.Code, "the last failure is reported alongside")
	assert.Equal(t, "TN-pending", task.TaskNo)
}

func TestWaitSurvivesTransientFailures(t *testing.T) {
	u := clienttest.Start(t, clienttest.Seq(
		clienttest.JSON(200, clienttest.PendingBody),
		clienttest.JSON(200, clienttest.Business(500, "maintenance")),
		clienttest.Gateway(502, "APIG.0202", "Backend unavailable", "rid", ""),
		clienttest.Raw(502, "text/html", htmlPage),
		clienttest.Raw(200, "text/plain", "garbage"),
		clienttest.HangUp,
		clienttest.Gateway(429, "APIGW.0308", "throttled", "rid", ""),
		clienttest.JSON(200, clienttest.DoneBody),
	))
	p := newTestPoller(t, u, queryAttempts(5))
	polls, onPoll := pollRecorder()
	task, err := p.Wait(t.Context(), "tid", Options{Timeout: time.Minute, Backoff: fastBackoff, OnPoll: onPoll})
	require.NoError(t, err)
	assert.True(t, task.Done)
	assert.Equal(t, "TN-done", task.TaskNo)
	assert.Equal(t, 8, u.Count(), "one query per poll: Wait does its own retrying")
	require.Len(t, *polls, 8)
	for i, p := range (*polls)[1:7] {
		assert.Error(t, p.Err, "poll %d reports its failure", i+2)
		assert.Equal(t, "TN-pending", p.Task.TaskNo, "poll %d keeps the last known state", i+2)
	}
	assert.NoError(t, (*polls)[7].Err)
}

func TestWaitEndsOnPermanentFailure(t *testing.T) {
	cases := map[string]clienttest.Reply{
		"business 201": clienttest.JSON(200, clienttest.Business(201, "no such task")),
		"gateway 0303": clienttest.Gateway(401, "APIG.0303", "verify signature fail, canonicalRequest:POST|", "rid", ""),
		"gateway 0304": clienttest.Gateway(403, "APIG.0304", "not authorised", "rid", ""),
		"business 400": clienttest.JSON(400, clienttest.Business(400, "bad")),
	}
	for name, fail := range cases {
		t.Run(name, func(t *testing.T) {
			t.Run("at once", func(t *testing.T) {
				u := clienttest.Start(t, fail)
				p := newTestPoller(t, u)
				task, err := p.Wait(t.Context(), "tid", Options{Timeout: time.Minute, Backoff: fastBackoff})
				e := apiError(t, err)
				assert.False(t, e.Retryable)
				assert.NotErrorIs(t, err, ErrStillPending)
				assert.Equal(t, client.Task{TaskID: "tid"}, task)
				assert.Equal(t, 1, u.Count())
			})
			t.Run("after pending polls", func(t *testing.T) {
				u := clienttest.Start(t, clienttest.Seq(clienttest.JSON(200, clienttest.PendingBody), clienttest.JSON(200, clienttest.PendingBody), fail))
				p := newTestPoller(t, u)
				task, err := p.Wait(t.Context(), "tid", Options{Timeout: time.Minute, Backoff: fastBackoff})
				apiError(t, err)
				assert.Equal(t, "TN-pending", task.TaskNo, "the last known state")
				assert.Equal(t, 3, u.Count())
			})
		})
	}
}

func TestWaitCancel(t *testing.T) {
	t.Run("during the pause", func(t *testing.T) {
		u := clienttest.Start(t, clienttest.JSON(200, clienttest.PendingBody))
		p := newTestPoller(t, u)
		ctx, cancel := context.WithCancel(t.Context())
		slow := Backoff{Initial: time.Hour, Max: time.Hour}
		task, err := p.Wait(ctx, "tid", Options{Timeout: time.Hour, Backoff: slow, OnPoll: func(Poll) { cancel() }})
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrStillPending)
		assert.Equal(t, "TN-pending", task.TaskNo)
		assert.Equal(t, 1, u.Count())
	})
	t.Run("during a query", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		u := clienttest.Start(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-r.Context().Done()
		})
		p := newTestPoller(t, u)
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-arrived; cancel() }()
		_, err := p.Wait(ctx, "tid", Options{Timeout: time.Hour, Backoff: fastBackoff})
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, u.Count())
	})
	t.Run("already cancelled", func(t *testing.T) {
		u := clienttest.Start(t, clienttest.JSON(200, clienttest.PendingBody))
		p := newTestPoller(t, u)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.Wait(ctx, "tid", Options{Timeout: time.Hour, Backoff: fastBackoff})
		require.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, u.Count())
	})
	t.Run("caller deadline before the wait's", func(t *testing.T) {
		u := clienttest.Start(t, clienttest.JSON(200, clienttest.PendingBody))
		p := newTestPoller(t, u)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err := p.Wait(ctx, "tid", Options{Timeout: time.Hour, Backoff: fastBackoff})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrStillPending)
	})
}

func TestWaitTimeoutZero(t *testing.T) {
	cases := []struct {
		name  string
		reply clienttest.Reply
		check func(t *testing.T, task client.Task, err error)
	}{
		{"pending", clienttest.JSON(200, clienttest.PendingBody), func(t *testing.T, task client.Task, err error) {
			assert.Equal(t, ErrStillPending, err)
			assert.Equal(t, "TN-pending", task.TaskNo)
		}},
		{"done", clienttest.JSON(200, clienttest.DoneBody), func(t *testing.T, task client.Task, err error) {
			require.NoError(t, err)
			assert.True(t, task.Done)
		}},
		{"transient failure", clienttest.JSON(200, clienttest.Business(500, "maintenance")), func(t *testing.T, task client.Task, err error) {
			require.ErrorIs(t, err, ErrStillPending)
			assert.Equal(t, 500, apiError(t, err).Code)
			assert.Equal(t, client.Task{TaskID: "tid"}, task)
		}},
		{"permanent failure", clienttest.JSON(200, clienttest.Business(201, "gone")), func(t *testing.T, task client.Task, err error) {
			assert.NotErrorIs(t, err, ErrStillPending)
			assert.Equal(t, 201, apiError(t, err).Code)
		}},
	}
	for _, tc := range cases {
		for _, timeout := range []time.Duration{0, -time.Second} {
			t.Run(tc.name+"/"+timeout.String(), func(t *testing.T) {
				u := clienttest.Start(t, tc.reply)
				p := newTestPoller(t, u, queryAttempts(5))
				polls, onPoll := pollRecorder()
				task, err := p.Wait(t.Context(), "tid", Options{Timeout: timeout, Backoff: fastBackoff, OnPoll: onPoll})
				tc.check(t, task, err)
				assert.Equal(t, 1, u.Count(), "exactly one query, not retried")
				if _, permanent := errors.AsType[*client.APIError](err); permanent && !errors.Is(err, ErrStillPending) {
					assert.Empty(t, *polls, "a permanent failure is returned, not reported as progress")
				} else {
					assert.Len(t, *polls, 1)
				}
			})
		}
	}
}

func TestStillPending(t *testing.T) {
	assert.Equal(t, ErrStillPending, stillPending(nil))
	cause := errors.New("cause")
	err := stillPending(cause)
	assert.ErrorIs(t, err, ErrStillPending)
	assert.ErrorIs(t, err, cause)
}

// pendingSince answers a pending task created at created (upstream clock).
func pendingSince(created time.Time) clienttest.Reply {
	return clienttest.JSON(200, fmt.Sprintf(`{"code":200,"msg":"成功","taskNo":"TN-pending","data":{"status":0,"createTime":%q}}`,
		created.In(client.ChinaTime).Format(client.CreateTimeLayout)))
}

func TestWaitWithHint(t *testing.T) {
	t.Run("sparse while the task is young", func(t *testing.T) {
		// Expected in an hour, created now: after the first look, the next
		// one is far off, so within the timeout there is only the last look
		// at the deadline.
		u := clienttest.Start(t, pendingSince(time.Now()))
		p := newTestPoller(t, u)
		_, err := p.Wait(t.Context(), "tid", Options{Timeout: 100 * time.Millisecond, Backoff: fastBackoff, Expect: time.Hour})
		require.ErrorIs(t, err, ErrStillPending)
		assert.Equal(t, 2, u.Count())
	})
	t.Run("the task's age counts from its createTime", func(t *testing.T) {
		// Created two hours ago and expected after one: it is overdue, so
		// polling is at the backoff's pace. Counted from the start of the
		// wait instead, the next look would be at the deadline, a minute on.
		u := clienttest.Start(t, clienttest.Seq(pendingSince(time.Now().Add(-2*time.Hour)), pendingSince(time.Now().Add(-2*time.Hour)),
			clienttest.JSON(200, clienttest.DoneBody)))
		p := newTestPoller(t, u)
		task, err := p.Wait(t.Context(), "tid", Options{Timeout: time.Minute, Backoff: fastBackoff, Expect: time.Hour})
		require.NoError(t, err)
		assert.True(t, task.Done)
		assert.Equal(t, 3, u.Count())
	})
}

// Concurrent waits share the poll rate: with the rate low enough that the
// floor dominates, 20 waits over about a second make a bounded number of
// queries (first looks included), not 20 × their schedule's.
func TestWaitsShareThePollRate(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Raw(200, "", clienttest.PendingBody))
	c, err := client.New(client.Config{SubmitURL: srv.URL + submitPath, QueryURL: srv.URL + queryPath, AppCode: testAppCode,
		MaxConcurrency: 32})
	require.NoError(t, err)
	p := NewPoller(c, PollerOptions{MaxPollRate: 20})
	const waits = 20
	var wg sync.WaitGroup
	for range waits {
		wg.Go(func() {
			_, err := p.Wait(t.Context(), "tid", Options{Timeout: time.Second,
				Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Factor: 1}})
			assert.ErrorIs(t, err, ErrStillPending)
		})
	}
	wg.Wait()
	// Without the floor: about 20 × 100 = 2,000 queries. With it, each wait
	// pauses at least 20/20 s = 1 s once all have started: its first look,
	// a few while the others are still starting, one at the deadline.
	queries := srv.Count()
	t.Logf("%d waits, 1 s, 20 polls/s shared: %d queries", waits, queries)
	assert.LessOrEqual(t, queries, 5*waits, "queries: %d", queries)
	assert.Zero(t, p.waits.Load(), "every wait is counted out")
}

// queries is a Querier answering from a list, then the last answer again.
type queries struct {
	mu      sync.Mutex
	answers []error
	n       int
}

func (q *queries) QueryOnce(ctx context.Context, taskID string) (client.Task, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	err := q.answers[min(q.n, len(q.answers)-1)]
	q.n++
	return client.Task{TaskID: taskID}, err
}

func TestFinalEndsTheWait(t *testing.T) {
	gone := errors.New("recorded as failed")
	q := &queries{answers: []error{errors.New("store unreachable"), nil, Final(gone)}}
	p := NewPoller(q, PollerOptions{MaxPollRate: 1e6})
	_, err := p.Wait(t.Context(), "tid", Options{Timeout: time.Minute, Backoff: fastBackoff})
	require.ErrorIs(t, err, gone)
	assert.NotErrorIs(t, err, ErrStillPending)
	assert.Equal(t, 3, q.n, "a plain failure is polled through, a final one ends the wait at once")
}

func TestOnTick(t *testing.T) {
	now := time.Date(2026, 12, 7, 16, 0, 0, 123_456_789, time.UTC)
	for _, d := range []time.Duration{time.Millisecond, 999 * time.Millisecond} {
		assert.Equal(t, d, onTick(now, d), "a short pause is left alone")
	}
	for _, d := range []time.Duration{time.Second, 1234 * time.Millisecond, 20 * time.Second, 1_876_543_211} {
		got := onTick(now, d)
		assert.GreaterOrEqual(t, got, d, "never shorter")
		assert.Less(t, got-d, pollTick, "less than a tick longer")
		assert.Zero(t, now.Add(got).Sub(now.Add(got).Truncate(pollTick)), "%v ends on the grid", d)
	}
	onGrid := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	assert.Equal(t, 2*time.Second, onTick(onGrid, 2*time.Second), "already on the grid")
}

func TestOnOwnStack(t *testing.T) {
	ran := false
	OnOwnStack(func() { ran = true })
	assert.True(t, ran, "returns once f has run")
	func() {
		defer func() {
			p, ok := recover().(*PanicError)
			require.True(t, ok, "a panic reaches the caller as a *PanicError")
			assert.Equal(t, "boom", p.Value)
			assert.Contains(t, string(p.Stack), "wait.TestOnOwnStack", "with the stack of where it happened")
		}()
		OnOwnStack(func() { panic("boom") })
	}()

	// Goexit in f (FailNow in a test) ends the caller's goroutine too,
	// instead of returning as if f had finished.
	after := make(chan bool, 1)
	go func() {
		defer func() { after <- false }()
		OnOwnStack(runtime.Goexit)
		after <- true
	}()
	assert.False(t, <-after, "the caller went on after f's Goexit")
}
