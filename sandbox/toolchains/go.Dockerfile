# greenloop's Go sandbox image: Go's own toolchain (go test -c, test2json), python3 for the
# judge (sandbox/go_judge.py), git and certificates.
#
#   greenloop sandbox build --toolchain go               # FROM golang:1.24-bookworm
#   greenloop sandbox build --toolchain go --bootstrap   # FROM Debian trixie's packages (Go 1.24)
#
# Go ships no compiled standard library since 1.20: the first test binary of a cold
# cache takes about 20 s on a core. So the image compiles the standard library and a
# test binary importing the common packages into /opt/greenloop-gocache at build time.
# The container's root is read-only: the judge gives each run a fresh cache of its own
# whose entries are links to these (what a run adds is its own, and goes with it). Their
# mtimes are set in the future, so Go never marks them used (it would write the file).
ARG BASE_IMAGE=golang:1.24-bookworm
FROM ${BASE_IMAGE}

RUN if command -v python3 >/dev/null; then echo "python3 is in the base image"; \
    else apt-get update && apt-get install -y --no-install-recommends python3 \
        && rm -rf /var/lib/apt/lists/*; fi \
    && (command -v go || ln -s /usr/local/go/bin/go /usr/bin/go) \
    && go version && python3 --version

RUN (getent group 1000 || groupadd --gid 1000 sandbox) \
    && (getent passwd 1000 || useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh sandbox) \
    && mkdir -p /workspace \
    && chown 1000:1000 /workspace

ENV HOME=/tmp \
    LANG=C.UTF-8 \
    CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOPROXY=off \
    GOSUMDB=off \
    GOWORK=off \
    GOENV=off \
    GOFLAGS=-mod=readonly \
    GOTELEMETRY=off

RUN mkdir -p /opt/greenloop-gocache /tmp/warm && cd /tmp/warm \
    && printf 'module warm\n\ngo 1.24\n' > go.mod \
    && printf '%s\n' 'package warm' 'import (' '"bufio"' '"bytes"' '"encoding/json"' '"errors"' \
        '"fmt"' '"io"' '"math"' '"os"' '"regexp"' '"slices"' '"sort"' '"strconv"' \
        '"strings"' '"sync"' '"time"' '"unicode"' ')' \
        'var _ = []any{bufio.NewReader, bytes.NewBuffer, json.Marshal, errors.New, fmt.Sprint,' \
        'io.EOF, math.Abs, os.Getenv, regexp.MustCompile, slices.Sort[[]int], sort.Ints,' \
        'strconv.Itoa, strings.Split, &sync.Mutex{}, time.Now, unicode.IsSpace}' > warm.go \
    && printf '%s\n' 'package warm' 'import (' '"reflect"' '"testing"' ')' \
        'func TestWarm(t *testing.T) { if !reflect.DeepEqual(1, 1) { t.Fatal("no") } }' \
        > warm_test.go \
    && export GOCACHE=/opt/greenloop-gocache \
    && go build std \
    && go test -c -o /tmp/warm.test . \
    && /tmp/warm.test -test.v=test2json | "$(go env GOTOOLDIR)/test2json" -p warm \
    && cd / && rm -rf /tmp/warm /tmp/warm.test /tmp/go-build* \
    && find /opt/greenloop-gocache -exec touch -h -d '2100-01-01 00:00:00' {} + \
    && chmod -R a+rX,go-w /opt/greenloop-gocache

USER 1000:1000
WORKDIR /workspace
CMD ["sleep", "infinity"]
