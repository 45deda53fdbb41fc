package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// Jobs: store.JobStore (re-encryption jobs, chunks, leases, checkpoints).
func testJobs(t *testing.T, open Opener) {
	js := func(t *testing.T) store.JobStore {
		s, ok := open(t).(store.JobStore)
		if !ok {
			t.Fatal("store does not implement store.JobStore")
		}
		return s
	}
	t.Run("CreateAndRead", func(t *testing.T) { testJobCreate(t, js(t)) })
	t.Run("Invalid", func(t *testing.T) { testJobInvalid(t, js(t)) })
	t.Run("ClaimCheckpointDone", func(t *testing.T) { testJobWalk(t, js(t)) })
	t.Run("LeaseExpiry", func(t *testing.T) { testJobLeaseExpiry(t, js(t)) })
	t.Run("Release", func(t *testing.T) { testJobRelease(t, js(t)) })
	t.Run("Failures", func(t *testing.T) { testJobFailures(t, js(t)) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testJobConcurrentClaims(t, js(t)) })
}

// chunksOf returns n chunks splitting the keys "k000"… at every step.
func chunksOf(n int) []store.JobChunk {
	cs := make([]store.JobChunk, n)
	for i := range cs {
		if i > 0 {
			cs[i].After = store.Bound(fmt.Sprintf("k%03d", i*10))
		}
		if i < n-1 {
			cs[i].Upto = store.Bound(fmt.Sprintf("k%03d", (i+1)*10))
		}
		cs[i].Index = i
	}
	return cs
}

func newJob(id string, total int64) store.Job {
	return store.Job{ID: id, Kind: "migrate", Target: "postgres:app/public.t.c", Org: "", Total: total}
}

func mustCreateJob(t *testing.T, s store.JobStore, j store.Job, chunks []store.JobChunk) store.Job {
	t.Helper()
	got, err := s.CreateJob(t.Context(), j, chunks)
	if err != nil {
		t.Fatalf("CreateJob(%q): %v", j.ID, err)
	}
	return got
}

func mustClaim(t *testing.T, s store.JobStore, job, owner string, lease time.Duration) store.JobChunk {
	t.Helper()
	c, err := s.ClaimChunk(t.Context(), job, owner, lease)
	if err != nil {
		t.Fatalf("ClaimChunk(%q, %q): %v", job, owner, err)
	}
	return c
}

func testJobCreate(t *testing.T, s store.JobStore) {
	ctx := t.Context()
	before := time.Now()
	j := mustCreateJob(t, s, newJob("job-1", 30), chunksOf(3))
	if j.ID != "job-1" || j.Kind != "migrate" || j.Target != "postgres:app/public.t.c" || j.State != store.JobRunning || j.Total != 30 || j.Done != 0 {
		t.Fatalf("CreateJob: got %+v", j)
	}
	if !j.FinishedAt.IsZero() || j.StartedAt.Before(before.Add(-clockSlack)) || j.StartedAt.After(time.Now().Add(clockSlack)) {
		t.Fatalf("times: started %v finished %v", j.StartedAt, j.FinishedAt)
	}
	got, err := s.Job(ctx, "job-1")
	if err != nil || got != j {
		t.Fatalf("Job: got %+v, %v; want %+v", got, err, j)
	}
	cs, err := s.Chunks(ctx, "job-1")
	if err != nil {
		t.Fatal(err)
	}
	want := chunksOf(3)
	for i := range want {
		want[i].Job = "job-1"
	}
	if fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Fatalf("Chunks: got %v, want %v", cs, want)
	}
	// A running job is not replaced.
	if _, err := s.CreateJob(ctx, newJob("job-1", 5), chunksOf(1)); !errors.Is(err, store.ErrJobRunning) {
		t.Fatalf("CreateJob over a running job: got %v, want ErrJobRunning", err)
	}
	// A failed one is.
	if f, err := s.FailJob(ctx, "job-1", "too many failures"); err != nil || f.State != store.JobFailed || f.Error != "too many failures" || f.FinishedAt.IsZero() {
		t.Fatalf("FailJob: got %+v, %v", f, err)
	}
	if f, err := s.FailJob(ctx, "job-1", "again"); err != nil || f.Error != "too many failures" {
		t.Fatalf("FailJob twice: got %+v, %v, want the first reason kept", f, err)
	}
	j2 := mustCreateJob(t, s, newJob("job-1", 5), chunksOf(1))
	if j2.State != store.JobRunning || j2.Total != 5 || j2.Error != "" {
		t.Fatalf("replaced job: got %+v", j2)
	}
	if cs, _ := s.Chunks(ctx, "job-1"); len(cs) != 1 {
		t.Fatalf("replaced job has %d chunks, want 1", len(cs))
	}
	if err := s.DeleteJob(ctx, "job-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Job(ctx, "job-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Job after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Chunks(ctx, "job-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Chunks after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteJob(ctx, "job-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteJob twice: %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimChunk(ctx, "job-1", "p1", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ClaimChunk of a deleted job: %v, want ErrNotFound", err)
	}
}

func testJobInvalid(t *testing.T, s store.JobStore) {
	ctx := t.Context()
	bad := chunksOf(2)
	bad[1].Index = 5
	for name, tc := range map[string]struct {
		j  store.Job
		cs []store.JobChunk
	}{
		"no id":     {newJob("", 1), chunksOf(1)},
		"no kind":   {store.Job{ID: "x"}, chunksOf(1)},
		"no chunks": {newJob("x", 1), nil},
		"bad index": {newJob("x", 1), bad},
		"negative":  {newJob("x", -1), chunksOf(1)},
	} {
		if _, err := s.CreateJob(ctx, tc.j, tc.cs); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("CreateJob %s: got %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := s.Job(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an invalid CreateJob left a job: %v", err)
	}
	mustCreateJob(t, s, newJob("j", 1), chunksOf(1))
	if _, err := s.ClaimChunk(ctx, "j", "", time.Minute); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("ClaimChunk without owner: %v", err)
	}
	if _, err := s.ClaimChunk(ctx, "j", "p", 0); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("ClaimChunk with lease 0: %v", err)
	}
	c := mustClaim(t, s, "j", "p", time.Minute)
	if _, err := s.Checkpoint(ctx, "j", c.Index, "p", store.Checkpoint{Progress: store.JobProgress{Done: -1}, Lease: time.Minute}); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("negative checkpoint: %v", err)
	}
	if _, err := s.JobFailures(ctx, "j", "", 0); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("JobFailures limit 0: %v", err)
	}
}

