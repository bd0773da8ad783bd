package warm

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestParseImageList(t *testing.T) {
	in := `# kubeadm's images
registry.k8s.io/pause:3.10.1
   nginx   # docker.io/library/nginx:latest

ghcr.io/fluxcd/source-controller@sha256:0000000000000000000000000000000000000000000000000000000000000000
`
	got, err := ParseImageList(strings.NewReader(in), "list.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1] != "nginx" {
		t.Errorf("got %q", got)
	}
	_, err = ParseImageList(strings.NewReader("ok:1\nBAD//ref\na b\n"), "list.txt")
	if err == nil || !strings.Contains(err.Error(), "list.txt:2:") || !strings.Contains(err.Error(), "list.txt:3:") || !strings.Contains(err.Error(), "one image per line") {
		t.Errorf("errors: %v", err)
	}
}

func TestKubeadmImages(t *testing.T) {
	got, err := KubeadmImages("v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"registry.k8s.io/kube-apiserver:v1.34.4",
		"registry.k8s.io/kube-controller-manager:v1.34.4",
		"registry.k8s.io/kube-scheduler:v1.34.4",
		"registry.k8s.io/kube-proxy:v1.34.4",
		"registry.k8s.io/coredns/coredns:v1.12.1",
		"registry.k8s.io/pause:3.10.1",
		"registry.k8s.io/etcd:3.6.5-0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s", strings.Join(got, "\n"))
	}
	if _, err := KubeadmImages("v1.29.0"); err == nil || !strings.Contains(err.Error(), "kubeadm config images list") {
		t.Errorf("unknown minor: %v", err)
	}
	if _, err := KubeadmImages("1.34"); err == nil {
		t.Error("1.34 accepted")
	}
}

func TestPodImages(t *testing.T) {
	pod := func(init string, cs ...string) corev1.Pod {
		p := corev1.Pod{}
		if init != "" {
			p.Spec.InitContainers = []corev1.Container{{Image: init}}
		}
		for _, c := range cs {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Image: c})
		}
		return p
	}
	got := podImages([]corev1.Pod{pod("busybox", "nginx", "registry.k8s.io/pause:3.10.1"), pod("", "nginx")})
	if strings.Join(got, " ") != "busybox nginx registry.k8s.io/pause:3.10.1" {
		t.Errorf("got %v", got)
	}
}

func TestClusterImages(t *testing.T) {
	cs := fake.NewSimpleClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "kube-system"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "registry.k8s.io/pause:3.10.1"}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "nginx"}}}},
	)
	got, err := ClusterImages(context.Background(), cs)
	if err != nil || strings.Join(got, " ") != "nginx registry.k8s.io/pause:3.10.1" {
		t.Errorf("ClusterImages: %v %v", got, err)
	}
}
