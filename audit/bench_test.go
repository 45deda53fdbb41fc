package audit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/audit"
)

// BenchmarkRecord measures audit throughput: b.N events recorded by
// `conc` goroutines, each Record returning only once its event is durable.
// events/s is the figure to read; ns/op is per event.
//
//	go test ./audit -run '^$' -bench Record -benchtime 3s
func BenchmarkRecord(b *testing.B) {
	for _, k := range kinds() {
		for _, conc := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/conc=%d", k.name, conc), func(b *testing.B) {
				st := k.open(b)
				kek := newKEK(b)
				l := openLog(b, st, kek, nil)
				var next atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := l.Record(b.Context(), event(0)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkVerify measures verification speed over a log of 10,000 events.
func BenchmarkVerify(b *testing.B) {
	st := openSQLite(b)
	kek := newKEK(b)
	l := openLog(b, st, kek, &audit.Options{MaxBatch: 1000})
	var wg sync.WaitGroup
	for w := range 100 {
		wg.Go(func() {
			for i := range 100 {
				if err := l.Record(b.Context(), event(w*100+i)); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for b.Loop() {
		if _, err := audit.Verify(b.Context(), st, kek, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10000*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
