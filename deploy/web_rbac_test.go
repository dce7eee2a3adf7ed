package deploy

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/guildhouse/guildhall/watcher/crd"
)

const (
	webRBACFile        = "deploy/k8s/45-web-rbac.yaml"
	webServiceAccount  = "guildhall-web"
	clusterModeKey     = "GUILDHALL_CLUSTER_MODE"
	ceremonyNSKey      = "GUILDHALL_CEREMONY_NAMESPACE"
	watchNamespacesKey = "WATCH_NAMESPACES"
)

// containerEnv is the literal environment a container of the component gets: its
// ConfigMaps through envFrom, overridden by env values (Secret references are left
// out: they carry no value in the manifests).
func containerEnv(all []manifest, component string) (map[string]string, bool) {
	configs := map[string]map[string]string{}
	for _, m := range all {
		if cm, ok := m.Obj.(*corev1.ConfigMap); ok {
			configs[cm.Name] = cm.Data
		}
	}
	for _, p := range pods(all) {
		if p.Meta.Labels["app.kubernetes.io/component"] != component {
			continue
		}
		for _, c := range p.Spec.Containers {
			if !isGuildhall(c) {
				continue
			}
			env := map[string]string{}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					for k, v := range configs[ef.ConfigMapRef.Name] {
						env[ef.Prefix+k] = v
					}
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					env[e.Name] = e.Value
				}
			}
			return env, true
		}
	}
	return nil, false
}

// webClusterMode is GUILDHALL_CLUSTER_MODE as the web container sees it, parsed as
// the web command parses it (empty = off).
func webClusterMode(all []manifest) (bool, error) {
	env, ok := containerEnv(all, "web")
	if !ok {
		return false, fmt.Errorf("no web container")
	}
	if env[clusterModeKey] == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(env[clusterModeKey])
	if err != nil {
		return false, fmt.Errorf("web %s=%q is not a boolean", clusterModeKey, env[clusterModeKey])
	}
	return on, nil
}

// webTokenProblems: the web pod runs as its own ServiceAccount, which mounts no
// token by default, and the pod mounts one exactly when cluster mode is on.
func webTokenProblems(all []manifest) []string {
	var out []string
	on, err := webClusterMode(all)
	if err != nil {
		return []string{err.Error()}
	}
	for _, m := range all {
		if sa, ok := m.Obj.(*corev1.ServiceAccount); ok && sa.Name == webServiceAccount {
			if a := sa.AutomountServiceAccountToken; a == nil || *a {
				out = append(out, fmt.Sprintf("%s: ServiceAccount %s must set automountServiceAccountToken: false (the pod opts in)", m.File, sa.Name))
			}
		}
	}
	for _, p := range pods(all) {
		if p.Meta.Labels["app.kubernetes.io/component"] != "web" {
			continue
		}
		if p.Spec.ServiceAccountName != webServiceAccount {
			out = append(out, fmt.Sprintf("%s: serviceAccountName %q, want %s", p, p.Spec.ServiceAccountName, webServiceAccount))
		}
		if a := p.Spec.AutomountServiceAccountToken; a == nil || *a != on {
			out = append(out, fmt.Sprintf("%s: automountServiceAccountToken must be %v with %s=%v", p, on, clusterModeKey, on))
		}
	}
	return out
}

// webGrant is one permission: namespace ("" = cluster-wide), group, resource, verb.
type webGrant struct{ ns, group, resource, verb string }

func (g webGrant) String() string {
	scope := "cluster"
	if g.ns != "" {
		scope = "namespace " + g.ns
	}
	return scope + " " + g.group + "/" + g.resource + " " + g.verb
}

