package e2e

import (
	"aipaint-mcp/internal/syncbuf"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 15 * time.Second // until an HTTP server's port accepts
	exitTimeout  = 20 * time.Second // from SIGTERM (or stdin EOF) to exit: a liveness bound, generous for a loaded CI machine
)

// serverEnv is the test's environment without any AIPAINT_ setting (so a
// developer's credentials never reach a test server), with a data and an
// output folder of its own (never the user's, and no deduplication across
// tests) and no shutdown grace, plus extra, which may override them (the
// last value of a name wins).
func serverEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AIPAINT_") {
			env = append(env, kv)
		}
	}
	if dir, err := os.MkdirTemp(workDir, "run-"); err == nil {
		env = append(env, "AIPAINT_DATA_DIR="+filepath.Join(dir, "data"), "AIPAINT_OUTPUT_DIR="+filepath.Join(dir, "out"))
	}
	// No grace at the stop of an HTTP server (it would add 5 s to every
	// test's cleanup), except in the tests of that grace (drain_test.go).
	env = append(env, "AIPAINT_SHUTDOWN_GRACE=0")
	return append(env, extra...)
}

// logStderrOnFailure prints a server's log when the test fails.
func logStderrOnFailure(t *testing.T, name string, stderr *syncbuf.Buffer) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr of %s:\n%s", name, stderr.String())
		}
	})
}

// proc is a server process listening on HTTP.
type proc struct {
	name    string
	addr    string // host:port
	cmd     *exec.Cmd
	stderr  *syncbuf.Buffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
	stopped bool
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("release the free port: %v", err)
	}
	return addr
}

// startHTTPServer runs `aipaint-mcp serve --transport transport --addr ADDR
// --sandbox` (unless sandbox is false) with env added to a clean environment,
// waits until its port accepts, and stops it with SIGTERM at cleanup.
func startHTTPServer(t *testing.T, transport string, sandbox bool, env ...string) *proc {
	t.Helper()
	var lastErr error
	// A port freed by freeAddr can be taken by someone else before the server
	// binds it: a bounded number of fresh attempts covers that race.
	for attempt := 1; attempt <= 3; attempt++ {
		p, err := tryStartHTTPServer(t, transport, sandbox, env)
		if err == nil {
			t.Cleanup(func() { p.stop(t) })
			return p
		}
		lastErr = err
		t.Logf("start %s server, attempt %d: %v", transport, attempt, err)
	}
	t.Fatalf("could not start the %s server: %v", transport, lastErr)
	return nil
}

func tryStartHTTPServer(t *testing.T, transport string, sandbox bool, env []string) (*proc, error) {
	t.Helper()
	addr := freeAddr(t)
	args := []string{"serve", "--transport", transport, "--addr", addr}
	if sandbox {
		args = append(args, "--sandbox")
	}
	p := &proc{
		name:   fmt.Sprintf("aipaint-mcp %s", strings.Join(args, " ")),
		addr:   addr,
		cmd:    exec.Command(binPath, args...),
		stderr: &syncbuf.Buffer{},
		done:   make(chan struct{}),
	}
	p.cmd.Env = serverEnv(env...)
	p.cmd.Stdout = p.stderr // nothing is expected on stdout in HTTP mode; keep it in the log
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(startTimeout)
	// Listening is known from the server's own log line, not from the port
	// accepting: with many servers starting in parallel tests, another
	// process may have taken the port freeAddr chose and be the one that
	// answers (this server then fails to bind, or has not bound yet).
	listening := []string{`msg="serving MCP" transport=` + transport + " addr=" + addr + " ",
		`"msg":"serving MCP","transport":"` + transport + `","addr":"` + addr + `"`} // AIPAINT_LOG_FORMAT text or json
	for {
		if log := p.stderr.String(); strings.Contains(log, listening[0]) || strings.Contains(log, listening[1]) {
			conn, err := net.DialTimeout("tcp", addr, 250*time.Millisecond)
			if err == nil {
				_ = conn.Close()
				logStderrOnFailure(t, p.name, p.stderr)
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			<-p.done
			return nil, fmt.Errorf("not listening on %s within %s; stderr:\n%s", addr, startTimeout, p.stderr.String())
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("exited before listening (%v); stderr:\n%s", p.waitErr, p.stderr.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and checks that the server exits cleanly within exitTimeout.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.stopped {
		return
	}
	select {
	case <-p.done:
		p.stopped = true
		t.Errorf("%s exited before it was stopped: %v", p.name, p.waitErr)
		return
	default:
	}
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	switch code := p.exited(t); {
	case code == 0:
		t.Logf("%s exited %s after SIGTERM", p.name, time.Since(start).Round(time.Millisecond))
	case code > 0:
		t.Errorf("%s: exit after SIGTERM: %v (want exit status 0)", p.name, p.waitErr)
	}
}

// signal sends sig to the server; the test then sees to its end (exited),
// not the cleanup.
func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	p.stopped = true
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Errorf("%s %s: %v", sig, p.name, err)
	}
}

// exited waits, within exitTimeout, for the server to exit by itself and
// returns its exit status; -1 (and the test fails) if it did not.
func (p *proc) exited(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(exitTimeout):
	}
	// SIGQUIT makes a Go program print every goroutine's stack to stderr:
	// the log then shows what held the exit.
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	t.Errorf("%s did not exit within %s of its stop signal (stopped with SIGQUIT: goroutine dump in its stderr below)", p.name, exitTimeout)
	return -1
}

// stdioServer is the command line of a stdio server process.
func stdioServer(sandbox bool, env ...string) *exec.Cmd {
	args := []string{"serve", "--transport", "stdio"}
	if sandbox {
		args = append(args, "--sandbox")
	}
	cmd := exec.Command(binPath, args...)
	cmd.Env = serverEnv(env...)
	return cmd
}

// stdioCommand is the command of a stdio server, for mcp.CommandTransport.
func stdioCommand(t *testing.T, sandbox bool, env ...string) (*exec.Cmd, *syncbuf.Buffer) {
	t.Helper()
	cmd := stdioServer(sandbox, env...)
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	logStderrOnFailure(t, "aipaint-mcp "+strings.Join(cmd.Args[1:], " "), stderr)
	return cmd, stderr
}

var errNotFound = errors.New("not found on the wire")
