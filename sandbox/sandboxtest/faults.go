package sandboxtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"aipaint-mcp/sandbox"
)

// Faults injects upstream misbehaviour in front of a sandbox: scripted
// faults (FailNext) and random ones (SetChaos). It is http.Handler
// middleware (Handler), so the release binary holds the stand-in upstream
// but none of this.
type Faults struct {
	sb  *sandbox.Sandbox
	now func() time.Time
	q   faultQueue
}

// NewFaults makes the fault injector of sb; now is the sandbox's clock (nil: time.Now).
func NewFaults(sb *sandbox.Sandbox, now func() time.Time) *Faults {
	if now == nil {
		now = time.Now
	}
	return &Faults{sb: sb, now: now}
}

// Handler answers in next's place (the sandbox, or what leads to it) when a
// fault is due, in the gateway's order: an API request is faulted only once
// it has passed authentication, before its parameters are read.
func (fs *Faults) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, api := apiOp(r)
		if !api {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, sandbox.MaxBody+1))
		// The sandbox reads the body again, all of it, and answers as it would have.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		if err != nil || len(body) > sandbox.MaxBody || !fs.sb.Authentic(r, body) {
			next.ServeHTTP(w, r)
			return
		}
		f, ok := fs.q.next(op)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if f.onlyDelay() {
			if !wait(r, f.Delay) {
				fs.sb.AnsweredInstead(op, r, body, true) // the caller gave up: billed or not, it cannot tell
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		fs.sb.AnsweredInstead(op, r, body, !f.definiteRejection())
		w.Header().Set(sandbox.HeaderRequestID, randomHex(16))
		if wait(r, f.Delay) {
			fs.write(w, f)
		}
	})
}

// apiOp is the API a request is for, as the sandbox routes it.
func apiOp(r *http.Request) (sandbox.Op, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	switch r.URL.Path {
	case sandbox.SubmitPath:
		return sandbox.OpSubmit, true
	case sandbox.QueryPath:
		return sandbox.OpQuery, true
	}
	return "", false
}

// wait waits d, or until the caller gives up (then false).
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-t.C:
		return true
	}
}

// Fault is one scripted bad answer. Delay comes first; then the first field
// set wins, in this order: Drop, Raw, Oversize, Skew, Gateway, Business. A
// Fault with only a Delay answers normally once it has passed; a Fault with
// nothing set answers business 999.
type Fault struct {
	Business     int           // business code to answer (201, 202, 400, 500, 501, 999)
	MirrorStatus bool          // also use Business as the HTTP status (otherwise HTTP 200)
	Gateway      string        // gateway code such as "APIG.0308", with its HTTP status from the table
	Status       int           // HTTP status override, for any kind (Raw defaults to 200)
	Raw          []byte        // answer exactly these bytes (garbage, HTML, truncated JSON)
	ContentType  string        // Content-Type for Raw; "" sniffs it from the bytes
	Msg          string        // message instead of the code's default
	Drop         bool          // close the connection without answering (after Delay)
	Oversize     int           // answer a well-formed success padded to at least this many bytes
	Delay        time.Duration // wait this long before answering, or until the client gives up
	// Skew answers the gateway's clock-skew rejection (APIG.0303, request
	// expired) with a Date header Skew behind the sandbox clock, as if the
	// caller's clock were Skew ahead.
	Skew time.Duration
}

// onlyDelay: a slow answer that is otherwise normal.
func (f Fault) onlyDelay() bool {
	return !f.Drop && f.Raw == nil && f.Oversize == 0 && f.Skew == 0 && f.Gateway == "" && f.Business == 0 && f.Status == 0
}

// definiteRejection reports whether API.md allows resending a submit after
// the answer to f: a 429, a business 500/501, or an authentication failure.
// A submit resent after any other fault counts as a RepeatedSubmit: after a
// timeout, a dropped connection or an unreadable answer it could be a second
// charge, and after a permanent error a resend has no reason to succeed.
func (f Fault) definiteRejection() bool {
	switch {
	case f.Delay > 0 || f.Drop || f.Raw != nil || f.Oversize > 0:
		return false
	case f.Skew != 0:
		return true
	case f.Gateway != "":
		num := gatewayNumber(f.Gateway)
		return num == "0308" || num == "0303"
	}
	return f.Business == 500 || f.Business == 501
}

