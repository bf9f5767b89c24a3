"""The monitoring tests reuse the probe tests' local servers."""

from tests.probes.conftest import ca, http_url  # noqa: F401  (fixtures)
