package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/rules"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

const (
	namespace        = "guildhall"
	registrySecret   = "forgejo-registry"
	appSecret        = "guildhall-secrets"
	configMapName    = "guildhall-config"
	webPort          = 4000
	metricsPort      = 9090
	watcherRBACFile  = "deploy/k8s/60-watcher-rbac.yaml"
	watcherFile      = "deploy/k8s/61-watcher.yaml"
	substrateGroup   = "substrate.guildhouse.dev"
	substrateVersion = "v1alpha1"
)

// The files this issue owns, in apply order, and the kinds each must hold. The
// watcher's two files are checked when they exist (the watcher engineer writes them).
var wantFiles = map[string][]string{
	"deploy/k8s/00-namespace.yaml":            {"Namespace"},
	"deploy/k8s/01-registry-secret.yaml.tmpl": {"Secret"},
	"deploy/k8s/02-secrets.yaml.tmpl":         {"Secret", "Secret"},
	"deploy/k8s/03-config.yaml":               {"ConfigMap"},
	"deploy/k8s/10-postgres-pvc.yaml":         {"PersistentVolumeClaim"},
	"deploy/k8s/11-postgres.yaml":             {"Deployment"},
	"deploy/k8s/12-postgres-service.yaml":     {"Service"},
	"deploy/k8s/30-migrate-job.yaml":          {"Job"},
	"deploy/k8s/40-worker.yaml":               {"Deployment"},
	"deploy/k8s/45-web-rbac.yaml":             {"ServiceAccount", "Role", "RoleBinding"},
	"deploy/k8s/50-web.yaml":                  {"Deployment"},
	"deploy/k8s/51-web-service.yaml":          {"Service"},
}

// pod is one pod template found in a workload.
type pod struct {
	File, Kind, Name string
	Meta             *metav1.ObjectMeta
	Spec             *corev1.PodSpec
}

func (p pod) String() string { return fmt.Sprintf("%s %s/%s", p.File, p.Kind, p.Name) }

