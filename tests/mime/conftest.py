"""The well-formed hand-built messages, parsed once per test module."""

from __future__ import annotations

import pytest

from pipelines.mime.message import ParsedMessage
from pipelines.mime.parse import parse_message
from tests.conftest import COMPOSED_SES
from tests.mime.messages import WELL_FORMED


@pytest.fixture(scope="module")
def parsed() -> dict[str, ParsedMessage]:
    if not COMPOSED_SES.exists():
        pytest.skip("shared SES samples are not beside the repository")
    return {name: parse_message(raw) for name, raw in WELL_FORMED.items()}
