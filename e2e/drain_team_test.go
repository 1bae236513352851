//go:build unix

package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/store/postgres/pgtest"
)

// TestDrainHandsOverLeases: a team replica stopped by SIGTERM lets go of
// the leases of the pending tasks it follows as it exits, so another
// replica takes them over at its next sweep instead of after the lease
// expires. (TestTeamReplicas covers a replica killed without a stop.)
func TestDrainHandsOverLeases(t *testing.T) {
	storeURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	sb := sandboxtest.Start(t, sandboxtest.Delay(time.Minute)) // pending past the stop
	tm := &team{sb: sb, queries: &queryLog{log: map[string][]queryAt{}}, storeURL: storeURL,
		env: []string{"AIPAINT_STORE_URL=" + storeURL, "AIPAINT_HTTP_TOKEN=" + carolToken, "AIPAINT_SHUTDOWN_GRACE=1s"}}
	p := tm.start(t)
	cs := tm.session(t, ctx, carolToken, p)
	task := generate(t, ctx, cs, map[string]any{"text": "交出租约", "wait": false})
	if task.Status != "pending" {
		t.Fatalf("want a pending task, got %+v", task)
	}

	db, err := pgx.Connect(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	holder := func() string {
		t.Helper()
		var h *string
		if err := db.QueryRow(ctx, "SELECT lease_holder FROM aipaint_tasks WHERE task_id = $1", task.TaskID).Scan(&h); err != nil {
			t.Fatalf("the task's lease: %v", err)
		}
		if h == nil {
			return ""
		}
		return *h
	}
	// The replica follows its task in the background: it holds its lease.
	mine := fmt.Sprintf("/%d/", p.cmd.Process.Pid)
	for h := holder(); !strings.Contains(h, mine); h = holder() {
		select {
		case <-ctx.Done():
			t.Fatalf("the replica never took the lease of its pending task (holder %q)", h)
		case <-time.After(50 * time.Millisecond):
		}
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.exited(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	if h := holder(); h != "" {
		t.Errorf("after a clean stop the task's lease is still %q's, want none", h)
	}
}