func pods(all []manifest) []pod {
	var out []pod
	for _, m := range all {
		switch o := m.Obj.(type) {
		case *appsv1.Deployment:
			out = append(out, pod{m.File, "Deployment", o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			out = append(out, pod{m.File, "StatefulSet", o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec})
		case *appsv1.DaemonSet:
			out = append(out, pod{m.File, "DaemonSet", o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec})
		case *batchv1.Job:
			out = append(out, pod{m.File, "Job", o.Name, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec})
		case *batchv1.CronJob:
			out = append(out, pod{m.File, "CronJob", o.Name, &o.Spec.JobTemplate.Spec.Template.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec})
		case *corev1.Pod:
			out = append(out, pod{m.File, "Pod", o.Name, &o.ObjectMeta, &o.Spec})
		}
	}
	return out
}

func allContainers(s *corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(s.InitContainers), s.Containers...)
}

func isGuildhall(c corev1.Container) bool { return strings.HasPrefix(c.Image, ImageRepository+":") }

// appliedObjects are the objects of the files `kubectl apply -f deploy/k8s/` applies
// (templates excluded).
func appliedObjects(all []manifest) []manifest {
	var out []manifest
	for _, m := range all {
		if strings.HasPrefix(m.File, "deploy/k8s/") && !isTemplate(m.File) {
			out = append(out, m)
		}
	}
	return out
}

func findObj[T runtime.Object](t *testing.T, all []manifest, file string) T {
	t.Helper()
	for _, m := range all {
		if m.File == file {
			if o, ok := m.Obj.(T); ok {
				return o
			}
		}
	}
	var zero T
	t.Fatalf("%s: no %T", file, zero)
	return zero
}

func deploymentByComponent(t *testing.T, all []manifest, component string) *appsv1.Deployment {
	t.Helper()
	for _, m := range all {
		if d, ok := m.Obj.(*appsv1.Deployment); ok && d.Spec.Template.Labels["app.kubernetes.io/component"] == component {
			return d
		}
	}
	t.Fatalf("no Deployment with component %q", component)
	return nil
}

func TestManifestsStrictDecode(t *testing.T) {
	all := loadAll(t)
	seen := map[string][]string{}
	for _, m := range all {
		seen[m.File] = append(seen[m.File], m.GVK.Kind)
	}
	for f, kinds := range wantFiles {
		if !slices.Equal(seen[f], kinds) {
			t.Errorf("%s: kinds %v, want %v", f, seen[f], kinds)
		}
	}
	if exists(watcherRBACFile) != exists(watcherFile) {
		t.Logf("only one of %s and %s exists yet", watcherRBACFile, watcherFile)
	}
	t.Logf("decoded %d objects from %d files", len(all), len(seen))
}

// The decoder really is strict: the same Deployment with one misspelt field, or one
// field given twice, fails.
func TestStrictDecoderRejectsUnknownAndDuplicateFields(t *testing.T) {
	good := string(readRepoFile(t, "deploy/k8s/40-worker.yaml"))
	if _, err := decodeManifests("good", []byte(good)); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown field":   strings.Replace(good, "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", 1),
		"duplicate field": strings.Replace(good, "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n", 1),
		"wrong type":      strings.Replace(good, "  replicas: 2\n", "  replicas: two\n", 1),
	} {
		if bad == good {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := decodeManifests(name, []byte(bad)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestManifestFileNames(t *testing.T) {
	named := regexp.MustCompile(`^deploy/k8s/[0-9]{2}-[a-z0-9-]+\.yaml(\.tmpl)?$`)
	prefixes := map[string]string{}
	for _, p := range manifestPaths(t) {
		if !strings.HasPrefix(p, "deploy/k8s/") {
			continue
		}
		if !named.MatchString(p) {
			t.Errorf("%s: want NN-name.yaml (or .yaml.tmpl for templates)", p)
		}
		base := strings.TrimPrefix(p, "deploy/k8s/")
		if prev, dup := prefixes[base[:2]]; dup {
			t.Errorf("%s and %s share the number %s", prev, p, base[:2])
		}
		prefixes[base[:2]] = p
	}
	for f := range wantFiles {
		if !exists(f) {
			t.Errorf("%s is missing", f)
		}
	}
}

// `kubectl apply -f deploy/k8s/` must never apply a Secret with placeholder values:
// Secrets live only in the .tmpl files, which kubectl skips.
func TestNoSecretsInAppliedFiles(t *testing.T) {
	all := loadAll(t)
	for _, m := range appliedObjects(all) {
		if _, ok := m.Obj.(*corev1.Secret); ok {
			t.Errorf("%s: a Secret in a file kubectl applies; keep it in a .tmpl", m.File)
		}
	}
	for _, m := range all {
		if isTemplate(m.File) {
			if _, ok := m.Obj.(*corev1.Secret); !ok {
				t.Errorf("%s: templates hold Secrets only, found %s", m.File, m.GVK.Kind)
			}
		}
	}
}

func TestNamespaceAndLabels(t *testing.T) {
	all := loadAll(t)
	ns := findObj[*corev1.Namespace](t, all, "deploy/k8s/00-namespace.yaml")
	if ns.Name != namespace {
		t.Fatalf("namespace %q, want %q", ns.Name, namespace)
	}
	for k, v := range map[string]string{
		"app.kubernetes.io/part-of":          "guildhouse",
		"pod-security.kubernetes.io/enforce": "restricted",
	} {
		if ns.Labels[k] != v {
			t.Errorf("namespace label %s=%q, want %q", k, ns.Labels[k], v)
		}
	}
	for _, m := range all {
		if !strings.HasPrefix(m.File, "deploy/k8s/") {
			continue
		}
		acc, err := metaOf(m.Obj)
		if err != nil {
			t.Fatal(err)
		}
		if acc.GetLabels()["app.kubernetes.io/part-of"] != "guildhouse" {
			t.Errorf("%s %s/%s: missing label app.kubernetes.io/part-of=guildhouse", m.File, m.GVK.Kind, acc.GetName())
		}
		clusterScoped := m.GVK.Kind == "Namespace" || m.GVK.Kind == "ClusterRole" || m.GVK.Kind == "ClusterRoleBinding"
		if clusterScoped && acc.GetNamespace() != "" {
			t.Errorf("%s %s: cluster-scoped object with a namespace", m.File, m.GVK.Kind)
		}
		if !clusterScoped && acc.GetNamespace() != namespace {
			t.Errorf("%s %s/%s: namespace %q, want %q", m.File, m.GVK.Kind, acc.GetName(), acc.GetNamespace(), namespace)
		}
	}
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	acc, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no ObjectMeta", o)
	}
	return acc, nil
}

// Every pod passes the Pod Security "restricted" level, evaluated by the admission
// plugin's own policy code, and also states each hardening setting explicitly on
// every container, with requests and limits for CPU and memory.
func TestPodSecurityAndResources(t *testing.T) {
	all := loadAll(t)
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := pods(all)
	if len(ps) < 4 {
		t.Fatalf("found %d pod templates, want at least postgres, migrate, worker, web", len(ps))
	}
	for _, p := range ps {
		res := policy.AggregateCheckResults(eval.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, p.Meta, p.Spec))
		if !res.Allowed {
			t.Errorf("%s: Pod Security restricted refuses it: %s: %s", p, res.ForbiddenReason(), res.ForbiddenDetail())
		}
		podNonRoot := p.Spec.SecurityContext != nil && p.Spec.SecurityContext.RunAsNonRoot != nil && *p.Spec.SecurityContext.RunAsNonRoot
		if p.Spec.SecurityContext == nil || p.Spec.SecurityContext.SeccompProfile == nil || p.Spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext.seccompProfile.type must be RuntimeDefault", p)
		}
		if p.Spec.HostNetwork || p.Spec.HostPID || p.Spec.HostIPC {
			t.Errorf("%s: uses host namespaces", p)
		}
		for _, c := range allContainers(p.Spec) {
			where := fmt.Sprintf("%s container %s", p, c.Name)
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			if !(podNonRoot || (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)) || (sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot) {
				t.Errorf("%s: runAsNonRoot must be true", where)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				t.Errorf("%s: runAsUser 0", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem must be true", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation must be false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: capabilities.drop must contain ALL", where)
			} else if len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: adds capabilities %v", where, sc.Capabilities.Add)
			}
			for _, kind := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[kind]
				lim, okLim := c.Resources.Limits[kind]
				if !okReq || !okLim {
					t.Errorf("%s: resources need both requests and limits for %s", where, kind)
					continue
				}
				if req.Cmp(lim) > 0 {
					t.Errorf("%s: %s request %s above limit %s", where, kind, req.String(), lim.String())
				}
			}
		}
		// A read-only root filesystem needs somewhere to write temporary files.
		if isGuildhallPod(p) && !mountsAt(p.Spec, "/tmp") {
			t.Errorf("%s: no writable /tmp volume with a read-only root filesystem", p)
		}
	}
}

func isGuildhallPod(p pod) bool { return slices.ContainsFunc(p.Spec.Containers, isGuildhall) }

func mountsAt(s *corev1.PodSpec, path string) bool {
	for _, c := range s.Containers {
		for _, m := range c.VolumeMounts {
			if m.MountPath == path {
				return true
			}
		}
	}
	return false
}

