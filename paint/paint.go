// Package paint is the billing protocol of aipaint-mcp, in one place and
// knowing nothing of MCP. A paid request goes
//
//	reserve (dedup, daily limit) → submit → commit | release | abandon
//	→ wait → record → follow (background) → save
//
// and every task that may have been billed is recorded in the store before
// anything else happens to it: never pay twice, never lose a billed task.
// The tools package parses arguments, calls one method here and renders
// what it gets back.
package paint

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/store"
	"aipaint-mcp/wait"
)

// Upstream is the paid API: the client, or anything that speaks like it.
type Upstream interface {
	wait.Querier
	Submit(ctx context.Context, req client.Request) (client.SubmitResult, error)
	// Query asks once for a task's state (with the client's own retries).
	Query(ctx context.Context, taskID string) (client.Task, error)
}

// Downloader fetches images (save.Client).
type Downloader interface {
	TaskImage(ctx context.Context, dir string, created time.Time, taskID string, n int, rawURL string) (string, error)
	Fetch(ctx context.Context, rawURL string) ([]byte, string, error)
}

// Options are a Service's dependencies and limits, grouped by what they
// are for.
type Options struct {
	// What it talks to. Upstream and Store are nil when the service is
	// not usable; Unusable then says why (missing or invalid settings, or
	// a store that cannot be opened).
	Upstream Upstream
	Store    store.Store
	Unusable *UnavailableError
	// StoreSetting names the setting that chooses the store, for messages
	// (the data folder, or a team server's database URL).
	StoreSetting string
	// Holder names this server among the servers sharing a store.Leaser;
	// "" = host/pid/random.
	Holder string

	// Spending: deduplication window and daily limit (ForceNew unused).
	Policy store.Policy

	// Waiting.
	TaskTimeout time.Duration      // how long after its submit a task is followed
	Backoff     wait.Backoff       // polling schedule; zero = wait.DefaultBackoff
	Estimator   *wait.Estimator    // learns task durations; nil = a fresh one
	Poller      wait.PollerOptions // the shared poll rate of every wait

	// Saving.
	Save      bool       // save finished images to files
	OutputDir string     // where
	Download  Downloader // how; nil = nothing is saved and previews are not fetched
	// SaveBound, when set, is how long a call may spend saving images; by
	// default 10 s and never past 55 s into the call (MCP clients give up
	// at 60 s). The terminal's generate command has a timeout of its own.
	SaveBound time.Duration
	// SaveRetry paces the background retries of failed downloads; zero =
	// DefaultSaveRetry.
	SaveRetry wait.Backoff
	// ResumeSaves makes Resume save the missing images of recently finished
	// tasks too (a process killed before saving them, downloads that kept
	// failing). A server wants it; the terminal's generate command does
	// not: its output folder is the user's --out, not the server's.
	ResumeSaves bool

	Now      func() time.Time // nil = time.Now
	Logger   *slog.Logger
	Observer Observer // nil = nobody
}

// storePollRate bounds the reads per second of the store made by the waits
// for tasks another server polls: far cheaper than a paid query, but one
// database for every replica.
const storePollRate = 200

// Service runs the protocol. Safe for concurrent use.
type Service struct {
	o Options
	// started is when New ran: Resume leaves the tasks submitted since to
	// the calls of this run (a stdio server resumes once its first call
	// has been answered), instead of polling and saving them a second time.
	started time.Time

	// Waiting: the upstream's waits share its poll rate; the waits for a
	// task another server polls (its lease is theirs) read the store.
	upstream *wait.Poller
	stored   *wait.Poller
	leases   *leases // nil unless the store is shared (a store.Leaser)

	// Lifetime. drain ends at the shutdown signal: waits answer at once,
	// new paid calls are refused; submits on the wire run to their end. bg
	// is background work's, ending at Close.
	drain      context.Context
	startDrain context.CancelFunc
	bg         context.Context
	stopBg     context.CancelFunc
	wg         sync.WaitGroup
	mu         sync.Mutex
	active     map[string]bool // background jobs by key
	saving     chan struct{}   // background saves running (saveParallel at most)
	paying     chan struct{}   // calls paying (payParallel at most)

	closeStore  sync.Once
	closeResult error

	// For the gauges: the tasks polled by this server (by id: how many
	// polls), and the calls waiting.
	pollMu  sync.Mutex
	polling map[string]int
	waiting atomic.Int64
}

