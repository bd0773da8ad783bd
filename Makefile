# plex — build, test and demo. Everything slow (the Kubernetes build, the base
# image, the registry's data, the apt cache) is cached under PLEX_CACHE,
# outside the repository, so a fresh clone on the same machine reuses it.
PLEX_CACHE ?= /var/cache/plex-dev
export PLEX_CACHE

KUBE_VERSION ?= v1.34.4
KUBE_ARTIFACTS ?= $(PLEX_CACHE)/k8s/$(KUBE_VERSION)/bin
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

.PHONY: all build unit harness artifacts images bake test integration e2e demo bench lint clean

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

## artifacts: the Kubernetes binaries, built from the Go module proxy (~15 min cold, cached)
artifacts:
	hack/k8s-artifacts.sh $(KUBE_VERSION)

## images: the control-plane images and the e2e workload, served on $(REGISTRY)
images: harness artifacts
	hack/k8s-images.sh $(KUBE_VERSION)
	@mkdir -p $(PLEX_CACHE)/e2e
	CGO_ENABLED=0 go build -trimpath -o $(PLEX_CACHE)/e2e/echo ./test/e2e/echo
	go run ./hack/imagebuild --registry $(REGISTRY) --bin-dir $(KUBE_ARTIFACTS) --only pause \
		--extra plex-e2e/echo:v1=$(PLEX_CACHE)/e2e/echo

## bake: the debian12_kube node image on the harness incusd (cached by content)
bake: harness build artifacts
	hack/aptproxy.sh up
	$(BIN)/incus-plexbake bake kube debian12 --kubernetes-version $(KUBE_VERSION) \
		--kube-artifacts $(KUBE_ARTIFACTS) --apt-proxy $(APT_PROXY)

## integration: unit + integration tests against the harness incusd
integration: harness build artifacts
	hack/aptproxy.sh up
	PLEX_TEST_INCUS=1 go test -count=1 -timeout 30m ./...

## e2e: kubectl-plex up/join/drain/down on the harness (test/e2e)
e2e: images bake build
	PLEX_TEST_INCUS=1 go test -tags e2e -count=1 -timeout 40m -v ./test/e2e/

## test: everything — the README's test command and what CI runs
test: integration e2e

## demo: bake the node image and bring up the demo plex omniplex (1+2)
demo: images bake build
	$(BIN)/kubectl-plex plan -f examples/omniplex.yaml
	$(BIN)/kubectl-plex up -f examples/omniplex.yaml
	$(BIN)/kubectl-plex status omniplex

lint:
	gofmt -l $$(git ls-files '*.go') | tee /dev/stderr | (! read)
	go vet ./...

clean:
	rm -rf $(BIN)

## bench: time up (1+1, 1+2, 1+4), join, and plain incus launch; medians of 3
bench: images bake build
	hack/bench.sh
