// Command bench measures aipaint-mcp against a bare mcp-go server with one
// trivial tool (bench/baseline), side by side in one run: cold start and
// round trips over stdio, throughput over streamable HTTP, memory and CPU
// with many calls blocked in their wait, and the cost of polling. It prints
// everything BENCHMARKS.md reports.
//
//	go run ./bench            # the full run (a few minutes)
//	go run ./bench -quick     # a smoke test for CI (seconds)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/store"
	"aipaint-mcp/wait"
)

type options struct {
	quick       bool
	runs        int           // cold starts per binary
	calls       int           // stdio round trips per binary and method
	duration    time.Duration // per HTTP concurrency level
	waits       int           // concurrent blocked calls
	waitSeconds int
	idle        time.Duration // CPU measuring window while the calls wait
	profiles    bool
	profileDir  string // where to keep the raw profiles; "" = not kept
	only        string // comma-separated sections to run; "" = all
	pg          string // PostgreSQL server for the team section; "" = AIPAINT_TEST_POSTGRES_URL
}

// sections are the parts of a run, in order, by the names -only takes.
var sections = []string{"cold", "stdio", "http", "waits", "profiles", "team"}

func (o options) includes(section string) bool {
	return o.only == "" || slices.Contains(strings.Split(o.only, ","), section)
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "a short smoke run (CI): few samples, no profiles")
	flag.IntVar(&o.runs, "runs", 40, "cold starts per binary")
	flag.IntVar(&o.calls, "calls", 3000, "stdio round trips per binary and method")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each HTTP throughput run")
	flag.IntVar(&o.waits, "waits", 1000, "concurrent generate_image calls blocked in their wait")
	flag.IntVar(&o.waitSeconds, "wait-seconds", 45, "wait_seconds of those calls")
	flag.DurationVar(&o.idle, "idle", 20*time.Second, "CPU measuring window while they wait")
	flag.BoolVar(&o.profiles, "profiles", true, "collect CPU and heap profiles and print their top entries")
	flag.StringVar(&o.profileDir, "profile-dir", "", "keep the raw profiles in this folder (for go tool pprof)")
	flag.StringVar(&o.only, "only", "", "run only these sections, comma-separated: "+strings.Join(sections, ", "))
	flag.StringVar(&o.pg, "pg", "", "PostgreSQL server URL for the team section (a schema of its own is created and dropped); default $AIPAINT_TEST_POSTGRES_URL, none = the section is skipped")
	flag.Parse()
	for _, s := range strings.Split(o.only, ",") {
		if s != "" && !slices.Contains(sections, s) {
			fmt.Fprintf(os.Stderr, "bench: -only %q: want some of %s\n", s, strings.Join(sections, ", "))
			os.Exit(2)
		}
	}
	if o.quick {
		o.runs, o.calls, o.duration, o.waits, o.waitSeconds, o.idle, o.profiles = 3, 100, 300*time.Millisecond, 50, 4, time.Second, false
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bins are the binaries under test, built into a temporary folder.
type bins struct {
	dir, aipaint, aipaintPprof, baseline string
	answer                               string // aipaint-mcp's list_styles result, for the baseline to echo
}

func build(o options) (bins, error) {
	dir, err := os.MkdirTemp("", "aipaint-bench-")
	if err != nil {
		return bins{}, err
	}
	b := bins{dir: dir, aipaint: filepath.Join(dir, "aipaint-mcp"), aipaintPprof: filepath.Join(dir, "aipaint-mcp-pprof"),
		baseline: filepath.Join(dir, "baseline")}
	root, err := moduleRoot()
	if err != nil {
		return b, err
	}
	for _, args := range [][]string{
		{"build", "-o", b.aipaint, "."},
		{"build", "-tags", "pprof", "-o", b.aipaintPprof, "."},
		{"build", "-o", b.baseline, "./bench/baseline"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return b, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench from inside the aipaint-mcp module")
	}
	return filepath.Dir(mod), nil
}

// env is the environment of a server: none of the caller's AIPAINT_
// settings, state kept in the temporary folder, and no limits that would
// refuse a benchmark's many identical calls.
func (b bins) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AIPAINT_") {
			env = append(env, kv)
		}
	}
	return append(env, append([]string{
		config.DataDir + "=" + filepath.Join(b.dir, "data"),
		config.OutputDir + "=" + filepath.Join(b.dir, "out"),
		config.Save + "=0",
		config.DedupWindow + "=0",
		config.DailyImageLimit + "=0",
	}, extra...)...)
}

