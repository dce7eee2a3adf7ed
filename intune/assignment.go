package intune

import (
	"bytes"
	"encoding/json"
	"strings"
)

// OData types of the resources this package reads and writes. Graph writes them
// with a leading '#'; some documentation examples omit it, so reads compare
// with normType.
const (
	TypeMobileAppAssignment = "#microsoft.graph.mobileAppAssignment"
	TypeGroupTarget         = "#microsoft.graph.groupAssignmentTarget"
	TypeExclusionTarget     = "#microsoft.graph.exclusionGroupAssignmentTarget"
	TypeAllUsersTarget      = "#microsoft.graph.allLicensedUsersAssignmentTarget"
	TypeAllDevicesTarget    = "#microsoft.graph.allDevicesAssignmentTarget"
)

// Assignment filter types (deviceAndAppManagementAssignmentFilterType).
const (
	FilterNone    = "none"
	FilterInclude = "include"
	FilterExclude = "exclude"
)

// MobileApp is the part of a Graph mobileApp this package uses.
type MobileApp struct {
	ODataType       string `json:"@odata.type,omitempty"`
	ID              string `json:"id"`
	DisplayName     string `json:"displayName"`
	Publisher       string `json:"publisher,omitempty"`
	PublishingState string `json:"publishingState,omitempty"`
}

// Assignment is a Graph mobileAppAssignment. Target and Settings keep the JSON
// Graph sent, so an assignment Guildhall leaves alone goes back in an assign
// call exactly as it came (assign replaces the whole set).
type Assignment struct {
	ID     string           `json:"id,omitempty"`
	Intent Intent           `json:"intent"`
	Target AssignmentTarget `json:"target"`
	// Settings is the mobileAppAssignmentSettings object verbatim (its shape
	// depends on the app type), or nil: Intune then applies the app type's defaults.
	Settings json.RawMessage `json:"settings"`
}

// AssignmentTarget is a deviceAndAppManagementAssignmentTarget.
type AssignmentTarget struct {
	ODataType  string `json:"@odata.type"`
	GroupID    string `json:"groupId,omitempty"`
	FilterID   string `json:"deviceAndAppManagementAssignmentFilterId,omitempty"`
	FilterType string `json:"deviceAndAppManagementAssignmentFilterType,omitempty"`
	// raw is the object as Graph sent it; MarshalJSON writes it back unchanged.
	raw json.RawMessage
}

// GroupTarget is the target of an assignment Guildhall makes: the whole group,
// no filter.
func GroupTarget(groupID string) AssignmentTarget {
	return AssignmentTarget{ODataType: TypeGroupTarget, GroupID: groupID}
}

type assignmentTargetFields struct {
	ODataType  string  `json:"@odata.type"`
	GroupID    string  `json:"groupId,omitempty"`
	FilterID   *string `json:"deviceAndAppManagementAssignmentFilterId,omitempty"`
	FilterType string  `json:"deviceAndAppManagementAssignmentFilterType,omitempty"`
}

// UnmarshalJSON keeps the raw object next to the fields it understands.
func (t *AssignmentTarget) UnmarshalJSON(b []byte) error {
	var f assignmentTargetFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*t = AssignmentTarget{ODataType: f.ODataType, GroupID: f.GroupID, FilterType: f.FilterType, raw: bytes.Clone(b)}
	if f.FilterID != nil {
		t.FilterID = *f.FilterID
	}
	return nil
}

// MarshalJSON writes the object Graph sent, or the fields for a new target.
func (t AssignmentTarget) MarshalJSON() ([]byte, error) {
	if len(t.raw) > 0 {
		return t.raw, nil
	}
	f := assignmentTargetFields{ODataType: t.ODataType, GroupID: t.GroupID, FilterType: t.FilterType}
	if t.FilterID != "" {
		f.FilterID = &t.FilterID
	}
	return json.Marshal(f)
}

// Kind is the target's OData type, normalised: lowercase with a leading '#'.
func (t AssignmentTarget) Kind() string { return normType(t.ODataType) }

// Filtered reports whether an assignment filter narrows the target.
func (t AssignmentTarget) Filtered() bool {
	ft := strings.ToLower(t.FilterType)
	if ft == "" || ft == FilterNone {
		return false
	}
	return t.FilterID != "" && t.FilterID != "00000000-0000-0000-0000-000000000000"
}

// IncludesGroup reports whether the assignment includes exactly this group
// (a groupAssignmentTarget for it; exclusions and all-users/all-devices do not).
func (a Assignment) IncludesGroup(groupID string) bool {
	return a.Target.Kind() == normType(TypeGroupTarget) && strings.EqualFold(a.Target.GroupID, groupID)
}

// ExcludesGroup reports whether the assignment excludes this group.
func (a Assignment) ExcludesGroup(groupID string) bool {
	return a.Target.Kind() == normType(TypeExclusionTarget) && strings.EqualFold(a.Target.GroupID, groupID)
}

// wireAssignment is the documented request and response shape of one
// mobileAppAssignment, field order as in the Graph docs.
type wireAssignment struct {
	ODataType string           `json:"@odata.type"`
	ID        string           `json:"id,omitempty"`
	Intent    Intent           `json:"intent"`
	Target    AssignmentTarget `json:"target"`
	Settings  json.RawMessage  `json:"settings"`
}

// MarshalJSON writes the documented shape, with "@odata.type" and an explicit
// null for absent settings.
func (a Assignment) MarshalJSON() ([]byte, error) {
	settings := a.Settings
	if len(settings) == 0 {
		settings = json.RawMessage("null")
	}
	return json.Marshal(wireAssignment{ODataType: TypeMobileAppAssignment, ID: a.ID, Intent: a.Intent, Target: a.Target, Settings: settings})
}

// UnmarshalJSON reads the documented shape; a null settings becomes nil.
func (a *Assignment) UnmarshalJSON(b []byte) error {
	var w wireAssignment
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	settings := w.Settings
	if bytes.Equal(bytes.TrimSpace(settings), []byte("null")) {
		settings = nil
	}
	*a = Assignment{ID: w.ID, Intent: w.Intent, Target: w.Target, Settings: settings}
	return nil
}

// AssignRequest is the body of POST /deviceAppManagement/mobileApps/{id}/assign.
// Graph replaces the app's assignments with exactly this set.
type AssignRequest struct {
	MobileAppAssignments []Assignment `json:"mobileAppAssignments"`
}

// assignmentPage is one page of GET …/assignments.
type assignmentPage struct {
	Value    []Assignment `json:"value"`
	NextLink string       `json:"@odata.nextLink"`
}

func normType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if t != "" && !strings.HasPrefix(t, "#") {
		t = "#" + t
	}
	return t
}
