# syntax=docker/dockerfile:1
#
# accord: one image for the worker (`accord worker`, the default), the HTTP API (`accord api`) and the
# operator commands (`accord db migrate`, `accord alliance ...`).
#
# PostgreSQL and Temporal are separate services in a container deployment, so the `embedded` and
# `dev` extras (server binaries as wheels) are not installed: `accord dev` is for laptops, not images.

ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

# --- build: a virtual environment in /opt/accord ----------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/accord
ENV PATH=/opt/accord/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject.toml alone, so that this (slow) layer is rebuilt only when
# the dependency list changes, not on every source edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself: the packages accord, events, workflows, activities (with the SQL
# migrations and the example charter as package data) and the worker.py module, as pyproject.toml
# lists them.
# .dockerignore keeps tests, docs, VCS data and local secrets out of the context.
COPY . ./
RUN pip install --no-deps . && accord --version

# --- runtime: the environment and nothing else --------------------------------------------------------
FROM ${PYTHON_IMAGE}

# ACCORD_API_HOST: inside a container the API must listen on every interface to be reachable at all.
ENV PATH=/opt/accord/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ACCORD_API_HOST=0.0.0.0

# A fixed numeric uid/gid, so that `USER` works with runAsNonRoot checks and mounted certificate or
# key files can be made readable to exactly this user.
RUN groupadd --system --gid 10001 accord \
    && useradd --system --uid 10001 --gid accord --create-home --home-dir /home/accord \
        --shell /usr/sbin/nologin accord

COPY --from=build /opt/accord /opt/accord

USER 10001:10001
WORKDIR /home/accord
EXPOSE 8765

# Exec form: accord is PID 1 and receives SIGTERM itself, so a stopping worker finishes the tasks in
# hand and a stopping API finishes the requests in flight.
ENTRYPOINT ["accord"]
CMD ["worker"]