// configured is the desktop case: credentials and URLs set (nothing is sent
// to them in these runs).
func (b bins) configured() []string {
	return b.env(credentials...)
}

var credentials = []string{config.AppKey + "=bench-key", config.AppSecret + "=bench-secret",
	config.SubmitURL + "=http://127.0.0.1:9/ai/paint/submit", config.QueryURL + "=http://127.0.0.1:9/ai/paint/query"}

// unconfigured is a first start: no credentials, so no upstream and no store.
func (b bins) unconfigured() []string { return b.env() }

// desktop is configured, with the task store in dataDir and the defaults
// of a desktop client's entry otherwise (saving on: nothing to save here).
func (b bins) desktop(dataDir string) []string {
	var env []string
	for _, kv := range b.env(credentials...) {
		if k, _, _ := strings.Cut(kv, "="); k != config.DataDir && k != config.Save && k != config.DedupWindow && k != config.DailyImageLimit {
			env = append(env, kv)
		}
	}
	return append(env, config.DataDir+"="+dataDir)
}

func run(o options) error {
	started := time.Now()
	load0 := loadavg()
	b, err := build(o)
	defer os.RemoveAll(b.dir)
	if err != nil {
		return err
	}
	r := &report{profileDir: o.profileDir}
	if err := captureAnswer(&b); err != nil {
		return fmt.Errorf("list_styles answer: %w", err)
	}

	for _, step := range []struct {
		section string
		f       func(options, bins, *report) error
	}{
		{"cold", coldStarts},
		{"stdio", stdioRoundTrips},
		{"http", httpThroughput},
		{"waits", blockedWaits},
		{"team", teamBench},
	} {
		if !o.includes(step.section) {
			continue
		}
		if err := step.f(o, b, r); err != nil {
			return fmt.Errorf("%s: %w", step.section, err)
		}
	}
	if o.profiles && o.includes("profiles") {
		if err := httpProfile(o, b, r); err != nil {
			return fmt.Errorf("http profile: %w", err)
		}
	}
	r.print(os.Stdout, o, b, load0, time.Since(started))
	return nil
}

// captureAnswer saves aipaint-mcp's list_styles result: the baseline's
// echo answers it too, so that the answer's size is not counted as overhead.
func captureAnswer(b *bins) error {
	s, err := spawnStdio("aipaint-mcp", b.aipaint, b.configured())
	if err != nil {
		return err
	}
	defer s.stop()
	if err := s.initialize(); err != nil {
		return err
	}
	line, err := s.request("tools/call", `{"name":"list_styles","arguments":{}}`)
	if err != nil {
		return err
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(line, &msg); err != nil {
		return err
	}
	b.answer = filepath.Join(b.dir, "list_styles.json")
	return os.WriteFile(b.answer, msg.Result, 0o600)
}

// Cold start: spawn → initialize answered, and → the first tools/list, for
// aipaint-mcp unconfigured (no credentials: no upstream, no store) and
// configured as on a desktop (credentials, URLs and a data folder holding a
// task store with a history: the store is opened and resumed). The binaries
// take turns, aipaint-mcp and the baseline always alternating (unconfigured,
// baseline, desktop, baseline, ...), so that whatever else the machine runs
// falls on both alike, and no start follows one of the same binary (which
// finds more of it in the CPU caches: that alone made a start ~10 % faster).
// The first round only warms the page cache.
func coldStarts(o options, b bins, r *report) error {
	desktop := filepath.Join(b.dir, "desktop")
	if err := seedStore(desktop, storedTasks); err != nil {
		return fmt.Errorf("seed the task store: %w", err)
	}
	type target struct {
		name, bin string
		env       []string
		init, ls  []time.Duration
	}
	ts := []*target{
		{name: "aipaint-mcp", bin: b.aipaint, env: b.unconfigured()},
		{name: "aipaint-mcp", bin: b.aipaint, env: b.desktop(desktop)},
		{name: "baseline", bin: b.baseline, env: b.env()},
	}
	round := []*target{ts[0], ts[2], ts[1], ts[2]}
	for i := range o.runs + 1 {
		for _, t := range round {
			t0 := time.Now()
			s, err := spawnStdio(t.name, t.bin, t.env)
			if err != nil {
				return err
			}
			if _, err := s.request("initialize", initParams); err != nil {
				s.stop()
				return err
			}
			t1 := time.Since(t0)
			if err := s.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
				s.stop()
				return err
			}
			if _, err := s.request("tools/list", ""); err != nil {
				s.stop()
				return err
			}
			t2 := time.Since(t0)
			s.stop()
			if i > 0 {
				t.init, t.ls = append(t.init, t1), append(t.ls, t2)
			}
		}
	}
	base := ts[2]
	for k, a := range ts[:2] {
		what := []string{"unconfigured", fmt.Sprintf("desktop, %d stored tasks", storedTasks)}[k]
		r.add("Cold start → initialize answered, median ("+what+")", ms(median(a.init)), ms(median(base.init)), lower, []string{"≤ 15 ms; ≤ +10 %", "≤ +10 %"}[k])
		r.add("Cold start → initialize answered, p90 ("+what+")", ms(pct(a.init, 0.9)), ms(pct(base.init, 0.9)), lower, "")
		r.add("Cold start → first tools/list, median ("+what+")", ms(median(a.ls)), ms(median(base.ls)), lower, "")
		r.add("Cold start → first tools/list, p90 ("+what+")", ms(pct(a.ls, 0.9)), ms(pct(base.ls, 0.9)), lower, "")
	}
	return nil
}

