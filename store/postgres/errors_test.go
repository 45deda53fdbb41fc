package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/store"
)

func TestClassify(t *testing.T) {
	pg := func(code, constraint string) error {
		return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, ConstraintName: constraint, Message: "m"})
	}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"OrgTaken", pg("23505", "orgs_pkey"), store.ErrOrgExists},
		{"VersionTaken", pg("23505", "key_versions_pkey"), store.ErrVersionConflict},
		{"SecondActive", pg("23505", "key_versions_one_active"), store.ErrVersionConflict},
		{"OtherUnique", pg("23505", "changes_pkey"), store.ErrInvalidArgument},
		{"UnknownOrg", pg("23503", "key_versions_org_fkey"), store.ErrNotFound},
		{"Check", pg("23514", "key_versions_state_check"), store.ErrInvalidArgument},
		{"OutOfRange", pg("22003", ""), store.ErrInvalidArgument},
		{"BadUTF8", pg("22021", ""), store.ErrInvalidArgument},
		{"TriggerConflict", pg("KW001", ""), store.ErrVersionConflict},
		{"TriggerTransition", pg("KW002", ""), store.ErrInvalidTransition},
		{"TriggerInvariant", pg("KW003", ""), store.ErrInvalidArgument},
		{"AdminShutdown", pg("57P01", ""), store.ErrUnavailable},
		{"CrashShutdown", pg("57P02", ""), store.ErrUnavailable},
		{"Starting", pg("57P03", ""), store.ErrUnavailable},
		{"ConnectionFailure", pg("08006", ""), store.ErrUnavailable},
		{"TooManyConnections", pg("53300", ""), store.ErrUnavailable},
		{"DiskFull", pg("53100", ""), store.ErrUnavailable},
		{"Standby", pg("25006", ""), store.ErrUnavailable},
		{"Deadlock", pg("40P01", ""), store.ErrUnavailable},
		{"StatementTimeout", pg("57014", ""), store.ErrUnavailable},
		{"Syntax", pg("42601", ""), nil},
		{"UndefinedTable", pg("42P01", ""), nil},
		{"Dial", dial, store.ErrUnavailable},
		{"Reset", fmt.Errorf("read: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), store.ErrUnavailable},
		{"EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"Closed", fmt.Errorf("write: %w", net.ErrClosed), store.ErrUnavailable},
		{"Certificate", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, nil},
		{"Other", errors.New("something else"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(context.Background(), tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("classify(%v) = %v, which does not wrap the original error", tt.err, got)
			}
			for _, sentinel := range []error{
				store.ErrNotFound, store.ErrOrgExists, store.ErrVersionConflict,
				store.ErrInvalidTransition, store.ErrInvalidArgument, store.ErrUnavailable,
			} {
				if errors.Is(got, sentinel) != (sentinel == tt.want) {
					t.Errorf("classify(%v) = %v: errors.Is(%v) is %v", tt.err, got, sentinel, !(sentinel == tt.want))
				}
			}
			if tt.want == store.ErrUnavailable && !strings.Contains(got.Error(), "retryable") {
				t.Errorf("classify(%v) = %v, want it described as retryable", tt.err, got)
			}
		})
	}
}

// TestClassifyKeepsContextErrors: once the call's context is done, whatever
// the driver said, the caller sees the context's error.
func TestClassifyKeepsContextErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	for _, tt := range []struct {
		ctx  context.Context
		want error
	}{{canceled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		for _, err := range []error{
			io.ErrUnexpectedEOF, &pgconn.PgError{Code: "57014"}, fmt.Errorf("wait: %w", tt.want),
		} {
			got := classify(tt.ctx, err)
			if !errors.Is(got, tt.want) || errors.Is(got, store.ErrUnavailable) {
				t.Errorf("classify(%v) with a done context = %v, want %v only", err, got, tt.want)
			}
		}
	}
}
