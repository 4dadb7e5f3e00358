package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/runner"
	"github.com/novel-engine/novel-engine/store"
)

// Error codes of the protocol.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeTooLarge     = "too_large"
	CodeRateLimited  = "rate_limited"
	CodeInternal     = "internal"
	CodeUnavailable  = "unavailable"
)

// Error is an error a user may see: a protocol code and a message.
type Error struct {
	Code    string
	Message string
	// RetryAfter, in seconds, accompanies rate_limited and unavailable.
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

var statusOf = map[string]int{
	CodeBadRequest:    http.StatusBadRequest,
	CodeUnauthorized:  http.StatusUnauthorized,
	CodeForbidden:     http.StatusForbidden,
	CodeNotFound:      http.StatusNotFound,
	CodeConflict:      http.StatusConflict,
	CodeTooLarge:      http.StatusRequestEntityTooLarge,
	CodeRateLimited:   http.StatusTooManyRequests,
	CodeQuotaExceeded: http.StatusTooManyRequests,
	CodeInternal:      http.StatusInternalServerError,
	CodeUnavailable:   http.StatusServiceUnavailable,
}

// toError maps any error to what a user may see. Store errors become
// their protocol codes; anything unknown is internal, logged in full, and
// shown as a generic message.
func toError(log *slog.Logger, err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, runner.ErrInvalid):
		return &Error{Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, runner.ErrEnded), errors.Is(err, runner.ErrVoteClosed):
		return &Error{Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, runner.ErrNotRunning):
		return &Error{Code: CodeUnavailable, Message: err.Error() + " or on any node now; try again shortly", RetryAfter: 2}
	case errors.Is(err, runner.ErrBusy), errors.Is(err, runner.ErrDraining):
		return &Error{Code: CodeUnavailable, Message: err.Error(), RetryAfter: 1}
	case errors.Is(err, cluster.ErrUnavailable):
		return &Error{Code: CodeUnavailable, Message: err.Error(), RetryAfter: 2}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: trimStoreErr(err)}
	case errors.Is(err, store.ErrConflict):
		return &Error{Code: CodeConflict, Message: trimStoreErr(err)}
	case errors.Is(err, store.ErrUnavailable):
		log.Warn("store unavailable", "err", err)
		return &Error{Code: CodeUnavailable, Message: "storage is unavailable; try again shortly", RetryAfter: 2}
	case errors.Is(err, context.DeadlineExceeded):
		log.Warn("deadline exceeded", "err", err)
		return &Error{Code: CodeUnavailable, Message: "the server is busy; try again shortly", RetryAfter: 1}
	}
	log.Error("internal error", "err", err)
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// trimStoreErr keeps a store error's context ("simulation \"x\"") and
// drops the sentinel's generic tail.
func trimStoreErr(err error) string {
	msg := err.Error()
	for _, tail := range []string{": not found", ": conflict"} {
		if len(msg) > len(tail) && msg[len(msg)-len(tail):] == tail {
			msg = msg[:len(msg)-len(tail)]
			if tail == ": not found" {
				return msg + " does not exist"
			}
			return msg
		}
	}
	return msg
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers a REST request with err in the protocol's shape.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toError(s.log, err)
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Message
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	s.metrics.httpErrors.WithLabelValues(e.Code).Inc()
	writeJSON(w, statusOf[e.Code], body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}
