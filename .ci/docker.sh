# Sourced by .ci/run. Prepares what tests/test_docker.py needs to build and run the image for real on a
# machine with no container registry, and cleans up after.
#   docker_up    installs docker.io and debootstrap, starts dockerd (unless one is already reachable),
#                imports a Debian bookworm minbase as the local base image, copies the venv's CPU torch
#                wheel into wheels/ (the build context), and exports the XLR_* variables the tests read.
#   docker_down  stops the dockerd that docker_up started, by its PID, and removes its scratch folder.
# XLR_REQUIRE_DOCKER=1 makes the container tests fail, not skip, when the engine is unreachable.

XLR_CI_BASE_IMAGE=xlr-ci-base:bookworm
_xlr_ci_tmp=""
_xlr_dockerd_pid=""

docker_up() {
    _xlr_ci_tmp=$(mktemp -d)
    export XLR_REQUIRE_DOCKER=1

    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
    fi

    if docker info >/dev/null 2>&1; then
        echo "ci: using the Docker engine that is already running"
    else
        # No bridge and no iptables on this kind of machine: builds and containers use the host network.
        dockerd --iptables=false --ip-masq=false --bridge=none --storage-driver=overlay2 \
            >"$_xlr_ci_tmp/dockerd.log" 2>&1 &
        _xlr_dockerd_pid=$!
        for _ in $(seq 60); do
            docker info >/dev/null 2>&1 && break
            kill -0 "$_xlr_dockerd_pid" 2>/dev/null || break     # dockerd exited: no point waiting
            sleep 1
        done
        if ! docker info >/dev/null 2>&1; then
            echo "ci: dockerd did not start; its log ends with:" >&2
            tail -n 20 "$_xlr_ci_tmp/dockerd.log" >&2
            return 1
        fi
    fi

    if ! docker image inspect "$XLR_CI_BASE_IMAGE" >/dev/null 2>&1; then
        _xlr_ci_base_image
    fi
    export XLR_DOCKER_BASE_IMAGE="$XLR_CI_BASE_IMAGE"

    # The same torch as the venv (the local CPU wheel): the image then downloads no CUDA wheels.
    local torch_version wheel
    torch_version=$(python -c 'import importlib.metadata as m; print(m.version("torch"))')
    pip download -q --no-deps -d wheels "torch==$torch_version"
    wheel=$(ls wheels/torch-"$torch_version"-*.whl | head -n 1)
    export XLR_DOCKER_TORCH_SPEC="$wheel"
    echo "ci: container tests build on $XLR_DOCKER_BASE_IMAGE with TORCH_SPEC=$XLR_DOCKER_TORCH_SPEC"
}

# A registry-free base image: Debian minbase (no python; the Dockerfile installs it) that trusts the
# same extra CA certificates as this machine, whose HTTPS goes through a proxy. Only CI does this;
# the Dockerfile stays free of it.
_xlr_ci_base_image() {
    local root="$_xlr_ci_tmp/rootfs" bundle=/etc/ssl/certs/ca-certificates.crt
    if ! debootstrap --variant=minbase --include=ca-certificates bookworm "$root" http://deb.debian.org/debian \
            >"$_xlr_ci_tmp/debootstrap.log" 2>&1; then
        echo "ci: debootstrap failed; its log ends with:" >&2
        tail -n 20 "$_xlr_ci_tmp/debootstrap.log" >&2
        return 1
    fi
    if [ -d /usr/local/share/ca-certificates ]; then
        cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
    fi
    chroot "$root" update-ca-certificates >/dev/null 2>&1
    printf '[global]\ncert = %s\n' "$bundle" >"$root/etc/pip.conf"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "ENV PIP_CERT=$bundle" --change "ENV REQUESTS_CA_BUNDLE=$bundle" --change "ENV SSL_CERT_FILE=$bundle" \
        - "$XLR_CI_BASE_IMAGE" >/dev/null
    echo "ci: imported base image $XLR_CI_BASE_IMAGE"
}

docker_down() {
    if [ -n "$_xlr_dockerd_pid" ]; then
        kill "$_xlr_dockerd_pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$_xlr_dockerd_pid" 2>/dev/null || break; sleep 1; done
        kill -0 "$_xlr_dockerd_pid" 2>/dev/null && kill -9 "$_xlr_dockerd_pid" 2>/dev/null
        _xlr_dockerd_pid=""
    fi
    if [ -n "$_xlr_ci_tmp" ]; then rm -rf "$_xlr_ci_tmp"; fi
    return 0
}