func TestSelectorsMatchTemplateLabels(t *testing.T) {
	all := loadAll(t)
	for _, m := range all {
		d, ok := m.Obj.(*appsv1.Deployment)
		if !ok {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("%s: bad or empty selector: %v", m.File, err)
			continue
		}
		if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %s does not match template labels %v", m.File, sel, d.Spec.Template.Labels)
		}
		// Selectors of different Deployments must not overlap.
		for _, o := range pods(all) {
			if o.Kind == "Deployment" && o.Name != d.Name && sel.Matches(labels.Set(o.Meta.Labels)) {
				t.Errorf("%s: selector %s also matches the pods of %s", m.File, sel, o)
			}
		}
	}
}

// Each Service selects the pods of exactly one workload, and its target ports are
// ports those pods declare.
func TestServicesTargetDeclaredPorts(t *testing.T) {
	all := loadAll(t)
	for _, m := range all {
		svc, ok := m.Obj.(*corev1.Service)
		if !ok {
			continue
		}
		if len(svc.Spec.Selector) == 0 {
			t.Errorf("%s: Service without selector", m.File)
			continue
		}
		var matched []pod
		for _, p := range pods(all) {
			if p.Kind != "Job" && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Meta.Labels)) {
				matched = append(matched, p)
			}
		}
		if len(matched) != 1 {
			t.Errorf("%s: selector %v matches %d workloads %v, want 1", m.File, svc.Spec.Selector, len(matched), matched)
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if _, ok := resolvePort(matched[0].Spec, sp.TargetPort); !ok {
				t.Errorf("%s: port %s targets %s, which %s does not declare", m.File, sp.Name, sp.TargetPort.String(), matched[0])
			}
		}
	}
}

// resolvePort finds the container port a named or numbered port refers to.
func resolvePort(s *corev1.PodSpec, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, c := range s.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && p.StrVal == cp.Name) || (p.Type == intstr.Int && p.IntVal == cp.ContainerPort) {
				return cp, true
			}
		}
	}
	return corev1.ContainerPort{}, false
}

func containerPortOf(c corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	return resolvePort(&corev1.PodSpec{Containers: []corev1.Container{c}}, p)
}

// Probes point at ports their own container declares; the web answers /health on its
// HTTP port, the worker and watcher /healthz on the metrics port; Postgres is probed
// with pg_isready.
func TestProbes(t *testing.T) {
	all := loadAll(t)
	for _, p := range pods(all) {
		for _, c := range p.Spec.Containers {
			where := fmt.Sprintf("%s container %s", p, c.Name)
			probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}
			component := p.Meta.Labels["app.kubernetes.io/component"]
			if p.Kind != "Job" && (c.LivenessProbe == nil || c.ReadinessProbe == nil) {
				t.Errorf("%s: needs liveness and readiness probes", where)
			}
			for kind, pr := range probes {
				if pr == nil {
					continue
				}
				switch {
				case pr.HTTPGet != nil:
					cp, ok := containerPortOf(c, pr.HTTPGet.Port)
					if !ok {
						t.Errorf("%s: %s probe port %s is not a declared container port", where, kind, pr.HTTPGet.Port.String())
						continue
					}
					wantPath, wantPort := "/healthz", int32(metricsPort)
					if component == "web" {
						wantPath, wantPort = "/health", webPort
					}
					if isGuildhall(c) && (pr.HTTPGet.Path != wantPath || cp.ContainerPort != wantPort) {
						t.Errorf("%s: %s probe GET %s on %d, want %s on %d", where, kind, pr.HTTPGet.Path, cp.ContainerPort, wantPath, wantPort)
					}
				case pr.TCPSocket != nil:
					if _, ok := containerPortOf(c, pr.TCPSocket.Port); !ok {
						t.Errorf("%s: %s probe port %s is not declared", where, kind, pr.TCPSocket.Port.String())
					}
				case pr.Exec != nil:
					if c.Name == "postgres" && !strings.Contains(strings.Join(pr.Exec.Command, " "), "pg_isready") {
						t.Errorf("%s: %s probe %v does not run pg_isready", where, kind, pr.Exec.Command)
					}
				default:
					t.Errorf("%s: %s probe has no handler", where, kind)
				}
			}
		}
	}
}

