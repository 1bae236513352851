package store

import (
	"context"
	"errors"
	"time"

	"aipaint-mcp/client"
)

// Observe wraps st so that failed reports every failure of the store by the
// method that failed (for a metric an operator pages on): not the answers
// that are no failure (ErrNotFound, a *LimitError) nor a call whose
// caller's context ended. A store that runs out of its own time (a database
// that does not answer: the connect timeout, the store's bound on a call)
// has failed, though its error is a context.DeadlineExceeded. The wrapper
// is a Leaser when st is one, and a Pinger (which reports nothing for a
// store that is not one).
func Observe(st Store, failed func(method string)) Store {
	o := observed{st: st, failed: failed}
	if l, ok := st.(Leaser); ok {
		return observedLeaser{observed: o, l: l}
	}
	return o
}

type observed struct {
	st     Store
	failed func(method string)
}

func (o observed) note(ctx context.Context, method string, err error) {
	var limit *LimitError
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.As(err, &limit), ctx.Err() != nil:
		return
	}
	o.failed(method)
}

func (o observed) Reserve(ctx context.Context, req client.Request, p Policy) (Reservation, error) {
	r, err := o.st.Reserve(ctx, req, p)
	o.note(ctx, "reserve", err)
	return r, err
}

func (o observed) Commit(ctx context.Context, res Reservation, r Record) (Record, error) {
	rec, err := o.st.Commit(ctx, res, r)
	o.note(ctx, "commit", err)
	return rec, err
}

func (o observed) Release(ctx context.Context, res Reservation) error {
	err := o.st.Release(ctx, res)
	o.note(ctx, "release", err)
	return err
}

func (o observed) Abandon(ctx context.Context, res Reservation) error {
	err := o.st.Abandon(ctx, res)
	o.note(ctx, "abandon", err)
	return err
}

func (o observed) Get(ctx context.Context, taskID string) (Record, error) {
	r, err := o.st.Get(ctx, taskID)
	o.note(ctx, "get", err)
	return r, err
}

func (o observed) Update(ctx context.Context, taskID string, f func(*Record)) (Record, error) {
	r, err := o.st.Update(ctx, taskID, f)
	o.note(ctx, "update", err)
	return r, err
}

func (o observed) List(ctx context.Context, owner string, limit int) ([]Record, error) {
	r, err := o.st.List(ctx, owner, limit)
	o.note(ctx, "list", err)
	return r, err
}

func (o observed) UpdatedSince(ctx context.Context, since time.Time) ([]Record, error) {
	r, err := o.st.UpdatedSince(ctx, since)
	o.note(ctx, "updated_since", err)
	return r, err
}

func (o observed) Usage(ctx context.Context, p Policy) (Usage, error) {
	u, err := o.st.Usage(ctx, p)
	o.note(ctx, "usage", err)
	return u, err
}

func (o observed) Spending(ctx context.Context) ([]Spend, error) {
	s, err := o.st.Spending(ctx)
	o.note(ctx, "spending", err)
	return s, err
}

func (o observed) Close() error { return o.st.Close() }

// Ping is the store's when it has one; a store on this machine answers nil.
func (o observed) Ping(ctx context.Context) error {
	p, ok := o.st.(Pinger)
	if !ok {
		return nil
	}
	err := p.Ping(ctx)
	o.note(ctx, "ping", err)
	return err
}

type observedLeaser struct {
	observed
	l Leaser
}

func (o observedLeaser) Claim(ctx context.Context, taskID, holder string, ttl time.Duration) (bool, error) {
	ok, err := o.l.Claim(ctx, taskID, holder, ttl)
	o.note(ctx, "claim", err)
	return ok, err
}

func (o observedLeaser) ClaimPending(ctx context.Context, holder string, since time.Time, ttl time.Duration, max int) ([]Record, error) {
	r, err := o.l.ClaimPending(ctx, holder, since, ttl, max)
	o.note(ctx, "claim_pending", err)
	return r, err
}

func (o observedLeaser) Renew(ctx context.Context, holder string, taskIDs []string, ttl time.Duration) ([]string, error) {
	lost, err := o.l.Renew(ctx, holder, taskIDs, ttl)
	o.note(ctx, "renew", err)
	return lost, err
}

func (o observedLeaser) Unclaim(ctx context.Context, taskID, holder string) error {
	err := o.l.Unclaim(ctx, taskID, holder)
	o.note(ctx, "unclaim", err)
	return err
}

func (o observedLeaser) Holders(ctx context.Context) (int, error) {
	n, err := o.l.Holders(ctx)
	o.note(ctx, "holders", err)
	return n, err
}
