"""Where the API server is and how to prove who we are.

The official `kubernetes.config` loaders already know every kubeconfig form and the
in-cluster service account; this module turns what they load into the three things an
HTTP client needs (base URL, TLS context, Authorization header), so the rest of the
operator never touches the official client.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as kube_client
from kubernetes import config as kube_config


@dataclass(frozen=True)
class Connection:
    """How to reach and authenticate to one API server."""

    base_url: str
    ssl_context: ssl.SSLContext
    configuration: Any
    namespace: str = "default"
    """The kubeconfig context's namespace, for commands given none."""

    def headers(self) -> dict[str, str]:
        """The Authorization header, re-read each time so a rotated token is picked up."""
        hook = self.configuration.refresh_api_key_hook
        if hook is not None:
            hook(self.configuration)
        settings = self.configuration.auth_settings().values()
        return {
            setting["key"]: setting["value"]
            for setting in settings
            if setting["in"] == "header" and setting["value"]
        }


def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Load a kubeconfig (given, or $KUBECONFIG, or ~/.kube/config), else the in-cluster account.

    `context` picks a kubeconfig context other than the current one.
    """
    configuration = kube_client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    namespace = "default"
    if path or Path("~/.kube/config").expanduser().is_file():
        kube_config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration
        )
        contexts, current = kube_config.list_kube_config_contexts(config_file=path)
        chosen = next((c for c in contexts if c["name"] == context), current)
        namespace = chosen["context"].get("namespace") or namespace
    else:
        kube_config.load_incluster_config(client_configuration=configuration)
    tls = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        tls.load_cert_chain(configuration.cert_file, configuration.key_file)
    if not configuration.verify_ssl:
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    return Connection(
        base_url=configuration.host.rstrip("/"),
        ssl_context=tls,
        configuration=configuration,
        namespace=namespace,
    )
