package soak

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/schema"
	"aipaint-mcp/serve"
	"aipaint-mcp/store"
	"aipaint-mcp/tools"
	"aipaint-mcp/wait"
)

var (
	calls     = flag.Int("soak.calls", 150, "generate_image calls in the soak (each may be followed by check_task calls)")
	workers   = flag.Int("soak.workers", 12, "concurrent MCP sessions")
	faultRate = flag.Float64("soak.rate", 0.2, "share of upstream requests faulted")
	seed      = flag.Uint64("soak.seed", 1, "seed of the sandbox's fault draws")
)

// The soak's timing. The request timeout is short so that slow answers
// (sandbox.Chaos.SlowDelay) become timeouts.
const (
	requestTimeout = time.Second
	slowDelay      = 1500 * time.Millisecond
	taskDelay      = 300 * time.Millisecond
	waitSeconds    = 2
	checkRounds    = 3
	maxConcurrency = client.DefaultMaxConcurrency
)

// callBound is the documented bound of one call: its wait_seconds, then a
// submit's worst case (every attempt timing out, plus the retry pauses) or a
// last poll's grace, plus room for queueing behind maxConcurrency slots on a
// loaded 2-core machine. A call over it has hung, it is not merely slow.
var callBound = waitSeconds*time.Second + 3*requestTimeout + wait.LastPollGrace + 20*time.Second

// Outcome classes of a call. Every error result must be one of the clear ones.
const (
	outDone      = "done"
	outPending   = "pending"
	outUncertain = "error: may be billed"
	outLater     = "error: try later"
	outBlocked   = "error: blocked"
	outOther     = "error: upstream said"
	outClock     = "error: clock"
)

// errorClasses maps the heading of each error result to its class.
var errorClasses = []struct{ marker, class string }{
	{"may have been billed", outUncertain},
	{"temporarily unavailable", outLater},
	{"Rephrase", outBlocked},
	{"The API reported an error", outOther},
	{"clock is more than", outClock},
}

var submittedRe = regexp.MustCompile(`The task (\S+) was submitted`)

type record struct {
	tool    string
	outcome string
	took    time.Duration
	taskID  string // a task this call created (generate_image) or looked at
	problem string // set when the call broke an invariant
}

type taskResult struct {
	TaskID string `json:"task_id"`
	Status string `json:"status"`
}

// TestSoak runs the soak and checks its invariants; the figures go to the log.
func TestSoak(t *testing.T) {
	n := *calls
	if testing.Short() {
		n = min(n, 40)
	}
	fdsBefore := openFDs()
	goroutinesBefore := runtime.NumGoroutine()

	sb := sandboxtest.Start(t, sandboxtest.Delay(taskDelay))
	sb.SetChaos(sandbox.Chaos{Rate: *faultRate, Seed: *seed, SlowDelay: slowDelay})
	c := sb.Client(t, func(c *client.Config) {
		c.RequestTimeout, c.RetryBase, c.MaxConcurrency = requestTimeout, 20*time.Millisecond, maxConcurrency
	})
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backoff := wait.Backoff{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond, Factor: 1.5}
	svc := paint.New(paint.Options{Upstream: c, Store: st, TaskTimeout: time.Minute, Backoff: backoff})
	serverCtx, stopServer := context.WithCancel(context.Background())
	defer context.AfterFunc(serverCtx, svc.Drain)()
	srv := tools.NewServer(tools.Options{
		Paint:   svc,
		Limits:  schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds},
		Sandbox: true,
	})
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- serve.HTTP(serverCtx, srv, serve.HTTPOptions{
			Transport: serve.TransportHTTP, Addr: "127.0.0.1:0",
			Logger: slog.New(slog.DiscardHandler), Ready: func(a net.Addr) { addrc <- a },
		})
	}()
	var endpoint string
	select {
	case a := <-addrc:
		endpoint = "http://" + a.String() + "/mcp"
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}

	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil // loopback only
	hc := &http.Client{Transport: base}
	started := time.Now()
	records := drive(t, endpoint, hc, n)
	elapsed := time.Since(started)

	// Every task the sandbox accepted is known, by the results, and no call
	// names a task the sandbox does not have. Chaos off for this audit.
	sb.SetChaos(sandbox.Chaos{})
	known := map[string]bool{}
	for _, r := range records {
		if r.tool == "generate_image" && r.taskID != "" {
			if known[r.taskID] {
				t.Errorf("task %s returned by two generate_image calls", r.taskID)
			}
			known[r.taskID] = true
		}
	}
	stats := sb.Stats()
	if int64(len(known)) != stats.Submits {
		t.Errorf("the sandbox accepted %d submits, the results name %d tasks", stats.Submits, len(known))
	}
	audit(t, endpoint, hc, known)
	// ...and recorded in the task store, which holds nothing else.
	recorded, err := st.List(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	inStore := map[string]bool{}
	for _, r := range recorded {
		inStore[r.TaskID] = true
	}
	for id := range known {
		if !inStore[id] {
			t.Errorf("task %s, accepted upstream, is not in the task store", id)
		}
	}
	if int64(len(recorded)) != stats.Submits {
		t.Errorf("the task store holds %d tasks, the sandbox accepted %d submits", len(recorded), stats.Submits)
	}
	if stats.RepeatedSubmits != 0 {
		t.Errorf("%d submits were sent again after an answer that may have billed them", stats.RepeatedSubmits)
	}

	for _, r := range records {
		if r.problem != "" {
			t.Errorf("%s: %s", r.tool, r.problem)
		}
	}
	report(t, records, sb.Sandbox, stats, elapsed)

	// Everything down: no goroutine or descriptor may outlive it.
	stopServer()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := svc.Close(); err != nil { // the background work, then the store
		t.Errorf("store close: %v", err)
	}
	sb.Close()
	hc.CloseIdleConnections()
	settle(t, "goroutines", goroutinesBefore, runtime.NumGoroutine)
	if fdsBefore >= 0 {
		settle(t, "open file descriptors", fdsBefore, openFDs)
	}
}

