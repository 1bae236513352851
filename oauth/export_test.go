package oauth

import (
	"context"
	"time"
)

// NewTuned is New with the test-only settings: the clock (of the tokens'
// times, the cache and the retries) and the wait before the provider is
// tried again after a failure.
func NewTuned(ctx context.Context, o Options, now func() time.Time, retry time.Duration) (*Verifier, error) {
	return newVerifier(ctx, o, tuning{now: now, retryAfter: retry})
}

// MetadataURLs are the addresses metadata is looked for at.
var MetadataURLs = metadataURLs

// Leeway and CacheFor are the clock skew allowed and the longest an
// introspection answer is kept.
const (
	Leeway   = leeway
	CacheFor = cacheFor
)
