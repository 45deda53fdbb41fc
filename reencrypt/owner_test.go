package reencrypt

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

func TestDeadLocal(t *testing.T) {
	o, err := newOwner()
	if err != nil {
		t.Fatal(err)
	}
	// A process that ran and exited: its pid is gone.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	tests := []struct {
		holder string
		want   bool
	}{
		{o.worker(0), false},
		{fmt.Sprintf("%s/%d/%s#1", o.host, o.pid, "earlier"), true},
		{fmt.Sprintf("%s/%d/x#0", o.host, dead), true},
		{fmt.Sprintf("%s/%d/x#0", o.host, os.Getppid()), false},
		{fmt.Sprintf("other-host/%d/x#0", dead), false},
		{"garbage", false},
		{fmt.Sprintf("%s/notapid/x", o.host), false},
	}
	for _, tt := range tests {
		if got := o.deadLocal(tt.holder); got != tt.want {
			t.Errorf("deadLocal(%q) = %v, want %v", tt.holder, got, tt.want)
		}
	}
}
