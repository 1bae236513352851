package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"aipaint-mcp/app"
	"aipaint-mcp/config"
	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// GenerateCommand draws from the terminal: generate_image's arguments and
// the paint service's protocol (then check_task's, while pending), progress
// on stderr, a summary with the paths of the saved images on stdout.
type GenerateCommand struct{ process }

// errGenerationFailed is returned when the paint service (or the
// arguments) refused or failed the call: what a tool would answer with isError.
var errGenerationFailed = errors.New("generation failed")

func (c *GenerateCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	style := fs.String("style", "", "style: a Chinese name or an English alias (see: aipaint-mcp styles)")
	resolution := fs.String("resolution", "", "1024*1024 (square), 1024*1536 (portrait) or 1536*1024 (landscape)")
	num := fs.Int("num", 0, fmt.Sprintf("number of images, %d-%d (each is billed)", schema.MinNum, schema.MaxNum))
	out := fs.String("out", ".", "folder to save the images in; they go to <folder>/<date>/<task id>_<n>.png")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting after this long (the task keeps running upstream)")
	sandbox := fs.Bool("sandbox", false, "use the built-in sandbox upstream (no account, no cost)")
	var words []string
	if err := c.parseFlags(fs, args, &words); err != nil {
		return err
	}
	if len(words) == 0 {
		fmt.Fprintln(c.stderr, "generate needs the text to draw, e.g.: aipaint-mcp generate --sandbox --style 古风 \"竹林里的熊猫\"")
		return errUsage
	}
	cfg, err := c.settings(*sandbox)
	if err != nil {
		return err
	}
	cfg.Save = true      // saving the images is this command's job
	cfg.MetricsAddr = "" // one command has nothing for Prometheus to scrape
	if cfg.OutputDir, err = filepath.Abs(*out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	level := cfg.LogLevel
	if config.Value(c.getenv, config.LogLevel) == "" {
		level = slog.LevelWarn // a terminal wants the progress lines, not the info log
	}
	// Saving the images is this command's job: it may take the whole
	// --timeout, not the few seconds an MCP client's call can spare.
	a, err := app.Build(cfg, c.logger(cfg, level), versionString(), app.ForTerminal(*timeout))
	if err != nil {
		return err
	}
	defer a.Close()
	defer context.AfterFunc(ctx, a.Drain)()
	a.Resume()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// The arguments go through generate_image's normalisation (aliases,
	// defaults, limits), and refusals read as that tool's.
	toolArgs := map[string]any{"text": strings.Join(words, " ")}
	if *style != "" {
		toolArgs["style"] = *style
	}
	if *resolution != "" {
		toolArgs["resolution"] = *resolution
	}
	if *num != 0 {
		toolArgs["num"] = *num
	}
	fmt.Fprintln(c.stderr, "提交中 submitting…")
	toolArgs["wait_seconds"] = waitSeconds(ctx)
	first, err := c.generate(ctx, a, toolArgs)
	last := first
	for err == nil && last.Task.Status != paint.StatusDone {
		w := waitSeconds(ctx)
		if w == 0 { // no time left for a real wait: never poll in a tight loop
			err = fmt.Errorf("gave up waiting after --timeout %s", *timeout)
			break
		}
		fmt.Fprintf(c.stderr, "  … 仍在生成 still drawing, task_id %s\n", first.Task.TaskID)
		last, err = c.check(ctx, a, map[string]any{"task_id": first.Task.TaskID, "wait_seconds": w})
	}
	if err != nil {
		if first.Task.TaskID != "" {
			// Submitted and billed: never let the id vanish with the error.
			return fmt.Errorf("%w; task_id %s was submitted and may still finish upstream: ask an MCP client to check_task it", err, first.Task.TaskID)
		}
		return err
	}
	t := last.Task
	fmt.Fprintf(c.stdout, "task_id: %s\nstyle: %s  resolution: %s  images: %d\n", t.TaskID, first.Task.Style, first.Task.Resolution, len(t.Images))
	if a.Tools.Sandbox {
		fmt.Fprintln(c.stdout, "(sandbox images: from the built-in stand-in, not the real API)")
	}
	failed := 0
	for _, img := range t.Images {
		if img.Path == "" {
			failed++
			fmt.Fprintf(c.stdout, "image %d: %s (not saved: %s)\n", img.Index, img.URL, img.SaveError)
			continue
		}
		fmt.Fprintf(c.stdout, "image %d: %s\n  saved: %s\n", img.Index, img.URL, img.Path)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be saved", failed, len(t.Images))
	}
	return nil
}

// generate is generate_image without MCP: normalise, then paint.Generate.
func (c *GenerateCommand) generate(ctx context.Context, a *app.App, args map[string]any) (paint.Outcome, error) {
	started := time.Now()
	g, err := schema.NormalizeGenerate(args, a.Tools.Limits)
	if err != nil {
		return paint.Outcome{}, c.failed(a, err)
	}
	out, err := a.Paint.Generate(ctx, tools.Request(g),
		paint.CallOptions{Started: started, Wait: g.Wait, WaitSeconds: g.WaitSeconds, ForceNew: g.ForceNew,
			OnPoll: c.progress(started)})
	if err != nil {
		return paint.Outcome{}, c.failed(a, err)
	}
	return out, nil
}

// check is check_task without MCP: normalise, then paint.Check.
func (c *GenerateCommand) check(ctx context.Context, a *app.App, args map[string]any) (paint.Outcome, error) {
	started := time.Now()
	ch, err := schema.NormalizeCheck(args, a.Tools.Limits)
	if err != nil {
		return paint.Outcome{}, c.failed(a, err)
	}
	out, err := a.Paint.Check(ctx, ch.TaskID, paint.CallOptions{Started: started, WaitSeconds: ch.WaitSeconds,
		OnPoll: c.progress(started)})
	if err != nil {
		return paint.Outcome{}, c.failed(a, err)
	}
	return out, nil
}

// failed words a refusal or failure as the tool would.
func (c *GenerateCommand) failed(a *app.App, err error) error {
	return fmt.Errorf("%w: %s", errGenerationFailed, tools.Explain(a.Tools, err))
}

// progress prints a line for every poll that found the task still pending:
// the seconds since the call started (submit included), in the words of the
// tools' progress notifications.
func (c *GenerateCommand) progress(started time.Time) func() {
	return func() {
		fmt.Fprintf(c.stderr, "  … 排队或绘制中 queued/drawing %ds\n", int(time.Since(started).Seconds()))
	}
}

// waitSeconds is the wait to ask for: what is left of the timeout, less a
// margin for the answer to come back, so the wait (not the deadline) ends
// first and the task id always comes back.
func waitSeconds(ctx context.Context) int {
	w := schema.DefaultWaitSeconds
	if deadline, ok := ctx.Deadline(); ok {
		w = min(w, int((time.Until(deadline)-2*time.Second)/time.Second))
	}
	return max(w, 0)
}
