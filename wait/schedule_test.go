package wait

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name string
		b    Backoff
		want []time.Duration // Delay(0), Delay(1), ...
	}{
		{"defaults", Backoff{}, []time.Duration{
			time.Second, 1500 * ms, 2250 * ms, 3375 * ms, 5 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"DefaultBackoff", DefaultBackoff, []time.Duration{
			time.Second, 1500 * ms, 2250 * ms, 3375 * ms, 5 * time.Second, 5 * time.Second}},
		{"doubling to a cap", Backoff{Initial: 10 * ms, Max: 50 * ms, Factor: 2}, []time.Duration{
			10 * ms, 20 * ms, 40 * ms, 50 * ms, 50 * ms}},
		{"constant", Backoff{Initial: 7 * ms, Max: 7 * ms, Factor: 1}, []time.Duration{7 * ms, 7 * ms, 7 * ms}},
		{"factor below 1 takes the default", Backoff{Initial: 100 * ms, Max: time.Second, Factor: 0.5}, []time.Duration{
			100 * ms, 150 * ms, 225 * ms}},
		{"no max takes the default cap", Backoff{Initial: 2 * time.Second, Factor: 2}, []time.Duration{
			2 * time.Second, 4 * time.Second, 5 * time.Second}},
		{"initial above the default cap", Backoff{Initial: 10 * time.Second}, []time.Duration{
			10 * time.Second, 10 * time.Second}},
		{"max below initial", Backoff{Initial: time.Second, Max: ms, Factor: 2}, []time.Duration{
			time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for n, want := range tc.want {
				assert.Equal(t, want, tc.b.Delay(n), "Delay(%d)", n)
			}
		})
	}
}

func TestBackoffDelayEdges(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Second, Factor: 1.5}
	assert.Equal(t, time.Second, b.Delay(-1), "a negative poll count is the first")
	assert.Equal(t, 5*time.Second, b.Delay(math.MaxInt), "huge n stays at the cap")
	assert.Equal(t, time.Second, Backoff{Initial: time.Second, Max: time.Minute, Factor: 1}.Delay(math.MaxInt),
		"factor 1 with a huge n neither grows nor spins")
	for _, f := range []float64{1e10, 1e300, math.Inf(1), math.NaN()} {
		for _, n := range []int{1, 2, 100} {
			d := Backoff{Initial: time.Second, Max: 5 * time.Second, Factor: f}.Delay(n)
			assert.True(t, d >= time.Second && d <= 5*time.Second, "factor %v, n %d: %v (overflow?)", f, n, d)
		}
	}
	// Pure: the same input, the same answer, and the receiver is untouched.
	z := Backoff{}
	assert.Equal(t, z.Delay(3), z.Delay(3))
	assert.Equal(t, Backoff{}, z)
}

// polled follows a schedule on a simulated clock for a task that is done
// after finish: the number of queries, and how late the done one came.
func polled(s Schedule, finish time.Duration) (queries int, late time.Duration) {
	age := time.Duration(0)
	for n := 0; ; n++ {
		if age >= finish {
			return n + 1, age - finish
		}
		age += s.Delay(n, age)
	}
}

func TestScheduleWithoutHintIsBackoff(t *testing.T) {
	for _, b := range []Backoff{{}, DefaultBackoff, {Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Factor: 2}} {
		for n := range 12 {
			for _, age := range []time.Duration{-time.Second, 0, 7 * time.Second, time.Hour} {
				assert.Equal(t, b.Delay(n), Schedule{Backoff: b}.Delay(n, age), "%+v n=%d age=%v", b, n, age)
				assert.Equal(t, b.Delay(n), Schedule{Backoff: b, Expect: -time.Second}.Delay(n, age))
			}
		}
	}
}

// The target: a 20 s task costs at most 10 queries and is noticed
// within 1.5 s on average, for finishes spread around the hint.
func TestScheduleTwentySecondTarget(t *testing.T) {
	s := Schedule{Backoff: DefaultBackoff, Expect: 20 * time.Second}
	var total time.Duration
	var worstQueries, runs int
	for f := 16 * time.Second; f <= 24*time.Second; f += 100 * time.Millisecond {
		q, late := polled(s, f)
		worstQueries = max(worstQueries, q)
		total += late
		runs++
	}
	assert.LessOrEqual(t, worstQueries, 10)
	assert.LessOrEqual(t, total/time.Duration(runs), 1500*time.Millisecond)

	q, late := polled(s, 20*time.Second)
	assert.LessOrEqual(t, q, 8)
	assert.LessOrEqual(t, late, time.Second)
}

