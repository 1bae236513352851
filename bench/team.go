package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"aipaint-mcp/config"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/store/postgres/pgtest"
)

// teamRow is one figure of the team server section.
type teamRow struct {
	name   string
	value  float64
	target string
}

// teamBench measures the team server (issue 13): replicas of aipaint-mcp
// on one PostgreSQL database (a schema of its own, dropped at the end) and
// one sandbox served by this process (its work is not counted). generate_image
// calls/s and p99 with 1 and 3 replicas, and many calls blocked in their
// wait spread over 3 replicas: RSS and CPU of each replica.
func teamBench(o options, b bins, r *report) error {
	base := o.pg
	if base == "" {
		base = os.Getenv(pgtest.Env)
	}
	if base == "" {
		fmt.Fprintf(os.Stderr, "bench: team: skipped: needs a PostgreSQL server (-pg URL or %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)\n", pgtest.Env)
		return nil
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "aipaint_bench_" + hex.EncodeToString(rnd[:])
	if err := pgExec(base, "CREATE SCHEMA "+schema); err != nil {
		return err
	}
	defer func() { _ = pgExec(base, "DROP SCHEMA "+schema+" CASCADE") }()
	storeURL, err := pgtest.WithSearchPath(base, schema)
	if err != nil {
		return err
	}

	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		return err
	}
	defer sb.Close()
	// Each replica reaches the one sandbox through a front of its own, which
	// notes who queries which task: one replica at a time should.
	pollers := &pollers{by: map[string]map[int]bool{}}
	var fronts []*httptest.Server
	defer func() {
		for _, f := range fronts {
			f.Close()
		}
	}()
	replicas := func(n int) ([]*server, []string, error) {
		var ss []*server
		var urls []string
		for i := range n {
			front := httptest.NewServer(pollers.front(i, sb))
			fronts = append(fronts, front)
			env := b.env(config.AppKey+"="+sandbox.AppKey, config.AppSecret+"="+sandbox.AppSecret,
				config.SubmitURL+"="+front.URL+sandbox.SubmitPath, config.QueryURL+"="+front.URL+sandbox.QueryPath,
				config.StoreURL+"="+storeURL, config.DedupWindow+"=10m")
			s, url, err := spawnHTTP("aipaint-mcp", b.aipaint, env)
			if err != nil {
				for _, s := range ss {
					s.stop()
				}
				return nil, nil, err
			}
			ss, urls = append(ss, s), append(urls, url)
		}
		return ss, urls, nil
	}
	stopAll := func(ss []*server) {
		for _, s := range ss {
			s.stop()
		}
	}

	// Throughput: tasks finish at once (sandbox delay 0); every call is a
	// new request: reserve, submit, commit, one or two queries, record.
	const clients = 32
	for _, n := range []int{1, 3} {
		ss, urls, err := replicas(n)
		if err != nil {
			return err
		}
		var seq atomic.Int64
		l, err := spreadThroughput(urls, ss, clients, o.duration, func() string {
			return toolCall("generate_image", fmt.Sprintf(`{"text":"团队的基准 %d 副本 %d","wait_seconds":20}`, seq.Add(1), n))
		})
		stopAll(ss)
		if err != nil {
			return fmt.Errorf("team throughput, %d replica(s): %w", n, err)
		}
		c := fmt.Sprintf("generate_image, %d replica(s), %d clients: ", n, clients)
		r.team = append(r.team,
			teamRow{c + "calls/s", l.rate(), ""},
			teamRow{c + "p50 (ms)", ms(median(l.lat)), ""},
			teamRow{c + "p99 (ms)", ms(pct(l.lat, 0.99)), ""},
			teamRow{c + "server CPU per call (µs, all replicas)", us(l.cpuPerCall()), ""})
	}

	// Blocked waits over 3 replicas: tasks stay queued.
	sb.SetDelay(time.Hour)
	ss, urls, err := replicas(3)
	if err != nil {
		return err
	}
	defer stopAll(ss)
	hc := newHTTPClient(o.waits, time.Duration(o.waitSeconds+60)*time.Second)
	defer hc.CloseIdleConnections()
	var sessions []*session
	for _, u := range urls {
		s, err := openSession(hc, u)
		if err != nil {
			return err
		}
		sessions = append(sessions, s)
	}
	submits0 := sb.Stats().Submits
	var wg sync.WaitGroup
	errs := make(chan error, o.waits)
	for i := range o.waits {
		wg.Go(func() {
			msg := toolCall("generate_image", fmt.Sprintf(`{"text":"团队里等待的熊猫 %d","wait_seconds":%d}`, i, o.waitSeconds))
			if _, err := sessions[i%len(sessions)].call(msg); err != nil {
				errs <- err
			}
		})
	}
	callStart := time.Now()
	for int(sb.Stats().Submits-submits0) < o.waits {
		if time.Since(callStart) > time.Duration(o.waitSeconds)*time.Second/2 {
			return fmt.Errorf("team waits: only %d of %d calls arrived in time", sb.Stats().Submits-submits0, o.waits)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(min(time.Second, o.idle/2))
	q0 := sb.Stats().Queries
	c0 := make([]time.Duration, len(ss))
	for i, s := range ss {
		if c0[i], err = procCPU(s.pid()); err != nil {
			return err
		}
	}
	t0 := time.Now()
	time.Sleep(o.idle)
	window := time.Since(t0)
	var maxRSS, maxPeak int64
	var maxCPU float64
	for i, s := range ss {
		c1, _ := procCPU(s.pid())
		cpu := float64(c1-c0[i]) / float64(window)
		rss, peak, _ := procMem(s.pid())
		maxRSS, maxPeak, maxCPU = max(maxRSS, rss), max(maxPeak, peak), max(maxCPU, cpu)
	}
	queries := float64(sb.Stats().Queries-q0) / window.Seconds()
	per := o.waits / len(ss)
	c := fmt.Sprintf("%d blocked calls over 3 replicas (~%d each): ", o.waits, per)
	r.team = append(r.team,
		teamRow{c + "peak RSS of the largest replica (MB)", mb(maxPeak), "≤ 100 MB per 1,000 waits"},
		teamRow{c + "RSS while waiting, largest replica (MB)", mb(maxRSS), ""},
		teamRow{c + "CPU while waiting, busiest replica (% of a core)", maxCPU * 100, "≤ 2 % per 1,000 waits"},
		teamRow{c + "upstream queries/s, all replicas", queries, ""},
		teamRow{c + "tasks queried by more than one replica", float64(pollers.shared()), "0"})
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("team waits: %w", err)
	}
	return nil
}

// spreadThroughput is throughput with clients sessions spread round-robin
// over several replicas; CPU is the sum of theirs.
func spreadThroughput(urls []string, ss []*server, clients int, d time.Duration, msg func() string) (load, error) {
	cpu := func() time.Duration {
		var sum time.Duration
		for _, s := range ss {
			c, _ := procCPU(s.pid())
			sum += c
		}
		return sum
	}
	return drive(urls, cpu, clients, d, 60*time.Second, msg)
}

func pgExec(conn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, conn)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	_, err = c.Exec(ctx, sql)
	return err
}

// pollers records which replicas (fronts) query each task.
type pollers struct {
	mu sync.Mutex
	by map[string]map[int]bool
}

func (p *pollers) front(replica int, sb http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == sandbox.QueryPath {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var id string
			if v, err := url.ParseQuery(string(body)); err == nil {
				id = v.Get("taskId")
			}
			if id == "" {
				var m map[string]any
				if json.Unmarshal(body, &m) == nil {
					id, _ = m["taskId"].(string)
				}
			}
			p.mu.Lock()
			if p.by[id] == nil {
				p.by[id] = map[int]bool{}
			}
			p.by[id][replica] = true
			p.mu.Unlock()
		}
		sb.ServeHTTP(w, r)
	})
}

func (p *pollers) shared() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, rs := range p.by {
		if len(rs) > 1 {
			n++
		}
	}
	return n
}
