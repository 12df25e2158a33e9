# greenloop's sandbox image: where generated code and its tests run.
#
#   greenloop sandbox build               # FROM python:3.12-slim (needs a registry)
#   greenloop sandbox build --bootstrap   # FROM a base made from Debian's packages
#
# The image must build with no network inside the build: the bootstrapped base
# already carries pytest and coverage (for fault localization in `greenloop fix`),
# so pip runs only when they are missing, and then with the host's CA bundle
# (host-ca.crt, put in the build context by greenloop).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

COPY host-ca.crt /tmp/host-ca.crt
RUN if python3 -c "import pytest, coverage" 2>/dev/null; then \
        echo "pytest and coverage are in the base image"; \
    else \
        python3 -m pip install --no-cache-dir --cert /tmp/host-ca.crt pytest coverage; \
    fi \
    && rm -f /tmp/host-ca.crt \
    && python3 -m pytest --version \
    && python3 -m coverage --version

# A non-root user; the sandbox runs everything as this uid.
RUN (getent group 1000 || groupadd --gid 1000 sandbox) \
    && (getent passwd 1000 || useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh sandbox) \
    && mkdir -p /workspace \
    && chown 1000:1000 /workspace

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONHASHSEED=0 \
    HOME=/tmp \
    LANG=C.UTF-8

USER 1000:1000
WORKDIR /workspace
CMD ["sleep", "infinity"]
