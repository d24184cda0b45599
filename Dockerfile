# The chatops bot's image. The only base users need is the default python:3.12-slim; the tests build the
# same file on a Debian base made locally (tests/container). Build:  docker build -t chatops-bot .
# Run:  docker run -p 3000:3000 -v chatops-data:/data -v ./chatops.yml:/config/chatops.yml:ro --env-file .env \
#         --read-only chatops-bot            (see docs/deploy-container.md)
ARG BASE_IMAGE=python:3.12-slim

# ---- build: a virtualenv from the hash-pinned lock (requirements.lock, `make lock` regenerates it) ----
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# --require-hashes: every package, dependencies included, must match a hash in the lock; --no-deps: nothing
# outside the lock is resolved. The bot's own code is not pip-installed: it is copied below.
RUN /opt/venv/bin/python -m pip install --no-input --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/requirements.lock
# the runtime needs no installer
RUN /opt/venv/bin/python -m pip uninstall -y -q pip
COPY bot /app/bot
COPY handlers /app/handlers
COPY chatops /app/chatops
# AWS's RDS CA bundle (certs/SOURCES.md), pinned: the bot verifies the database server's certificate against it
# (PGSSLMODE=verify-full, PGSSLROOTCERT=/etc/ssl/certs/rds-global-bundle.pem: infra/modules/chatops-bot-service)
ARG RDS_BUNDLE_SHA256=05c6b4a9bf4daa95c888711481e19cc8e2e11aed4de8db759f51f4a6fce64917
COPY certs/rds-global-bundle.pem /opt/certs/rds-global-bundle.pem
RUN echo "${RDS_BUNDLE_SHA256}  /opt/certs/rds-global-bundle.pem" | sha256sum -c -
# bytecode compiled now, since the root filesystem is read-only at run time
RUN /opt/venv/bin/python -m compileall -q /app /opt/venv/lib

# ---- runtime: the venv and the code, nothing else ----
FROM ${BASE_IMAGE} AS runtime
ARG UID=10001
RUN useradd --uid "${UID}" --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin chatops \
 && mkdir -p /data /config && chown "${UID}:${UID}" /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
COPY --from=build /opt/certs/rds-global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    CHATOPS_CONFIG=/config/chatops.yml \
    CHATOPS_PID_FILE=/data/chatops-bot.pid \
    DATABASE_URL=sqlite:////data/chatops.db
WORKDIR /app
USER ${UID}:${UID}
VOLUME ["/data"]
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=4s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os,sys,urllib.request as u; r=u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT','3000'), timeout=3); sys.exit(0 if r.status == 200 else 1)"]
ENTRYPOINT ["python", "-m", "bot"]
CMD ["serve"]
