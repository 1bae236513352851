package tools

import (
	"context"
	"errors"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
	"aipaint-mcp/wait"
)

// BenchmarkTaskResult is the shaping of a tool answer: text block and
// structured content, done or pending.
func BenchmarkTaskResult(b *testing.B) {
	h := &handlers{Options: Options{Paint: paint.New(paint.Options{}), Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}, Sandbox: true}}
	pending := paint.Task{TaskID: "1700000000000abcdef", TaskNo: "TN-123", Status: paint.StatusPending,
		Request:     client.Request{Text: "竹林里的熊猫，晨雾，远处的山峦若隐若现", Style: "赛博朋克", Resolution: "1024*1536", Num: 2},
		SubmittedAt: time.Now(), CreatedAt: time.Now()}
	done := pending
	done.Status = paint.StatusDone
	done.SetImages([]string{"https://img.example/a/1.png", "https://img.example/a/2.png"})
	done.Images[0].Path = "/home/user/Pictures/aipaint-mcp/2026-11-27/1700000000000abcdef_1.png"
	started := time.Now()
	for _, tc := range []struct {
		name string
		rec  paint.Task
		err  error
	}{{"done", done, nil}, {"pending", pending, wait.ErrStillPending}} {
		out := paint.Outcome{Task: tc.rec, WaitErr: tc.err, Usage: paint.Usage{Today: 12, Limit: new(100)}, Billed: 2, Submitted: true}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := h.show(context.Background(), out, started, false)
				if r.IsError {
					b.Fatal(errors.New("unexpected error result"))
				}
			}
		})
	}
}