// With a hint, every kind of task costs fewer queries than plain backoff
// and is noticed sooner, on average over finishes around the hint.
func TestScheduleBeatsBackoff(t *testing.T) {
	for _, expect := range []time.Duration{5 * time.Second, 20 * time.Second, 120 * time.Second} {
		t.Run(expect.String(), func(t *testing.T) {
			hinted := Schedule{Backoff: DefaultBackoff, Expect: expect}
			plain := Schedule{Backoff: DefaultBackoff}
			var hq, pq int
			var hl, pl time.Duration
			for i := range 100 {
				f := expect*8/10 + expect*time.Duration(i)/200 // 0.8 to 1.3 × expect
				q, l := polled(hinted, f)
				hq, hl = hq+q, hl+l
				q, l = polled(plain, f)
				pq, pl = pq+q, pl+l
			}
			assert.Less(t, hq, pq, "queries")
			assert.LessOrEqual(t, hl, pl, "detection delay")
		})
	}
}

func TestScheduleShape(t *testing.T) {
	b := DefaultBackoff
	s := Schedule{Backoff: b, Expect: 20 * time.Second}
	step := 2 * time.Second // 20 s / 10
	t.Run("dense window", func(t *testing.T) {
		for age := 16 * time.Second; age < 25*time.Second; age += 250 * time.Millisecond {
			assert.Equal(t, step, s.Delay(3, age), "age %v", age)
		}
	})
	t.Run("sparse before the window, landing on its start", func(t *testing.T) {
		// 16 s before the window, in gaps of at most max(2*5s, 20s/4) = 10 s: 0, 8, 16.
		assert.Equal(t, 8*time.Second, s.Delay(0, 0))
		assert.Equal(t, 8*time.Second, s.Delay(0, -time.Minute), "a negative age is a new task")
		assert.Equal(t, 8*time.Second, s.Delay(1, 8*time.Second))
		assert.Equal(t, 5*time.Second, s.Delay(1, 3*time.Second), "back on the grid")
		assert.Equal(t, 8500*time.Millisecond, s.Delay(1, 7500*time.Millisecond), "no near miss of a grid point")
		assert.Equal(t, step, s.Delay(1, 15500*time.Millisecond), "never closer than a dense step")
	})
	t.Run("late: back to the cap", func(t *testing.T) {
		assert.Equal(t, step, s.Delay(9, 25*time.Second))
		assert.Equal(t, 3*time.Second, s.Delay(9, 29*time.Second))
		assert.Equal(t, b.Max, s.Delay(9, 45*time.Second))
		assert.Equal(t, b.Max, s.Delay(9, 100*time.Hour))
	})
	t.Run("the dense step stays within Initial and Max", func(t *testing.T) {
		assert.Equal(t, time.Second, Schedule{Backoff: b, Expect: 2 * time.Second}.Delay(0, 1900*time.Millisecond))
		assert.Equal(t, b.Max, Schedule{Backoff: b, Expect: 10 * time.Minute}.Delay(0, 10*time.Minute))
	})
}

func TestScheduleBounds(t *testing.T) {
	backoffs := []Backoff{{}, {Initial: time.Millisecond, Max: 2 * time.Millisecond, Factor: 2}, {Initial: time.Hour, Max: time.Minute}}
	for _, b := range backoffs {
		for _, expect := range []time.Duration{time.Nanosecond, time.Millisecond, time.Second, 20 * time.Second, 24 * time.Hour, math.MaxInt64} {
			s := Schedule{Backoff: b, Expect: expect}
			w := b.withDefaults()
			gap := max(2*w.Max, expect/4)
			for _, age := range []time.Duration{0, expect / 3, expect * 4 / 5, expect, expect * 2, math.MaxInt64} {
				d := s.Delay(0, age)
				assert.Positive(t, d, "b=%+v expect=%v age=%v", b, expect, age)
				assert.LessOrEqual(t, d, max(gap, w.Max), "b=%+v expect=%v age=%v", b, expect, age)
			}
		}
	}
	z := Schedule{Expect: time.Minute}
	assert.Equal(t, z.Delay(2, time.Second), z.Delay(2, time.Second))
	assert.Equal(t, Schedule{Expect: time.Minute}, z, "pure: the receiver is untouched")
}

func TestJittered(t *testing.T) {
	assert.Equal(t, 9*time.Second, jittered(10*time.Second, 0))
	assert.Equal(t, 10*time.Second, jittered(10*time.Second, 0.5))
	assert.Equal(t, 11*time.Second, jittered(10*time.Second, 1))
	assert.Equal(t, 9*time.Second, jittered(10*time.Second, -3), "out of range is clamped")
	assert.Zero(t, jittered(0, 0.7))
}

func TestPollFloorSharesTheRateAmongWaits(t *testing.T) {
	for _, tc := range []struct {
		waits int64
		rate  float64
		want  time.Duration
	}{
		{1, 50, 20 * time.Millisecond},   // one wait: far below any schedule's pause
		{10, 50, 200 * time.Millisecond}, // a busy user: still below the 1 s first pause
		{1000, 50, 20 * time.Second},     // 1,000 waits: 50 polls a second in all
		{250, 100, 2500 * time.Millisecond},
		{0, 50, 0},
		{5, 0, 0},
	} {
		assert.Equal(t, tc.want, pollFloor(tc.waits, tc.rate), "%d waits at %v/s", tc.waits, tc.rate)
	}
}
