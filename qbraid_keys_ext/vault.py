"""Key values in the keyring (service `qbraid-keys`, username `<upstream host>/<key id>`)."""

from __future__ import annotations

from collections.abc import Iterable

import keyring
import keyring.errors

SERVICE = "qbraid-keys"


class VaultError(Exception):
    """The keyring could not be used; the message says why, never a value."""


class Vault:
    """The key values this Lab holds for one upstream."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def username(self, key_id: str) -> str:
        """The keyring username for a key of this upstream."""
        return f"{self.namespace}/{key_id}"

    def store(self, key_id: str, value: str) -> None:
        """Keep a key value (replacing an older one)."""
        try:
            keyring.set_password(SERVICE, self.username(key_id), value)
        except Exception as err:
            raise VaultError(f"The keyring could not store the key: {err}") from None

    def fetch(self, key_id: str) -> str | None:
        """The stored value of a key, or None."""
        try:
            return keyring.get_password(SERVICE, self.username(key_id))
        except Exception as err:
            raise VaultError(f"The keyring could not be read: {err}") from None

    def delete(self, key_id: str) -> None:
        """Forget a key value (no error when none is stored)."""
        try:
            keyring.delete_password(SERVICE, self.username(key_id))
        except keyring.errors.PasswordDeleteError:
            pass
        except Exception as err:
            raise VaultError(f"The keyring could not delete the key: {err}") from None

    def holds(self, key_ids: Iterable[str]) -> set[str]:
        """Which of these keys have a stored value."""
        return {key_id for key_id in key_ids if self.fetch(key_id) is not None}

    def info(self) -> dict:
        """The keyring backend in use and whether it keeps values safe."""
        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        return {"backend": name, "secure": "plaintext" not in name.lower()}
