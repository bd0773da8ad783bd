# plex — build, test and demo. Everything slow is cached under PLEX_CACHE,
# outside the repository, so a fresh clone on the same machine reuses it.
PLEX_CACHE ?= /var/cache/plex-dev
export PLEX_CACHE

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -buildid= -X github.com/plex-dev/plex/core/version.Version=$(VERSION) -X github.com/plex-dev/plex/core/version.Commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -ldflags "$(LDFLAGS)"
BIN := bin
PROGRAMS := kubectl-plex incus-plexbake plex-registry

.PHONY: all build test unit integration harness demo lint clean

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

## test: unit + integration tests against a real incusd (the README's test command)
test: harness build
	PLEX_TEST_INCUS=1 go test -count=1 ./...

## demo: bring up what plex can do today on the local incusd
demo: harness build
	$(BIN)/kubectl-plex plan -f examples/omniplex.yaml

lint:
	gofmt -l $$(git ls-files '*.go') | tee /dev/stderr | (! read)
	go vet ./...

clean:
	rm -rf $(BIN)

## bake: bake the debian12_kube node image on the harness incusd, from the
## harness's Kubernetes binaries, with apt going through hack/aptproxy.sh
## (the harness bridge has no NAT). Cached by content: a re-run with nothing
## changed takes seconds.
BAKE_KUBE_VERSION ?= v1.34.4
BAKE_KUBE_ARTIFACTS ?= $(PLEX_CACHE)/k8s/$(BAKE_KUBE_VERSION)/bin
BAKE_APT_PROXY ?= http://10.212.0.1:3142
.PHONY: bake
bake: harness build
	hack/aptproxy.sh up
	$(BIN)/incus-plexbake bake kube debian12 --kubernetes-version $(BAKE_KUBE_VERSION) \
		--kube-artifacts $(BAKE_KUBE_ARTIFACTS) --apt-proxy $(BAKE_APT_PROXY)
