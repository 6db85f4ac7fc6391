"""What SIGHUP reloads, and how: a registry of named parts (the API's tokens, its TLS
certificates; a tenant policy may add itself), each a function that reads its files
again and swaps the new configuration in, or raises and leaves the old one in place.

A reload never stops the controller: a part whose files are broken keeps what it had and
the operator gets one line saying which part and why; the others are reloaded all the
same. Reloads run one at a time, on a thread of their own (not in the signal handler,
which may have interrupted anything)."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Callable

log = logging.getLogger("intercloud.controller")


class Reloads:
    """Named reload functions, run in the order they were added."""

    def __init__(self) -> None:
        self._parts: list[tuple[str, Callable[[], str | None]]] = []
        self._lock = threading.Lock()

    def add(self, name: str, reload: Callable[[], str | None]) -> None:
        """``reload()`` reads ``name``'s files again and swaps them in (returning an optional
        word on what changed), or raises (ValueError, OSError) leaving the old one."""
        self._parts.append((name, reload))

    def reload_all(self) -> dict[str, str]:
        """Reload every part; {name: "" if reloaded, else why not}. Never raises."""
        outcome = {}
        with self._lock:
            for name, reload in self._parts:
                try:
                    said = reload()
                except Exception as e:   # any failure keeps the old configuration
                    outcome[name] = " ".join(str(e).split()) or type(e).__name__
                    log.error("SIGHUP: %s not reloaded, the old one stays in use: %s", name, outcome[name])
                    continue
                outcome[name] = ""
                log.info("SIGHUP: %s reloaded%s", name, f" ({said})" if said else "")
        return outcome

    def on_sighup(self) -> None:
        """From now on, SIGHUP reloads (instead of ending the process, its default)."""
        def handler(_signum, _frame):
            threading.Thread(target=self.reload_all, name="sighup-reload", daemon=True).start()
        signal.signal(signal.SIGHUP, handler)


class ServerCertificates:
    """The API's certificate, key and client CA as gRPC's dynamic server credentials see
    them: fetched before every new connection's handshake, so :meth:`reload` (rotated
    files) takes effect for the next connection, without a restart; connections already
    open keep theirs. ``read(path, option)`` returns a file's PEM bytes or raises
    ValueError naming the option."""

    def __init__(self, cert: str, key: str, ca: str | None, read: Callable[[str | None, str], bytes | None]):
        self.cert, self.key, self.ca, self._read = cert, key, ca, read
        self._pending = None
        self.initial = self._load()

    def credentials(self):
        import grpc

        return grpc.dynamic_ssl_server_credentials(self.initial, self._fetch,
                                                   require_client_authentication=self.ca is not None)

    def reload(self) -> str:
        self._pending = self._load()
        return "new connections use them"

    def _fetch(self):
        pending, self._pending = self._pending, None
        return pending

    def _load(self):
        import ssl

        import grpc

        key, cert, ca = self._read(self.key, "--tls-key"), self._read(self.cert, "--tls-cert"), \
            self._read(self.ca, "--client-ca")
        try:   # a key that is not the certificate's would only fail at the clients' handshakes
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as e:
            raise ValueError(f"--tls-cert {self.cert} and --tls-key {self.key} cannot be used together: "
                             f"{getattr(e, 'reason', None) or e}") from None
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)