// webManifestGrants are the permissions the manifests give the web's
// ServiceAccount, from every Role and ClusterRole bound to it anywhere.
func webManifestGrants(t *testing.T, all []manifest) []webGrant {
	t.Helper()
	clusterRoles, roles := map[string][]rbacv1.PolicyRule{}, map[string][]rbacv1.PolicyRule{}
	for _, m := range all {
		switch o := m.Obj.(type) {
		case *rbacv1.ClusterRole:
			clusterRoles[o.Name] = o.Rules
		case *rbacv1.Role:
			roles[o.Namespace+"/"+o.Name] = o.Rules
		}
	}
	bound := func(ss []rbacv1.Subject) bool {
		return slices.ContainsFunc(ss, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == webServiceAccount && s.Namespace == namespace
		})
	}
	var out []webGrant
	add := func(ns string, rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
				t.Errorf("web rule %+v: resourceNames/nonResourceURLs are not what crd.Creator uses", r)
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						out = append(out, webGrant{ns, g, res, v})
					}
				}
			}
		}
	}
	for _, m := range all {
		switch b := m.Obj.(type) {
		case *rbacv1.ClusterRoleBinding:
			if bound(b.Subjects) {
				add("", clusterRoles[b.RoleRef.Name])
			}
		case *rbacv1.RoleBinding:
			if !bound(b.Subjects) {
				continue
			}
			rules, ok := roles[b.Namespace+"/"+b.RoleRef.Name]
			if b.RoleRef.Kind == "ClusterRole" {
				rules, ok = clusterRoles[b.RoleRef.Name]
			}
			if !ok {
				t.Errorf("%s: RoleBinding %s/%s refers to %s %s, not defined here", m.File, b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			add(b.Namespace, rules)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return slices.Compact(out)
}

// webCodeGrants are crd.CreatorRules in the namespace the composer writes to.
func webCodeGrants(ns string) []webGrant {
	var out []webGrant
	for _, r := range crd.CreatorRules {
		for _, v := range r.Verbs {
			out = append(out, webGrant{ns, r.Group, r.Resource, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func webGrantProblems(t *testing.T, all []manifest) []string {
	t.Helper()
	env, ok := containerEnv(all, "web")
	if !ok {
		return []string{"no web container"}
	}
	ns := env[ceremonyNSKey]
	if ns == "" {
		return []string{"the web gets no " + ceremonyNSKey}
	}
	got, want := webManifestGrants(t, all), webCodeGrants(ns)
	var out []string
	for _, g := range want {
		if !slices.Contains(got, g) {
			out = append(out, "the manifests lack "+g.String()+" (crd.CreatorRules)")
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			out = append(out, "the manifests grant the web "+g.String()+", which crd.Creator does not use")
		}
	}
	return out
}

// TestWebRBACMatchesCreator: the roles bound to the web's ServiceAccount grant
// exactly crd.CreatorRules, in the namespace the composer creates Ceremonies in and
// nowhere else (a Role, no ClusterRole) — nothing missing, nothing extra. The
// integration test (watcher/crd/integration) proves the code needs no more by
// running crd.Creator under this ServiceAccount.
func TestWebRBACMatchesCreator(t *testing.T) {
	all := loadAll(t)
	for _, p := range webGrantProblems(t, all) {
		t.Error(p)
	}
	sas := 0
	for _, m := range all {
		switch o := m.Obj.(type) {
		case *corev1.ServiceAccount:
			if o.Name == webServiceAccount {
				sas++
				if m.File != webRBACFile {
					t.Errorf("ServiceAccount %s is defined in %s, want %s", o.Name, m.File, webRBACFile)
				}
			}
		case *rbacv1.Role:
			if m.File == webRBACFile {
				for _, r := range o.Rules {
					if slices.Contains(r.Resources, "secrets") || slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
						t.Errorf("web Role rule %+v: secrets or a wildcard", r)
					}
				}
			}
		}
	}
	if sas != 1 {
		t.Errorf("%d ServiceAccounts named %s, want 1", sas, webServiceAccount)
	}
	if t.Failed() {
		t.Logf("the web is granted:\n  %v", webManifestGrants(t, all))
	}
}

// The web's token follows cluster mode, and the watcher watches the namespace the
// composer writes to (otherwise a Ceremony created there never starts).
func TestWebClusterModeSettings(t *testing.T) {
	all := loadAll(t)
	for _, p := range webTokenProblems(all) {
		t.Error(p)
	}
	webEnv, _ := containerEnv(all, "web")
	watcherEnv, ok := containerEnv(all, "watcher")
	if !ok {
		t.Fatal("no watcher container")
	}
	ns := webEnv[ceremonyNSKey]
	if watch := splitCSV(watcherEnv[watchNamespacesKey]); len(watch) > 0 && !slices.Contains(watch, ns) {
		t.Errorf("the watcher watches %v, not %s=%s", watch, ceremonyNSKey, ns)
	}
	if v, ok := webEnv["TRUSTED_PROXIES"]; !ok {
		t.Errorf("the web gets no TRUSTED_PROXIES")
	} else {
		for _, c := range splitCSV(v) {
			if !strings.Contains(c, "/") {
				t.Errorf("TRUSTED_PROXIES entry %q is not a CIDR", c)
			}
		}
	}
}

func splitCSV(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// The checks are not vacuous: an extra verb, a missing one, a ClusterRoleBinding,
// the Role in another namespace, and cluster mode turned on without the token (or
// the token without cluster mode) are all caught.
func TestWebRBACChecksCatchDrift(t *testing.T) {
	mutate := func(f func(all []manifest) []manifest) []manifest { return f(loadAll(t)) }
	role := func(all []manifest) *rbacv1.Role {
		for _, m := range all {
			if r, ok := m.Obj.(*rbacv1.Role); ok && m.File == webRBACFile {
				return r
			}
		}
		t.Fatal("no web Role")
		return nil
	}
	for name, all := range map[string][]manifest{
		"extra verb": mutate(func(all []manifest) []manifest {
			r := role(all)
			r.Rules[0].Verbs = append(r.Rules[0].Verbs, "delete")
			return all
		}),
		"missing verb": mutate(func(all []manifest) []manifest {
			r := role(all)
			r.Rules[0].Verbs = []string{"get"}
			return all
		}),
		"other namespace": mutate(func(all []manifest) []manifest {
			for _, m := range all {
				switch o := m.Obj.(type) {
				case *rbacv1.Role:
					if m.File == webRBACFile {
						o.Namespace = "default"
					}
				case *rbacv1.RoleBinding:
					if m.File == webRBACFile {
						o.Namespace = "default"
					}
				}
			}
			return all
		}),
		"cluster-wide": mutate(func(all []manifest) []manifest {
			r := role(all)
			cr := &rbacv1.ClusterRole{Rules: r.Rules}
			cr.Name = "guildhall-web"
			crb := &rbacv1.ClusterRoleBinding{RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: cr.Name},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: webServiceAccount, Namespace: namespace}}}
			return append(all, manifest{File: "extra", Obj: cr}, manifest{File: "extra", Obj: crb})
		}),
	} {
		if len(webGrantProblems(t, all)) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	// Cluster mode and the token must move together.
	setMode := func(all []manifest, v string) {
		for _, m := range all {
			if cm, ok := m.Obj.(*corev1.ConfigMap); ok && cm.Name == configMapName {
				cm.Data[clusterModeKey] = v
			}
		}
	}
	setToken := func(all []manifest, v bool) {
		for _, m := range all {
			if d, ok := m.Obj.(*appsv1.Deployment); ok && d.Spec.Template.Labels["app.kubernetes.io/component"] == "web" {
				d.Spec.Template.Spec.AutomountServiceAccountToken = &v
			}
		}
	}
	on := loadAll(t)
	setMode(on, "true")
	if len(webTokenProblems(on)) == 0 {
		t.Errorf("cluster mode on without the token: not caught")
	}
	setToken(on, true)
	if p := webTokenProblems(on); len(p) != 0 {
		t.Errorf("cluster mode on with the token: %v", p)
	}
	tokenOnly := loadAll(t)
	setToken(tokenOnly, true)
	if len(webTokenProblems(tokenOnly)) == 0 {
		t.Errorf("a token without cluster mode: not caught")
	}
}