func testJobWalk(t *testing.T, s store.JobStore) {
	ctx := t.Context()
	mustCreateJob(t, s, newJob("walk", 30), chunksOf(3))
	a := mustClaim(t, s, "walk", "A", time.Minute)
	b := mustClaim(t, s, "walk", "B", time.Minute)
	if a.Index != 0 || b.Index != 1 || a.Owner != "A" || b.Owner != "B" {
		t.Fatalf("claims: got %d/%s and %d/%s, want 0/A and 1/B", a.Index, a.Owner, b.Index, b.Owner)
	}
	if !a.LeaseUntil.After(time.Now().Add(30 * time.Second)) {
		t.Fatalf("lease until %v, want about a minute from now", a.LeaseUntil)
	}
	// Another owner cannot checkpoint A's chunk.
	if _, err := s.Checkpoint(ctx, "walk", 0, "B", store.Checkpoint{After: store.Bound("k005"), Lease: time.Minute}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("checkpoint by a non-owner: %v, want ErrStale", err)
	}
	j, err := s.Checkpoint(ctx, "walk", 0, "A", store.Checkpoint{After: store.Bound("k005"),
		Progress: store.JobProgress{Done: 5, Rewritten: 3, Current: 1, Skipped: 1}, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%d %d %d %d %d %s", j.Done, j.Rewritten, j.Current, j.Skipped, j.Failed, j.State), "5 3 1 1 0 running"; got != want {
		t.Fatalf("after a checkpoint: got %s, want %s", got, want)
	}
	cs, _ := s.Chunks(ctx, "walk")
	if cs[0].After != store.Bound("k005") || cs[0].Done {
		t.Fatalf("chunk 0 after checkpoint: %+v", cs[0])
	}
	for _, cp := range []struct {
		idx   int
		owner string
	}{{0, "A"}, {1, "B"}} {
		if _, err := s.Checkpoint(ctx, "walk", cp.idx, cp.owner, store.Checkpoint{ChunkDone: true, Progress: store.JobProgress{Done: 5}, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	// A done chunk takes no more checkpoints.
	if _, err := s.Checkpoint(ctx, "walk", 0, "A", store.Checkpoint{After: store.Bound("k009"), Lease: time.Minute}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("checkpoint of a done chunk: %v, want ErrStale", err)
	}
	c := mustClaim(t, s, "walk", "A", time.Minute)
	if c.Index != 2 || c.After != store.Bound("k020") || c.Upto.Set {
		t.Fatalf("third claim: %+v", c)
	}
	if _, err := s.ClaimChunk(ctx, "walk", "C", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim with every chunk taken: %v, want ErrNotFound", err)
	}
	j, err = s.Checkpoint(ctx, "walk", 2, "A", store.Checkpoint{ChunkDone: true, Progress: store.JobProgress{Done: 10, Failed: 1}, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobDone || j.Done != 25 || j.Failed != 1 || j.FinishedAt.IsZero() {
		t.Fatalf("after the last chunk: %+v", j)
	}
	if _, err := s.ClaimChunk(ctx, "walk", "C", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim on a done job: %v, want ErrNotFound", err)
	}
	// A done job may be created again (a new pass).
	if j := mustCreateJob(t, s, newJob("walk", 30), chunksOf(2)); j.Done != 0 || j.State != store.JobRunning {
		t.Fatalf("new pass: %+v", j)
	}
}

func testJobLeaseExpiry(t *testing.T, s store.JobStore) {
	ctx := t.Context()
	mustCreateJob(t, s, newJob("lease", 10), chunksOf(1))
	mustClaim(t, s, "lease", "dead", 10*time.Millisecond)
	if _, err := s.ClaimChunk(ctx, "lease", "B", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim of a leased chunk: %v, want ErrNotFound", err)
	}
	time.Sleep(100 * time.Millisecond)
	c := mustClaim(t, s, "lease", "B", time.Minute)
	if c.Owner != "B" || c.Index != 0 {
		t.Fatalf("takeover after expiry: %+v", c)
	}
	if _, err := s.Checkpoint(ctx, "lease", 0, "dead", store.Checkpoint{ChunkDone: true, Lease: time.Minute}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("checkpoint by the old owner: %v, want ErrStale", err)
	}
}

func testJobRelease(t *testing.T, s store.JobStore) {
	ctx := t.Context()
	mustCreateJob(t, s, newJob("rel", 10), chunksOf(1))
	mustClaim(t, s, "rel", "A", time.Hour)
	if err := s.ReleaseChunk(ctx, "rel", 0, "B"); !errors.Is(err, store.ErrStale) {
		t.Fatalf("release by a non-owner: %v, want ErrStale", err)
	}
	if err := s.ReleaseChunk(ctx, "rel", 0, "A"); err != nil {
		t.Fatal(err)
	}
	if c := mustClaim(t, s, "rel", "B", time.Hour); c.Owner != "B" {
		t.Fatalf("claim after release: %+v", c)
	}
}

func testJobFailures(t *testing.T, s store.JobStore) {
	ctx := t.Context()
	mustCreateJob(t, s, newJob("f", 10), chunksOf(1))
	mustClaim(t, s, "f", "A", time.Minute)
	fs := []store.JobFailure{{RowID: "7", Reason: "not a keyward or fernet value"}, {RowID: "12", Reason: "decryption failed"}}
	for range 2 { // a repeated batch after a crash records each id once
		if _, err := s.Checkpoint(ctx, "f", 0, "A", store.Checkpoint{After: store.Bound("12"), Failures: fs, Progress: store.JobProgress{Done: 2, Failed: 2}, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.JobFailures(ctx, "f", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[{12 decryption failed} {7 not a keyward or fernet value}]"; fmt.Sprint(got) != want {
		t.Fatalf("JobFailures: got %v, want %v", got, want)
	}
	if got, _ := s.JobFailures(ctx, "f", "12", 10); fmt.Sprint(got) != "[{7 not a keyward or fernet value}]" {
		t.Fatalf("JobFailures after 12: %v", got)
	}
	if got, _ := s.JobFailures(ctx, "f", "", 1); len(got) != 1 {
		t.Fatalf("JobFailures limit 1: %v", got)
	}
}

func testJobConcurrentClaims(t *testing.T, s store.JobStore) {
	const n = 20
	mustCreateJob(t, s, newJob("cc", n), chunksOf(n))
	var (
		mu   sync.Mutex
		seen = map[int]string{}
		wg   sync.WaitGroup
	)
	for w := range 4 {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				c, err := s.ClaimChunk(t.Context(), "cc", owner, time.Minute)
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, ok := seen[c.Index]; ok {
					t.Errorf("chunk %d claimed by %s and %s", c.Index, prev, owner)
				}
				seen[c.Index] = owner
				mu.Unlock()
				if _, err := s.Checkpoint(t.Context(), "cc", c.Index, owner, store.Checkpoint{ChunkDone: true, Progress: store.JobProgress{Done: 1}, Lease: time.Minute}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	j, err := s.Job(t.Context(), "cc")
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n || j.Done != n || j.State != store.JobDone {
		t.Fatalf("claimed %d chunks, job %+v; want %d, done", len(seen), j, n)
	}
}
