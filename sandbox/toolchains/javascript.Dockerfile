# greenloop's JavaScript sandbox image: Node's own test runner, npm for a repository's
# setup step, python3 for the judge (sandbox/node_judge.py).
#
#   greenloop sandbox build --toolchain javascript               # FROM node:20-bookworm-slim
#   greenloop sandbox build --toolchain javascript --bootstrap   # FROM Debian trixie's packages
#
# The bootstrapped base already holds node, npm and python3; only a registry's base
# needs python3 installed here (where a registry answers, Debian's mirror does too).
ARG BASE_IMAGE=node:20-bookworm-slim
FROM ${BASE_IMAGE}

RUN if command -v python3 >/dev/null; then echo "python3 is in the base image"; \
    else apt-get update && apt-get install -y --no-install-recommends python3 \
        && rm -rf /var/lib/apt/lists/*; fi \
    && node --version && npm --version && python3 --version

RUN (getent group 1000 || groupadd --gid 1000 sandbox) \
    && (getent passwd 1000 || useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh sandbox) \
    && mkdir -p /workspace \
    && chown 1000:1000 /workspace

ENV HOME=/tmp \
    LANG=C.UTF-8 \
    NODE_ENV=test \
    NO_UPDATE_NOTIFIER=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false

USER 1000:1000
WORKDIR /workspace
CMD ["sleep", "infinity"]
