"""`kernel/sdkerrors.py`: which qBraid SDK errors become one line, on qbraid-core's own errors.

The real kernel path (IPython showing that line, other errors keeping their tracebacks) is
tested in `tests/test_jobs_kernel.py`.
"""

from __future__ import annotations

from qbraid.runtime.exceptions import ResourceNotFoundError
from qbraid_core.exceptions import RequestsApiError
from qbraid_core.services.runtime import QuantumRuntimeServiceRequestError

from qbraid_keys_ext.kernel.sdkerrors import explain


def refused(status: int, code: str, message: str) -> RequestsApiError:
    return RequestsApiError(message, status_code=status, code=code)


def chained(outer: Exception, cause: Exception) -> Exception:
    try:
        raise outer from cause
    except Exception as err:
        return err


def test_a_missing_scope_is_one_line_naming_key_scope_and_what_to_do():
    err = chained(
        QuantumRuntimeServiceRequestError(
            "Failed to create job: The API key lacks the scope jobs:write."
        ),
        refused(403, "INSUFFICIENT_SCOPE", "The API key lacks the scope jobs:write."),
    )
    line = explain(err, "ci")
    assert line == (
        "qBraid API key 'ci' was refused: Failed to create job: The API key lacks the scope "
        "jobs:write. Use a key that has that scope (`%qbraid_key use NAME`), or create one in "
        "the API Keys sidebar."
    )
    assert "\n" not in line


def test_the_reason_is_found_below_an_unrelated_outer_message():
    inner = chained(
        QuantumRuntimeServiceRequestError("Failed to retrieve devices: lacks devices:read."),
        refused(403, "INSUFFICIENT_SCOPE", "The API key lacks the scope devices:read."),
    )
    err = chained(ResourceNotFoundError("No devices found matching given criteria."), inner)
    line = explain(err, None)
    assert line.startswith("This kernel's qBraid API key was refused: The API key lacks the scope")
    assert "devices:read" in line


def test_credits_are_one_line_and_other_errors_are_left_alone():
    err = refused(
        402, "INSUFFICIENT_CREDITS", "This job costs 0.2 credits and the account has 0.1."
    )
    assert explain(err, "ci") == (
        "qBraid API key 'ci' was refused: This job costs 0.2 credits and the account has 0.1."
    )
    assert explain(refused(404, "NOT_FOUND", "No job."), "ci") is None
    assert explain(refused(500, None, "boom"), "ci") is None  # type: ignore[arg-type]
    assert explain(ValueError("x"), "ci") is None
