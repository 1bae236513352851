//go:build unix

package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/store/postgres"
	"aipaint-mcp/store/postgres/pgtest"
	"aipaint-mcp/wait"
)

// The team of TestTeamReplicas: alice and bob have limits of their own,
// carol none, dave is revoked during the test.
const (
	carolToken = "carol-e2e-token-5e9a71c0"
	daveToken  = "dave-e2e-token-0d4c6b2f9"
	aliceLimit = 3
	bobLimit   = 4
	// teamLimit is reached by the end of the test: 4 killed-replica tasks,
	// 10 deduplicated, 2 through the load balancer, alice's 3, bob's 4 and
	// carol's last 3 (see the phases).
	teamLimit = 26
	// killDelay keeps the killed replica's tasks pending past the kill.
	killDelay = 8 * time.Second
	// takeover bounds the time from the kill to another replica recording
	// the killed replica's tasks: the lease TTL (20 s) and a sweep period
	// (5 s), plus room for a loaded machine.
	takeover = 45 * time.Second
)

// queryLog counts the sandbox's query requests per task and per replica
// (each replica talks to the one sandbox through a front of its own).
type queryLog struct {
	mu  sync.Mutex
	log map[string][]queryAt // task id -> queries in arrival order
}

type queryAt struct {
	replica int
	at      time.Time
}

func (q *queryLog) front(replica int, sb *sandbox.Sandbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == sandbox.QueryPath {
			body, err := io.ReadAll(r.Body)
			if err == nil {
				if id := taskIDOf(r.Header.Get("Content-Type"), body); id != "" {
					q.mu.Lock()
					q.log[id] = append(q.log[id], queryAt{replica, time.Now()})
					q.mu.Unlock()
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		sb.ServeHTTP(w, r)
	})
}

func (q *queryLog) of(taskID string) []queryAt {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.log[taskID])
}

func taskIDOf(contentType string, body []byte) string {
	if strings.HasPrefix(contentType, "application/json") {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			s, _ := m["taskId"].(string)
			return s
		}
		return ""
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	return v.Get("taskId")
}

// pollsWithin is how many queries one poller on the default schedule sends
// for a task that takes d, with room for the first look and a late finish.
func pollsWithin(d time.Duration) int {
	n, sum := 0, time.Duration(0)
	for sum < d {
		sum += wait.DefaultBackoff.Delay(n)
		n++
	}
	return n + 2
}

// team is three replicas of the team server on one database and one
// sandbox.
type team struct {
	sb       *sandboxtest.Upstream
	queries  *queryLog
	storeURL string
	tokens   string // the tokens file
	env      []string
	replicas []*proc
	fronts   int
}

func (tm *team) start(t *testing.T) *proc {
	t.Helper()
	front := httptest.NewServer(tm.queries.front(tm.fronts, tm.sb.Sandbox))
	tm.fronts++
	t.Cleanup(front.Close)
	env := slices.Clone(tm.env)
	for _, kv := range tm.sb.Env() {
		env = append(env, strings.Replace(kv, tm.sb.URL, front.URL, 1))
	}
	return startHTTPServer(t, "http", false, env...)
}

// session connects the SDK client with token to the replicas through rt
// (nil: straight to replica 0).
func (tm *team) session(t *testing.T, ctx context.Context, token string, p *proc) *mcp.ClientSession {
	t.Helper()
	hc := httpClient(http.Header{"Authorization": {"Bearer " + token}}, nil)
	t.Cleanup(hc.CloseIdleConnections)
	tr := &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + "/mcp", HTTPClient: hc, MaxRetries: -1}
	return connect(t, ctx, newClient(nil), tr, nil, nil)
}

// roundRobin is a load balancer without sticky sessions: each HTTP request
// goes to the next replica.
type roundRobin struct {
	base  http.RoundTripper
	addrs []string
	token string
	next  atomic.Int64
	mu    sync.Mutex
	sent  map[string]int
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	addr := rr.addrs[int(rr.next.Add(1)-1)%len(rr.addrs)]
	req = req.Clone(req.Context())
	req.URL.Host, req.Host = addr, addr
	req.Header.Set("Authorization", "Bearer "+rr.token)
	rr.mu.Lock()
	rr.sent[addr]++
	rr.mu.Unlock()
	return rr.base.RoundTrip(req)
}

