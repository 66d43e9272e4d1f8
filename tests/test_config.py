"""The config loader rejects what is wrong at load time, naming the key, and applies overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from reclake.config import Config, load_config, parse_override
from reclake.errors import ConfigError

from .conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["local.yaml", "movielens-100k.yaml", "cluster.example.yaml"])
def test_shipped_configs_load(name):
    config = load_config(REPO / "conf" / name, base_dir=REPO)
    assert isinstance(config, Config)


def test_defaults_without_a_file_are_valid():
    assert load_config().als.implicit_prefs is True


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"als\.rnak: unknown key"):
        load_config(write(tmp_path, "als:\n  rnak: 10\n"))


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"trainig: unknown key"):
        load_config(write(tmp_path, "trainig:\n  rank: 10\n"))


def test_wrong_type_is_named_with_the_value():
    with pytest.raises(ConfigError, match=r"als\.rank: .*integer.*'abc'"):
        load_config(overrides=["als.rank=abc"])


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("als.rank=0", r"als\.rank: Input should be greater than 0"),
        ("als.reg_param=-0.5", r"als\.reg_param: Input should be greater than or equal to 0"),
        ("input.format=xlsx", r"input\.format: Input should be 'csv', 'json', 'parquet' or 'delta'"),
        ("events.types.view.weight=-1", r"events\.types\.view\.weight"),
        ("events.types.rating.min_value=9", r"min_value 9.0 is greater than max_value 5.0"),
        ("recommend.top_n=0", r"recommend\.top_n"),
    ],
)
def test_impossible_values_are_rejected(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(REPO / "conf" / "local.yaml", [override])


def test_headerless_csv_needs_column_names():
    with pytest.raises(ConfigError, match="column_names"):
        load_config(overrides=["input.header=false"])


def test_default_event_type_must_be_a_configured_type():
    with pytest.raises(ConfigError, match="default_event_type 'click' is not one of events.types"):
        load_config(overrides=["input.columns.event_type=null", "input.default_event_type=click"])


def test_missing_event_type_column_needs_a_default():
    with pytest.raises(ConfigError, match="default_event_type must name"):
        load_config(overrides=["input.columns.event_type=null"])


def test_overrides_keep_yaml_types_and_win_over_the_file(tmp_path):
    path = write(tmp_path, "als:\n  rank: 8\n  implicit_prefs: true\n")
    config = load_config(path, ["als.rank=64", "als.implicit_prefs=false", "run.run_date=2026-01-31"])
    assert (config.als.rank, config.als.implicit_prefs, str(config.run.run_date)) == (64, False, "2026-01-31")


@pytest.mark.parametrize("bad", ["als.rank", "=3", "als.rank=[unclosed"])
def test_malformed_overrides_are_explained(bad):
    with pytest.raises(ConfigError, match="--set"):
        load_config(overrides=[bad])


def test_override_through_a_value_is_refused():
    with pytest.raises(ConfigError, match="als.rank is a value, not a section"):
        load_config(REPO / "conf" / "local.yaml", ["als.rank.x=1"])


def test_parse_override_splits_the_key_path():
    assert parse_override("events.types.view.weight=2.5") == (["events", "types", "view", "weight"], 2.5)


def test_relative_paths_resolve_against_the_base_dir_and_uris_are_kept(tmp_path):
    config = load_config(overrides=["lakehouse.root=lh", "input.path=s3a://bucket/events"], base_dir=tmp_path)
    assert config.lakehouse.root == str(tmp_path / "lh")
    assert config.input_path == "s3a://bucket/events"
    assert config.checkpoint_dir == str(tmp_path / "lh" / "_checkpoints")


def test_input_path_defaults_to_the_landing_zone(tmp_path):
    config = load_config(overrides=["lakehouse.root=lh"], base_dir=tmp_path)
    assert config.input_path == str(tmp_path / "lh" / "landing" / "events")


def test_unreadable_or_non_mapping_files_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