// FailNext queues f for op: it answers exactly one later request of that op
// (queued faults are used first in, first out), then normal behaviour
// resumes. A fault is taken after authentication (an unauthenticated request
// gets 0303 and leaves the queue alone) and before the parameters are read
// (an invalid request still takes it). A faulted request never bills and
// never creates a task, except a Delay-only fault, which answers normally
// when the delay has passed and the caller is still there.
func (fs *Faults) FailNext(op sandbox.Op, f Fault) { fs.q.push(op, f) }

// FaultKind names one kind of upstream misbehaviour, for chaos mode.
type FaultKind string

// The fault kinds.
const (
	FaultDrop      FaultKind = "drop"      // connection closed without an answer
	FaultSlow      FaultKind = "slow"      // the normal answer after a delay
	Fault502       FaultKind = "502"       // APIG.0202 backend unavailable
	Fault503       FaultKind = "503"       // a bare HTTP 503 from a load balancer
	Fault504       FaultKind = "504"       // APIG.0203 backend timeout
	Fault429       FaultKind = "429"       // APIG.0308 throttled
	Fault500       FaultKind = "500"       // business 500: provider maintenance
	Fault501       FaultKind = "501"       // business 501: data source maintenance
	Fault999       FaultKind = "999"       // business 999: other
	Fault202       FaultKind = "202"       // business 202: text intercepted
	FaultGarbage   FaultKind = "garbage"   // binary bytes labelled JSON
	FaultTruncated FaultKind = "truncated" // JSON cut off mid-way
	FaultHTML      FaultKind = "html"      // an HTML error page
	FaultOversized FaultKind = "oversized" // a JSON answer of several MiB
	FaultSkew      FaultKind = "skew"      // the gateway's clock-skew rejection
)

// Defaults of the kinds that have a size.
const (
	DefaultSlowDelay = 2 * time.Second
	DefaultSkew      = 20 * time.Minute
)

// faultKinds is the one table of fault kinds, in a stable order.
var faultKinds = []struct {
	kind  FaultKind
	fault Fault
}{
	{FaultDrop, Fault{Drop: true}},
	{FaultSlow, Fault{Delay: DefaultSlowDelay}},
	{Fault502, Fault{Gateway: "APIG.0202"}},
	{Fault503, Fault{Raw: []byte("Service Unavailable\n"), Status: http.StatusServiceUnavailable, ContentType: "text/plain"}},
	{Fault504, Fault{Gateway: "APIG.0203"}},
	{Fault429, Fault{Gateway: "APIG.0308"}},
	{Fault500, Fault{Business: 500}},
	{Fault501, Fault{Business: 501}},
	{Fault999, Fault{Business: 999}},
	{Fault202, Fault{Business: 202}},
	{FaultGarbage, Fault{Raw: []byte("\x00\x01\x02garbage\xff\xfe{"), ContentType: "application/json"}},
	{FaultTruncated, Fault{Raw: []byte(`{"code":200,"msg":"成功","taskNo":"043439882226367117195632","data":{"taskId":"sbx`), ContentType: "application/json;charset=UTF-8"}},
	{FaultHTML, Fault{Raw: []byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"),
		Status: http.StatusBadGateway, ContentType: "text/html"}},
	{FaultOversized, Fault{Oversize: 3 << 20}},
	{FaultSkew, Fault{Skew: DefaultSkew}},
}

// FaultKinds lists every kind, in a stable order.
func FaultKinds() []FaultKind {
	out := make([]FaultKind, len(faultKinds))
	for i, k := range faultKinds {
		out[i] = k.kind
	}
	return out
}

// FaultOf is the Fault of a kind; ok is false for an unknown kind.
func FaultOf(k FaultKind) (Fault, bool) {
	for _, fk := range faultKinds {
		if fk.kind == k {
			return fk.fault, true
		}
	}
	return Fault{}, false
}

// Chaos makes a share of API requests fail at random, for soak tests.
type Chaos struct {
	Rate      float64       // share of authenticated API requests faulted, 0 to 1
	Seed      uint64        // seeds the draws (their order follows the requests' arrival)
	Kinds     []FaultKind   // drawn uniformly; empty means every kind
	SlowDelay time.Duration // delay of FaultSlow; 0 = DefaultSlowDelay
}