func (rr *roundRobin) CloseIdleConnections() { rr.base.(*http.Transport).CloseIdleConnections() }

// TestTeamReplicas: three replicas of the team server (streamable HTTP, a
// tokens file) on one PostgreSQL schema and one sandbox upstream.
//   - A replica is SIGKILLed while its tasks are pending: another takes them
//     over within the lease time and records every image; each task was
//     polled by one replica at a time, within one poller's schedule.
//   - 30 concurrent calls (10 distinct requests, each sent to the three
//     replicas) submit once per distinct request.
//   - A team limit and two personal limits hold exactly across replicas.
//   - A round-robin load balancer (no sticky sessions) serves both protocol
//     revisions.
//   - Hostile tokens: unknown and revoked (SIGHUP) ones are refused; another
//     person's task is "not found" in check_task, aipaint://tasks and the
//     task template.
//   - /healthz is ok; `aipaint-mcp usage` prints each person's images.
func TestTeamReplicas(t *testing.T) {
	storeURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	tokens := filepath.Join(t.TempDir(), "tokens")
	writeTokens := func(content string) {
		t.Helper()
		if err := os.WriteFile(tokens+".new", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tokens+".new", tokens); err != nil {
			t.Fatal(err)
		}
	}
	people := fmt.Sprintf("alice %s %d\nbob %s %d\ncarol %s\n", aliceToken, aliceLimit, bobToken, bobLimit, carolToken)
	writeTokens(people + "dave " + daveToken + "\n")

	sb := sandboxtest.Start(t, sandboxtest.Delay(killDelay))
	tm := &team{
		sb: sb, queries: &queryLog{log: map[string][]queryAt{}}, storeURL: storeURL, tokens: tokens,
		env: []string{
			"AIPAINT_STORE_URL=" + storeURL, "AIPAINT_HTTP_TOKENS_FILE=" + tokens,
			fmt.Sprintf("AIPAINT_DAILY_IMAGE_LIMIT=%d", teamLimit),
		},
	}
	for range 3 {
		tm.replicas = append(tm.replicas, tm.start(t))
	}
	t.Cleanup(func() {
		for _, p := range tm.replicas {
			for _, tok := range []string{aliceToken, bobToken, carolToken, daveToken} {
				if strings.Contains(p.stderr.String(), tok) {
					t.Errorf("a token is in the log of %s", p.name)
				}
			}
		}
	})
	st, err := postgres.Open(ctx, storeURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	submits := func() int64 { return sb.Stats().Submits }

	// ---- 1. A replica dies with pending tasks. ----
	victim := tm.replicas[0]
	carol0 := tm.session(t, ctx, carolToken, victim)
	var killed []taskFields
	for i := range 4 {
		r := generate(t, ctx, carol0, map[string]any{"text": fmt.Sprintf("被杀的副本的任务 %d", i), "wait": false})
		if r.Status != "pending" {
			t.Fatalf("want a pending task, got %+v", r)
		}
		killed = append(killed, r)
	}
	// Let the victim claim and poll them once (its first poll is 1 s after
	// the submit), then kill it without a shutdown.
	time.Sleep(1500 * time.Millisecond)
	victim.stopped = true
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killedAt := time.Now()
	sb.SetDelay(time.Second)
	tm.replicas[0] = tm.start(t) // three replicas again, a new process

	// ---- 2. 30 concurrent calls over the replicas, 10 distinct requests. ----
	t.Run("dedup", func(t *testing.T) {
		before := submits()
		var sessions []*mcp.ClientSession
		for _, p := range tm.replicas {
			sessions = append(sessions, tm.session(t, ctx, carolToken, p))
		}
		results := make([]taskFields, 30)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				res := call(t, ctx, sessions[i%3], "generate_image", map[string]any{"text": fmt.Sprintf("三个副本一起画的猫 %d", i%10), "wait_seconds": 20})
				if res.IsError {
					t.Errorf("call %d: %s", i, textOf(res))
					return
				}
				structured(t, res, &results[i])
			})
		}
		wg.Wait()
		billed := 0
		for i, r := range results {
			if r.Status != "done" || len(r.Images) != 1 {
				t.Errorf("call %d: %+v, want done with one image", i, r)
			}
			if first := results[i%10]; r.TaskID != first.TaskID {
				t.Errorf("identical requests %d and %d got tasks %s and %s", i%10, i, first.TaskID, r.TaskID)
			}
			billed += r.BilledImages
		}
		if got := submits() - before; got != 10 || billed != 10 {
			t.Errorf("30 calls of 10 distinct requests: %d submits upstream, %d billed in results; want 10 and 10", got, billed)
		}
		for i := range 10 {
			checkOnePoller(t, tm.queries, results[i].TaskID, time.Second)
		}
	})

	// ---- 3. A load balancer without sticky sessions. ----
	t.Run("load_balancer", func(t *testing.T) {
		for _, pv := range []string{"2025-11-25", ""} {
			name := cmp.Or(pv, latestProtocolVersion)
			t.Run(name, func(t *testing.T) {
				base := http.DefaultTransport.(*http.Transport).Clone()
				base.Proxy = nil
				rr := &roundRobin{base: base, token: carolToken, sent: map[string]int{}}
				for _, p := range tm.replicas {
					rr.addrs = append(rr.addrs, p.addr)
				}
				hc := &http.Client{Transport: rr}
				t.Cleanup(hc.CloseIdleConnections)
				tr := &mcp.StreamableClientTransport{Endpoint: "http://balancer/mcp", HTTPClient: hc, MaxRetries: -1}
				cs := connect(t, ctx, newClient(nil), tr, &mcp.ClientSessionOptions{ProtocolVersion: pv}, nil)
				if got := cs.InitializeResult().ProtocolVersion; got != name {
					t.Errorf("negotiated %s, want %s", got, name)
				}
				mustOK(t, call(t, ctx, cs, "list_styles", map[string]any{}))
				r := generate(t, ctx, cs, map[string]any{"text": "负载均衡后面的熊猫 " + name, "wait_seconds": 20})
				if r.Status != "done" || len(r.Images) != 1 {
					t.Errorf("generate_image: %+v", r)
				}
				var c taskFields
				res := call(t, ctx, cs, "check_task", map[string]any{"task_id": r.TaskID})
				mustOK(t, res)
				structured(t, res, &c)
				if c.TaskID != r.TaskID || c.Status != "done" {
					t.Errorf("check_task: %+v", c)
				}
				if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "aipaint://tasks/" + r.TaskID}); err != nil {
					t.Errorf("read the task: %v", err)
				}
				rr.mu.Lock()
				defer rr.mu.Unlock()
				for _, a := range rr.addrs {
					if rr.sent[a] == 0 {
						t.Errorf("no request went to replica %s: %v", a, rr.sent)
					}
				}
			})
		}
	})

	// ---- 4. Limits across replicas. ----
	var aliceTasks, bobTasks []string
	t.Run("limits", func(t *testing.T) {
		burst := func(token, who string, n int) (ok []string, refused int) {
			var sessions []*mcp.ClientSession
			for _, p := range tm.replicas {
				sessions = append(sessions, tm.session(t, ctx, token, p))
			}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					res := call(t, ctx, sessions[i%3], "generate_image", map[string]any{"text": fmt.Sprintf("%s 的第 %d 张", who, i), "wait": false})
					mu.Lock()
					defer mu.Unlock()
					if res.IsError {
						if !strings.Contains(textOf(res), "今日已用") {
							t.Errorf("%s call %d refused for another reason: %s", who, i, textOf(res))
						}
						refused++
						return
					}
					var r taskFields
					structured(t, res, &r)
					ok = append(ok, r.TaskID)
				})
			}
			wg.Wait()
			return ok, refused
		}
		before := submits()
		var wg sync.WaitGroup
		var aliceRefused, bobRefused int
		wg.Go(func() { aliceTasks, aliceRefused = burst(aliceToken, "alice", 8) })
		wg.Go(func() { bobTasks, bobRefused = burst(bobToken, "bob", 8) })
		wg.Wait()
		if len(aliceTasks) != aliceLimit || aliceRefused != 8-aliceLimit {
			t.Errorf("alice, limit %d: %d accepted, %d refused of 8", aliceLimit, len(aliceTasks), aliceRefused)
		}
		if len(bobTasks) != bobLimit || bobRefused != 8-bobLimit {
			t.Errorf("bob, limit %d: %d accepted, %d refused of 8", bobLimit, len(bobTasks), bobRefused)
		}
		// 4 + 10 + 2 + 3 + 4 = 23 of 26: carol, unlimited herself, gets 3.
		carolTasks, carolRefused := burst(carolToken, "carol", 8)
		if len(carolTasks) != 3 || carolRefused != 5 {
			t.Errorf("carol with the team at 23 of %d: %d accepted, %d refused of 8; want 3 and 5", teamLimit, len(carolTasks), carolRefused)
		}
		if got := submits() - before; got != aliceLimit+bobLimit+3 {
			t.Errorf("upstream saw %d submits; want %d", got, aliceLimit+bobLimit+3)
		}
	})

	// ---- 5. Hostile tokens. ----
	t.Run("hostile", func(t *testing.T) {
		if len(aliceTasks) == 0 || len(bobTasks) == 0 {
			t.Skip("the limits phase gave no tasks")
		}
		bob := tm.session(t, ctx, bobToken, tm.replicas[1])
		res := call(t, ctx, bob, "check_task", map[string]any{"task_id": aliceTasks[0]})
		if !res.IsError || !strings.Contains(textOf(res), "No such task") {
			t.Errorf("bob's check_task of alice's task: isError=%v %q; want not found", res.IsError, textOf(res))
		}
		if _, err := bob.ReadResource(ctx, &mcp.ReadResourceParams{URI: "aipaint://tasks/" + aliceTasks[0]}); err == nil {
			t.Error("bob read alice's task through the template")
		}
		rr, err := bob.ReadResource(ctx, &mcp.ReadResourceParams{URI: "aipaint://tasks"})
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Tasks []struct {
				TaskID string `json:"task_id"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(rr.Contents[0].Text), &list); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tk := range list.Tasks {
			ids = append(ids, tk.TaskID)
		}
		slices.Sort(ids)
		want := slices.Sorted(slices.Values(bobTasks))
		if !slices.Equal(ids, want) {
			t.Errorf("bob's aipaint://tasks: %v; want exactly his %v", ids, want)
		}
		alice := tm.session(t, ctx, aliceToken, tm.replicas[2])
		if _, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "aipaint://tasks/" + aliceTasks[0]}); err != nil {
			t.Errorf("alice reads her own task: %v", err)
		}

		status := func(p *proc, token string) int {
			body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.addr+"/mcp", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.StatusCode
		}
		for _, p := range tm.replicas {
			if got := status(p, "unknown-token-of-nobody-123"); got != http.StatusUnauthorized {
				t.Errorf("%s: an unknown token got %d", p.addr, got)
			}
			if got := status(p, daveToken); got != http.StatusOK {
				t.Errorf("%s: dave before the revocation got %d", p.addr, got)
			}
		}
		writeTokens(people) // dave revoked
		for _, p := range tm.replicas {
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range tm.replicas {
			deadline := time.Now().Add(startTimeout) // a bound on a hang
			for status(p, daveToken) != http.StatusUnauthorized {
				if time.Now().After(deadline) {
					t.Fatalf("%s: dave still let in after the revocation and a SIGHUP", p.addr)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := status(p, aliceToken); got != http.StatusOK {
				t.Errorf("%s: alice after the reload got %d", p.addr, got)
			}
		}
	})

	t.Run("healthz", func(t *testing.T) {
		for _, p := range tm.replicas {
			resp, err := http.Get("http://" + p.addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "ok" {
				t.Errorf("%s /healthz: %d %q", p.addr, resp.StatusCode, b)
			}
		}
	})

	// ---- 6. The killed replica's tasks, finished by another. ----
	t.Run("takeover", func(t *testing.T) {
		for _, k := range killed {
			for {
				rec, err := st.Get(t.Context(), k.TaskID)
				if err == nil && rec.Status == "done" {
					if len(rec.Images) != 1 || rec.Images[0].URL == "" {
						t.Errorf("task %s recorded with images %+v", k.TaskID, rec.Images)
					}
					break
				}
				if time.Since(killedAt) > takeover {
					t.Fatalf("task %s of the killed replica not recorded done %s after the kill (err %v, status %q)", k.TaskID, takeover, err, rec.Status)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		t.Logf("the killed replica's tasks were recorded %s after the kill", time.Since(killedAt).Round(100*time.Millisecond))
		for _, k := range killed {
			qs := tm.queries.of(k.TaskID)
			var order []int
			for _, q := range qs {
				if len(order) == 0 || order[len(order)-1] != q.replica {
					order = append(order, q.replica)
				}
				if q.replica == 0 && q.at.After(killedAt) {
					t.Errorf("task %s queried through the killed replica after the kill", k.TaskID)
				}
			}
			// The victim (front 0), then one other, never back and forth.
			if len(order) == 0 || len(order) > 2 || (len(order) == 2 && order[0] != 0) {
				t.Errorf("task %s polled by replicas in the order %v; want the victim then one other", k.TaskID, order)
			}
			if len(qs) > pollsWithin(killDelay) {
				t.Errorf("task %s: %d queries; one poller sends at most %d", k.TaskID, len(qs), pollsWithin(killDelay))
			}
			t.Logf("task %s: queries by front %v", k.TaskID, order)
		}
		if got := submits(); got != teamLimit {
			t.Errorf("upstream saw %d submits in all; want %d (nothing submitted twice)", got, teamLimit)
		}
		if n := sb.Stats().RepeatedSubmits; n != 0 {
			t.Errorf("%d repeated submits", n)
		}
	})

	// ---- 7. aipaint-mcp usage reads the same store. ----
	t.Run("usage", func(t *testing.T) {
		got, out := usageRows(t, ctx, tm.env)
		want := map[string][3]string{
			"alice": {"3", "3", "3"},
			"bob":   {"4", "4", "4"},
			"carol": {"19", "19", "-"},
			"TOTAL": {"26", "26", "26"},
		}
		for who, w := range want {
			if got[who] != w {
				t.Errorf("usage of %s: today/month/limit %v; want %v\n%s", who, got[who], w, out)
			}
		}
		if len(got) != len(want) {
			t.Errorf("usage rows %v; want exactly %v\n%s", got, want, out)
		}
	})
}

// usageRows runs `aipaint-mcp usage` with env and reads its rows: the
// person (or TOTAL) -> today, month, daily limit; and its whole output.
func usageRows(t *testing.T, ctx context.Context, env []string) (map[string][3]string, []byte) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binPath, "usage")
	cmd.Env = serverEnv(env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aipaint-mcp usage: %v\n%s", err, out)
	}
	row := regexp.MustCompile(`(?m)^(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s*$`)
	got := map[string][3]string{}
	for _, m := range row.FindAllStringSubmatch(string(out), -1) {
		got[m[1]] = [3]string{m[2], m[3], m[4]}
	}
	return got, out
}

// checkOnePoller: the task was queried by one replica only, no more often
// than one poller's schedule allows for a task that takes d.
func checkOnePoller(t *testing.T, q *queryLog, taskID string, d time.Duration) {
	t.Helper()
	qs := q.of(taskID)
	by := map[int]int{}
	for _, x := range qs {
		by[x.replica]++
	}
	if len(by) > 1 {
		t.Errorf("task %s was queried by several replicas: %v (front: queries)", taskID, by)
	}
	if len(qs) > pollsWithin(d) {
		t.Errorf("task %s: %d queries; one poller sends at most %d", taskID, len(qs), pollsWithin(d))
	}
}
