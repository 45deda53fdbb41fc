package audit

// Queued returns the number of events waiting for the writer, for tests.
func (l *Log) Queued() int { return len(l.reqs) }