// storedTasks is the history of the desktop cold start's task store: a few
// months of use.
const storedTasks = 300

// seedStore writes n finished tasks, one every few hours back from now, each
// file dated when its task finished (as if written then), as the store of a
// desktop that has been in use for a while.
func seedStore(dir string, n int) error {
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	for i := range n {
		at := now.Add(-time.Duration(i+1) * 7 * time.Hour)
		rec := store.Record{
			TaskID:      fmt.Sprintf("bench%06d", i),
			Request:     client.Request{Text: "竹林里的熊猫", Style: "古风", Resolution: "1024*1024", Num: 1 + i%2},
			Status:      store.StatusDone,
			SubmittedAt: at, CreatedAt: at, DoneAt: at.Add(20 * time.Second), TookSeconds: 18 + float64(i%5),
		}
		rec.SetImages([]string{fmt.Sprintf("https://images.invalid/%d.png", i)})
		if _, err := st.Put(context.Background(), rec); err != nil {
			return err
		}
		done := rec.DoneAt
		path := filepath.Join(dir, "tasks", rec.TaskID+".json")
		if err := os.Chtimes(path, done, done); err != nil {
			return err
		}
	}
	return nil
}

// Round trips over stdio, one at a time: ping (the protocol alone), and
// list_styles against the baseline's echo, answering "ok" or the same answer.
func stdioRoundTrips(o options, b bins, r *report) error {
	measure := func(name, bin string, env []string, args []string, method, params string) ([]time.Duration, error) {
		s, err := spawnStdio(name, bin, env, args...)
		if err != nil {
			return nil, err
		}
		defer s.stop()
		if err := s.initialize(); err != nil {
			return nil, err
		}
		lat := make([]time.Duration, 0, o.calls)
		for i := range o.calls + o.calls/10 { // the first tenth warms up
			t := time.Now()
			if _, err := s.request(method, params); err != nil {
				return nil, err
			}
			if i >= o.calls/10 {
				lat = append(lat, time.Since(t))
			}
		}
		return lat, nil
	}
	const listStyles, echo = `{"name":"list_styles","arguments":{}}`, `{"name":"echo","arguments":{}}`
	runs := []struct {
		name, bin string
		env, args []string
		method    string
		params    string
	}{
		{"aipaint-mcp", b.aipaint, b.configured(), nil, "ping", ""},
		{"baseline", b.baseline, b.env(), nil, "ping", ""},
		{"aipaint-mcp", b.aipaint, b.configured(), nil, "tools/call", listStyles},
		{"baseline", b.baseline, b.env(), nil, "tools/call", echo},
		{"baseline", b.baseline, b.env(), []string{"-answer", b.answer}, "tools/call", echo},
	}
	lat := make([][]time.Duration, len(runs))
	for i, x := range runs {
		var err error
		if lat[i], err = measure(x.name, x.bin, x.env, x.args, x.method, x.params); err != nil {
			return err
		}
	}
	r.add("stdio ping round trip, p50", ms(median(lat[0])), ms(median(lat[1])), lower, "")
	r.add("stdio ping round trip, p99", ms(pct(lat[0], 0.99)), ms(pct(lat[1], 0.99)), lower, "")
	r.add("stdio list_styles round trip, p50 (baseline: echo \"ok\")", ms(median(lat[2])), ms(median(lat[3])), lower, "≤ 0.5 ms")
	r.add("stdio list_styles round trip, p99 (baseline: echo \"ok\")", ms(pct(lat[2], 0.99)), ms(pct(lat[3], 0.99)), lower, "")
	r.add("stdio list_styles round trip, p50 (baseline: echo of the same answer)", ms(median(lat[2])), ms(median(lat[4])), lower, "≤ +10 %")
	r.add("stdio list_styles round trip, p99 (baseline: echo of the same answer)", ms(pct(lat[2], 0.99)), ms(pct(lat[4], 0.99)), lower, "")
	return nil
}

