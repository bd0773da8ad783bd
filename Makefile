# plex — build, test and demo. Everything slow (the Kubernetes build, the base
# image, the registry's data, the apt cache) is cached under PLEX_CACHE,
# outside the repository, so a fresh clone on the same machine reuses it.
PLEX_CACHE ?= /var/cache/plex-dev
export PLEX_CACHE

KUBE_VERSION ?= v1.34.4
KUBE_ARTIFACTS ?= $(PLEX_CACHE)/k8s/$(KUBE_VERSION)/bin
# containerd and runc of the kube node image (core/bake's defaults).
CONTAINERD_VERSION ?= v2.4.2
RUNC_VERSION ?= v1.5.3
RUNTIME_ARTIFACTS ?= $(PLEX_CACHE)/runtime/$(CONTAINERD_VERSION)-$(RUNC_VERSION)/bin
export PLEX_RUNTIME_ARTIFACTS := $(RUNTIME_ARTIFACTS)
# flannel for the cni: manifest e2e (TestE2EFlannel), built from the Go module proxy.
FLANNEL_VERSION ?= v0.28.10
FLANNEL_ARTIFACTS ?= $(PLEX_CACHE)/flannel/$(FLANNEL_VERSION)/bin
# The harness bridge's address: the registry and the apt proxy listen there.
HARNESS_GATEWAY ?= 10.212.0.1
REGISTRY ?= $(HARNESS_GATEWAY):5000
APT_PROXY ?= http://$(HARNESS_GATEWAY):3142
export PLEX_REGISTRY_ADDR := $(REGISTRY)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -buildid= -X github.com/plex-dev/plex/core/version.Version=$(VERSION) -X github.com/plex-dev/plex/core/version.Commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -ldflags "$(LDFLAGS)"
BIN := bin
PROGRAMS := kubectl-plex incus-plexbake plex-registry

.PHONY: all build unit harness artifacts runtime-artifacts images bake test integration e2e demo bench lint clean

all: build

## build: the three programs into bin/
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o $(BIN)/ $(addprefix ./cmd/,$(PROGRAMS))

## unit: fast tests that need nothing outside the process
unit:
	go test ./...

## harness: start (or adopt) the test incusd, pool, bridge and base image
harness:
	hack/harness.sh up

## artifacts: the Kubernetes binaries, built from the Go module proxy (9 min cold on 2 cores, cached)
artifacts:
	hack/k8s-artifacts.sh $(KUBE_VERSION)

## runtime-artifacts: containerd and runc for the node image, built from the Go module proxy (cached)
runtime-artifacts:
	hack/runtime-artifacts.sh $(CONTAINERD_VERSION) $(RUNC_VERSION)

## images: the control-plane images, the e2e workload and flannel, served on $(REGISTRY)
images: harness artifacts
	hack/k8s-images.sh $(KUBE_VERSION)
	hack/flannel-artifacts.sh $(FLANNEL_VERSION)
	@mkdir -p $(PLEX_CACHE)/e2e
	CGO_ENABLED=0 go build -trimpath -o $(PLEX_CACHE)/e2e/echo ./test/e2e/echo
	CGO_ENABLED=0 go build -trimpath -o $(PLEX_CACHE)/e2e/cni-install ./test/e2e/cniinstall
	go run ./hack/imagebuild --registry $(REGISTRY) --bin-dir $(KUBE_ARTIFACTS) --only pause \
		--extra plex-e2e/echo:v1=$(PLEX_CACHE)/e2e/echo \
		--extra plex-e2e/cni-install:v1=$(PLEX_CACHE)/e2e/cni-install \
		--iptables-root $(PLEX_CACHE)/iptables/root --flannel-bin-dir $(FLANNEL_ARTIFACTS) --flannel-tag $(FLANNEL_VERSION)

## bake: the debian12_kube node image on the harness incusd (cached by content)
bake: harness build artifacts runtime-artifacts
	hack/aptproxy.sh up
	$(BIN)/incus-plexbake bake kube debian12 --kubernetes-version $(KUBE_VERSION) \
		--kube-artifacts $(KUBE_ARTIFACTS) --containerd-version $(CONTAINERD_VERSION) --runc-version $(RUNC_VERSION) \
		--runtime-artifacts $(RUNTIME_ARTIFACTS) --apt-proxy $(APT_PROXY)

