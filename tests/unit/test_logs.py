"""Structured logs: JSON lines and the human format, levels from the configuration, no credential ever."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bpsn.integration.config.models import IntegrationConfig
from bpsn.integration.logs import (
    MASK,
    Redactor,
    configure_logging,
    level_number,
    most_verbose,
    normalize_level,
    set_level,
)

CLEAR = {"bearer_token": "BPUunit-clear-bearer-41f7", "api_key": "unit-clear-api-key-83aa",
         "incidents_app_key": "unit-clear-incidents-key-02c9", "oim_app_key": "unit-clear-oim-key-5d10"}


@pytest.fixture
def configured() -> Iterator[tuple[io.StringIO, Redactor, logging.Logger]]:
    """The core's handler on the root logger, writing to a buffer; the root is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream, redactor = io.StringIO(), Redactor()
    configure_logging("DEBUG", "json", stream=stream, redactor=redactor)
    yield stream, redactor, logging.getLogger("bpsn.test.logs")
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_its_structured_fields(configured) -> None:
    stream, _, log = configured
    log.info("version %d applied", 3, extra={"organization": "acme", "changed": ["settings.retrieval_count"]})
    log.warning("slow answer", extra={"level": "shadowing attempt", "ms": 812.5})
    first, second = lines(stream)
    assert set(first) == {"time", "level", "logger", "message", "organization", "changed"}
    assert first["level"] == "INFO" and first["logger"] == "bpsn.test.logs" and first["message"] == "version 3 applied"
    assert first["organization"] == "acme" and first["changed"] == ["settings.retrieval_count"]
    assert str(first["time"]).endswith("Z") and "T" in str(first["time"])
    # WARN is the configuration's word; a field named like a base key does not overwrite it
    assert second["level"] == "WARN" and second["extra_level"] == "shadowing attempt" and second["ms"] == 812.5


def test_the_level_filters_and_can_change_at_run_time(configured) -> None:
    stream, _, log = configured
    set_level("warn")
    log.info("hidden")
    log.warning("shown")
    set_level("DEBUG")
    log.debug("shown too")
    assert [x["message"] for x in lines(stream)] == ["shown", "shown too"]


def test_levels_are_the_configurations_words() -> None:
    assert normalize_level(" warning ") == "WARN" and normalize_level("debug") == "DEBUG"
    assert level_number("WARN") == logging.WARNING and level_number("ERROR") == logging.ERROR
    with pytest.raises(ValueError, match="unknown log level 'LOUD'.*ERROR, WARN, INFO, DEBUG"):
        normalize_level("LOUD")
    assert most_verbose(["ERROR", "DEBUG", "INFO"]) == "DEBUG" and most_verbose([]) == "INFO"


def test_log_level_is_a_validated_module_setting() -> None:
    assert IntegrationConfig().settings.log_level == "INFO"
    assert IntegrationConfig().replace(log_level="warning").settings.log_level == "WARN"
    with pytest.raises(ValueError, match="unknown log level"):
        IntegrationConfig().replace(log_level="verbose")


def test_a_credential_logged_by_mistake_never_reaches_the_output(configured) -> None:
    stream, redactor, log = configured
    config = IntegrationConfig().replace(**CLEAR)
    redactor.add_config(config)
    token = config.bearer_token.reveal()
    log.info("token is %s", token)  # the mistake: a revealed credential as an argument
    log.info(f"inline {config.api_key.reveal()} in the message itself")
    log.info("as a field", extra={"headers": {"Authorization": f"Bearer {token}"},
                                  "keys": [config.incidents_app_key.reveal()], "oim": config.oim_app_key.reveal()})
    try:
        raise RuntimeError(f"refused app key {config.incidents_app_key.reveal()!r}")
    except RuntimeError:
        log.exception("with a traceback")
    log.info("an unregistered bearer header: Authorization: Bearer abcdefghijk-not-registered")
    out = stream.getvalue()
    for clear in CLEAR.values():
        assert clear not in out
    assert "abcdefghijk-not-registered" not in out
    records = lines(stream)
    assert records[0]["message"] == f"token is {MASK}"
    assert records[2]["headers"] == {"Authorization": f"Bearer {MASK}"} and records[2]["keys"] == [MASK]
    assert "RuntimeError" in str(records[3]["exception"]) and MASK in str(records[3]["exception"])


def test_a_credential_with_json_special_characters_is_masked_too(configured) -> None:
    stream, redactor, log = configured
    odd = 'pa"ss\\word-9f3e'
    redactor.add(odd)
    log.info("password %s", odd, extra={"again": odd})
    out = stream.getvalue()
    assert odd not in out and json.dumps(odd)[1:-1] not in out
    assert lines(stream)[0]["again"] == MASK


def test_bad_arguments_still_give_one_masked_line(configured) -> None:
    stream, redactor, log = configured
    redactor.add("secret-in-args-7788")
    log.info("two placeholders %s %s", "secret-in-args-7788")  # noqa: PLE1206 - the mistake under test
    out = stream.getvalue()
    assert "secret-in-args-7788" not in out and len(lines(stream)) == 1


def test_short_values_are_not_registered() -> None:
    r = Redactor()
    r.add("abc", "")
    assert r.redact("abc and more") == "abc and more"


def test_the_human_format(configured) -> None:
    stream, redactor, log = configured
    configure_logging("INFO", "human", stream=stream, redactor=redactor)
    redactor.add("human-secret-0001")
    log.warning("rotated human-secret-0001", extra={"organization": "acme"})
    line = stream.getvalue().strip()
    assert " WARN  bpsn.test.logs: rotated " + MASK in line and line.endswith("organization=acme")
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]


def test_configuring_again_replaces_the_handler(configured) -> None:
    stream, redactor, _ = configured
    configure_logging("INFO", "json", stream=stream, redactor=redactor)
    from bpsn.integration.logs import CoreLogHandler
    assert sum(isinstance(h, CoreLogHandler) for h in logging.getLogger().handlers) == 1
