package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestStore(t *testing.T) (*File, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.Local)}
	s, err := Open(filepath.Join(t.TempDir(), "数据 data"), WithClock(c.now))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, c
}

// Behaviour every store shares is checked by storetest (TestConformance in
// conformance_test.go); these tests are what is particular to the file store.

var panda = client.Request{Text: "竹林里的熊猫", Style: "古风", Resolution: "1024*1024", Num: 2}

func TestRecordRoundTripAndMerge(t *testing.T) {
	s, c := newTestStore(t)
	_, err := s.Get(t.Context(), "t1")
	require.ErrorIs(t, err, ErrNotFound)

	created := time.Date(2026, 11, 27, 19, 59, 0, 0, time.FixedZone("CST", 8*3600))
	r, err := s.Put(t.Context(), Record{TaskID: "t1", TaskNo: "no1", Request: panda, CreatedAt: created})
	require.NoError(t, err)
	assert.Equal(t, StatusPending, r.Status)
	assert.Equal(t, c.now(), r.SubmittedAt)
	assert.Equal(t, created.AddDate(0, 1, 0), r.TaskExpiresAt())

	r.Status, r.DoneAt = StatusDone, c.now()
	r.SetImages([]string{"https://img/1.png", "https://img/2.png"})
	r.Images[0].Path = "/pics/t1_1.png"
	_, err = s.Put(t.Context(), r)
	require.NoError(t, err)

	// Another process that noticed the task later, without the saved path,
	// must not erase it or turn the task back to pending.
	late := Record{TaskID: "t1", Status: StatusPending}
	late.SetImages([]string{"https://img/1.png", "https://img/2.png"})
	got, err := s.Put(t.Context(), late)
	require.NoError(t, err)
	assert.Equal(t, StatusDone, got.Status)
	assert.Equal(t, "/pics/t1_1.png", got.Images[0].Path)
	assert.Equal(t, panda, got.Request)
	assert.Equal(t, "no1", got.TaskNo)
	assert.True(t, created.AddDate(0, 3, 0).Equal(got.Images[1].ExpiresAt), "%v", got.Images[1].ExpiresAt)

	again, err := s.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, got.Images, again.Images)
	assert.True(t, again.CreatedAt.Equal(created))
}

func TestHostileTaskIDsStayInsideTheStore(t *testing.T) {
	s, _ := newTestStore(t)
	for _, id := range []string{"../../etc/passwd", `..\..\win.ini`, "a/b", "..", ".", "CON", "Abc", "x\x00y", "任务", "/abs"} {
		_, err := s.Put(t.Context(), Record{TaskID: id, Request: panda})
		require.NoError(t, err, id)
		got, err := s.Get(t.Context(), id)
		require.NoError(t, err, id)
		assert.Equal(t, id, got.TaskID)
		rel, err := filepath.Rel(filepath.Join(s.Dir(), "tasks"), s.recordPath(id))
		require.NoError(t, err)
		assert.Equal(t, rel, filepath.Base(rel), "%q must map to a file directly in tasks/", id)
	}
	for _, id := range []string{"nul", "con.x", "com1", "lpt9", "aux"} {
		assert.True(t, strings.HasPrefix(filepath.Base(s.recordPath(id)), "h-"), "%q is a Windows device name: hashed", id)
	}
	assert.Equal(t, "console.json", filepath.Base(s.recordPath("console")))
	// Two ids that differ only in case must not share a file (case-insensitive file systems).
	assert.NotEqual(t, s.recordPath("abc"), s.recordPath("Abc"))
	_, err := s.Put(t.Context(), Record{TaskID: ""})
	require.Error(t, err)
}

func TestListNewestFirstSkipsDamagedFiles(t *testing.T) {
	s, c := newTestStore(t)
	for i := range 3 {
		_, err := s.Put(t.Context(), Record{TaskID: "t" + strconv.Itoa(i)})
		require.NoError(t, err)
		c.add(time.Second)
	}
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "tasks", "bad.json"), []byte("{not json"), 0o600))
	list, err := s.List(t.Context(), "", 0)
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, []string{"t2", "t1", "t0"}, []string{list[0].TaskID, list[1].TaskID, list[2].TaskID})
	list, err = s.List(t.Context(), "", 2)
	require.NoError(t, err)
	assert.Len(t, list, 2)
	_, err = s.Get(t.Context(), "bad")
	assert.ErrorContains(t, err, "damaged")
}

// commitID commits a bare record.
func commitID(s *File, res Reservation, taskID string) error {
	_, err := s.Commit(context.Background(), res, Record{TaskID: taskID})
	return err
}

func TestTornLedgerLineIsSkipped(t *testing.T) {
	s, c := newTestStore(t)
	path := s.ledgerPath(s.dayOf(c.now()))
	require.NoError(t, os.WriteFile(path, []byte(`{"r":"x","k":"k","n":`), 0o600))
	r, err := s.Reserve(context.Background(), panda, Policy{DailyLimit: new(10)})
	require.NoError(t, err)
	assert.Equal(t, 2, r.Usage.Today)
	require.NoError(t, commitID(s, r, "t1"))
	u, err := s.Usage(t.Context(), Policy{DailyLimit: new(10)})
	require.NoError(t, err)
	assert.Equal(t, 2, u.Today)
}

