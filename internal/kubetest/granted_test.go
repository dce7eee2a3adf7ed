package kubetest

import (
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
)

// The reviews StartAs waits on cover every verb and resource the watcher's
// manifest grants, with the namespace and resource name of its rule.
func TestAccessReviewsCoverTheManifest(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := readManifest(filepath.Join(root, "deploy", "k8s", "60-watcher-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range accessReviews(objs, rest.ImpersonationConfig{UserName: "u"}) {
		a := r.Spec.ResourceAttributes
		got[a.Namespace+"|"+a.Verb+"|"+a.Resource+"|"+a.Name] = r.Spec.User == "u"
	}
	for _, want := range []string{"|watch|ceremonies|", "|update|ceremonyattestations|", "|create|events|",
		"guildhall|create|leases|", "guildhall|update|leases|guildhall-watcher"} {
		if !got[want] {
			t.Errorf("no review for %q in %v", want, got)
		}
	}
}
