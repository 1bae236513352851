package paint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"aipaint-mcp/store"
	"aipaint-mcp/wait"
)

// On a store shared by several servers (a store.Leaser: the team server's
// PostgreSQL), each pending task is polled by one server at a time: the
// one holding its lease. A server renews the leases it holds while it
// polls; a server that dies stops renewing, and within leaseTTL another
// one's sweep claims the task and finishes it.
const (
	leaseTTL   = 20 * time.Second
	leaseRenew = 5 * time.Second
	// sweepEvery is how often a server looks for pending tasks nobody
	// follows; with leaseTTL, a dead server's tasks are taken over within
	// 25 s.
	sweepEvery = 5 * time.Second
	// sweepMax bounds the tasks one sweep takes over.
	sweepMax = 100
	// leaseCallTimeout bounds claiming a lease and letting go of it as the
	// server stops, neither of which is cancelled halfway: the store may
	// not answer, and the lease expires anyway.
	leaseCallTimeout = 5 * time.Second
)

// leases are the leases this server holds, counted per task (a call's
// wait and the background follow of the same task may overlap).
type leases struct {
	store  store.Leaser
	holder string
	rate   float64 // the account's poll rate, shared by the servers
	mu     sync.Mutex
	held   map[string]*hold
}

type hold struct {
	n       int
	cancels map[int]context.CancelFunc // ends the polls that hold it, should it be lost
	next    int
}

// newHolder names this server among those sharing a store.
func newHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// acquire takes the lease of a task for one poller. ok is false when
// another server holds it: that server polls and records, and this one
// reads the store. With no Leaser every task is this server's. A store
// that cannot be asked does not stop the poll: polling twice costs nothing,
// not polling loses the images.
func (s *Service) acquire(ctx context.Context, taskID string) (_ context.Context, release func(), ok bool) {
	l := s.leases
	if l == nil {
		return ctx, func() {}, true
	}
	l.mu.Lock()
	h := l.held[taskID]
	l.mu.Unlock()
	if h == nil {
		if ctx.Err() != nil {
			return ctx, func() {}, true // the poll ends before it starts: nothing to claim
		}
		var got bool
		var err error
		// On its own stack, before a parked wait. Not cancelled halfway:
		// Close cancels ctx and then lets go of the lease, and a claim the
		// store applied after that (a query already sent) would keep the
		// task from the other servers until the lease expired.
		wait.OnOwnStack(func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseCallTimeout)
			defer cancel()
			got, err = l.store.Claim(cctx, taskID, l.holder, leaseTTL)
		})

		if err != nil {
			s.o.Logger.Warn("task store: claiming a task's lease failed; polling it anyway", "task_id", taskID, "err", err)
		} else if !got {
			return ctx, func() {}, false
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	if h = l.held[taskID]; h == nil {
		h = &hold{cancels: map[int]context.CancelFunc{}}
		l.held[taskID] = h
	}
	id := h.next
	h.next++
	h.n++
	h.cancels[id] = cancel
	l.mu.Unlock()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			cancel()
			l.mu.Lock()
			defer l.mu.Unlock()
			delete(h.cancels, id)
			if h.n--; h.n == 0 && l.held[taskID] == h {
				delete(l.held, taskID)
				if s.bg.Err() != nil {
					// Stopping with the task still pending: another server
					// takes it over now rather than when the lease expires.
					// The service's context has ended: letting go must
					// outlive it, for a bounded time.
					uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), leaseCallTimeout)
					err := l.store.Unclaim(uctx, taskID, l.holder)
					ucancel()
					if err != nil {
						s.o.Logger.Warn("task store: letting go of a task's lease failed", "task_id", taskID, "err", err)
					}
				}
			}
		})
	}, true
}

// renewLeases keeps the held leases alive until the Service closes, and
// ends the polls of a lease that was lost (this server stalled past
// leaseTTL and another took the task over).
func (s *Service) renewLeases() {
	l := s.leases
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	renewFailing := false // logged when it starts, not every tick
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
		s.shareRate()
		l.mu.Lock()
		ids := make([]string, 0, len(l.held))
		for id := range l.held {
			ids = append(ids, id)
		}
		l.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		lost, err := l.store.Renew(s.bg, l.holder, ids, leaseTTL)
		if err != nil {
			if !renewFailing {
				s.o.Logger.Warn("task store: renewing task leases failed; another server may take the tasks over", "tasks", len(ids), "err", err)
			}
			renewFailing = true
			continue
		}
		renewFailing = false
		l.mu.Lock()
		for _, id := range lost {
			if h := l.held[id]; h != nil {
				for _, cancel := range h.cancels {
					cancel()
				}
			}
		}
		l.mu.Unlock()
		for _, id := range lost {
			s.o.Logger.Info("another server took over a task", "task_id", id)
		}
	}
}

// shareRate divides the account's poll rate among the servers polling it:
// the upstream is one account, however many servers ask it.
func (s *Service) shareRate() {
	n, err := s.leases.store.Holders(s.bg)
	if err != nil {
		return // keep the last share
	}
	s.upstream.SetMaxPollRate(s.leases.rate / float64(max(n, 1)))
}

// sweep takes over, every sweepEvery, the pending tasks whose lease is free
// or expired (their server died, or stopped), and follows them.
func (s *Service) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	failing := false // logged when it starts and when it ends, not every sweep
	for {
		tasks, err := s.leases.store.ClaimPending(s.bg, s.leases.holder, s.o.Now().Add(-s.o.TaskTimeout), leaseTTL, sweepMax)
		switch {
		case err != nil && !failing:
			s.o.Logger.Warn("task store: looking for unfollowed tasks failed; trying again every "+sweepEvery.String(), "err", err)
		case err == nil && failing:
			s.o.Logger.Info("task store: looking for unfollowed tasks works again")
		}
		failing = err != nil
		if len(tasks) > 0 {
			s.o.Observer.TakenOver(len(tasks))
		}
		for _, task := range tasks {
			s.o.Logger.Info("following a task no server followed", "task_id", task.TaskID)
			s.Follow(task)
		}
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
	}
}
