"""The device catalogue of the key service: what each device runs, its limits and its price.

Device objects have the fields of qbraid-core's ``RuntimeDevice`` (qbraid-core 0.6.37, the
schema ``QbraidProvider`` parses), plus ``limits`` and ``description``, which the SDK ignores.
Each device is a real simulator package (``simulator.py`` runs it in worker processes).

Credits: a job costs ``perTask`` + ``shots`` x ``perShot`` (``perMinute`` is 0), charged when
it is submitted and given back if it fails or is cancelled.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DEFAULT_SHOTS = 1000


@dataclass(frozen=True)
class Limits:
    """The work one job may ask of a device."""

    max_qubits: int
    max_shots: int
    max_run_seconds: float
    max_program_bytes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "maxQubits": self.max_qubits,
            "maxShots": self.max_shots,
            "maxRunSeconds": self.max_run_seconds,
            "maxProgramBytes": self.max_program_bytes,
        }


@dataclass(frozen=True)
class Pricing:
    """Credits per job (task), per shot and per minute."""

    per_task: Decimal
    per_shot: Decimal
    per_minute: Decimal = Decimal(0)

    def cost(self, shots: int) -> Decimal:
        """What a job of ``shots`` shots costs (simulators bill no minutes)."""
        return self.per_task + self.per_shot * shots

    def as_json(self) -> dict[str, float]:
        return {
            "perTask": float(self.per_task),
            "perShot": float(self.per_shot),
            "perMinute": float(self.per_minute),
        }


@dataclass(frozen=True)
class Device:
    """One device of the catalogue and the simulator behind it."""

    qrn: str
    name: str
    description: str
    simulator: str  # the `simulator.py` backend that runs it
    requires: tuple[str, ...]  # importable modules the simulator needs
    limits: Limits
    pricing: Pricing
    run_input_types: tuple[str, ...] = ("qasm2", "qasm3")
    vendor: str = field(init=False)
    provider: str = field(init=False)

    def __post_init__(self) -> None:
        vendor, provider, _kind, _name = self.qrn.split(":")
        object.__setattr__(self, "vendor", vendor)
        object.__setattr__(self, "provider", provider)

    def missing_packages(self) -> list[str]:
        """Modules the simulator needs that are not installed (looked up once)."""
        return _missing(self.requires)

    def as_json(self, queue_depth: int = 0) -> dict[str, Any]:
        """The device object of ``GET /devices`` (qbraid-core ``RuntimeDevice`` fields)."""
        missing = self.missing_packages()
        status_msg = (
            f"Not installed on this key service: {', '.join(missing)} "
            "(pip install 'qbraid-keys-ext[jobs]')."
            if missing
            else None
        )
        return {
            "name": self.name,
            "qrn": self.qrn,
            "vendor": self.vendor,
            "deviceType": "SIMULATOR",
            "runInputTypes": list(self.run_input_types),
            "status": "OFFLINE" if missing else "ONLINE",
            "statusMsg": status_msg,
            "queueDepth": queue_depth,
            "avgQueueTime": 0,
            "numberQubits": self.limits.max_qubits,
            "paradigm": "gate_model",
            "modality": None,
            "noiseModels": None,
            "minShots": 1,
            "maxShots": self.limits.max_shots,
            "pricingModel": "fixed",
            "pricing": self.pricing.as_json(),
            "directAccess": True,
            "batchJobSupport": False,
            "topology": None,
            "description": self.description,
            "limits": self.limits.as_json(),
        }


AER = Device(
    qrn="qbraid:qiskit:sim:aer-simulator",
    name="Qiskit Aer simulator",
    description=(
        "Ideal (noiseless) gate-model simulator: qiskit-aer's AerSimulator, run on this key "
        "service. Takes OpenQASM 2 and 3; a program without measurements is measured on every "
        "qubit. Counts are keyed by bitstrings with the first classical bit rightmost "
        "(Qiskit's order)."
    ),
    simulator="aer",
    requires=("qiskit", "qiskit_aer", "qiskit_qasm3_import"),
    limits=Limits(
        max_qubits=20, max_shots=100_000, max_run_seconds=30.0, max_program_bytes=256 * 1024
    ),
    pricing=Pricing(per_task=Decimal("0.1"), per_shot=Decimal("0.0001")),
)


@functools.cache
def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


DEVICES: dict[str, Device] = {d.qrn: d for d in (AER,)}
