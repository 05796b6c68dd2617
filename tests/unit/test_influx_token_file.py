"""GYMFLOOR_INFLUX__TOKEN_FILE: the token read from a file, and each way that can go wrong
named without showing what the file holds."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from gymfloor.storage.timeseries.config import InfluxConfig


def test_the_token_is_the_files_text_trimmed(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  user:s3cret\n")
    config = InfluxConfig(url="http://influx:8086", token_file=token_file)
    assert config.token is not None and config.token.get_secret_value() == "user:s3cret"


@pytest.mark.parametrize(
    ("content", "token", "message"),
    [
        (None, None, "cannot read the token file"),
        ("\n", None, "is empty"),
        ("user:s3cret", "other", "not both"),
    ],
    ids=["missing", "empty", "both"],
)
def test_a_token_file_that_cannot_serve_is_refused_by_name(
    tmp_path: Path, content: str | None, token: str | None, message: str
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    with pytest.raises(pydantic.ValidationError) as caught:
        InfluxConfig(token_file=token_file, token=token)
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)
