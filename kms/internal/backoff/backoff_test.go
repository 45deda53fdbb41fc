package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	const base, max = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{6, time.Second, 2 * time.Second},
		{40, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if got := Delay(tt.n, base, max); got < tt.min || got > tt.max {
				t.Fatalf("Delay(%d): got %v, want within [%v, %v]", tt.n, got, tt.min, tt.max)
			}
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := Sleep(ctx, time.Hour); !errors.Is(got, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context: got %v, want context.Canceled", got)
	}
	if got := Sleep(context.Background(), time.Millisecond); got != nil {
		t.Fatalf("Sleep: got %v, want nil", got)
	}
}