// SetChaos turns chaos mode on (Rate > 0) or off. Queued faults (FailNext)
// still come first.
func (fs *Faults) SetChaos(c Chaos) {
	fs.q.mu.Lock()
	defer fs.q.mu.Unlock()
	if len(c.Kinds) == 0 {
		c.Kinds = FaultKinds()
	}
	fs.q.chaos = c
	fs.q.rng = mrand.New(mrand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
}

// FaultCounts is how many faults chaos mode has injected, by kind.
func (fs *Faults) FaultCounts() map[FaultKind]int64 {
	fs.q.mu.Lock()
	defer fs.q.mu.Unlock()
	out := make(map[FaultKind]int64, len(fs.q.counts))
	for k, n := range fs.q.counts {
		out[k] = n
	}
	return out
}

type faultQueue struct {
	mu     sync.Mutex
	queued map[sandbox.Op][]Fault
	chaos  Chaos
	rng    *mrand.Rand
	counts map[FaultKind]int64
}

func (q *faultQueue) push(op sandbox.Op, f Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queued == nil {
		q.queued = map[sandbox.Op][]Fault{}
	}
	q.queued[op] = append(q.queued[op], f)
}

// next is the fault for this request: a queued one first, else a chaos draw.
func (q *faultQueue) next(op sandbox.Op) (Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if fs := q.queued[op]; len(fs) > 0 {
		q.queued[op] = fs[1:]
		return fs[0], true
	}
	if q.chaos.Rate <= 0 || q.rng.Float64() >= q.chaos.Rate {
		return Fault{}, false
	}
	kind := q.chaos.Kinds[q.rng.IntN(len(q.chaos.Kinds))]
	f, ok := FaultOf(kind)
	if !ok {
		return Fault{}, false
	}
	if kind == FaultSlow && q.chaos.SlowDelay > 0 {
		f.Delay = q.chaos.SlowDelay
	}
	if q.counts == nil {
		q.counts = map[FaultKind]int64{}
	}
	q.counts[kind]++
	return f, true
}

// write answers with f, whose delay has passed.
func (fs *Faults) write(w http.ResponseWriter, f Fault) {
	switch {
	case f.Drop:
		drop(w)
	case f.Raw != nil:
		writeRaw(w, f)
	case f.Oversize > 0:
		writeOversized(w, f.Oversize)
	case f.Skew != 0:
		w.Header().Set("Date", fs.now().Add(-f.Skew).UTC().Format(http.TimeFormat))
		fs.sb.WriteGateway(w, "APIG.0303", 0, sandbox.ExpiredMessage(f.Skew))
	case f.Gateway != "":
		fs.sb.WriteGateway(w, f.Gateway, f.Status, f.Msg)
	default:
		fs.sb.WriteBusiness(w, faultStatus(f), faultCode(f), f.Msg, nil)
	}
}

// drop closes the connection without a byte of answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot hijack: a reset stream is the nearest thing.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	_ = conn.Close()
}

func faultCode(f Fault) int {
	if f.Business == 0 {
		return 999
	}
	return f.Business
}

func faultStatus(f Fault) int {
	switch {
	case f.Status != 0:
		return f.Status
	case f.MirrorStatus:
		return faultCode(f)
	default:
		return http.StatusOK
	}
}

func writeRaw(w http.ResponseWriter, f Fault) {
	ct := f.ContentType
	if ct == "" {
		ct = http.DetectContentType(f.Raw)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(f.Raw)
}

// writeOversized streams a success answer with a padding field of n bytes,
// without holding it in memory.
func writeOversized(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, `{"code":200,"msg":"成功","taskNo":"043439882226367117195633","data":{"taskId":"sbx-oversized","pad":"`); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for left := n; left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			return // the client stopped reading, as it should
		}
	}
	_, _ = io.WriteString(w, `"}}`)
}

// gatewayNumber is the number of a gateway code: "APIG.0308" -> "0308".
func gatewayNumber(code string) string {
	if _, num, ok := strings.Cut(code, "."); ok {
		return num
	}
	return code
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
