package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"time"

	"aipaint-mcp/client"
)

// The ledger is what makes spending safe across processes: before a paid
// submit, a process takes the lock, looks for an identical recent request
// and counts today's images, then appends a reservation. The outcome of the
// submit is appended afterwards. Usage counts every reservation that was not
// released, so a crash between reservation and outcome errs on the side of
// "maybe billed".

// maxLedgerDays bounds how far back a long dedup window looks.
const maxLedgerDays = 31

type entry struct {
	R    string    `json:"r"`
	Key  string    `json:"k,omitempty"`
	N    int       `json:"n,omitempty"`
	At   time.Time `json:"at,omitzero"`
	Task string    `json:"t,omitempty"`
	Out  Outcome   `json:"o,omitempty"`
	// Who is the person who reserved (the Policy's Person.Name); "" for
	// the desktop's single user and for entries from before owners.
	Who string `json:"w,omitempty"`
}

// Reserve checks a request against the same person's recent identical
// ones, the account's daily limit and the person's, and reserves its
// images. Concurrent identical requests of one person, in this process or
// another, get one reservation; the others wait for its task.
func (s *File) Reserve(ctx context.Context, req client.Request, p Policy) (Reservation, error) {
	return Reserving(ctx, func() (d Decision, err error) {
		err = s.locked(func() error {
			now := s.now()
			days, err := s.readLedger(now, p.DedupWindow)
			if err != nil {
				return err
			}
			today := s.dayOf(now)
			owner, key := p.Person.Name, req.Key()
			var (
				f    Facts
				same *reservation
			)
			for r := range reservations(days) {
				if r.out == OutcomeReleased {
					continue
				}
				if r.day == today {
					f.Team += r.n
					if r.who == owner {
						f.Mine += r.n
					}
				}
				if p.Dedups() && r.who == owner && r.key == key && (same == nil || r.later(same)) {
					same = r
				}
			}
			if same != nil {
				f.Latest = &Prior{At: same.at, Outcome: same.out}
				if same.out == OutcomeTask {
					if rec, err := s.read(s.recordPath(same.task)); err == nil {
						f.Latest.Task = &rec
					}
				}
			}
			d = Decide(p, req, now, f)
			if d.Verdict != Reserve {
				return nil
			}
			id, err := newID()
			if err != nil {
				return err
			}
			if err := s.appendLedger(today, entry{R: id, Key: key, N: req.Num, At: now, Who: owner}); err != nil {
				return err
			}
			d.Reservation.ID, d.Reservation.Day = id, today
			return nil
		})
		return d, err
	})
}

// Commit records the task a reservation's submit created, together with its
// record, in one step: no process ever sees the one without the other.
func (s *File) Commit(_ context.Context, res Reservation, r Record) (Record, error) {
	var out Record
	err := s.locked(func() error {
		if err := s.appendLedger(res.Day, entry{R: res.ID, Task: r.TaskID, Out: OutcomeTask}); err != nil {
			return err
		}
		r.Owner = res.Owner
		var err error
		out, err = s.updateLocked(r.TaskID, func(old *Record) { *old = Committed(*old, r) })
		return err
	})
	return out, err
}

// Release gives back a reservation whose submit billed nothing.
func (s *File) Release(_ context.Context, res Reservation) error {
	return s.locked(func() error { return s.appendLedger(res.Day, entry{R: res.ID, Out: OutcomeReleased}) })
}

// Abandon ends a reservation whose submit may have been billed but gave no
// task id: its images keep counting, and nobody waits for it.
func (s *File) Abandon(_ context.Context, res Reservation) error {
	return s.locked(func() error { return s.appendLedger(res.Day, entry{R: res.ID, Out: OutcomeUnknown}) })
}

// Usage reports today's images: the account's, and p.Person's when named.
func (s *File) Usage(_ context.Context, p Policy) (Usage, error) {
	var u Usage
	err := s.locked(func() error {
		now := s.now()
		days, err := s.readLedger(now, 0)
		if err != nil {
			return err
		}
		team, mine := 0, 0
		for r := range reservations(days) {
			if r.out != OutcomeReleased && r.day == s.dayOf(now) {
				team += r.n
				if r.who == p.Person.Name {
					mine += r.n
				}
			}
		}
		u = UsageOf(p, team, mine)
		return nil
	})
	return u, err
}

// Spending reports each owner's images today and this calendar month.
func (s *File) Spending(_ context.Context) ([]Spend, error) {
	var out []Spend
	err := s.locked(func() error {
		now := s.now().In(s.loc)
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, s.loc)
		days, err := s.readLedger(now, now.Sub(first))
		if err != nil {
			return err
		}
		month, today := now.Format("2006-01"), s.dayOf(now)
		byOwner := map[string]*Spend{}
		for r := range reservations(days) {
			if r.out == OutcomeReleased || r.at.In(s.loc).Format("2006-01") != month {
				continue
			}
			sp := byOwner[r.who]
			if sp == nil {
				sp = &Spend{Owner: r.who}
				byOwner[r.who] = sp
			}
			sp.Month += r.n
			if r.day == today {
				sp.Today += r.n
			}
		}
		for _, sp := range byOwner {
			out = append(out, *sp)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Owner < out[j].Owner })
		return nil
	})
	return out, err
}

