package kubetest_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/guildhouse/guildhall/internal/kubetest"
)

// TestServer starts the real pair, checks the version ldflags took, that the CRDs
// are served, and that RBAC is enforced (an unbound identity is refused).
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	s, err := kubetest.Start(ctx, kubetest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	t.Logf("etcd + kube-apiserver ready with CRDs in %s", time.Since(began).Round(time.Millisecond))

	dc, err := discovery.NewDiscoveryClientForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" || v.Major != "1" || v.Minor != "37" {
		t.Errorf("server version = %+v, want v1.37.2 (version ldflags missing from the build?)", v)
	}

	gvr := schema.GroupVersionResource{Group: "substrate.guildhouse.dev", Version: "v1alpha1", Resource: "ceremonies"}
	dyn := dynamic.NewForConfigOrDie(s.Config)
	if _, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("admin list ceremonies: %v", err)
	}

	nobody := rest.CopyConfig(s.Config)
	nobody.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	_, err = dynamic.NewForConfigOrDie(nobody).Resource(gvr).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list as an unbound user: err = %v, want Forbidden (is RBAC on?)", err)
	}
}