# ---- debian13: the Debian 13 (trixie) base beside debian12 -------------
# Not part of `make test`: CI keeps to debian12. The base costs a cold
# debootstrap of trixie (cached by inputs under $(PLEX_CACHE)/images).
.PHONY: base-debian13 bake-debian13 test-debian13

## base-debian13: the Debian 13 (trixie) base image `debian13` beside debian12 (cached)
base-debian13: harness
	hack/harness.sh base debian13

## bake-debian13: the debian13_kube node image (cached by content)
bake-debian13: base-debian13 build artifacts runtime-artifacts
	hack/aptproxy.sh up
	$(BIN)/incus-plexbake bake kube debian13 --kubernetes-version $(KUBE_VERSION) \
		--kube-artifacts $(KUBE_ARTIFACTS) --containerd-version $(CONTAINERD_VERSION) --runc-version $(RUNC_VERSION) \
		--runtime-artifacts $(RUNTIME_ARTIFACTS) --apt-proxy $(APT_PROXY)

## test-debian13: a 1+2 plex from debian13_kube: Ready, trixie, ssh, a Service across the workers
test-debian13: images bake-debian13 build
	PLEX_TEST_INCUS=1 go test -tags e2e -count=1 -timeout 20m -v -run 'TestDebian13$$' ./test/e2e/
# ---- end debian13 -------------------------------------------------------------------

## integration: unit + integration tests against the harness incusd (the preload bake pulls from $(REGISTRY))
integration: harness build artifacts runtime-artifacts images
	hack/aptproxy.sh up
	PLEX_TEST_INCUS=1 go test -p 1 -count=1 -timeout 40m ./...

## e2e: kubectl-plex up/join/drain/down/ssh (1+2), snapshot and restore (1+2), Ctrl-C during up, two ups of one plex at once, cni: manifest (stand-in, and flannel 1+2), and the HA control plane (3+1) on the harness
e2e: images bake build
	PLEX_TEST_INCUS=1 go test -tags e2e -count=1 -timeout 60m -v -run 'TestE2E$$|TestE2ESnapshot$$|TestE2EInterrupt$$|TestE2ELock$$|TestE2ECNIManifest$$|TestE2EFlannel$$|TestHA$$' ./test/e2e/

## test: everything — the README's test command and what CI runs
test: flux-artifacts-background integration e2e e2e-registry e2e-flux e2e-cluster packaging-test

## e2e-registry: plex-registry up (distribution engine), warm, and a plex pulling through it
e2e-registry: images bake build
	hack/aptproxy.sh up
	PLEX_TEST_INCUS=1 go test -tags e2e -count=1 -timeout 20m -v -run 'TestRegistry$$' ./test/e2e/

## demo: bake the node image and bring up the demo plex omniplex (1+2)
demo: images bake build
	$(BIN)/kubectl-plex plan -f examples/omniplex.yaml
	$(BIN)/kubectl-plex up -f examples/omniplex.yaml
	$(BIN)/kubectl-plex status omniplex

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

clean:
	rm -rf $(BIN)

## bench: time up (1+1…1+8), join, bakes, plain incus launch, snapshot and restore, containerd 2 vs 1.6, images preloaded; medians of 3 (BENCH=scale: the ups and joins alone)
BENCH ?= all
bench: images bake build
	hack/bench.sh $(BENCH)

# --- packaging (issue 9): release archives, Krew manifest, packaging tests ---
# dist/ gets one tar.gz per program and platform (binary + LICENSE; kubectl-plex
# also kubectl_complete-plex), a .sha256 for each, checksums.txt, and plex.yaml,
# the Krew manifest rendered from krew/plex.yaml.tmpl. Same commit, same bytes.
DIST ?= dist
# DIST_PLATFORMS narrows dist to some platforms (os/arch, space-separated);
# empty builds every one, as a release must.
DIST_PLATFORMS ?=
DIST_URL_BASE ?= https://github.com/plex-dev/plex/releases/download/$(VERSION)
KREW_VERSION ?= v0.5.0

.PHONY: dist krew packaging-test

## dist: release archives, checksums and the Krew manifest into $(DIST)/
dist:
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' LDFLAGS='$(LDFLAGS)' DIST='$(DIST)' DIST_PLATFORMS='$(DIST_PLATFORMS)' DIST_URL_BASE='$(DIST_URL_BASE)' hack/dist.sh

## krew: the real Krew, built from the Go module proxy into $(PLEX_CACHE)/tools
krew:
	KREW_VERSION=$(KREW_VERSION) hack/krew.sh >/dev/null