type reservation struct {
	key, task, who string
	out            Outcome
	n              int
	at             time.Time
	day            string // dayOf(at), the day it counts in
	// seq is the position of the reservation in its day's file: two with
	// the same time are in one day's file, in the order they were made.
	seq int
}

// later orders reservations by time, then by the order they were made (a
// clock may give two the same reading): the latest identical one answers.
func (r *reservation) later(o *reservation) bool {
	if !r.at.Equal(o.at) {
		return r.at.After(o.at)
	}
	return r.seq > o.seq
}

// fold adds one entry of a day's file to the day's reservations. An
// outcome is written to its reservation's day, after it.
func (ld *ledgerDay) fold(e entry, dayOf func(time.Time) string) {
	r := ld.res[e.R]
	if r == nil {
		r = &reservation{}
		ld.res[e.R] = r
	}
	if e.Key != "" {
		r.key, r.n, r.at, r.seq, r.who = e.Key, e.N, e.At, ld.n, e.Who
		r.day = dayOf(e.At)
	}
	if e.Out != "" {
		r.out, r.task = e.Out, e.Task
	}
	ld.n++
}

// reservations are the days' reservations, read only: an outcome whose
// reservation line was lost (a crash cut it short) is left out.
func reservations(days []*ledgerDay) iter.Seq[*reservation] {
	return func(yield func(*reservation) bool) {
		for _, ld := range days {
			for _, r := range ld.res {
				if r.key != "" && !yield(r) {
					return
				}
			}
		}
	}
}

// dayOf is the day t counts in: the day of the daily limit, in the
// store's zone. Ledger files are named by it.
func (s *File) dayOf(t time.Time) string { return t.In(s.loc).Format(time.DateOnly) }

// readLedger reads today's file and those the dedup window reaches back to.
func (s *File) readLedger(now time.Time, window time.Duration) ([]*ledgerDay, error) {
	var out []*ledgerDay
	now = now.In(s.loc) // step back by the calendar days of the store's zone
	first := now.Add(-window)
	read := map[string]bool{}
	for d, i := now, 0; i < maxLedgerDays; d, i = d.AddDate(0, 0, -1), i+1 {
		day := s.dayOf(d)
		ld, err := s.readDay(day)
		if err != nil {
			return nil, err
		}
		read[day] = true
		if ld != nil {
			out = append(out, ld)
		}
		if day <= s.dayOf(first) {
			break
		}
	}
	for day := range s.ledgers { // days that fell out of the window
		if !read[day] {
			delete(s.ledgers, day)
		}
	}
	return out, nil
}

// ledgerDay is what this process has parsed of one day's ledger. Ledgers
// only grow (appends, under the lock), so each read parses only what was
// appended since the last one, into the reservations folded so far: a
// busy day costs the same as a quiet one, and a reservation allocates
// nothing per entry already read (profiled: a burst of 1,000 calls
// copying and folding the whole day's ledger for each reservation
// allocated ~180 MB, and the heap goal the burst left was the waits').
type ledgerDay struct {
	size int64                   // bytes parsed: up to the last complete line
	n    int                     // entries parsed
	res  map[string]*reservation // by id
}

// readDay returns one day's reservations (nil when it has no file). The
// caller holds the lock.
func (s *File) readDay(day string) (*ledgerDay, error) {
	f, err := os.Open(s.ledgerPath(day))
	if errors.Is(err, os.ErrNotExist) {
		delete(s.ledgers, day)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("task store: %w", err)
	}
	ld := s.ledgers[day]
	if ld == nil || fi.Size() < ld.size { // new, or replaced by hand: read it all
		ld = &ledgerDay{res: map[string]*reservation{}}
		s.ledgers[day] = ld
	}
	if fi.Size() == ld.size {
		return ld, nil
	}
	if _, err := f.Seek(ld.size, io.SeekStart); err != nil {
		return nil, fmt.Errorf("task store: %w", err)
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("task store: %w", err)
	}
	end := bytes.LastIndexByte(raw, '\n')
	if end < 0 {
		return ld, nil
	}
	for _, line := range bytes.Split(raw[:end], []byte("\n")) {
		var e entry
		// A line cut short by a crash is skipped; entries never span lines.
		if len(bytes.TrimSpace(line)) > 0 && json.Unmarshal(line, &e) == nil && e.R != "" {
			ld.fold(e, s.dayOf)
		}
	}
	ld.size += int64(end + 1)
	return ld, nil
}

func (s *File) ledgerPath(day string) string {
	return filepath.Join(s.dir, "ledger", day+".jsonl")
}

// appendLedger writes one entry as one line. The leading newline ends any
// line a crashed process left unfinished.
func (s *File) appendLedger(day string, e entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("task store: %w", err)
	}
	f, err := os.OpenFile(s.ledgerPath(day), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("task store: %w", err)
	}
	_, err = f.Write(append(append([]byte("\n"), raw...), '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("task store: ledger: %w", err)
	}
	return nil
}

func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("task store: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
