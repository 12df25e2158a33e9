# greenloop's Rust sandbox image: cargo and rustc (1.85, edition 2024), python3 for the
# judge (sandbox/cargo_judge.py).
#
#   greenloop sandbox build --toolchain rust               # FROM rust:1.85-slim
#   greenloop sandbox build --toolchain rust --bootstrap   # FROM Debian trixie's packages
#
# The container's root is read-only and it has no network: cargo's home and the build
# output live in /tmp (a tmpfs), never in the workspace beside the model's files, and
# cargo never asks a registry (CARGO_NET_OFFLINE). The crate built here proves the
# toolchain works (edition 2024, a test binary linked) before any task pays for it.
ARG BASE_IMAGE=rust:1.85-slim
FROM ${BASE_IMAGE}

RUN if command -v python3 >/dev/null; then echo "python3 is in the base image"; \
    else apt-get update && apt-get install -y --no-install-recommends python3 \
        && rm -rf /var/lib/apt/lists/*; fi \
    && rustc --version && cargo --version && python3 --version

RUN (getent group 1000 || groupadd --gid 1000 sandbox) \
    && (getent passwd 1000 || useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh sandbox) \
    && mkdir -p /workspace \
    && chown 1000:1000 /workspace

ENV HOME=/tmp \
    LANG=C.UTF-8 \
    CARGO_HOME=/tmp/cargo-home \
    CARGO_TARGET_DIR=/tmp/cargo-target \
    CARGO_NET_OFFLINE=true \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

USER 1000:1000
RUN mkdir -p /tmp/warm/src /tmp/warm/tests \
    && printf '[package]\nname = "warm"\nversion = "0.1.0"\nedition = "2024"\n' > /tmp/warm/Cargo.toml \
    && printf 'pub fn one() -> u8 { 1 }\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn one() { assert_eq!(super::one(), 1); }\n}\n' > /tmp/warm/src/lib.rs \
    && printf '#[test]\nfn one() { assert_eq!(warm::one(), 1); }\n' > /tmp/warm/tests/one.rs \
    && cd /tmp/warm && cargo test -q \
    && rm -rf /tmp/warm /tmp/cargo-home /tmp/cargo-target
WORKDIR /workspace
CMD ["sleep", "infinity"]