// All Guildhall containers run the same release of the image from the Forgejo
// registry, pulled with the registry Secret; every other image is pinned.
func TestImages(t *testing.T) {
	all := loadAll(t)
	tag, err := CurrentTag(repoPath("deploy", "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateTag(tag); err != nil {
		t.Fatal(err)
	}
	var workloads []string
	for _, p := range pods(all) {
		for _, c := range allContainers(p.Spec) {
			if err := pinned(c.Image); err != nil {
				t.Errorf("%s container %s: %v", p, c.Name, err)
			}
			if !isGuildhall(c) {
				continue
			}
			workloads = append(workloads, p.Meta.Labels["app.kubernetes.io/component"])
			if c.Image != ImageRepository+":"+tag {
				t.Errorf("%s container %s: image %s, want %s:%s", p, c.Name, c.Image, ImageRepository, tag)
			}
			if c.ImagePullPolicy == corev1.PullAlways {
				t.Errorf("%s: imagePullPolicy Always with an immutable tag", p)
			}
			if !slices.ContainsFunc(p.Spec.ImagePullSecrets, func(r corev1.LocalObjectReference) bool { return r.Name == registrySecret }) {
				t.Errorf("%s: imagePullSecrets must name %s", p, registrySecret)
			}
			if len(c.Command) != 0 {
				t.Errorf("%s container %s: overrides the image ENTRYPOINT with command %v; use args", p, c.Name, c.Command)
			}
		}
	}
	for _, w := range []string{"migrate", "worker", "web"} {
		if !slices.Contains(workloads, w) {
			t.Errorf("no Guildhall container for component %s (have %v)", w, workloads)
		}
	}
	// The registry Secret template is for the registry the image comes from.
	sec := findObj[*corev1.Secret](t, all, "deploy/k8s/01-registry-secret.yaml.tmpl")
	if sec.Name != registrySecret || sec.Type != corev1.SecretTypeDockerConfigJson {
		t.Errorf("registry secret %s type %s, want %s %s", sec.Name, sec.Type, registrySecret, corev1.SecretTypeDockerConfigJson)
	}
	var cfg struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal([]byte(sec.StringData[corev1.DockerConfigJsonKey]), &cfg); err != nil {
		t.Fatalf("registry secret %s: %v", corev1.DockerConfigJsonKey, err)
	}
	host := strings.SplitN(ImageRepository, "/", 2)[0]
	if _, ok := cfg.Auths[host]; !ok || len(cfg.Auths) != 1 {
		t.Errorf("registry secret auths %v, want exactly %s", cfg.Auths, host)
	}
}

var versionTagRE = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)+([.-][0-9A-Za-z.-]+)?$`)

// pinned accepts image references with a version tag (not latest, not a bare major
// version) or a digest.
func pinned(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return fmt.Errorf("image %s has no tag", image)
	}
	tag := image[i+1:]
	if tag == "latest" || !versionTagRE.MatchString(tag) {
		return fmt.Errorf("image %s: tag %q is not a pinned version", image, tag)
	}
	return nil
}

func TestMigrationJob(t *testing.T) {
	all := loadAll(t)
	job := findObj[*batchv1.Job](t, all, "deploy/k8s/30-migrate-job.yaml")
	tag, err := CurrentTag(repoPath("deploy", "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != MigrateJobName(tag) {
		t.Errorf("Job name %s, want %s (carries the image tag %s)", job.Name, MigrateJobName(tag), tag)
	}
	if tag == "v0.1.0" && job.Name != "guildhall-migrate-v0-1-0" {
		t.Errorf("Job name %s", job.Name)
	}
	if job.Spec.TTLSecondsAfterFinished == nil || *job.Spec.TTLSecondsAfterFinished != 86400 {
		t.Errorf("ttlSecondsAfterFinished %v, want 86400", job.Spec.TTLSecondsAfterFinished)
	}
	if job.Spec.BackoffLimit == nil || job.Spec.ActiveDeadlineSeconds == nil {
		t.Errorf("Job needs backoffLimit and activeDeadlineSeconds")
	}
	spec := job.Spec.Template.Spec
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s, want Never", spec.RestartPolicy)
	}
	if len(spec.Containers) != 1 || !slices.Equal(spec.Containers[0].Args, []string{"migrate", "up"}) {
		t.Errorf("Job must run one container with args [migrate up]")
	}
}

func TestWebDeployment(t *testing.T) {
	all := loadAll(t)
	d := findObj[*appsv1.Deployment](t, all, "deploy/k8s/50-web.yaml")
	if d.Spec.Template.Labels["app.kubernetes.io/component"] != "web" {
		t.Fatalf("web Deployment component label %q", d.Spec.Template.Labels["app.kubernetes.io/component"])
	}
	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxSurge == nil || s.RollingUpdate.MaxSurge.String() != "1" ||
		s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.String() != "0" {
		t.Errorf("strategy %+v, want RollingUpdate maxSurge 1 maxUnavailable 0", s)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("web replicas %v, want at least 2", d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"web"}) {
		t.Errorf("args %v, want [web]", c.Args)
	}
	wantRes := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	for _, kind := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		got, want := c.Resources.Requests[kind], wantRes.Requests[kind]
		if got.Cmp(want) != 0 {
			t.Errorf("request %s %s, want %s", kind, got.String(), want.String())
		}
		got, want = c.Resources.Limits[kind], wantRes.Limits[kind]
		if got.Cmp(want) != 0 {
			t.Errorf("limit %s %s, want %s", kind, got.String(), want.String())
		}
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("preStop must sleep 5 seconds (lifecycle.preStop.sleep; the image has no shell)")
	}
	grace := int64(30)
	if d.Spec.Template.Spec.TerminationGracePeriodSeconds != nil {
		grace = *d.Spec.Template.Spec.TerminationGracePeriodSeconds
	}
	if grace <= 5 {
		t.Errorf("terminationGracePeriodSeconds %d leaves no time after the preStop sleep", grace)
	}
	if cp, ok := containerPortOf(c, intstr.FromString("http")); !ok || cp.ContainerPort != webPort {
		t.Errorf("web must declare port http=%d", webPort)
	}
	if cp, ok := containerPortOf(c, intstr.FromString("metrics")); !ok || cp.ContainerPort != metricsPort {
		t.Errorf("web must declare port metrics=%d", metricsPort)
	}
}

func TestWorkerDeployment(t *testing.T) {
	all := loadAll(t)
	d := findObj[*appsv1.Deployment](t, all, "deploy/k8s/40-worker.yaml")
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"worker"}) {
		t.Errorf("args %v, want [worker]", c.Args)
	}
	if cp, ok := containerPortOf(c, intstr.FromString("metrics")); !ok || cp.ContainerPort != metricsPort {
		t.Errorf("worker must declare port metrics=%d", metricsPort)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("worker terminationGracePeriodSeconds %v: give activities time to drain (>= 30)", g)
	}
}

func TestLoadBalancerService(t *testing.T) {
	all := loadAll(t)
	svc := findObj[*corev1.Service](t, all, "deploy/k8s/51-web-service.yaml")
	want := map[string]string{
		"load-balancer.hetzner.cloud/location":       "nbg1",
		"load-balancer.hetzner.cloud/type":           "lb11",
		"load-balancer.hetzner.cloud/name":           "guildhall",
		"load-balancer.hetzner.cloud/use-private-ip": "false",
	}
	if fmt.Sprint(svc.Annotations) != fmt.Sprint(want) {
		t.Errorf("annotations\n got %v\nwant %v", svc.Annotations, want)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("type %s, want LoadBalancer", svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatalf("ports %+v, want one TCP port 80", svc.Spec.Ports)
	}
	web := deploymentByComponent(t, all, "web")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(web.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the web pods", svc.Spec.Selector)
	}
	cp, ok := resolvePort(&web.Spec.Template.Spec, svc.Spec.Ports[0].TargetPort)
	if !ok || cp.ContainerPort != webPort {
		t.Errorf("port 80 targets %s, want the web's port %d", svc.Spec.Ports[0].TargetPort.String(), webPort)
	}
}

func TestPostgres(t *testing.T) {
	all := loadAll(t)
	pvc := findObj[*corev1.PersistentVolumeClaim](t, all, "deploy/k8s/10-postgres-pvc.yaml")
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "longhorn" {
		t.Errorf("PVC storageClassName %v, want longhorn", pvc.Spec.StorageClassName)
	}
	if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("PVC accessModes %v, want [ReadWriteOnce]", pvc.Spec.AccessModes)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("5Gi")) != 0 {
		t.Errorf("PVC size %s, want 5Gi", q.String())
	}

	d := findObj[*appsv1.Deployment](t, all, "deploy/k8s/11-postgres.yaml")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("postgres must run 1 replica with the Recreate strategy (RWO volume)")
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("postgres pod has %d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !strings.HasPrefix(c.Image, "postgres:16.") && c.Image != "postgres:16" {
		t.Errorf("image %s, want postgres:16", c.Image)
	}
	// The data volume is the PVC, mounted through a subPath, with PGDATA below it.
	var dataVol string
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			if v.PersistentVolumeClaim.ClaimName != pvc.Name {
				t.Errorf("volume %s claims %s, want %s", v.Name, v.PersistentVolumeClaim.ClaimName, pvc.Name)
			}
			dataVol = v.Name
		}
	}
	var pgdata string
	for _, e := range c.Env {
		if e.Name == "PGDATA" {
			pgdata = e.Value
		}
	}
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.Name == dataVol {
			mount = &c.VolumeMounts[i]
		}
	}
	switch {
	case dataVol == "" || mount == nil:
		t.Errorf("the PVC is not mounted")
	case mount.SubPath == "":
		t.Errorf("data volume mounted without subPath")
	case !strings.HasPrefix(pgdata, strings.TrimSuffix(mount.MountPath, "/")+"/"):
		t.Errorf("PGDATA %q must be a subdirectory of the data mount %s (lost+found)", pgdata, mount.MountPath)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil || c.LivenessProbe == nil || c.LivenessProbe.Exec == nil {
		t.Errorf("postgres needs pg_isready readiness and liveness probes")
	}
	if _, ok := containerPortOf(c, intstr.FromInt32(5432)); !ok {
		t.Errorf("postgres must declare port 5432")
	}
	svc := findObj[*corev1.Service](t, all, "deploy/k8s/12-postgres-service.yaml")
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("postgres Service type %s, want ClusterIP", svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 5432 {
		t.Errorf("postgres Service ports %+v, want 5432", svc.Spec.Ports)
	}

	// DATABASE_URL in the secrets template points at this Service, and its user and
	// database are the ones Postgres is initialised with.
	var pgSecret, appSec *corev1.Secret
	for _, m := range all {
		if s, ok := m.Obj.(*corev1.Secret); ok {
			switch s.Name {
			case "guildhall-postgres":
				pgSecret = s
			case appSecret:
				appSec = s
			}
		}
	}
	if pgSecret == nil || appSec == nil {
		t.Fatalf("secrets template must hold guildhall-postgres and %s", appSecret)
	}
	u, err := url.Parse(appSec.StringData["DATABASE_URL"])
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	wantHost := fmt.Sprintf("%s.%s.svc.cluster.local:%d", svc.Name, namespace, svc.Spec.Ports[0].Port)
	if u.Scheme != "postgres" || u.Host != wantHost || u.User.Username() != pgSecret.StringData["POSTGRES_USER"] || strings.TrimPrefix(u.Path, "/") != pgSecret.StringData["POSTGRES_DB"] {
		t.Errorf("DATABASE_URL %s does not match postgres://%s:…@%s/%s", u.Redacted(), pgSecret.StringData["POSTGRES_USER"], wantHost, pgSecret.StringData["POSTGRES_DB"])
	}
	for _, k := range []string{"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} {
		if _, ok := pgSecret.StringData[k]; !ok {
			t.Errorf("guildhall-postgres template lacks %s", k)
		}
	}
}

// Every Secret and ConfigMap reference resolves to a key the templates and the
// ConfigMap define, and each workload gets the configuration it reads.
func TestEnvironment(t *testing.T) {
	all := loadAll(t)
	secrets := map[string]map[string]bool{}
	configs := map[string]map[string]string{}
	for _, m := range all {
		switch o := m.Obj.(type) {
		case *corev1.Secret:
			keys := map[string]bool{}
			for k := range o.StringData {
				keys[k] = true
			}
			for k := range o.Data {
				keys[k] = true
			}
			secrets[o.Name] = keys
		case *corev1.ConfigMap:
			configs[o.Name] = o.Data
		}
	}
	for _, p := range pods(all) {
		for _, c := range allContainers(p.Spec) {
			where := fmt.Sprintf("%s container %s", p, c.Name)
			env := map[string]bool{}
			for _, ef := range c.EnvFrom {
				switch {
				case ef.SecretRef != nil:
					if _, ok := secrets[ef.SecretRef.Name]; !ok {
						t.Errorf("%s: envFrom Secret %s is not in a template", where, ef.SecretRef.Name)
					}
					for k := range secrets[ef.SecretRef.Name] {
						env[k] = true
					}
				case ef.ConfigMapRef != nil:
					cm, ok := configs[ef.ConfigMapRef.Name]
					if !ok {
						t.Errorf("%s: envFrom ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
					}
					for k := range cm {
						env[k] = true
					}
				}
			}
			for _, e := range c.Env {
				env[e.Name] = true
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !secrets[r.Name][r.Key] {
					t.Errorf("%s: env %s reads Secret %s key %s, which no template defines", where, e.Name, r.Name, r.Key)
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					if _, ok := configs[r.Name][r.Key]; !ok {
						t.Errorf("%s: env %s reads ConfigMap %s key %s, which does not exist", where, e.Name, r.Name, r.Key)
					}
				}
			}
			if !isGuildhall(c) {
				continue
			}
			// The watcher talks to Temporal and the Kubernetes API only; the others
			// use the Ops DB.
			need := []string{"LOG_FORMAT"}
			switch p.Meta.Labels["app.kubernetes.io/component"] {
			case "migrate":
				need = append(need, "DATABASE_URL", "POOL_SIZE")
			case "web":
				need = append(need, "DATABASE_URL", "POOL_SIZE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "SESSION_SECRET", "GUILDHALL_HOST", "GUILDHALL_ADDR", "METRICS_ADDR", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET",
					"OIDC_ROLES_CLAIM", "OIDC_ROLE_MAP", "CHRONICLE_INGEST_TOKEN", "TRUSTED_PROXIES", "GUILDHALL_CLUSTER_MODE", "GUILDHALL_CEREMONY_NAMESPACE")
			case "worker":
				// GUILDHALL_HOST: links in notifications.
				need = append(need, "DATABASE_URL", "POOL_SIZE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "METRICS_ADDR", "GUILDHALL_HOST")
			case "watcher":
				need = append(need, "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "METRICS_ADDR")
			default:
				t.Errorf("%s: Guildhall container without a known app.kubernetes.io/component (migrate, web, worker, watcher)", where)
			}
			for _, k := range need {
				if !env[k] {
					t.Errorf("%s: does not get %s", where, k)
				}
			}
		}
	}
	cfg := configs[configMapName]
	if cfg == nil {
		t.Fatalf("ConfigMap %s missing", configMapName)
	}
	if cfg["LOG_FORMAT"] != "json" {
		t.Errorf("LOG_FORMAT %q, want json in production", cfg["LOG_FORMAT"])
	}
	if cfg["GUILDHALL_ADDR"] != fmt.Sprintf(":%d", webPort) || cfg["METRICS_ADDR"] != fmt.Sprintf(":%d", metricsPort) {
		t.Errorf("GUILDHALL_ADDR %q / METRICS_ADDR %q disagree with the declared container ports", cfg["GUILDHALL_ADDR"], cfg["METRICS_ADDR"])
	}
	iss, err := url.Parse(cfg["OIDC_ISSUER"])
	if err != nil || iss.Scheme != "https" || !strings.HasPrefix(iss.Path, "/realms/") {
		t.Errorf("OIDC_ISSUER %q: want https://<keycloak>/realms/<realm>", cfg["OIDC_ISSUER"])
	}
	if _, err := (config.OIDC{RoleMap: config.SplitList(cfg["OIDC_ROLE_MAP"])}).Roles(); err != nil {
		t.Errorf("%v", err)
	}
	if h, err := url.Parse(cfg["GUILDHALL_HOST"]); err != nil || h.Scheme != "https" || h.Host == "" {
		t.Errorf("GUILDHALL_HOST %q: want the public https URL", cfg["GUILDHALL_HOST"])
	}
	if !regexp.MustCompile(`^[a-z0-9.-]+:[0-9]+$`).MatchString(cfg["TEMPORAL_ADDRESS"]) {
		t.Errorf("TEMPORAL_ADDRESS %q: want host:port", cfg["TEMPORAL_ADDRESS"])
	}
	if cfg["TEMPORAL_NAMESPACE"] == "" {
		t.Errorf("TEMPORAL_NAMESPACE empty")
	}
	for _, k := range []string{"DATABASE_URL", "SESSION_SECRET", "OIDC_CLIENT_SECRET", "CHRONICLE_INGEST_TOKEN"} {
		if _, inCM := cfg[k]; inCM {
			t.Errorf("%s is a secret; keep it out of the ConfigMap", k)
		}
		if !secrets[appSecret][k] {
			t.Errorf("secrets template %s lacks %s", appSecret, k)
		}
	}
}

// Only pods that talk to the Kubernetes API get a token: the watcher always, the
// web only in cluster mode (its token must follow GUILDHALL_CLUSTER_MODE, see
// webTokenProblems), and nothing else ever.
func TestServiceAccountTokens(t *testing.T) {
	all := loadAll(t)
	for _, p := range pods(all) {
		a := p.Spec.AutomountServiceAccountToken
		switch p.Meta.Labels["app.kubernetes.io/component"] {
		case "watcher":
			if a == nil || !*a {
				t.Errorf("%s: the watcher needs its token (automountServiceAccountToken: true)", p)
			}
			continue
		case "web":
			continue // webTokenProblems
		}
		if a == nil || *a {
			t.Errorf("%s: set automountServiceAccountToken: false", p)
		}
	}
	for _, problem := range webTokenProblems(all) {
		t.Error(problem)
	}
}

// The watcher's RBAC (written with the watcher): its Deployment runs under the
// ServiceAccount the binding names, the ClusterRole is bound, no rule uses wildcards
// or touches Secrets, and it can watch Ceremonies, write CeremonyAttestations and
// Events, and hold a Lease. The exact verb list is compared with the watcher's code
// by the watcher's own tests.
func TestWatcherRBAC(t *testing.T) {
	if !exists(watcherRBACFile) || !exists(watcherFile) {
		t.Fatalf("%s or %s is missing", watcherRBACFile, watcherFile)
	}
	all := loadAll(t)
	var (
		sas      = map[string]bool{}
		roles    = map[string]*rbacv1.ClusterRole{}
		nsRoles  = map[string]*rbacv1.Role{}
		bindings []*rbacv1.ClusterRoleBinding
		nsBinds  []*rbacv1.RoleBinding
	)
	for _, m := range all {
		switch o := m.Obj.(type) {
		case *corev1.ServiceAccount:
			sas[o.Name] = true
		case *rbacv1.ClusterRole:
			roles[o.Name] = o
		case *rbacv1.Role:
			nsRoles[o.Name] = o
		case *rbacv1.ClusterRoleBinding:
			bindings = append(bindings, o)
		case *rbacv1.RoleBinding:
			nsBinds = append(nsBinds, o)
		}
	}
	d := deploymentByComponent(t, all, "watcher")
	sa := d.Spec.Template.Spec.ServiceAccountName
	if sa == "" || !sas[sa] {
		t.Fatalf("watcher runs as ServiceAccount %q, which the manifests do not create", sa)
	}
	if c := d.Spec.Template.Spec.Containers; len(c) == 0 || !slices.Equal(c[0].Args, []string{"watcher"}) {
		t.Errorf("watcher container args must be [watcher]")
	}
	var rules []rbacv1.PolicyRule
	subjectIsSA := func(ss []rbacv1.Subject) bool {
		return slices.ContainsFunc(ss, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == namespace
		})
	}
	for _, b := range bindings {
		if subjectIsSA(b.Subjects) {
			r, ok := roles[b.RoleRef.Name]
			if b.RoleRef.Kind != "ClusterRole" || !ok {
				t.Errorf("ClusterRoleBinding %s refers to %s %s, not defined here", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
				continue
			}
			rules = append(rules, r.Rules...)
		}
	}
	for _, b := range nsBinds {
		if subjectIsSA(b.Subjects) {
			switch b.RoleRef.Kind {
			case "Role":
				if r, ok := nsRoles[b.RoleRef.Name]; ok {
					rules = append(rules, r.Rules...)
				} else {
					t.Errorf("RoleBinding %s refers to Role %s, not defined here", b.Name, b.RoleRef.Name)
				}
			case "ClusterRole":
				if r, ok := roles[b.RoleRef.Name]; ok {
					rules = append(rules, r.Rules...)
				} else {
					t.Errorf("RoleBinding %s refers to ClusterRole %s, not defined here", b.Name, b.RoleRef.Name)
				}
			}
		}
	}
	if len(rules) == 0 {
		t.Fatalf("no role is bound to ServiceAccount %s/%s", namespace, sa)
	}
	allows := func(group, res, verb string) bool {
		return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, verb)
		})
	}
	for _, r := range rules {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
			if slices.Contains(list, "*") {
				t.Errorf("rule %+v uses a wildcard", r)
			}
		}
		if slices.Contains(r.Resources, "secrets") {
			t.Errorf("rule %+v grants access to Secrets", r)
		}
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v grants non-resource URLs", r)
		}
	}
	for _, want := range [][3]string{
		{substrateGroup, "ceremonies", "get"},
		{substrateGroup, "ceremonies", "list"},
		{substrateGroup, "ceremonies", "watch"},
		{substrateGroup, "ceremonyattestations", "create"},
		{"coordination.k8s.io", "leases", "get"},
		{"coordination.k8s.io", "leases", "update"},
	} {
		if !allows(want[0], want[1], want[2]) {
			t.Errorf("watcher cannot %s %s.%s", want[2], want[1], want[0])
		}
	}
	if !allows("", "events", "create") && !allows("events.k8s.io", "events", "create") {
		t.Errorf("watcher cannot create events")
	}
}

// The CRDs copied from the substrate decode strictly as apiextensions/v1 objects and
// declare the group, version and status subresource Guildhall relies on.
func TestCRDs(t *testing.T) {
	all := loadAll(t)
	want := map[string]string{"Ceremony": "ceremonies", "CeremonyAttestation": "ceremonyattestations"}
	found := map[string]bool{}
	for _, m := range all {
		crd, ok := m.Obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			if strings.HasPrefix(m.File, "deploy/crds/") {
				t.Errorf("%s: %s in deploy/crds", m.File, m.GVK.Kind)
			}
			continue
		}
		found[crd.Spec.Names.Kind] = true
		if crd.Spec.Group != substrateGroup || crd.Name != crd.Spec.Names.Plural+"."+crd.Spec.Group {
			t.Errorf("%s: CRD %s group %s", m.File, crd.Name, crd.Spec.Group)
		}
		if plural, ok := want[crd.Spec.Names.Kind]; ok && crd.Spec.Names.Plural != plural {
			t.Errorf("%s: plural %s, want %s", m.File, crd.Spec.Names.Plural, plural)
		}
		if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
			t.Errorf("%s: scope %s, want Namespaced", m.File, crd.Spec.Scope)
		}
		var v *apiextensionsv1.CustomResourceDefinitionVersion
		for i := range crd.Spec.Versions {
			if crd.Spec.Versions[i].Name == substrateVersion {
				v = &crd.Spec.Versions[i]
			}
		}
		if v == nil || !v.Served || !v.Storage || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			t.Errorf("%s: want served storage version %s with a schema", m.File, substrateVersion)
			continue
		}
		if v.Subresources == nil || v.Subresources.Status == nil {
			t.Errorf("%s: version %s lacks the status subresource", m.File, substrateVersion)
		}
	}
	for k := range want {
		if !found[k] {
			t.Errorf("no CRD for %s in deploy/crds", k)
		}
	}
}

func pathsUnder(t *testing.T, prefix string) []string {
	var out []string
	for _, p := range manifestPaths(t) {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// The Ceremony CRD's schema states the rules package's limits, so a resource the
// API server admits is one the watcher and the workflow accept on every limit
// the schema can express (the rest is the watcher's to refuse, with an Event).
func TestCRDLimitsAreTheRules(t *testing.T) {
	spec := crdSpecSchema(t, "Ceremony")
	p := func(path ...string) apiextensionsv1.JSONSchemaProps { return schemaAt(t, spec, path...) }
	maxLen := func(s apiextensionsv1.JSONSchemaProps) int64 { return ptrOr(s.MaxLength) }
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"description maxLength", maxLen(p("description")), rules.MaxDescription},
		{"artifact.name maxLength", maxLen(p("artifact", "name")), rules.MaxArtifactName},
		{"artifact.uri maxLength", maxLen(p("artifact", "uri")), rules.MaxURI},
		{"initiator maxLength", maxLen(p("initiator")), rules.MaxPersonID},
		{"witnesses maxItems", ptrOr(p("witnesses").MaxItems), rules.MaxWitnesses},
		{"witnesses[].id maxLength", maxLen(p("witnesses", "[]", "id")), rules.MaxPersonID},
		{"witnesses[].role maxLength", maxLen(p("witnesses", "[]", "role")), rules.MaxRole},
		{"quorum.roles maxProperties", ptrOr(p("quorum", "roles").MaxProperties), rules.MaxPolicyRoles},
		{"quorum.veto maxItems", ptrOr(p("quorum", "veto").MaxItems), rules.MaxPolicyRoles},
		{"quorum.veto[] maxLength", maxLen(p("quorum", "veto", "[]")), rules.MaxRole},
		{"template.name maxLength", maxLen(p("template", "name")), rules.MaxTemplateName},
	} {
		if c.got != c.want {
			t.Errorf("CRD %s is %d, the rules say %d", c.what, c.got, c.want)
		}
	}
	if got := p("artifact", "digest").Pattern; got != rules.Digest.String() {
		t.Errorf("CRD artifact.digest pattern %q, the rules say %q", got, rules.Digest)
	}
	if kinds := enumOf(t, p("kind")); !slices.Equal(kinds, contract.Kinds) {
		t.Errorf("CRD kind enum %v, the contract says %v", kinds, contract.Kinds)
	}
	var levels []string
	for _, l := range contract.Assurances {
		levels = append(levels, string(l))
	}
	if got := enumOf(t, p("quorum", "minAssurance")); !slices.Equal(got, levels) {
		t.Errorf("CRD quorum.minAssurance enum %v, the contract says %v", got, levels)
	}
	name := regexp.MustCompile(p("template", "name").Pattern)
	for _, n := range []string{"release", "key-rotation", "a", "r2", strings.Repeat("a", rules.MaxTemplateName),
		strings.Repeat("a", rules.MaxTemplateName+1), "team.release-2", "a.b", "Release", "-x", "x-", "a_b", ""} {
		if got, want := name.MatchString(n), rules.TemplateNameOK(n); got != want {
			t.Errorf("CRD template.name pattern says %v for %q, the rules say %v", got, n, want)
		}
	}
}

// The Ceremony CRD's intune property states the rules of an Intune target
// (rules.ValidateIntuneTarget) that a schema can: GUID ids, the intents, the
// revoke modes and the group limit.
func TestCRDIntuneIsTheRules(t *testing.T) {
	intune := schemaAt(t, crdSpecSchema(t, "Ceremony"), "intune")
	if intune.Type != "object" || !slices.Equal(intune.Required, []string{"appId", "groups", "onRevoke"}) {
		t.Fatalf("the Ceremony schema's intune is %q requiring %v", intune.Type, intune.Required)
	}
	groups := intune.Properties["groups"]
	item := groups.Items.Schema.Properties
	if ptrOr(groups.MaxItems) != rules.MaxIntuneGroups || ptrOr(groups.MinItems) != 1 {
		t.Errorf("CRD intune.groups items %d..%d, the rules say 1..%d", ptrOr(groups.MinItems), ptrOr(groups.MaxItems), rules.MaxIntuneGroups)
	}
	for what, got := range map[string]string{"appId": intune.Properties["appId"].Pattern, "groups[].groupId": item["groupId"].Pattern} {
		if got != rules.GUID.String() {
			t.Errorf("CRD intune.%s pattern %q, the rules say %q", what, got, rules.GUID)
		}
	}
	var intents []string
	for _, i := range contract.IntuneIntents {
		intents = append(intents, string(i))
	}
	if got := enumOf(t, item["intent"]); !slices.Equal(got, intents) {
		t.Errorf("CRD intune intents %v, the contract says %v", got, intents)
	}
	if got := enumOf(t, intune.Properties["onRevoke"]); !slices.Equal(got, []string{string(contract.IntuneRevokeRemove), string(contract.IntuneRevokeUninstall)}) {
		t.Errorf("CRD intune.onRevoke %v", got)
	}
}
