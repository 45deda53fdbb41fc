package reencrypt

import "testing"

// TestJobIDOfNamesHowRowsAreRead: a run over the same column with another
// context template or org/id column is another job (its done chunks were
// converted differently), while the same settings resume the same job.
func TestJobIDOfNamesHowRowsAreRead(t *testing.T) {
	base := &Table{name: "postgres:app/public.channels.token", ctxTpl: "channels.token", qorg: `"org_id"`, qid: `"id"`}
	same := *base
	tests := []struct {
		name string
		t    *Table
		same bool
	}{
		{"same settings", &same, true},
		{"other context", &Table{name: base.name, ctxTpl: "channels.token:{id}", qorg: base.qorg, qid: base.qid}, false},
		{"other org column", &Table{name: base.name, ctxTpl: base.ctxTpl, qorg: `"tenant"`, qid: base.qid}, false},
		{"other id column", &Table{name: base.name, ctxTpl: base.ctxTpl, qorg: base.qorg, qid: `"uuid"`}, false},
	}
	want := JobIDOf("migrate", base, "")
	for _, tt := range tests {
		if got := JobIDOf("migrate", tt.t, ""); (got == want) != tt.same {
			t.Errorf("%s: got id %s, base %s; want same=%v", tt.name, got, want, tt.same)
		}
	}
	if got, other := JobIDOf("migrate", base, ""), JobIDOf("scan", base, ""); got == other {
		t.Errorf("migrate and scan share id %s", got)
	}
}
