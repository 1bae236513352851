package tools

import (
	"errors"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/schema"
)

// BenchmarkTaskResult is the shaping of a tool answer: text block and
// structured content, done or pending.
func BenchmarkTaskResult(b *testing.B) {
	h := &handlers{Options: Options{Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}, Sandbox: true}}
	res := schema.TaskResult{TaskID: "1700000000000abcdef", Text: "竹林里的熊猫，晨雾，远处的山峦若隐若现", Style: "赛博朋克",
		Resolution: "1024*1536", Num: 2, TaskNo: "TN-123"}
	done := client.Task{TaskID: res.TaskID, Done: true, CreatedAt: time.Now(),
		Images: []string{"https://img.example/a/1.png", "https://img.example/a/2.png"}}
	pending := client.Task{TaskID: res.TaskID, CreatedAt: time.Now()}
	started := time.Now()
	for _, tc := range []struct {
		name string
		task client.Task
		err  error
	}{{"done", done, nil}, {"pending", pending, client.ErrStillPending}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := h.taskResult(res, tc.task, tc.err, started, true)
				if r.IsError {
					b.Fatal(errors.New("unexpected error result"))
				}
			}
		})
	}
}
