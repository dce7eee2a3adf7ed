package chronicle

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// MaxRequestSize bounds one ingest request body.
const MaxRequestSize = 8 << 20

// NewHandler returns the ingest endpoint for POST /api/v1/chronicle. The body is
// JSON lines (one event per line), a single event, or a JSON array of events.
// Callers authenticate with "Authorization: Bearer <token>"; an empty token
// refuses every request, so ingest is off until configured
// (CHRONICLE_INGEST_TOKEN).
//
// Answers, each with the import summary as JSON:
//
//	200  every event projected or already known
//	422  some events were refused; errors name their line and why (fix them, resend)
//	503  the database failed for some events; resend later (duplicates are harmless)
//	400  the body is not readable; 401 bad token; 405 not POST; 413 too large
func NewHandler(p *Projector, token string) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Comparing digests keeps the comparison constant-time in the token length.
		gotSum := sha256.Sum256([]byte(got))
		if token == "" || !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="guildhall-chronicle"`)
			writeError(w, http.StatusUnauthorized, "a valid ingest bearer token is required")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, "the body is larger than 8 MiB; send fewer events per request")
				return
			}
			writeError(w, http.StatusBadRequest, "the body could not be read")
			return
		}
		if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(trimmed, &items); err != nil {
				writeError(w, http.StatusBadRequest, "the body starts with [ but is not a JSON array of events")
				return
			}
			var lines bytes.Buffer
			for _, it := range items {
				lines.Write(it)
				lines.WriteByte('\n')
			}
			body = lines.Bytes()
		}
		sum, err := p.Import(r.Context(), bytes.NewReader(body))
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "the import was interrupted; resend")
			return
		}
		code := http.StatusOK
		for _, e := range sum.Errors {
			if e.Retry {
				code = http.StatusServiceUnavailable
				break
			}
			code = http.StatusUnprocessableEntity
		}
		writeJSON(w, code, sum)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
