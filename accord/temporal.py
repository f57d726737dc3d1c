"""Connecting to Temporal: envconfig for the settings, the pydantic data converter for payloads."""

from __future__ import annotations

import os

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile

from accord.config import NotConfigured, Settings, running_dev_stack
from events.errors import Unavailable


def temporal_configured() -> bool:
    """True when TEMPORAL_ADDRESS or a Temporal config profile names a server."""
    if os.environ.get("TEMPORAL_ADDRESS"):
        return True
    try:
        return bool(ClientConfigProfile.load(disable_env=True).address)
    except Exception:  # noqa: BLE001 - a missing or unreadable profile file means: not configured
        return False


async def connect(settings: Settings, *, address: str | None = None, namespace: str | None = None) -> Client:
    """Connect with envconfig; with nothing configured, to the running `accord dev` stack."""
    config = ClientConfigProfile.load().to_client_connect_config()
    if address is None and not temporal_configured():
        stack = running_dev_stack(settings)
        if stack is None:
            raise NotConfigured(
                "no Temporal server configured: set TEMPORAL_ADDRESS (or a Temporal config profile) "
                "or start the dev stack with `accord dev`"
            )
        address, namespace = stack.temporal_address, namespace or stack.namespace
    if address is not None:
        config["target_host"] = address
    if namespace is not None:
        config["namespace"] = namespace
    target = config.setdefault("target_host", "localhost:7233")
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter)
    except RuntimeError as error:  # what the SDK raises when the server does not answer
        raise Unavailable(f"Temporal at {target} did not answer ({error}): is it running?") from None