## packaging-test: install dist/ with the real Krew and kubectl, the incus
## alias with the incus client, completion, and a second dist for reproducibility
# It builds the host's archives only: the release's three cross-compiles
# cost a fresh machine minutes and give the tests nothing they run.
packaging-test: DIST_PLATFORMS = $(shell go env GOOS)/$(shell go env GOARCH)
packaging-test: harness dist krew artifacts
	PLEX_TEST_INCUS=1 PLEX_DIST=$(CURDIR)/$(DIST) PLEX_KUBECTL=$(KUBE_ARTIFACTS)/kubectl \
		go test -tags e2e -count=1 -timeout 20m -v -run 'TestPackaging' ./test/e2e/
# --- end packaging ---

# ---- flux (issue 8) ----------------------------------------------------------------
# The Flux controllers built from the Go module proxy, their images in the
# harness registry (as registry.k8s.io/fluxcd/*), the offline component
# manifests for `kubectl plex fluxstrap --manifests`, and the fluxstrap e2e.
FLUX_VERSION ?= v2.7.3
FLUX_MANIFESTS ?= $(PLEX_CACHE)/flux/$(FLUX_VERSION)/manifests
.PHONY: flux-artifacts flux-artifacts-background flux-images e2e-flux

## flux-artifacts: source-controller, kustomize-controller and the offline manifests (7.5 min cold on 2 cores, cached)
flux-artifacts: artifacts
	hack/flux-artifacts.sh $(FLUX_VERSION)

## flux-artifacts-background: start flux-artifacts at nice 19 and go on: on a fresh machine it builds in the CPU time make test's tests leave idle, and e2e-flux waits for it
flux-artifacts-background: artifacts
	@hack/background.sh $(PLEX_CACHE)/logs/flux-artifacts-background.log hack/flux-artifacts.sh $(FLUX_VERSION)

## flux-images: the controller images, served on $(REGISTRY) as registry.k8s.io/fluxcd/*
flux-images: harness flux-artifacts
	hack/flux-images.sh $(FLUX_VERSION)

## e2e-flux: fluxstrap onto a 1+1 plex, a real reconcile from a Git server on the bridge
e2e-flux: images flux-images bake build
	PLEX_TEST_FLUX=1 go test -count=1 ./core/flux/
	PLEX_TEST_INCUS=1 go test -tags e2e -count=1 -timeout 30m -run 'TestFlux$$' -v ./test/e2e/
# ---- end flux ------------------------------------------------------------------------

# --- incus cluster (issue 6): placement on a real two-member Incus cluster ---
.PHONY: e2e-cluster

## e2e-cluster: placement and two-remote tests on a real two-member Incus
## cluster (hack/incus-cluster.sh) beside the harness; removed again after
e2e-cluster: images bake build
	hack/incus-cluster.sh up
	eval "$$(hack/incus-cluster.sh env)" && PLEX_TEST_INCUS=1 PLEX_TEST_CLUSTER=1 \
		go test -tags e2e -count=1 -timeout 30m -v -run 'TestCluster' ./test/e2e/; \
		rc=$$?; hack/incus-cluster.sh down; exit $$rc
# --- end incus cluster ---

# ---- conformance ------------------------------------------------------------------
# The upstream conformance suite (k8s.io/kubernetes/test/e2e) against a fresh
# 1+2 plex, offline. About 70 min on 2 cores: not part of `make test`. A short run narrows
# the focus, e.g. make conformance CONFORMANCE_FOCUS='\[sig-node\] Pods.*\[Conformance\]'
.PHONY: conformance-artifacts conformance-images conformance
export CONFORMANCE_FOCUS CONFORMANCE_SKIP CONFORMANCE_PROCS CONFORMANCE_SERIAL CONFORMANCE_KEEP

## conformance-artifacts: e2e.test, ginkgo and agnhost, built from the Go module proxy (cached)
conformance-artifacts: artifacts
	nice -n 19 hack/conformance-artifacts.sh $(KUBE_VERSION)

## conformance-images: the suite's images (agnhost, busybox, dig, httpd/nginx stand-ins…) on $(REGISTRY)
conformance-images: harness conformance-artifacts
	hack/conformance-images.sh $(KUBE_VERSION)

## conformance: the conformance tests on a 1+2 plex; results in $(PLEX_CACHE)/conformance/<time>/
conformance: images conformance-images bake build
	KUBE_VERSION=$(KUBE_VERSION) hack/conformance.sh
# ---- end conformance -------------------------------------------------------------
