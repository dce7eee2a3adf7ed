package integration_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/guildhouse/guildhall/internal/kubetest"
	"github.com/guildhouse/guildhall/watcher"
	"github.com/guildhouse/guildhall/watcher/crd"
)

// TestExampleAndPrinterColumns: deploy/examples/ceremony.yaml passes the schema and
// the watcher's checks, and `kubectl get ceremonies` shows the promised columns.
func TestExampleAndPrinterColumns(t *testing.T) {
	ns := namespace(t)
	root, err := kubetest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "examples", "ceremony.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.UnmarshalStrict(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	got, err := ceremonies(ns).Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the example is refused by the CRD: %v", err)
	}
	if _, problems := watcher.Validate(got, time.Now()); len(problems) > 0 {
		t.Fatalf("the watcher would refuse the example: %v", problems)
	}
	setPhase(t, ns, got.GetName(), "Collecting")

	// What kubectl asks for: the server-side Table.
	hc, err := rest.HTTPClientFor(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, kube.URL+"/apis/"+crd.Group+"/"+crd.Version+"/namespaces/"+ns+"/ceremonies", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("table: %s %s", resp.Status, body)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if strings.Join(cols, ",") != "Name,Phase,Signed,Quorum,Deadline,Age" {
		t.Fatalf("columns = %v", cols)
	}
	deadline, _, _ := unstructured.NestedString(got.Object, "spec", "deadline")
	if len(table.Rows) != 1 || table.Rows[0].Cells[1] != "Collecting" || table.Rows[0].Cells[3] != float64(2) {
		t.Fatalf("rows = %+v", table.Rows)
	}
	// A future deadline as kubectl prints it: the time, not "<invalid>" (what a
	// date column makes of a time that has not come yet).
	if table.Rows[0].Cells[4] != deadline {
		t.Fatalf("deadline cell %v, want %s", table.Rows[0].Cells[4], deadline)
	}
}
