package intunetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/rules"
)

// graphHandler serves one Graph endpoint with s.mu held; it returns the status.
type graphHandler func(w http.ResponseWriter, r *http.Request, body []byte) int

// graph wraps a handler with what every Graph request goes through: the log,
// injected faults and outages, and the bearer token check.
func (s *Server) graph(h graphHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		s.mu.Lock()
		d := s.takeDelay()
		s.mu.Unlock()
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				s.mu.Lock()
				s.log = append(s.log, Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Status: 0})
				s.mu.Unlock()
				panic(http.ErrAbortHandler) // no answer at all, not an empty 200
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		rec := Request{Time: now, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			Authorization: r.Header.Get("Authorization") != "", ClientRequestID: r.Header.Get("client-request-id")}
		if r.Method == http.MethodPost {
			rec.Body = body
		}
		reqID := uuid.NewString()
		w.Header().Set("request-id", reqID)
		w.Header().Set("client-request-id", rec.ClientRequestID)
		rec.Status = s.serveGraph(w, r, body, now, h)
		s.log = append(s.log, rec)
	}
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, body []byte, now time.Time, h graphHandler) int {
	if now.Before(s.outageUntil) {
		if s.outageAfter != "" {
			w.Header().Set("Retry-After", s.outageAfter)
		}
		return graphErr(w, http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable.")
	}
	if f := takeFault(&s.graphFaults); f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		switch {
		case f.status == http.StatusTooManyRequests:
			return graphErr(w, f.status, "TooManyRequests", "Too many requests from this application. Please try again later.")
		case f.status == http.StatusForbidden:
			return graphErr(w, f.status, "Forbidden", "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementApps.Read.All, DeviceManagementApps.ReadWrite.All")
		case f.status >= 500:
			return graphErr(w, f.status, "serviceNotAvailable", "The service is temporarily unavailable.")
		}
		return graphErr(w, f.status, "BadRequest", http.StatusText(f.status))
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, known := s.tokens[tok]
	switch {
	case !ok || !known:
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token"`)
		return graphErr(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
	case !now.Before(exp):
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="The access token has expired"`)
		return graphErr(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
	}
	return h(w, r, body)
}

// graphErr writes Graph's error answer.
func graphErr(w http.ResponseWriter, status int, code, msg string) int {
	return writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": w.Header().Get("request-id"), "client-request-id": w.Header().Get("client-request-id")},
	}})
}

func (s *Server) app(w http.ResponseWriter, r *http.Request) (*fakeApp, int) {
	id := r.PathValue("id")
	a := s.apps[strings.ToLower(id)]
	if a == nil {
		return nil, graphErr(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("{\"_version\": 3, \"Message\": \"Resource not found: mobileApp %s\"}", id))
	}
	return a, 0
}

func (s *Server) serveApp(w http.ResponseWriter, r *http.Request, _ []byte) int {
	a, status := s.app(w, r)
	if a == nil {
		return status
	}
	return writeJSON(w, 200, map[string]any{
		"@odata.context":       s.URL + "/v1.0/$metadata#deviceAppManagement/mobileApps/$entity",
		"@odata.type":          a.app.ODataType,
		"id":                   a.app.ID,
		"displayName":          a.app.DisplayName,
		"description":          "",
		"publisher":            "Guildhouse",
		"largeIcon":            nil,
		"createdDateTime":      "2026-01-05T10:00:00Z",
		"lastModifiedDateTime": "2026-01-05T10:00:00Z",
		"isFeatured":           false,
		"publishingState":      "published",
	})
}

func (s *Server) serveAssignments(w http.ResponseWriter, r *http.Request, _ []byte) int {
	a, status := s.app(w, r)
	if a == nil {
		return status
	}
	skip := 0
	if v := r.URL.Query().Get("$skiptoken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(a.assignments) {
			return graphErr(w, http.StatusBadRequest, "BadRequest", "Invalid $skiptoken.")
		}
		skip = n
	}
	end := min(skip+s.pageSize, len(a.assignments))
	value := make([]any, 0, end-skip)
	for _, x := range a.assignments[skip:end] {
		value = append(value, wire(x))
	}
	out := map[string]any{
		"@odata.context": s.URL + "/v1.0/$metadata#deviceAppManagement/mobileApps('" + a.app.ID + "')/assignments",
		"value":          value,
	}
	if end < len(a.assignments) {
		out["@odata.nextLink"] = s.URL + r.URL.Path + "?$skiptoken=" + strconv.Itoa(end)
	}
	return writeJSON(w, 200, out)
}

// wire is the JSON Graph returns for an assignment: the target always carries
// the filter fields (null id and "none" when unfiltered).
func wire(x Assignment) map[string]any {
	target := map[string]any{"@odata.type": x.TargetType}
	if x.FilterID == "" {
		target["deviceAndAppManagementAssignmentFilterId"] = nil
	} else {
		target["deviceAndAppManagementAssignmentFilterId"] = x.FilterID
	}
	target["deviceAndAppManagementAssignmentFilterType"] = x.FilterType
	if x.TargetType == intune.TypeGroupTarget || x.TargetType == intune.TypeExclusionTarget {
		target["groupId"] = x.GroupID
	}
	var settings any
	if len(x.Settings) > 0 {
		settings = json.RawMessage(x.Settings)
	}
	return map[string]any{"@odata.type": intune.TypeMobileAppAssignment, "id": x.ID, "intent": x.Intent, "target": target, "settings": settings}
}

// postedAssignment is one element of mobileAppAssignments as the documentation
// describes it; anything else is refused, as Graph refuses unknown properties.
type postedAssignment struct {
	ODataType string          `json:"@odata.type"`
	ID        string          `json:"id"`
	Intent    string          `json:"intent"`
	Target    json.RawMessage `json:"target"`
	Settings  json.RawMessage `json:"settings"`
}

type postedTarget struct {
	ODataType  string  `json:"@odata.type"`
	GroupID    string  `json:"groupId"`
	FilterID   *string `json:"deviceAndAppManagementAssignmentFilterId"`
	FilterType string  `json:"deviceAndAppManagementAssignmentFilterType"`
}

var targetTypes = map[string]bool{intune.TypeGroupTarget: true, intune.TypeExclusionTarget: true, intune.TypeAllUsersTarget: true, intune.TypeAllDevicesTarget: true}

// serveAssign replaces the app's assignments with the posted set (204).
func (s *Server) serveAssign(w http.ResponseWriter, r *http.Request, body []byte) int {
	a, status := s.app(w, r)
	if a == nil {
		return status
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return graphErr(w, http.StatusUnsupportedMediaType, "BadRequest", "Content-Type must be application/json.")
	}
	var req struct {
		MobileAppAssignments *[]json.RawMessage `json:"mobileAppAssignments"`
	}
	if err := strict(body, &req); err != nil || req.MobileAppAssignments == nil {
		return graphErr(w, http.StatusBadRequest, "BadRequest", "The request body must be {\"mobileAppAssignments\": [...]}.")
	}
	var next []Assignment
	seen := map[string]bool{}
	for i, raw := range *req.MobileAppAssignments {
		var p postedAssignment
		var t postedTarget
		switch {
		case strict(raw, &p) != nil:
			return graphErr(w, 400, "BadRequest", fmt.Sprintf("mobileAppAssignments[%d] has a property that does not exist on type microsoft.graph.mobileAppAssignment.", i))
		case p.ODataType != intune.TypeMobileAppAssignment:
			return graphErr(w, 400, "BadRequest", fmt.Sprintf("mobileAppAssignments[%d]: @odata.type must be %s.", i, intune.TypeMobileAppAssignment))
		case intentIndex(p.Intent) < 0:
			return graphErr(w, 400, "BadRequest", fmt.Sprintf("mobileAppAssignments[%d]: the intent %q is not a value of installIntent.", i, p.Intent))
		case strict(p.Target, &t) != nil || !targetTypes[t.ODataType]:
			return graphErr(w, 400, "BadRequest", fmt.Sprintf("mobileAppAssignments[%d]: the target is not a known deviceAndAppManagementAssignmentTarget.", i))
		case (t.ODataType == intune.TypeGroupTarget || t.ODataType == intune.TypeExclusionTarget) && !rules.IsGUID(t.GroupID):
			return graphErr(w, 400, "BadRequest", fmt.Sprintf("mobileAppAssignments[%d]: groupId must be a group id.", i))
		case len(p.Settings) > 0 && !bytes.Equal(p.Settings, []byte("null")) && p.Settings[0] != '{':
			return graphErr(w, 400, "BadRequest", fmt.Sprintf("mobileAppAssignments[%d]: settings must be an object or null.", i))
		}
		key := strings.ToLower(t.GroupID)
		if key == "" {
			key = t.ODataType
		}
		if seen[key] {
			return graphErr(w, 400, "BadRequest", fmt.Sprintf("mobileAppAssignments[%d]: the group %s is targeted twice.", i, t.GroupID))
		}
		seen[key] = true
		x := Assignment{Intent: p.Intent, TargetType: t.ODataType, GroupID: t.GroupID, FilterType: t.FilterType}
		if t.FilterID != nil {
			x.FilterID = *t.FilterID
		}
		if x.FilterType == "" {
			x.FilterType = "none" // Intune's default
		}
		if len(p.Settings) > 0 && !bytes.Equal(p.Settings, []byte("null")) {
			x.Settings = bytes.Clone(p.Settings)
		}
		x.ID = assignmentID(x)
		next = append(next, x)
	}
	a.assignments = next
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// strict decodes JSON refusing unknown fields.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
