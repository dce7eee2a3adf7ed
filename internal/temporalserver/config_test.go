package temporalserver

import (
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// The tests' dynamic config is the deployment's file with the test's values on
// top, each unconstrained; a value that is not JSON is refused.
func TestDynamicConfigStartsFromTheDeploymentFile(t *testing.T) {
	b, err := DynamicConfig(map[string]string{"limit.historyCount.suggestContinueAsNew": "40", "frontend.enableUpdateWorkflowExecution": "false"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if v := got["limit.historyCount.suggestContinueAsNew"]; len(v) != 1 || v[0].Value != 40 {
		t.Errorf("test value: %+v", v)
	}
	if v := got["frontend.enableUpdateWorkflowExecution"]; len(v) != 1 || v[0].Value != false {
		t.Errorf("a test value overrides the file's: %+v", v)
	}
	if v := got["frontend.enableUpdateWorkflowExecutionAsyncAccepted"]; len(v) != 1 || v[0].Value != true {
		t.Errorf("the file's value is kept: %+v", v)
	}
	if _, err := DynamicConfig(map[string]string{"x": "not json"}); err == nil || !strings.Contains(err.Error(), "must be JSON") {
		t.Errorf("a value that is not JSON: %v", err)
	}
}

// A missing binary fails with the command that builds it.
func TestMissingBinaryNamesTheBuild(t *testing.T) {
	t.Setenv("GUILDHALL_TEST_TEMPORAL_SERVER", filepath.Join(t.TempDir(), "temporal-server"))
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), "tools/temporal-server/build.sh") || !strings.Contains(err.Error(), "make temporal-server") {
		t.Fatalf("Binary() = %v", err)
	}
}
