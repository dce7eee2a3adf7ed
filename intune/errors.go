package intune

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Kind classifies an Error by what a person (or a retry) can do about it.
type Kind string

const (
	// KindConfig: a setting is wrong or missing (Error.Setting names it).
	KindConfig Kind = "config"
	// KindAuth: the token endpoint or Graph refused the credentials.
	KindAuth Kind = "auth"
	// KindPermission: Graph answered 403: the app registration lacks
	// DeviceManagementApps.ReadWrite.All (application, admin-consented), or the
	// tenant has no Intune licence.
	KindPermission Kind = "permission"
	// KindNotFound: the app (or path) does not exist in this tenant.
	KindNotFound Kind = "not_found"
	// KindInvalid: Graph refused the request as malformed (400), or a target is invalid.
	KindInvalid Kind = "invalid"
	// KindConflict: carrying out the decision would override someone else's
	// assignment (see ChangeConflict); a person must resolve it.
	KindConflict Kind = "conflict"
	// KindThrottled: 429; try again after RetryAfter.
	KindThrottled Kind = "throttled"
	// KindUnavailable: 5xx, a network failure or a timeout; try again later.
	KindUnavailable Kind = "unavailable"
)

// Error is what every operation of this package returns on failure. Message is
// in plain words and never contains a secret or a token.
type Error struct {
	Kind Kind
	// Op is the operation: "token", "get app", "list assignments", "assign".
	Op string
	// Status is the HTTP status, when there was an answer.
	Status int
	// Code is Graph's error code or the token endpoint's error (with its AADSTS number).
	Code string
	// Setting names the configuration to fix (GRAPH_TENANT_ID …), when known.
	Setting string
	Message string
	// RetryAfter is how long the server asked to wait (0 if it did not say).
	RetryAfter time.Duration
	// RequestID is Graph's request-id (or the token endpoint's trace id), for Microsoft support.
	RequestID string
	Err       error
}

func (e *Error) Error() string {
	s := e.Message
	if e.Op != "" {
		s = "graph " + e.Op + ": " + s
	}
	if e.Setting != "" {
		s += " (check " + e.Setting + ")"
	}
	if e.RequestID != "" {
		s += " [request-id " + e.RequestID + "]"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again later can succeed without a person
// changing something: throttling, outages, timeouts.
func (e *Error) Retryable() bool { return e.Kind == KindThrottled || e.Kind == KindUnavailable }

// IsRetryable reports whether err is worth retrying: an *Error that says so,
// or a network failure or timeout. A Temporal activity maps false to a
// non-retryable application error.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable()
	}
	return transient(err)
}

// RetryAfter is the wait the server asked for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// transient reports whether err is a network failure or a timeout.
func transient(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

func configError(setting, format string, args ...any) *Error {
	return &Error{Kind: KindConfig, Setting: setting, Message: fmt.Sprintf(format, args...)}
}
