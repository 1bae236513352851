package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// server is one spawned server binary.
type server struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser // stdio only
	out    *bufio.Reader  // stdio only
	nextID int
}

// spawnStdio starts bin speaking MCP over stdio; stderr is discarded.
func spawnStdio(name, bin string, env []string, args ...string) (*server, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &server{name: name, cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// spawnHTTP starts bin on a free loopback port and waits until it answers.
func spawnHTTP(name, bin string, env []string, args ...string) (*server, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, append(args, "--transport", "http", "--addr", addr)...)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, "http://" + addr + "/mcp", nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, "", fmt.Errorf("%s: not listening on %s", name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server: end of input for stdio, SIGINT for HTTP, then a kill.
func (s *server) stop() {
	if s.in != nil {
		_ = s.in.Close()
	} else {
		_ = s.cmd.Process.Signal(os.Interrupt)
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// send writes one JSON-RPC line.
func (s *server) send(line string) error {
	_, err := io.WriteString(s.in, line+"\n")
	return err
}

// request sends a request with the next id and reads up to its answer
// (skipping notifications). The answer must be a result, not an error.
func (s *server) request(method, params string) ([]byte, error) {
	s.nextID++
	msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q`, s.nextID, method)
	if params != "" {
		msg += `,"params":` + params
	}
	if err := s.send(msg + "}"); err != nil {
		return nil, err
	}
	want := []byte(fmt.Sprintf(`"id":%d`, s.nextID))
	for {
		line, err := s.out.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.name, method, err)
		}
		if !bytes.Contains(line, want) {
			continue
		}
		if !bytes.Contains(line, []byte(`"result"`)) || bytes.Contains(line, []byte(`"isError":true`)) {
			return nil, fmt.Errorf("%s: %s failed: %.300s", s.name, method, line)
		}
		return line, nil
	}
}

const initParams = `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"aipaint-bench","version":"1"}}`

func (s *server) initialize() error {
	if _, err := s.request("initialize", initParams); err != nil {
		return err
	}
	return s.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// procCPU is the CPU time (user + system) the process has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after its ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ, 100 on every Linux this runs on
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// procMem is the resident set now and at its peak, in bytes.
func procMem(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak, nil
}

// goroutines reads the count from a pprof endpoint.
func goroutines(pprofAddr string) (int, error) {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	_, n, ok := strings.Cut(strings.TrimSpace(first), "total ")
	if !ok {
		return 0, fmt.Errorf("unexpected goroutine profile: %q", first)
	}
	return strconv.Atoi(n)
}

// goroutinesIn counts the goroutines whose stack holds fn (a function's
// full name), from a pprof endpoint.
func goroutinesIn(pprofAddr, fn string) (int, error) {
	data, err := fetch(pprofAddr, "goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	_, body, _ := strings.Cut(string(data), "\n") // "goroutine profile: total N"
	n := 0
	for _, block := range strings.Split(body, "\n\n") {
		if !strings.Contains(block, "\t"+fn+"+") {
			continue
		}
		var count int
		if _, err := fmt.Sscanf(block, "%d @", &count); err != nil {
			return 0, fmt.Errorf("unexpected goroutine profile block: %q", block)
		}
		n += count
	}
	return n, nil
}

// memStats reads runtime.MemStats fields from a pprof endpoint's heap
// profile in text form ("# HeapInuse = 123" lines).
func memStats(pprofAddr string, names ...string) (map[string]int64, error) {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if ok && slices.Contains(names, k) {
			out[k], _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return out, sc.Err()
}
