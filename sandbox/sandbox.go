// Package sandbox is an embedded stand-in for the AI painting upstream: the
// same wire protocol (APIG gateway errors, App authentication, business
// codes, form or JSON bodies), tasks that finish after a configurable delay,
// and real PNG images, so the whole flow runs offline.
package sandbox

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Credentials the sandbox accepts, and the paths of its two APIs.
const (
	AppKey     = "sandbox-app-key"
	AppSecret  = "sandbox-app-secret"
	AppCode    = "sandbox-app-code"
	SubmitPath = "/ai/paint/submit"
	QueryPath  = "/ai/paint/query"
)

// imagePrefix is where the CDN-like image URLs live.
const imagePrefix = "/images/"

// Options configures a Sandbox.
type Options struct {
	// Delay is how long a task stays status 0 after its submit; 0 means it is
	// done at once. The delay is fixed per task when it is submitted.
	Delay time.Duration
	// Now is the clock for task ages and signature skew; nil means time.Now.
	Now func() time.Time
	// Logger receives the sandbox's logs; nil discards them. Nothing is ever
	// written to stdout.
	Logger *slog.Logger
}

// Sandbox is the stand-in upstream. It is an http.Handler; Start also serves
// it on a loopback port.
type Sandbox struct {
	now    func() time.Time
	log    *slog.Logger
	delay  atomic.Int64 // time.Duration
	mux    *http.ServeMux
	tasks  *taskStore
	images imageCache
	stats  counters
	// billable holds the submits (by submitKey) answered in a way that may
	// have billed them, to count the ones sent again.
	billable *fifo[string, struct{}]

	srv       *http.Server
	url       string
	closeOnce sync.Once
	closeErr  error
}

// New returns a Sandbox that is not listening anywhere: use it as a handler
// (for example with httptest.NewServer) or call Start instead.
func New(opts Options) *Sandbox {
	s := &Sandbox{
		now:    opts.Now,
		log:    opts.Logger,
		tasks:  newTaskStore(maxTasks),
		images: newImageCache(maxCachedImages),

		billable: newFIFO[string, struct{}](maxTasks),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.delay.Store(int64(opts.Delay))
	s.mux = s.routes()
	return s
}

func (s *Sandbox) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+SubmitPath, s.api(OpSubmit, s.submit))
	mux.HandleFunc("POST "+QueryPath, s.api(OpQuery, s.query))
	mux.HandleFunc("GET "+imagePrefix+"{taskId}/{file}", s.image)
	// "/" matches every method, so a known path with a wrong method lands
	// here too, and gets the gateway's 0101 rather than the mux's 405.
	mux.HandleFunc("/", s.noSuchAPI)
	return mux
}

// ServeHTTP answers as the whole upstream: gateway, APIs and image host.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderRequestID, newRequestID())
	s.mux.ServeHTTP(w, r)
}

func (s *Sandbox) noSuchAPI(w http.ResponseWriter, r *http.Request) {
	s.WriteGateway(w, "APIG.0101", 0, "")
}

// SetDelay changes the delay of tasks submitted from now on.
func (s *Sandbox) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Stats counts what the sandbox has answered.
type Stats struct {
	Submits      int64 // accepted submits (code 200)
	BilledImages int64 // images billed: the sum of num over accepted submits
	Queries      int64 // authenticated query requests, whatever their answer
	ImageFetches int64 // images served
	AuthFailures int64 // requests rejected with APIG.0303
	// SubmitRequests counts authenticated submit requests, whatever their answer.
	SubmitRequests int64
	// RepeatedSubmits counts submits identical to an earlier one that was
	// billed, or answered in a way that left the caller unsure whether it
	// was (a timeout, a dropped connection, an unreadable answer): a client
	// must never resend those. Submits after a definite rejection (429,
	// business 500/501) are not counted.
	RepeatedSubmits int64
}

type counters struct {
	submits, billed, queries, fetches, authFailures atomic.Int64
	submitRequests, repeated                        atomic.Int64
}

// Stats returns a snapshot of the counters.
func (s *Sandbox) Stats() Stats {
	return Stats{
		Submits:      s.stats.submits.Load(),
		BilledImages: s.stats.billed.Load(),
		Queries:      s.stats.queries.Load(),
		ImageFetches: s.stats.fetches.Load(),
		AuthFailures: s.stats.authFailures.Load(),

		SubmitRequests:  s.stats.submitRequests.Load(),
		RepeatedSubmits: s.stats.repeated.Load(),
	}
}
