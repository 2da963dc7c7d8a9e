"""``core.settings.resolve``: command line over ini over default, each through its parser, and
contradictions refused with the flag's name, before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flaggems_import.core.settings import OPTIONS, Settings, parse_size, resolve
from pytest_flaggems_import.errors import UsageError


def test_defaults_without_any_option():
    settings = resolve({}, {})
    assert settings == Settings()
    assert settings.isolate == "process" and settings.sandbox == "none" and settings.max_memory is None
    assert settings.rules.thresholds == {1: 1.3, 2: 1.25}


def test_the_command_line_wins_over_the_ini_file_and_the_ini_over_the_default():
    settings = resolve({"timeout": "20"}, {"timeout": "40", "aggregate": "geomean"})
    assert settings.timeout == 20.0
    assert settings.aggregate == "geomean"
    assert settings.device == "auto"


def test_values_go_through_their_option_parser():
    settings = resolve({"ops": ["a", "b"], "threshold": "1.5,1.1", "bench": True, "max_memory": "16G"}, {})
    assert settings.ops == (Path("a"), Path("b"))
    assert settings.threshold == (1.5, 1.1)
    assert settings.rules.thresholds == {1: 1.5, 2: 1.1}
    assert settings.bench is True
    assert settings.max_memory == 16 * 2**30


def test_an_ini_flag_is_read_as_a_boolean():
    assert resolve({}, {"bench": "true"}).bench is True
    assert resolve({}, {"bench": "false"}).bench is False


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"device": "tpu"}, "--flaggems-device: expected one of auto, cuda, cpu, got 'tpu'"),
        ({"timeout": "-1"}, "--flaggems-timeout: expected a number > 0"),
        ({"threshold": "1.5"}, "a single --flaggems-threshold needs --flaggems-batch 1 or 2"),
        ({"threshold": "1,2,3"}, "--flaggems-threshold: expected T or T1,T2"),
        ({"dry_run": True}, "--flaggems-dry-run and --flaggems-force need --flaggems-import"),
        ({"sandbox": "bwrap", "isolate": "none"}, "--flaggems-sandbox needs --flaggems-isolate=process"),
        ({"max_memory": "lots"}, "--flaggems-max-memory: expected a size such as 16G"),
        ({"max_memory": "100M"}, "--flaggems-max-memory: expected at least 1G"),
    ],
)
def test_bad_values_and_contradictions_are_usage_errors_naming_the_flag(cli, message):
    with pytest.raises(UsageError) as excinfo:
        resolve(cli, {})
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "size"), [("1G", 2**30), ("1.5g", 3 * 2**29), ("2048M", 2**31), ("4GiB", 4 * 2**30), ("1T", 2**40)]
)
def test_sizes_read_as_people_write_them(text, size):
    assert parse_size(text) == size


def test_every_option_has_a_settings_field_and_a_help_naming_its_default():
    fields = set(Settings.__dataclass_fields__)
    for option in OPTIONS:
        assert option.name in fields or option.name == "import"
        assert "Default" in option.help, option.flag