// TestTwoProcesses runs two OS processes on one folder: identical requests
// reserve once across both, the daily limit holds across both, and no record
// is lost or damaged.
func TestTwoProcesses(t *testing.T) {
	if os.Getenv("STORE_CHILD_DIR") != "" {
		t.Skip("child")
	}
	dir := filepath.Join(t.TempDir(), "shared 共享")
	const perProcess = 40
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "STORE_CHILD_DIR="+dir, "STORE_CHILD_ID="+strconv.Itoa(i), "STORE_CHILD_N="+strconv.Itoa(perProcess))
			out, err := cmd.CombinedOutput()
			outs[i] = out
			assert.NoError(t, err, "%s", out)
		}()
	}
	wg.Wait()

	s, err := Open(dir)
	require.NoError(t, err)
	defer s.Close()
	list, err := s.List(t.Context(), "", 0)
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, r := range list {
		ids[r.TaskID] = true
		assert.Equal(t, StatusDone, r.Status, r.TaskID)
		assert.Len(t, r.Images, 1, r.TaskID)
	}
	// Each process made perProcess unique requests, plus shared ones that
	// both made: those must have been submitted once in all.
	for p := range 2 {
		for n := range perProcess {
			assert.True(t, ids[fmt.Sprintf("p%d-%d", p, n)], "lost p%d-%d", p, n)
		}
	}
	shared := 0
	for id := range ids {
		if len(id) > 7 && id[:7] == "shared-" {
			shared++
		}
	}
	assert.Equal(t, perProcess/4, shared, "each shared request submitted exactly once")
	files, err := filepath.Glob(filepath.Join(dir, "tasks", "*.json"))
	require.NoError(t, err)
	assert.Len(t, files, len(list), "no damaged or stray record files")
	u, err := s.Usage(t.Context(), Policy{})
	require.NoError(t, err)
	assert.Equal(t, 2*perProcess+perProcess/4, u.Today)
	leftovers, _ := filepath.Glob(filepath.Join(dir, "tasks", ".*"))
	assert.Empty(t, leftovers)
}

// TestChildProcess is one of TestTwoProcesses's processes.
func TestChildProcess(t *testing.T) {
	dir := os.Getenv("STORE_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestTwoProcesses")
	}
	id := os.Getenv("STORE_CHILD_ID")
	n, _ := strconv.Atoi(os.Getenv("STORE_CHILD_N"))
	s, err := Open(dir)
	require.NoError(t, err)
	defer s.Close()
	p := Policy{DedupWindow: time.Hour}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work := []client.Request{{Text: "p" + id + "-" + strconv.Itoa(i), Num: 1}}
			if i%4 == 0 {
				work = append(work, client.Request{Text: "shared-" + strconv.Itoa(i/4), Num: 1})
			}
			for _, req := range work {
				r, err := s.Reserve(context.Background(), req, p)
				if !assert.NoError(t, err) {
					return
				}
				if r.Existing != nil {
					continue
				}
				rec := Record{TaskID: req.Text, Request: req, Status: StatusDone}
				rec.SetImages([]string{"https://img/" + req.Text + ".png"})
				_, err = s.Commit(t.Context(), r, rec)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	_, err = s.Get(t.Context(), "nope")
	assert.True(t, errors.Is(err, ErrNotFound))
}

