package paint

import (
	"errors"
	"strings"

	"aipaint-mcp/people"
	"aipaint-mcp/store"
)

// The domain types of a task, as the store keeps them: one type of a task
// (Task) with two encodings, the task file (its JSON) and the tool result
// (tools renders it).
type (
	Task  = store.Record
	Image = store.Image
	Usage = store.Usage
	// Person is who asks (from the tokens file): their tasks, their limit.
	// The zero Person is a desktop's single user, who sees every task.
	Person = people.Person
)

// Task statuses.
const (
	StatusPending = store.StatusPending
	StatusDone    = store.StatusDone
	StatusFailed  = store.StatusFailed
)

// ErrUnavailable is what every paid call returns, wrapped in an
// *UnavailableError, while the service is not usable.
var ErrUnavailable = errors.New("not usable")

// UnavailableError says why the paid paths do not work and which settings
// fix it: invalid settings, a store problem, or else not configured (the
// settings to set, when known).
type UnavailableError struct {
	Missing      []string // settings to set (not configured for the API)
	Invalid      string   // invalid settings
	StoreProblem string   // why the task store cannot be used
}

func (e *UnavailableError) Error() string {
	switch {
	case e.Invalid != "":
		return "invalid settings: " + e.Invalid
	case e.StoreProblem != "":
		return "task store unusable: " + e.StoreProblem
	case len(e.Missing) > 0:
		return "not configured: set " + strings.Join(e.Missing, ", ")
	}
	return "not configured"
}

func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// ErrShuttingDown refuses a paid call once Drain has started: nothing was
// submitted or billed.
var ErrShuttingDown = errors.New("shutting down: nothing was submitted")

// ErrBusy ends a call that found every place to pay taken (payParallel)
// until its budget, its client or the server ran out: nothing was reserved,
// submitted or billed.
var ErrBusy = errors.New("busy: nothing was submitted")

// ErrInFlight ends a call that waited, within its budget, behind an
// identical request being submitted (by this process or another): nothing
// was submitted or billed, and calling again returns that task.
var ErrInFlight = errors.New("an identical request is being submitted")

// LimitError refuses a request over the daily image limit; nothing was
// submitted.
type LimitError = store.LimitError

// StoreError is a failure of the task store before anything was submitted
// (or, for check_task on a team server, before anything was shown).
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "task store: " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// UpstreamError is a failure of the paid API. SubmittedTask names the task
// this call created (and paid for) when the failure came after the submit,
// so that it is not paid for again; "" otherwise.
type UpstreamError struct {
	Err           error // the upstream client's *client.APIError, or what ended the wait
	SubmittedTask string
}

func (e *UpstreamError) Error() string { return e.Err.Error() }
func (e *UpstreamError) Unwrap() error { return e.Err }

// TaskFailedError answers check_task for a task the API no longer knows.
type TaskFailedError struct{ Task Task }

func (e *TaskFailedError) Error() string {
	return "task " + e.Task.TaskID + " failed: " + e.Task.Error
}
