package sandbox

import (
	"net/http"
	"strconv"
	"strings"
)

// maxCachedImages bounds the encoded PNGs kept in memory (each is tens to
// hundreds of KiB).
const maxCachedImages = 32

// image serves a task's PNG like the upstream's CDN: no authentication, and
// a plain 404 for anything unknown or not generated yet.
func (s *Sandbox) image(w http.ResponseWriter, r *http.Request) {
	t, n, ok := s.imageTask(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := s.images.get(imageKey{t.id, n}, func() ([]byte, error) {
		return renderPNG(t.style, t.text, n, t.resolution.Width, t.resolution.Height)
	})
	if err != nil {
		s.log.Error("sandbox render", "task_id", t.id, "n", n, "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	s.stats.fetches.Add(1)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "public, max-age=7776000") // three months, like the upstream's URLs
	_, _ = w.Write(data)
}

// imageTask resolves /images/{taskId}/{n}.png to a finished task and n.
func (s *Sandbox) imageTask(r *http.Request) (*task, int, bool) {
	nStr, isPNG := strings.CutSuffix(r.PathValue("file"), ".png")
	n, err := strconv.Atoi(nStr)
	if !isPNG || err != nil {
		return nil, 0, false
	}
	t, ok := s.tasks.get(r.PathValue("taskId"))
	if !ok || n < 1 || n > t.num || !t.done(s.now()) {
		return nil, 0, false
	}
	return t, n, true
}

type imageKey struct {
	task string
	n    int
}

// imageCache keeps the latest encoded images, forgetting the oldest first.
// Two concurrent first fetches may both render; the result is the same.
type imageCache struct{ *fifo[imageKey, []byte] }

func newImageCache(max int) imageCache { return imageCache{newFIFO[imageKey, []byte](max)} }

func (c imageCache) get(k imageKey, render func() ([]byte, error)) ([]byte, error) {
	if b, ok := c.fifo.get(k); ok {
		return b, nil
	}
	b, err := render()
	if err != nil {
		return nil, err
	}
	c.put(k, b)
	return b, nil
}
