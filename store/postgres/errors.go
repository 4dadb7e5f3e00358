package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/novel-engine/novel-engine/store"
)

// translate maps a driver error to the store's sentinel errors, keeping the
// original in the chain: no rows is ErrNotFound, a unique violation is
// ErrConflict, a broken or refused connection, a timeout or a server that is
// shutting down is ErrUnavailable. Anything else (a bug, most likely) is
// returned as it is.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case pgErr.Code == "23503": // foreign_key_violation: the simulation is gone
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case pgErr.Code[:2] == "08", // connection exception
			pgErr.Code[:2] == "53", // insufficient resources (too many connections, disk full)
			pgErr.Code == "57014",  // query_canceled: statement_timeout
			pgErr.Code == "57P01",  // admin_shutdown
			pgErr.Code == "57P02",  // crash_shutdown
			pgErr.Code == "57P03",  // cannot_connect_now: starting up or shutting down
			pgErr.Code == "40001",  // serialization_failure
			pgErr.Code == "40P01",  // deadlock_detected
			pgErr.Code == "55P03",  // lock_not_available
			pgErr.Code == "25006":  // read_only_sql_transaction: a standby during failover
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; the database is not to blame.
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// unavailable reports whether err is a failure to reach the database rather
// than an answer from it.
func unavailable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errClosed) ||
		errors.Is(err, puddle.ErrClosedPool) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err)
}

// errClosed is returned by a Store after Close.
var errClosed = errors.New("postgres store closed")

// errStaleBase refuses a turn whose state delta was made against a base
// its row no longer holds (another node wrote a new one); the turn is then
// written again with its full state.
var errStaleBase = fmt.Errorf("the stored base state changed: %w", store.ErrConflict)
