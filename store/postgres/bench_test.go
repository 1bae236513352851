package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/store"
	"aipaint-mcp/store/postgres"
	"aipaint-mcp/store/postgres/pgtest"
)

// benchStore is a store of the benchmark's own schema and a policy whose
// limit no run reaches.
func benchStore(b *testing.B) (*postgres.Store, store.Policy) {
	s, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(1_000_000)}
}

// BenchmarkReserveCommit is the store's cost on every paid call, as the
// file store's BenchmarkReserveCommit (package store) measures it: Reserve
// (dedup and limit checked, under the account's lock), then Commit.
func BenchmarkReserveCommit(b *testing.B) {
	s, p := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		res, err := s.Reserve(ctx, client.Request{Text: fmt.Sprint("request ", i), Num: 1}, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Commit(ctx, res, store.Record{TaskID: fmt.Sprint("t", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReserveCommitParallel: the same from many goroutines (replicas
// serialise on the account's lock).
func BenchmarkReserveCommitParallel(b *testing.B) {
	s, p := benchStore(b)
	ctx := context.Background()
	var n atomicCounter
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.next()
			res, err := s.Reserve(ctx, client.Request{Text: fmt.Sprint("request ", i), Num: 1}, p)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Commit(ctx, res, store.Record{TaskID: fmt.Sprint("t", i)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
