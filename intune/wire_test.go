package intune

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// The testdata files follow the request and response shapes of the Graph v1.0
// reference (intune-apps-mobileapp-assign, intune-apps-mobileappassignment-list,
// intune-apps-mobileapp-get, intune-shared-groupassignmenttarget): field names,
// "@odata.type" values, nullable settings, the filter fields Intune adds to
// targets, and one target written without the leading '#', as some reference
// examples do.

const groupD = "44444444-5555-6666-7777-888888888888"

func readPage(t *testing.T) assignmentPage {
	t.Helper()
	raw, err := os.ReadFile("testdata/list-assignments.json")
	if err != nil {
		t.Fatal(err)
	}
	var p assignmentPage
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeDocumentedAssignmentList(t *testing.T) {
	p := readPage(t)
	if len(p.Value) != 4 || p.NextLink != "" {
		t.Fatalf("decoded %d assignments, next %q", len(p.Value), p.NextLink)
	}
	a, ex, filtered, all := p.Value[0], p.Value[1], p.Value[2], p.Value[3]
	if a.Intent != IntentAvailable || a.Target.Kind() != "#microsoft.graph.groupassignmenttarget" || a.Target.GroupID != groupB || a.Target.Filtered() || a.Settings == nil {
		t.Errorf("group assignment decoded as %+v", a)
	}
	if !ex.ExcludesGroup(groupC) || ex.IncludesGroup(groupC) || ex.Settings != nil {
		t.Errorf("exclusion decoded as %+v (settings %s)", ex, ex.Settings)
	}
	if !filtered.Target.Filtered() || filtered.Target.FilterType != FilterInclude || !filtered.IncludesGroup(groupA) {
		t.Errorf("filtered assignment decoded as %+v", filtered)
	}
	if all.Target.Kind() != normType(TypeAllUsersTarget) || all.IncludesGroup("") {
		t.Errorf("all-users target without '#' decoded as %+v", all.Target)
	}
}

// TestAssignRequestShape: the POST body for a target over the documented list
// is the golden one: foreign assignments verbatim and in order, the target's
// groups after them, a changed one keeping its id and settings, a new one
// without id and with null settings.
func TestAssignRequestShape(t *testing.T) {
	p := readPage(t)
	tg := Target{AppID: appA, Groups: []GroupIntent{{GroupID: groupA, Intent: IntentRequired}, {GroupID: groupD, Intent: IntentUninstall}}, OnRevoke: RevokeRemove}
	plan := PlanRelease(tg, p.Value)
	got, err := json.Marshal(AssignRequest{MobileAppAssignments: plan.Assignments})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/assign-request.json")
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, got, "", "  ")
		t.Fatalf("assign body differs from testdata/assign-request.json:\n%s", pretty.String())
	}
	kinds := map[ChangeKind]int{}
	for _, c := range plan.Changes {
		kinds[c.Kind]++
	}
	if kinds[ChangeIntent] != 1 || kinds[ChangeFilter] != 1 || kinds[ChangeAdd] != 1 || len(plan.Changes) != 3 {
		t.Fatalf("changes %+v", plan.Changes)
	}
}

// TestNewAssignmentExactBytes pins the shape of an assignment Guildhall makes.
func TestNewAssignmentExactBytes(t *testing.T) {
	got, err := json.Marshal(Assignment{Intent: IntentRequired, Target: GroupTarget(groupA)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + groupA + `"},"settings":null}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestForeignAssignmentRoundTrip: an assignment read and written back is the
// same JSON, including properties this package does not know.
func TestForeignAssignmentRoundTrip(t *testing.T) {
	in := `{"@odata.type":"#microsoft.graph.mobileAppAssignment","id":"x_1_0","intent":"required","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + groupB + `","futureProperty":{"a":1}},"settings":{"@odata.type":"#microsoft.graph.iosStoreAppAssignmentSettings","vpnConfigurationId":"v","uninstallOnDeviceRemoval":true}}`
	var a Assignment
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	_ = json.Unmarshal([]byte(in), &x)
	_ = json.Unmarshal(out, &y)
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("round trip changed it:\n in %s\nout %s", in, out)
	}
}

func TestDocumentedMobileAppGet(t *testing.T) {
	raw, err := os.ReadFile("testdata/mobileapp-get-documented.json")
	if err != nil {
		t.Fatal(err)
	}
	var wrapped appAnswer
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		t.Fatal(err)
	}
	if app := wrapped.app(); app.ID != appA || app.DisplayName != "Guildhall Agent 0.1.0" || app.PublishingState != "published" {
		t.Fatalf("documented (wrapped) answer read as %+v", app)
	}
	var plain appAnswer
	if err := json.Unmarshal([]byte(`{"@odata.type":"#microsoft.graph.win32LobApp","id":"`+appA+`","displayName":"Agent","value":null}`), &plain); err != nil {
		t.Fatal(err)
	}
	if app := plain.app(); app.ID != appA || app.ODataType != "#microsoft.graph.win32LobApp" {
		t.Fatalf("service answer read as %+v", app)
	}
}
