# ToRouter image: one image for `torouter up`, `torouter router` and `torouter edge`.
# No secrets are baked in: provider keys and TOROUTER_KEY come from the environment at run time,
# and the config file is mounted at /etc/torouter/config.yaml (see docker-compose.yml), which
# TOROUTER_CONFIG names for every `torouter` command run in the container (`torouter keys ...`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/torouter \
    PATH=/opt/torouter/bin:$PATH \
    TOROUTER_CONFIG=/etc/torouter/config.yaml

# A non-root user that owns the virtualenv, the source it is built from and the data directory
# (where the default `sqlite:///./torouter.db` state lands).
RUN groupadd --system --gid 10001 torouter \
    && useradd --system --uid 10001 --gid torouter --home-dir /home/torouter --create-home torouter \
    && mkdir -p /opt/torouter /src /var/lib/torouter /etc/torouter \
    && chown torouter:torouter /opt/torouter /src /var/lib/torouter

USER torouter
RUN python -m venv /opt/torouter

WORKDIR /src
COPY --chown=torouter:torouter . /src
RUN pip install . \
    && torouter --help > /dev/null

WORKDIR /var/lib/torouter
EXPOSE 8080 50051

CMD ["torouter", "up", "--config", "/etc/torouter/config.yaml"]
