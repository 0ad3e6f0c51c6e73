# Go binding (bindings/go): `make go-test` builds the library, then runs
# gofmt, go vet and `go test -race` on the cgo package. It needs a Go
# toolchain (Debian's golang-go, Go 1.19, is enough) and gcc. When `go` is
# missing and make runs as root with apt-get, it installs golang-go; when it
# cannot, it prints "== SKIP go-test: <reason>" and succeeds.
#
# The module uses the standard library only and nothing is downloaded:
# GOPROXY=off. The build cache and GOPATH live under build/go, so a clean
# clone needs no state outside the tree. The header's hash goes into
# CGO_CFLAGS because the go command does not track headers outside the
# package directory: a changed include/walstore.h must rebuild the cgo code.

GO        ?= go
GO_DIR    := $(CURDIR)/bindings/go
GO_BUILD  := $(BUILD)/go
GO_ENV     = GOPROXY=off GOFLAGS=-mod=mod GOSUMDB=off GOTOOLCHAIN=local GOWORK=off \
             GOENV=off GOTELEMETRY=off GO111MODULE=on CGO_ENABLED=1 \
             GOCACHE=$(GO_BUILD)/cache GOPATH=$(GO_BUILD)/path \
             CGO_CFLAGS="-g -O2 -DWALSTORE_H_SHA256=$$(sha256sum $(CURDIR)/include/walstore.h | cut -c1-16)"

.PHONY: go-test

go-test: lib
	@if ! command -v $(GO) >/dev/null 2>&1 && [ "$(GO)" = go ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== installing golang-go for the Go binding test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null; } || echo "== apt-get could not install golang-go"; \
	fi
	@if ! command -v $(GO) >/dev/null 2>&1; then \
	  echo "== SKIP go-test: no Go toolchain '$(GO)', and golang-go could not be installed (that needs GO=go, root and apt-get)"; \
	else \
	  set -e; mkdir -p $(GO_BUILD); \
	  echo "== go-test: $$($(GO) version) in bindings/go"; \
	  unformatted=$$(cd $(GO_DIR) && $(GO_ENV) "$$($(GO) env GOROOT)/bin/gofmt" -l .); \
	  if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting: $$unformatted"; exit 1; fi; \
	  cd $(GO_DIR) && $(GO_ENV) $(GO) vet ./... && \
	  $(GO_ENV) $(GO) test -race -count=1 -timeout 5m ./... && \
	  echo "== go-test: gofmt, go vet and go test -race passed"; \
	fi

TEST_EXTRA += go-test