// Throughput over streamable HTTP with 1, 8 and 32 concurrent sessions:
// list_styles against the baseline echoing the same answer, and, at 32,
// against the baseline's plain "ok". The servers take turns in rounds, so
// that a neighbour's load falls on both alike.
func httpThroughput(o options, b bins, r *report) error {
	type target struct {
		name, bin string
		env, args []string
		msg       string
	}
	a := target{"aipaint-mcp", b.aipaint, b.configured(), nil, toolCall("list_styles", "{}")}
	same := target{"baseline", b.baseline, b.env(), []string{"-answer", b.answer}, toolCall("echo", "{}")}
	ok := target{"baseline", b.baseline, b.env(), nil, toolCall("echo", "{}")}
	rounds := 3
	if o.quick {
		rounds = 1
	}
	for _, clients := range []int{1, 8, 32} {
		ts := []target{a, same}
		if clients == 32 {
			ts = append(ts, ok)
		}
		got := make([]load, len(ts))
		for round := range rounds {
			for j := range ts {
				i := (j + round) % len(ts)
				s, url, err := spawnHTTP(ts[i].name, ts[i].bin, ts[i].env, ts[i].args...)
				if err != nil {
					return err
				}
				l, err := throughput(url, s.pid(), clients, o.duration/time.Duration(rounds), ts[i].msg)
				s.stop()
				if err != nil {
					return fmt.Errorf("%s: %w", ts[i].name, err)
				}
				got[i].merge(l)
			}
		}
		target := ""
		if clients == 32 {
			target = "≥ 5,000/s; ≥ −10 %"
		}
		c := fmt.Sprintf("HTTP %d client(s): ", clients)
		r.add(c+"list_styles calls/s (baseline: echo of the same answer)", got[0].rate(), got[1].rate(), higher, target)
		r.add(c+"p50", ms(median(got[0].lat)), ms(median(got[1].lat)), lower, "")
		r.add(c+"p99", ms(pct(got[0].lat, 0.99)), ms(pct(got[1].lat, 0.99)), lower, "")
		r.add(c+"server CPU per call (µs)", us(got[0].cpuPerCall()), us(got[1].cpuPerCall()), lower, "")
		if clients == 32 {
			r.add(c+"list_styles calls/s (baseline: echo \"ok\")", got[0].rate(), got[2].rate(), higher, "")
			r.add(c+"server CPU per call (µs) (baseline: echo \"ok\")", us(got[0].cpuPerCall()), us(got[2].cpuPerCall()), lower, "")
		}
	}
	return nil
}