// BenchmarkReserveCommit is the store's cost on every paid call: the lock,
// reading today's ledger, appending two lines and writing one record.
func BenchmarkReserveCommit(b *testing.B) {
	s, err := Open(b.TempDir())
	require.NoError(b, err)
	defer s.Close()
	p := Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(1_000_000)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := s.Reserve(context.Background(), client.Request{Text: strconv.Itoa(i), Num: 1}, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Commit(b.Context(), r, Record{TaskID: "t" + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReserveBusyDay is a reservation on a day whose ledger already
// holds 1,000 (a burst of waits): what is parsed and folded once is not
// copied or folded again per reservation.
func BenchmarkReserveBusyDay(b *testing.B) {
	s, err := Open(b.TempDir())
	require.NoError(b, err)
	defer s.Close()
	p := Policy{DailyLimit: new(1_000_000)}
	for i := range 1000 {
		r, err := s.Reserve(b.Context(), client.Request{Text: strconv.Itoa(i), Num: 1}, p)
		require.NoError(b, err)
		require.NoError(b, commitID(s, r, "t"+strconv.Itoa(i)))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := s.Reserve(b.Context(), client.Request{Text: "b" + strconv.Itoa(i), Num: 1}, p)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// The ledger is read incrementally: a line another process is still writing
// (or a crash cut short) at the end is left for later, then skipped once the
// next entry ends it, and entries appended by others are all seen.
func TestLedgerReadsWhatOthersAppend(t *testing.T) {
	s, c := newTestStore(t)
	other, err := Open(s.Dir(), WithClock(c.now))
	require.NoError(t, err)
	defer other.Close()
	ctx := context.Background()
	r, err := s.Reserve(ctx, client.Request{Text: "a", Num: 1}, Policy{})
	require.NoError(t, err)
	require.NoError(t, commitID(s, r, "ta"))

	f, err := os.OpenFile(s.ledgerPath(s.dayOf(c.now())), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"r":"torn","k":"x","n":50`) // cut short
	require.NoError(t, err)
	require.NoError(t, f.Close())
	u, err := s.Usage(t.Context(), Policy{})
	require.NoError(t, err)
	assert.Equal(t, 1, u.Today)

	r, err = other.Reserve(ctx, client.Request{Text: "b", Num: 2}, Policy{})
	require.NoError(t, err)
	require.NoError(t, commitID(other, r, "tb"))
	u, err = s.Usage(t.Context(), Policy{})
	require.NoError(t, err)
	assert.Equal(t, 3, u.Today, "the other process's images count; the torn line does not")
}

// List reads files newest first and stops early; whatever the order in
// which records were updated, it returns the same as sorting them all.
func TestListLimitMatchesAFullSort(t *testing.T) {
	s, c := newTestStore(t)
	base := c.now()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		submitted := base.Add(time.Duration(rng.IntN(3600)) * time.Second)
		_, err := s.Put(t.Context(), Record{TaskID: fmt.Sprintf("t%02d", i), SubmittedAt: submitted})
		require.NoError(t, err)
		// Updated some time after its submit (a task finishing later).
		mtime := submitted.Add(time.Duration(rng.IntN(7200)) * time.Second)
		require.NoError(t, os.Chtimes(s.recordPath(fmt.Sprintf("t%02d", i)), mtime, mtime))
	}
	all, err := s.List(t.Context(), "", 0)
	require.NoError(t, err)
	require.Len(t, all, 40)
	for _, limit := range []int{1, 5, 17, 40, 50} {
		got, err := s.List(t.Context(), "", limit)
		require.NoError(t, err)
		assert.Equal(t, all[:min(limit, 40)], got, "limit %d", limit)
	}
	recent, err := s.UpdatedSince(t.Context(), base.Add(2*time.Hour))
	require.NoError(t, err)
	for _, r := range recent {
		info, err := os.Stat(s.recordPath(r.TaskID))
		require.NoError(t, err)
		assert.False(t, info.ModTime().Before(base.Add(2*time.Hour)))
	}
	assert.NotEmpty(t, recent)
	assert.Less(t, len(recent), 40)
}

// Recording the same state again writes nothing: looking at a pending task
// again costs no disk write.
func TestUpdateWithoutChangeDoesNotWrite(t *testing.T) {
	s, c := newTestStore(t)
	rec, err := s.Put(t.Context(), Record{TaskID: "t1", Request: panda})
	require.NoError(t, err)
	info, err := os.Stat(s.recordPath("t1"))
	require.NoError(t, err)
	c.add(time.Minute)
	same, err := s.Update(t.Context(), "t1", func(*Record) {})
	require.NoError(t, err)
	assert.True(t, rec.UpdatedAt.Equal(same.UpdatedAt))
	again, err := os.Stat(s.recordPath("t1"))
	require.NoError(t, err)
	assert.True(t, os.SameFile(info, again), "the file was not replaced")

	changed, err := s.Update(t.Context(), "t1", func(r *Record) { r.TaskNo = "no2" })
	require.NoError(t, err)
	assert.True(t, c.now().Equal(changed.UpdatedAt), "a change is written")
}

func TestUpdateSameTimeInAnotherZoneDoesNotWrite(t *testing.T) {
	s, c := newTestStore(t)
	created := time.Date(2026, 11, 27, 20, 0, 0, 0, time.FixedZone("CST", 8*3600))
	_, err := s.Put(t.Context(), Record{TaskID: "t1", CreatedAt: created})
	require.NoError(t, err)
	info, err := os.Stat(s.recordPath("t1"))
	require.NoError(t, err)
	c.add(time.Minute)
	_, err = s.Update(t.Context(), "t1", func(r *Record) { r.CreatedAt = created.UTC() })
	require.NoError(t, err)
	again, err := os.Stat(s.recordPath("t1"))
	require.NoError(t, err)
	assert.True(t, os.SameFile(info, again), "the same instant is no change: the file was not replaced")
	_, err = s.Update(t.Context(), "t1", func(r *Record) { r.CreatedAt = created.Add(time.Second) })
	require.NoError(t, err)
	replaced, err := os.Stat(s.recordPath("t1"))
	require.NoError(t, err)
	assert.False(t, os.SameFile(info, replaced), "a change replaces the file")
}
