package paint

import (
	"context"
	"errors"
	"os"

	"aipaint-mcp/save"
	"aipaint-mcp/store"
)

// The read paths of the tools, resources and completions. None of them
// calls the upstream or bills anything.

// ErrNotFound is a task the store does not know.
var ErrNotFound = store.ErrNotFound

// visible tells whether who may see a task: their own, or any for the
// desktop's single user.
func visible(t Task, who Person) bool { return who.Name == "" || t.Owner == who.Name }

// policy is the service's spending policy for who.
func (s *Service) policy(who Person) store.Policy {
	p := s.o.Policy
	p.Person = who
	return p
}

// Get reads one of who's tasks from the store; ErrNotFound for an unknown
// task and for someone else's.
func (s *Service) Get(ctx context.Context, who Person, taskID string) (Task, error) {
	if s.o.Store == nil {
		return Task{}, s.Unavailable()
	}
	t, err := s.o.Store.Get(ctx, taskID)
	if err == nil && !visible(t, who) {
		return Task{}, ErrNotFound
	}
	return t, err
}

// List returns who's n newest tasks.
func (s *Service) List(ctx context.Context, who Person, n int) ([]Task, error) {
	if s.o.Store == nil {
		return nil, s.Unavailable()
	}
	return s.o.Store.List(ctx, who.Name, n)
}

// Usage is today's images against the daily limit, and who's against
// theirs.
func (s *Service) Usage(ctx context.Context, who Person) (Usage, error) {
	if s.o.Store == nil {
		return Usage{}, s.Unavailable()
	}
	return s.o.Store.Usage(ctx, s.policy(who))
}

// RecentIDs are the ids of who's n newest tasks, newest first (for
// completions); none when the store is not usable.
func (s *Service) RecentIDs(ctx context.Context, who Person, n int) []string {
	tasks, err := s.List(ctx, who, n)
	if err != nil {
		return nil
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.TaskID
	}
	return ids
}

// ErrNoDownloads refuses image bytes when the service has no way to fetch.
var ErrNoDownloads = errors.New("images cannot be fetched: the server is not configured for the API")

// ImageBytes reads an image of a task: its saved file, or its URL when it
// is not saved (the same way saving fetches).
func (s *Service) ImageBytes(ctx context.Context, img Image) ([]byte, error) {
	if img.Path != "" {
		if data, err := os.ReadFile(img.Path); err == nil {
			return data, nil
		}
	}
	if s.o.Download == nil {
		return nil, ErrNoDownloads
	}
	data, _, err := s.o.Download.Fetch(ctx, img.URL)
	return data, err
}

// Preview is a downscaled JPEG of an image (save.PreviewSide at most).
func (s *Service) Preview(ctx context.Context, img Image) ([]byte, error) {
	data, err := s.ImageBytes(ctx, img)
	if err != nil {
		return nil, err
	}
	return save.Preview(data, save.PreviewSide, save.PreviewQuality)
}
