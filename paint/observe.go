package paint

// Observer is told what the operator of a server counts: images billed, by
// whom, images that could not be saved, and pending tasks taken over from a
// server that stopped. app wires it to the metrics; nil = nobody listens.
type Observer interface {
	// Billed: person ("" on a single-user server) submitted images, and
	// the upstream accepted them: they are paid for.
	Billed(person string, images int)
	// DownloadFailed: one image could not be saved (it is retried).
	DownloadFailed()
	// TakenOver: this server took over pending tasks nobody followed:
	// their server died, stalled, or stopped and handed them over.
	TakenOver(tasks int)
}

// nobody is the Observer of a service that has none.
type nobody struct{}

func (nobody) Billed(string, int) {}
func (nobody) DownloadFailed()    {}
func (nobody) TakenOver(int)      {}

// Pending reports how many pending tasks this server polls now (in the
// background or for a waiting call), for a gauge.
func (s *Service) Pending() int {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	return len(s.polling)
}

// Waiting reports how many calls wait for pictures now, for a gauge.
func (s *Service) Waiting() int { return int(s.waiting.Load()) }

// polled counts a task as polled by this server until the returned func
// runs; a task a call waits for while it is followed counts once.
func (s *Service) polled(taskID string) func() {
	s.pollMu.Lock()
	s.polling[taskID]++
	s.pollMu.Unlock()
	return func() {
		s.pollMu.Lock()
		defer s.pollMu.Unlock()
		if s.polling[taskID]--; s.polling[taskID] == 0 {
			delete(s.polling, taskID)
		}
	}
}
