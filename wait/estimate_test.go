package wait

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEstimator(t *testing.T) {
	e := NewEstimator()
	k := Key("1024*1024", 2)
	assert.Equal(t, "1024*1024/2", k)
	_, ok := e.Expect(k)
	assert.False(t, ok, "nothing observed")

	e.Observe(k, 10*time.Second)
	e.Observe(k, 0)
	e.Observe(k, -time.Second)
	e.Observe(k, 30*time.Second)
	_, ok = e.Expect(k)
	assert.False(t, ok, "two valid observations are not enough")

	e.Observe(k, 12*time.Second)
	d, ok := e.Expect(k)
	require.True(t, ok)
	assert.Equal(t, 12*time.Second, d, "the median, not the mean")
	e.Observe(k, 14*time.Second)
	d, _ = e.Expect(k)
	assert.Equal(t, 13*time.Second, d, "an even count takes the middle two")

	_, ok = e.Expect(Key("1024*1024", 1))
	assert.False(t, ok, "per key")

	for range estimateKeep {
		e.Observe(k, time.Minute)
	}
	d, _ = e.Expect(k)
	assert.Equal(t, time.Minute, d, "only the recent observations count")
}

func TestEstimatorBoundedKeys(t *testing.T) {
	e := NewEstimator()
	for i := range estimateKeys + 10 {
		for range estimateMin {
			e.Observe(fmt.Sprint(i), time.Second)
		}
	}
	assert.Len(t, e.recent, estimateKeys)
	_, ok := e.Expect(fmt.Sprint(estimateKeys + 5))
	assert.False(t, ok)
	_, ok = e.Expect("0")
	assert.True(t, ok)
}

func TestEstimatorNil(t *testing.T) {
	var e *Estimator
	e.Observe("k", time.Second)
	_, ok := e.Expect("k")
	assert.False(t, ok)
}

func TestEstimatorConcurrent(t *testing.T) {
	e := NewEstimator()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				e.Observe("k", time.Duration(i*j+1))
				_, _ = e.Expect("k")
			}
		})
	}
	wg.Wait()
	_, ok := e.Expect("k")
	assert.True(t, ok)
}

func BenchmarkEstimator(b *testing.B) {
	e := NewEstimator()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		e.Observe("1024*1024/1", time.Duration(i)*time.Millisecond)
		_, _ = e.Expect("1024*1024/1")
	}
}