// Many calls blocked in their wait over streamable HTTP: generate_image on
// a sandbox whose tasks stay queued (in this process, so its work is not
// counted), against the baseline's echo holding each call as long.
func blockedWaits(o options, b bins, r *report) error {
	sb, err := sandbox.Start(sandbox.Options{Delay: time.Hour})
	if err != nil {
		return err
	}
	defer sb.Close()
	type outcome struct {
		peak, rss int64
		heap      int64 // in use, live and not yet collected
		stacks    int64
		cpu       float64 // share of one core
		gor       int
		queries   float64 // upstream queries per second
	}
	// waiting counts the calls in their wait: aipaint-mcp's once committed
	// and polling (the commits of 1,000 calls in a burst take seconds and
	// are not the wait's cost), the baseline's once sent.
	measure := func(name, bin string, env []string, msg func(i int) string, waiting func(pprofAddr string) (int, error)) (outcome, error) {
		var out outcome
		pprofAddr, err := freeAddr()
		if err != nil {
			return out, err
		}
		s, url, err := spawnHTTP(name, bin, append(env, "AIPAINT_PPROF_ADDR="+pprofAddr))
		if err != nil {
			return out, err
		}
		defer s.stop()
		hc := newHTTPClient(o.waits, time.Duration(o.waitSeconds+60)*time.Second)
		defer hc.CloseIdleConnections()
		sess, err := openSession(hc, url)
		if err != nil {
			return out, err
		}
		var wg sync.WaitGroup
		errs := make(chan error, o.waits)
		for i := range o.waits {
			wg.Go(func() {
				if _, err := sess.call(msg(i)); err != nil {
					errs <- err
				}
			})
		}
		// All calls in and waiting, then a moment to settle.
		callStart := time.Now()
		for {
			n, err := waiting(pprofAddr)
			if err != nil {
				return out, err
			}
			if n >= o.waits {
				break
			}
			if time.Since(callStart) > time.Duration(o.waitSeconds)*time.Second/2 {
				return out, fmt.Errorf("%s: only %d of %d calls were waiting in time", name, n, o.waits)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(min(time.Second, o.idle/2))
		var prof []byte
		var profErr error
		var profWG sync.WaitGroup
		if o.profiles && name == "aipaint-mcp" {
			profWG.Go(func() { prof, profErr = fetch(pprofAddr, fmt.Sprintf("profile?seconds=%d", int(o.idle.Seconds()))) })
		}
		q0 := sb.Stats().Queries
		c0, err := procCPU(s.pid())
		if err != nil {
			return out, err
		}
		t0 := time.Now()
		time.Sleep(o.idle)
		c1, _ := procCPU(s.pid())
		window := time.Since(t0)
		out.cpu = float64(c1-c0) / float64(window)
		out.queries = float64(sb.Stats().Queries-q0) / window.Seconds()
		if out.gor, err = goroutines(pprofAddr); err != nil {
			return out, err
		}
		out.rss, out.peak, _ = procMem(s.pid())
		ms, err := memStats(pprofAddr, "HeapInuse", "Stack")
		if err != nil {
			return out, err
		}
		out.heap, out.stacks = ms["HeapInuse"], ms["Stack"]
		profWG.Wait()
		if o.profiles && name == "aipaint-mcp" {
			if profErr != nil {
				return out, profErr
			}
			r.profile("CPU while 1,000 calls wait (aipaint-mcp, -sample_index=cpu)", b.aipaintPprof, prof, "")
			heap, err := fetch(pprofAddr, "heap")
			if err != nil {
				return out, err
			}
			r.profile("Heap in use while 1,000 calls wait (aipaint-mcp, -sample_index=inuse_space)", b.aipaintPprof, heap, "inuse_space")
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		return out, nil
	}
	var lastRead time.Time
	a, err := measure("aipaint-mcp", b.aipaintPprof,
		b.env(config.AppKey+"="+sandbox.AppKey, config.AppSecret+"="+sandbox.AppSecret,
			config.SubmitURL+"="+sb.SubmitURL(), config.QueryURL+"="+sb.QueryURL()),
		func(i int) string {
			return toolCall("generate_image", fmt.Sprintf(`{"text":"竹林里的熊猫 %d","wait_seconds":%d}`, i, o.waitSeconds))
		},
		func(pprofAddr string) (int, error) {
			// Each read of the server's goroutine profile (3,000
			// goroutines, a key string each) is garbage in the server:
			// read every 50 ms, it was 86 of the 158 MB the server
			// allocated (heap profile) and raised the GC goal the waits
			// were then measured in. Read only once every submit has
			// reached the sandbox, and at most every 250 ms.
			if n := int(sb.Stats().Submits); n < o.waits {
				return n, nil
			}
			if !lastRead.IsZero() && time.Since(lastRead) < 250*time.Millisecond {
				return 0, nil
			}
			lastRead = time.Now()
			return goroutinesIn(pprofAddr, "aipaint-mcp/wait.(*Poller).Wait")
		})
	if err != nil {
		return err
	}
	var started counter // the baseline has no upstream: its calls are counted at the client
	base, err := measure("baseline", b.baseline, b.env(),
		func(i int) string {
			started.add()
			return toolCall("echo", fmt.Sprintf(`{"sleep_ms":%d}`, o.waitSeconds*1000))
		},
		func(string) (int, error) { return started.get(), nil })
	if err != nil {
		return err
	}
	n := fmt.Sprintf("%d", o.waits)
	r.add(n+" blocked calls: peak RSS (MB)", mb(a.peak), mb(base.peak), lower, "≤ 100 MB")
	r.add(n+" blocked calls: RSS while waiting (MB)", mb(a.rss), mb(base.rss), lower, "")
	r.add(n+" blocked calls: Go heap in use (MB)", mb(a.heap), mb(base.heap), lower, "")
	r.add(n+" blocked calls: goroutine stacks (MB)", mb(a.stacks), mb(base.stacks), lower, "")
	r.add(n+" blocked calls: CPU while waiting (% of a core)", a.cpu*100, base.cpu*100, lower, "≤ 2 %")
	r.add(n+" blocked calls: goroutines", float64(a.gor), float64(base.gor), lower, "")
	r.add(n+" blocked calls: upstream queries/s", a.queries, base.queries, none, "")
	if a.queries > 0 {
		r.add(n+" blocked calls: server CPU per upstream query (µs)", a.cpu/a.queries*1e6, 0, none, "")
	}
	return nil
}

// counter counts calls the baseline has been sent. The count runs slightly
// ahead of arrival; the settle pause after it covers the difference.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// httpProfile is a CPU profile of aipaint-mcp serving list_styles to 32
// clients, and one of the baseline echoing the same answer, for comparison.
func httpProfile(o options, b bins, r *report) error {
	secs := max(int(o.duration.Seconds()), 1)
	for _, t := range []struct {
		title, bin string
		env, args  []string
		msg        string
	}{
		{"CPU serving list_styles to 32 HTTP clients (aipaint-mcp)", b.aipaintPprof, b.configured(), nil, toolCall("list_styles", "{}")},
		{"CPU serving the same answer to 32 HTTP clients (baseline)", b.baseline, b.env(), []string{"-answer", b.answer}, toolCall("echo", "{}")},
	} {
		pprofAddr, err := freeAddr()
		if err != nil {
			return err
		}
		s, url, err := spawnHTTP(t.title, t.bin, append(t.env, "AIPAINT_PPROF_ADDR="+pprofAddr), t.args...)
		if err != nil {
			return err
		}
		var prof []byte
		var profErr error
		var wg sync.WaitGroup
		wg.Go(func() { prof, profErr = fetch(pprofAddr, fmt.Sprintf("profile?seconds=%d", secs)) })
		l, err := throughput(url, s.pid(), 32, time.Duration(secs)*time.Second+500*time.Millisecond, t.msg)
		wg.Wait()
		s.stop()
		if err != nil {
			return err
		}
		if profErr != nil {
			return profErr
		}
		r.profile(fmt.Sprintf("%s, %d calls", t.title, l.calls), t.bin, prof, "")
	}
	return nil
}

func fetch(pprofAddr, path string) ([]byte, error) {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pprof %s: HTTP %d", path, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// Reporting.

type better int

const (
	lower better = iota
	higher
	none
)

type row struct {
	name    string
	a, base float64
	better  better
	target  string
}

type profileTop struct{ title, top string }

type report struct {
	rows       []row
	team       []teamRow
	profiles   []profileTop
	profileDir string
}

func (r *report) add(name string, a, base float64, b better, target string) {
	r.rows = append(r.rows, row{name, a, base, b, target})
}

// profile keeps the top entries of a profile, as go tool pprof -top shows them.
func (r *report) profile(title, bin string, data []byte, sampleIndex string) {
	f, err := os.CreateTemp("", "aipaint-*.pprof")
	if err != nil {
		r.profiles = append(r.profiles, profileTop{title, err.Error()})
		return
	}
	defer os.Remove(f.Name())
	_, _ = f.Write(data)
	f.Close()
	if r.profileDir != "" {
		name := strings.Map(func(c rune) rune {
			if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
				return c
			}
			return '-'
		}, strings.ToLower(title))
		_ = os.MkdirAll(r.profileDir, 0o755)
		_ = os.WriteFile(filepath.Join(r.profileDir, name+".pprof"), data, 0o644)
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=15"}
	if sampleIndex != "" {
		args = append(args, "-sample_index="+sampleIndex)
	}
	out, err := exec.Command("go", append(args, bin, f.Name())...).CombinedOutput()
	if err != nil {
		out = append(out, []byte(err.Error())...)
	}
	// Keep the summary lines and the table; drop the file and build id.
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") || line == "" {
			continue
		}
		keep = append(keep, line)
	}
	r.profiles = append(r.profiles, profileTop{title, strings.Join(keep, "\n")})
}

func (r *report) print(w io.Writer, o options, b bins, load0 string, took time.Duration) {
	mode := "full"
	if o.quick {
		mode = "quick (smoke only: too few samples to quote)"
	}
	fmt.Fprintf(w, "# aipaint-mcp bench, %s run, %s\n\n", mode, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- Machine: %s, %d logical CPUs, Linux %s, %s/%s\n", cpuModel(), runtime.NumCPU(), osRelease(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- Go: %s; mcp-go %s; commit %s\n", goVersion(), mcpGoVersion(), gitCommit())
	fmt.Fprintf(w, "- Load average (1, 5, 15 min): %s at the start, %s at the end; the run took %s\n", load0, loadavg(), took.Round(time.Second))
	fmt.Fprintf(w, "- Samples: %d cold starts per aipaint-mcp case (the baseline twice as many) and %d stdio round trips per binary and method; %s per HTTP level; %d blocked calls (wait_seconds %d, CPU over %s)\n\n",
		o.runs, o.calls, o.duration, o.waits, o.waitSeconds, o.idle)

	fmt.Fprintln(w, "| Measure | aipaint-mcp | baseline | ratio | overhead | target |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	for _, x := range r.rows {
		ratio, overhead := "", ""
		if x.base > 0 && x.better != none {
			q := x.a / x.base
			ratio = fmt.Sprintf("%.2f", q)
			if x.better == lower {
				overhead = fmt.Sprintf("%+.0f %%", (q-1)*100)
			} else {
				overhead = fmt.Sprintf("%+.0f %%", (1/q-1)*100)
			}
		}
		base := num(x.base)
		if x.better == none && x.base == 0 {
			base = "–"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", x.name, num(x.a), base, ratio, overhead, x.target)
	}
	fmt.Fprintln(w, "\nRatio: aipaint-mcp ÷ baseline. Overhead: how much worse aipaint-mcp is (time or RSS more, calls/s fewer); negative is better.")

	if len(r.team) > 0 {
		fmt.Fprintln(w, "\n## Team server (issue 13): replicas on one PostgreSQL database")
		fmt.Fprintln(w, "\nThe sandbox runs in the bench process (its work is not counted); no tokens file; every throughput call is a new request.")
		fmt.Fprintln(w, "\n| Measure | aipaint-mcp | target |")
		fmt.Fprintln(w, "| --- | ---: | --- |")
		for _, x := range r.team {
			fmt.Fprintf(w, "| %s | %s | %s |\n", x.name, num(x.value), x.target)
		}
	}

	fmt.Fprintln(w, "\n## Polling cost (simulated clock; wait.Schedule as Wait runs it)")
	fmt.Fprintln(w, "\nTasks take the typical duration ±20 %, 1,000 per row; first look right after the submit. Queries per task / mean delay between finishing and being noticed / worst delay.")
	fmt.Fprintln(w, "\n| Schedule | 5 s tasks | 20 s tasks (target ≤ 10, ≤ 1.5 s) | 120 s tasks |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, s := range pollStrategies {
		fmt.Fprintf(w, "| %s |", s.name)
		for _, typical := range []time.Duration{5 * time.Second, 20 * time.Second, 120 * time.Second} {
			p := simulatePolling(wait.Schedule{Backoff: wait.DefaultBackoff, Expect: s.hint(typical)}, typical)
			fmt.Fprintf(w, " %.1f q / %.2f s / %.1f s |", p.queries, p.meanLate.Seconds(), p.maxLate.Seconds())
		}
		fmt.Fprintln(w)
	}

	for _, p := range r.profiles {
		fmt.Fprintf(w, "\n## Profile: %s\n\n```\n%s\n```\n", p.title, p.top)
	}
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

func median(ds []time.Duration) time.Duration { return pct(ds, 0.5) }

// pct is the p-quantile (nearest rank).
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Machine description.

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func osRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

func mcpGoVersion() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/mark3labs/mcp-go").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}
