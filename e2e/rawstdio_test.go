package e2e

import (
	"aipaint-mcp/internal/syncbuf"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rawRequest is one JSON-RPC message a raw stdio session sends after the
// handshake. ID 0 means a notification.
type rawRequest struct {
	ID     int
	Method string
	Params any
}

// rawStdioResult is everything a raw stdio server wrote to stdout.
type rawStdioResult struct {
	lines     [][]byte                // every line of stdout, in order
	responses map[int]map[string]any  // by request id: the decoded response
	raw       map[int]json.RawMessage // by request id: the raw "result"
	notes     []map[string]any        // server notifications, decoded
	badLines  []string                // lines that are not JSON-RPC, with why
	exitErr   error                   // the process's exit after stdin closed
	exitAfter time.Duration           // from closing stdin to exit
	stderr    *syncbuf.Buffer         // the server log
}

// checkJSONRPCLine reports why a stdout line is not one JSON-RPC 2.0 message.
func checkJSONRPCLine(line []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	if string(m["jsonrpc"]) != `"2.0"` {
		return fmt.Errorf(`"jsonrpc" is %s, want "2.0"`, m["jsonrpc"])
	}
	for k := range m {
		switch k {
		case "jsonrpc", "id", "method", "params", "result", "error":
		default:
			return fmt.Errorf("unexpected member %q", k)
		}
	}
	_, hasID := m["id"]
	_, hasMethod := m["method"]
	_, hasResult := m["result"]
	_, hasError := m["error"]
	switch {
	case hasMethod && !hasResult && !hasError:
		return nil // request or notification
	case !hasMethod && hasID && hasResult != hasError:
		return nil // response
	}
	return errors.New("neither a request, a notification nor a response")
}

// runRawStdio starts a stdio server, does the initialize handshake with the
// given protocol version, sends reqs, waits for a response to every request,
// closes stdin and waits for the process to exit. Every stdout line is checked
// to be a JSON-RPC message.
func runRawStdio(t *testing.T, ctx context.Context, protocolVersion string, sandbox bool, env []string, reqs []rawRequest) *rawStdioResult {
	t.Helper()
	cmd := stdioServer(sandbox, env...)
	res := &rawStdioResult{
		responses: map[int]map[string]any{},
		raw:       map[int]json.RawMessage{},
		stderr:    &syncbuf.Buffer{},
	}
	cmd.Stderr = res.stderr
	logStderrOnFailure(t, "raw aipaint-mcp "+strings.Join(cmd.Args[1:], " "), res.stderr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stdio server: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	lines := make(chan []byte, 64)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(lines)
		br := bufio.NewReaderSize(stdout, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		<-readDone // Wait closes stdout: read everything first
		waitErr = cmd.Wait()
		close(exited)
	}()
	killed := false
	t.Cleanup(func() {
		if !killed {
			select {
			case <-exited:
			default:
				_ = cmd.Process.Kill()
				<-exited
			}
		}
	})

	send := func(id int, method string, params any) {
		t.Helper()
		msg := map[string]any{"jsonrpc": "2.0", "method": method}
		if params != nil {
			msg["params"] = params
		}
		if id != 0 {
			msg["id"] = id
		}
		b, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			t.Fatalf("write %s to the server: %v", method, err)
		}
	}
	record := func(line []byte) {
		res.lines = append(res.lines, line)
		trimmed := strings.TrimRight(string(line), "\r\n")
		if err := checkJSONRPCLine([]byte(trimmed)); err != nil {
			res.badLines = append(res.badLines, fmt.Sprintf("%q: %v", truncate(trimmed, 200), err))
			return
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(trimmed), &m)
		if id, ok := m["id"].(float64); ok && m["method"] == nil {
			res.responses[int(id)] = m
			var r struct {
				Result json.RawMessage `json:"result"`
			}
			_ = json.Unmarshal([]byte(trimmed), &r)
			res.raw[int(id)] = r.Result
			return
		}
		res.notes = append(res.notes, m)
	}
	awaitIDs := func(ids ...int) {
		t.Helper()
		for {
			missing := false
			for _, id := range ids {
				if _, ok := res.responses[id]; !ok {
					missing = true
				}
			}
			if !missing {
				return
			}
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("stdout closed before the responses to %v; bad lines: %v", ids, res.badLines)
				}
				record(line)
			case <-ctx.Done():
				t.Fatalf("no response to %v: %v; bad lines: %v", ids, ctx.Err(), res.badLines)
			}
		}
	}

	send(1, "initialize", map[string]any{
		"protocolVersion": protocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "aipaint-e2e-raw", "version": "0.0.1"},
	})
	awaitIDs(1)
	send(0, "notifications/initialized", nil)
	var ids []int
	for _, r := range reqs {
		send(r.ID, r.Method, r.Params)
		if r.ID != 0 {
			ids = append(ids, r.ID)
		}
	}
	awaitIDs(ids...)

	// The spec's stdio shutdown: close stdin, and the server exits.
	closed := time.Now()
	if err := stdin.Close(); err != nil {
		t.Errorf("close stdin: %v", err)
	}
	for {
		select {
		case line, ok := <-lines:
			if ok {
				record(line)
				continue
			}
		case <-ctx.Done():
			t.Fatalf("stdout did not close after stdin closed: %v", ctx.Err())
		}
		break
	}
	select {
	case <-exited:
		res.exitErr, res.exitAfter = waitErr, time.Since(closed)
	case <-time.After(exitTimeout):
		killed = true
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("the stdio server did not exit within %s of stdin closing (killed)", exitTimeout)
	}
	return res
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
