package wait

import "testing"

func TestSetMaxPollRate(t *testing.T) {
	p := NewPoller(nil, PollerOptions{MaxPollRate: 30})
	if got := p.MaxPollRate(); got != 30 {
		t.Fatalf("MaxPollRate = %v, want 30", got)
	}
	p.SetMaxPollRate(10)
	if got := p.MaxPollRate(); got != 10 {
		t.Fatalf("after SetMaxPollRate(10): %v", got)
	}
	p.SetMaxPollRate(0) // ignored: a rate must be positive
	if got := p.MaxPollRate(); got != 10 {
		t.Fatalf("after SetMaxPollRate(0): %v, want 10 kept", got)
	}
	if a, b := pollFloor(100, 10), pollFloor(100, 30); a <= b {
		t.Fatalf("a third of the rate must space polls wider: %v vs %v", a, b)
	}
}
