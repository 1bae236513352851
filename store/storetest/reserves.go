package storetest

import (
	"context"
	"sync/atomic"

	"aipaint-mcp/client"
	"aipaint-mcp/store"
)

// Reserves is a store that counts the calls that reached its Reserve: a
// test waits for a call to be waiting behind a reservation (Entered)
// instead of sleeping and hoping it got there.
type Reserves struct {
	store.Store
	entered atomic.Int32
}

func (r *Reserves) Reserve(ctx context.Context, req client.Request, p store.Policy) (store.Reservation, error) {
	r.entered.Add(1)
	return r.Store.Reserve(ctx, req, p)
}

// Entered is how many calls reached Reserve.
func (r *Reserves) Entered() int { return int(r.entered.Load()) }