// New makes a Service. Start its background work with Resume, end it with
// Drain (at the signal) and Close (once the transport has returned).
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nobody{}
	}
	if o.SaveRetry == (wait.Backoff{}) {
		o.SaveRetry = DefaultSaveRetry
	}
	if o.Estimator == nil {
		o.Estimator = wait.NewEstimator()
	}
	switch {
	case o.Unusable != nil:
	case o.Upstream == nil:
		o.Unusable = &UnavailableError{} // not configured
	case o.Store == nil:
		o.Unusable = &UnavailableError{StoreProblem: "no task store"}
	}
	s := &Service{o: o, started: o.Now(), active: map[string]bool{}, polling: map[string]int{}, saving: make(chan struct{}, saveParallel),
		paying: make(chan struct{}, payParallel)}
	if o.Upstream != nil {
		s.upstream = wait.NewPoller(o.Upstream, o.Poller)
	}
	s.drain, s.startDrain = context.WithCancel(context.Background())
	s.bg, s.stopBg = context.WithCancel(context.Background())
	if l, ok := o.Store.(store.Leaser); ok && o.Unusable == nil {
		s.stored = wait.NewPoller(storeReader{s}, wait.PollerOptions{MaxPollRate: storePollRate, Jitter: o.Poller.Jitter})
		s.leases = &leases{store: l, holder: cmp.Or(o.Holder, newHolder()), held: map[string]*hold{},
			rate: s.upstream.MaxPollRate()}
		s.background("leases", s.renewLeases)
	}
	return s
}

// Health is nil while the paid paths can work: the service is usable and
// its store, when it is on a network, answers.
func (s *Service) Health(ctx context.Context) error {
	if err := s.Unavailable(); err != nil {
		return err
	}
	if p, ok := s.o.Store.(store.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// StoreSetting names the setting that chooses the task store.
func (s *Service) StoreSetting() string { return s.o.StoreSetting }

// Unavailable is nil when the paid paths work, else an *UnavailableError
// naming the settings to fix.
func (s *Service) Unavailable() error {
	if s.o.Upstream != nil && s.o.Store != nil {
		return nil
	}
	return s.o.Unusable
}

// DailyLimit is the account's configured daily image limit (nil = none).
func (s *Service) DailyLimit() *int { return s.o.Policy.DailyLimit }

// Drain starts the shutdown: every wait answers "pending" at once with its
// task id, and new paid calls are refused; a submit already on the wire
// runs to its end, because its outcome decides whether the user paid.
func (s *Service) Drain() { s.startDrain() }

// Close stops the background work (pending tasks stay pending in the store,
// resumed by the next start) and then closes the store.
func (s *Service) Close() error {
	s.Drain()
	s.mu.Lock() // no background job starts after this
	s.stopBg()
	s.mu.Unlock()
	s.wg.Wait()
	s.closeStore.Do(func() {
		if s.o.Store != nil {
			s.closeResult = s.o.Store.Close()
		}
	})
	return s.closeResult
}

// draining reports a started shutdown.
func (s *Service) draining() bool { return s.drain.Err() != nil }

// bounded is ctx ended also by the drain.
func (s *Service) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.drain, cancel)
	return ctx, func() { stop(); cancel() }
}

// background runs f once per key at a time, until Close.
func (s *Service) background(key string, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[key] || s.bg.Err() != nil {
		return
	}
	s.active[key] = true
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.active, key)
			s.mu.Unlock()
		}()
		f()
	})
}

// Active reports how many background jobs run (tasks followed, saves).
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}
