package kubetest

import (
	"context"
	"fmt"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// waitGranted waits until the API server's authorizer grants sa (a config from
// ImpersonateServiceAccount) every rule of the Roles and ClusterRoles in the
// manifest at path. RBAC objects reach the authorizer through an informer, so
// for a moment after Apply the ServiceAccount can still be refused; a test that
// starts right away would fail on a busy machine for no reason of its own.
func waitGranted(ctx context.Context, admin, sa *rest.Config, path string) error {
	objs, err := readManifest(path)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	reviews := accessReviews(objs, sa.Impersonate)
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range reviews {
		for {
			got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
			if err == nil && got.Status.Allowed {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s is still not allowed to %s %s after applying %s (%v)",
					r.Spec.User, r.Spec.ResourceAttributes.Verb, r.Spec.ResourceAttributes.Resource, path, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// accessReviews is one SubjectAccessReview per verb and resource of every rule.
func accessReviews(objs []*unstructured.Unstructured, who rest.ImpersonationConfig) []*authzv1.SubjectAccessReview {
	var out []*authzv1.SubjectAccessReview
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
			resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
			verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
			names, _, _ := unstructured.NestedStringSlice(rule, "resourceNames")
			name := ""
			if len(names) > 0 {
				name = names[0]
			}
			for _, g := range groups {
				for _, res := range resources {
					for _, v := range verbs {
						out = append(out, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
							User: who.UserName, Groups: who.Groups,
							ResourceAttributes: &authzv1.ResourceAttributes{
								Namespace: o.GetNamespace(), Verb: v, Group: g, Resource: res, Name: name,
							},
						}})
					}
				}
			}
		}
	}
	return out
}
