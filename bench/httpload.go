package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// session is one streamable HTTP MCP session, spoken in raw JSON-RPC: the
// client side costs as little as it can, so the figures are the server's.
type session struct {
	url, id, version string
	hc               *http.Client
}

func newHTTPClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
}

func openSession(hc *http.Client, url string) (*session, error) {
	s := &session{url: url, hc: hc}
	body, h, err := s.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":` + initParams + `}`)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	s.id = h.Get("Mcp-Session-Id")
	var res struct {
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if err := json.Unmarshal(sseData(body), &res); err != nil || res.Result.ProtocolVersion == "" {
		return nil, fmt.Errorf("initialize: unexpected answer %.200s", body)
	}
	s.version = res.Result.ProtocolVersion
	if _, _, err := s.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return nil, fmt.Errorf("initialized: %w", err)
	}
	return s, nil
}

// sseData is the data of an event-stream answer, or the body as it is.
func sseData(b []byte) []byte {
	if i := bytes.Index(b, []byte("data: ")); i >= 0 {
		b = b[i+len("data: "):]
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			b = b[:j]
		}
	}
	return b
}

func (s *session) post(msg string) ([]byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader([]byte(msg)))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
	}
	if s.version != "" {
		req.Header.Set("Mcp-Protocol-Version", s.version)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
	}
	return body, resp.Header, nil
}

// call posts a tools/call and checks that it answered a successful result.
func (s *session) call(msg string) ([]byte, error) {
	body, _, err := s.post(msg)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(body, []byte(`"result"`)) || bytes.Contains(body, []byte(`"isError":true`)) {
		return nil, fmt.Errorf("not a successful result: %.300s", body)
	}
	return body, nil
}

func toolCall(name, args string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + name + `","arguments":` + args + `}}`
}

// load is what a throughput run measured.
type load struct {
	calls   int
	elapsed time.Duration
	lat     []time.Duration
	cpu     time.Duration // the server's CPU time over the run
}

func (l *load) merge(m load) {
	l.calls += m.calls
	l.elapsed += m.elapsed
	l.lat = append(l.lat, m.lat...)
	l.cpu += m.cpu
}

func (l load) rate() float64 { return float64(l.calls) / l.elapsed.Seconds() }

// cpuPerCall is the server's CPU time per call: unlike calls/s, it hardly
// depends on what else the machine is running.
func (l load) cpuPerCall() time.Duration { return l.cpu / time.Duration(max(l.calls, 1)) }

// throughput runs clients concurrent sessions against the server pid, each
// calling msg in a loop, for d.
func throughput(url string, pid, clients int, d time.Duration, msg string) (load, error) {
	cpu := func() time.Duration { c, _ := procCPU(pid); return c }
	if _, err := procCPU(pid); err != nil {
		return load{}, err
	}
	return drive([]string{url}, cpu, clients, d, 30*time.Second, func() string { return msg })
}

// drive opens clients sessions, spread round-robin over urls, warms up each
// connection, then has every session call msg() in a loop for d. cpu is the
// CPU time of the servers measured.
func drive(urls []string, cpu func() time.Duration, clients int, d, timeout time.Duration, msg func() string) (load, error) {
	hc := newHTTPClient(clients*2, timeout)
	defer hc.CloseIdleConnections()
	sessions := make([]*session, clients)
	for i := range sessions {
		s, err := openSession(hc, urls[i%len(urls)])
		if err != nil {
			return load{}, err
		}
		sessions[i] = s
	}
	// Warm up every connection before the clock starts.
	for _, s := range sessions {
		if _, err := s.call(msg()); err != nil {
			return load{}, err
		}
	}
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	cpu0 := cpu()
	start := time.Now()
	stop := start.Add(d)
	for _, s := range sessions {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) {
				t := time.Now()
				if _, err := s.call(msg()); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := cpu()
	if firstErr != nil {
		return load{}, firstErr
	}
	return load{calls: len(all), elapsed: elapsed, lat: all, cpu: cpu1 - cpu0}, nil
}