// drive runs n generate_image calls over workers sessions, each followed,
// while pending, by check_task calls.
func drive(t *testing.T, endpoint string, hc *http.Client, n int) []record {
	t.Helper()
	jobs := make(chan int)
	var mu sync.Mutex
	var records []record
	add := func(r record) {
		mu.Lock()
		defer mu.Unlock()
		records = append(records, r)
	}
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Go(func() {
			ctx := context.Background()
			cl := mcp.NewClient(&mcp.Implementation{Name: "soak", Version: "0"}, nil)
			cs, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
			if err != nil {
				add(record{tool: "connect", problem: err.Error()})
				for range jobs {
				}
				return
			}
			defer cs.Close()
			for i := range jobs {
				// A unique text: identical requests may be deduplicated.
				args := map[string]any{"text": fmt.Sprintf("浸泡测试 %d 号 %d", i, w), "wait_seconds": waitSeconds}
				if i%4 == 0 {
					args["wait"] = false
				}
				r := callOnce(ctx, cs, "generate_image", args)
				add(r)
				for round := 0; r.outcome == outPending && round < checkRounds; round++ {
					r = callOnce(ctx, cs, "check_task", map[string]any{"task_id": r.taskID, "wait_seconds": waitSeconds})
					add(r)
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return records
}

// callOnce makes one call and classifies how it ended.
func callOnce(ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any) record {
	ctx, cancel := context.WithTimeout(ctx, callBound)
	defer cancel()
	start := time.Now()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	r := record{tool: tool, took: time.Since(start)}
	switch {
	case err != nil:
		r.problem = fmt.Sprintf("no result within %s: %v", callBound, err)
		return r
	case res.IsError:
		text := textOf(res)
		for _, ec := range errorClasses {
			if strings.Contains(text, ec.marker) {
				r.outcome = ec.class
			}
		}
		if r.outcome == "" {
			r.problem = "an unclear error result: " + text
		}
		if m := submittedRe.FindStringSubmatch(text); m != nil && tool == "generate_image" {
			r.taskID = m[1]
		}
		return r
	}
	var tr taskResult
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &tr); err != nil || tr.TaskID == "" {
		r.problem = fmt.Sprintf("a result without a task: %s", b)
		return r
	}
	r.taskID = tr.TaskID
	switch tr.Status {
	case schema.StatusDone, schema.StatusPending:
		r.outcome = tr.Status
	default:
		r.problem = "unknown status " + tr.Status
	}
	return r
}

// audit checks every known task with the chaos off: each must exist.
func audit(t *testing.T, endpoint string, hc *http.Client, known map[string]bool) {
	t.Helper()
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "soak-audit", Version: "0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	defer cs.Close()
	for id := range known {
		r := callOnce(ctx, cs, "check_task", map[string]any{"task_id": id})
		if r.problem != "" || (r.outcome != outDone && r.outcome != outPending) {
			t.Errorf("task %s, named in a result, is not known upstream: %s %s", id, r.outcome, r.problem)
		}
	}
}

func report(t *testing.T, records []record, sb *sandbox.Sandbox, stats sandbox.Stats, elapsed time.Duration) {
	t.Helper()
	byTool := map[string][]time.Duration{}
	outcomes := map[string]int{}
	for _, r := range records {
		byTool[r.tool] = append(byTool[r.tool], r.took)
		outcomes[r.tool+" "+r.outcome]++
	}
	t.Logf("soak: %d calls in %s (%d sessions, fault rate %.0f%%, seed %d, max %d upstream requests at once)",
		len(records), elapsed.Round(time.Millisecond), *workers, *faultRate*100, *seed, maxConcurrency)
	for _, tool := range sortedKeys(byTool) {
		d := byTool[tool]
		slices.Sort(d)
		t.Logf("  %-15s %4d calls, latency p50 %s, p99 %s, max %s", tool, len(d),
			pct(d, 50), pct(d, 99), d[len(d)-1].Round(time.Millisecond))
	}
	for _, k := range sortedKeys(outcomes) {
		t.Logf("  outcome %-40s %d", k, outcomes[k])
	}
	faults := sb.FaultCounts()
	var total int64
	var parts []string
	for _, k := range sandbox.FaultKinds() {
		total += faults[k]
		parts = append(parts, fmt.Sprintf("%s=%d", k, faults[k]))
	}
	t.Logf("  faults injected: %d (%s)", total, strings.Join(parts, " "))
	requests := stats.SubmitRequests + stats.Queries
	perTask := 0.0
	if stats.Submits > 0 {
		perTask = float64(requests) / float64(stats.Submits)
	}
	t.Logf("  upstream: %d submit requests, %d accepted (%d images billed), %d queries; %.2f requests per accepted task; %d submits resent after a possible bill",
		stats.SubmitRequests, stats.Submits, stats.BilledImages, stats.Queries, perTask, stats.RepeatedSubmits)
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(min(i, len(sorted))-1, 0)].Round(time.Millisecond)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func textOf(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// settle waits (boundedly) for a count to come back to its level before the
// soak; a small slack covers the runtime's own helpers.
func settle(t *testing.T, what string, before int, now func() int) {
	t.Helper()
	const slack = 2
	deadline := time.Now().Add(30 * time.Second)
	for now() > before+slack {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Errorf("%s: %d before the soak, %d after everything closed\n%s", what, before, now(), buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("  %s: %d before, %d after", what, before, now())
}

// openFDs counts this process's open file descriptors (-1 where /proc is missing).
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}
