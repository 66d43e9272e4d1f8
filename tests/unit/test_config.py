"""The config loader rejects what is wrong at load time, naming the key, and applies overrides."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from reclake.config import Config, load_config, parse_override
from reclake.config.reference import REGENERATE_REFERENCE, reference_markdown
from reclake.errors import ConfigError
from tests.helpers import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "name", ["local.yaml", "movielens-100k.yaml", "movielens-100k-catalogue.yaml", "cluster.example.yaml"]
)
def test_shipped_configs_load(name):
    config = load_config(REPO / "conf" / name, base_dir=REPO)
    assert isinstance(config, Config)


def test_defaults_without_a_file_are_valid():
    assert load_config().als.implicit_prefs is True


def test_unknown_key_is_named_with_the_nearest_known_one(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"als\.rnak: unknown key \(check the spelling against docs/configuration\.md; did you mean als\.rank\?\)",
    ):
        load_config(write(tmp_path, "als:\n  rnak: 10\n"))
    # A renamed key, and one inside a mapping of sections.
    with pytest.raises(ConfigError, match=r"did you mean recommend\.content_reg_params\?"):
        load_config(None, ["recommend.content_reg_param=100"])
    with pytest.raises(
        ConfigError, match=r"events\.types\.view\.wieght: unknown key .*did you mean events\.types\.view\.weight\?"
    ):
        load_config(None, ["events.types.view.wieght=2"])
    with pytest.raises(
        ConfigError, match=r"als\.zzzz: unknown key \(check the spelling against docs/configuration\.md\)$"
    ):
        load_config(None, ["als.zzzz=1"])


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


def test_spark_settings_keep_their_dots_in_an_override(tmp_path):
    path = write(tmp_path, "spark:\n  conf:\n    spark.ui.enabled: 'false'\n")
    config = load_config(path, ["spark.conf.spark.driver.extraJavaOptions=-Xss4m -XX:+UseParallelGC"])
    assert config.spark.conf == {
        "spark.ui.enabled": "false",
        "spark.driver.extraJavaOptions": "-Xss4m -XX:+UseParallelGC",
    }


def test_spark_settings_take_yaml_booleans_and_numbers_as_spark_spells_them(tmp_path):
    path = write(tmp_path, "spark:\n  conf:\n    spark.ui.enabled: false\n")
    config = load_config(path, ["spark.conf.spark.sql.shuffle.partitions=4", "spark.conf.spark.memory.fraction=0.5"])
    assert config.spark.conf == {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.memory.fraction": "0.5",
    }
    with pytest.raises(ConfigError, match="spark.conf.spark.x"):
        load_config(overrides=["spark.conf.spark.x=[1, 2]"])


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


def test_relative_paths_in_a_file_resolve_against_the_base_dir(tmp_path):
    path = write(
        tmp_path,
        "lakehouse:\n  root: lh\ninput:\n  path: data/events.csv\n"
        "als:\n  checkpoint_dir: file:///tmp/ckpt\nvalidation:\n  reports_dir: ~/reports\n",
    )
    base = tmp_path / "base"
    config = load_config(path, base_dir=base)
    assert config.lakehouse.root == str(base / "lh")
    assert config.input_path == str(base / "data" / "events.csv")
    assert config.checkpoint_dir == "file:///tmp/ckpt"
    assert config.validation.reports_dir == str(Path("~/reports").expanduser())


def test_relative_defaults_resolve_too(tmp_path, monkeypatch):
    assert load_config(base_dir=tmp_path).lakehouse.root == str(tmp_path / "lakehouse")
    monkeypatch.chdir(tmp_path)
    assert Config().lakehouse.root == str(tmp_path.resolve() / "lakehouse")  # no context: the current directory


def _keys_equal_to_defaults(data: dict[str, Any], loaded: BaseModel, default: BaseModel, prefix: str = "") -> list[str]:
    """Keys of ``data`` (a YAML mapping) whose loaded value is the model's default; mappings compare as a whole."""
    same = []
    for key, value in data.items():
        got, expected = getattr(loaded, key), getattr(default, key)
        if isinstance(value, dict) and isinstance(got, BaseModel) and isinstance(expected, BaseModel):
            same += _keys_equal_to_defaults(value, got, expected, f"{prefix}{key}.")
        elif got == expected:
            same.append(prefix + key)
    return same


def _defaults_restated(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    loaded = load_config(path, base_dir=REPO)
    return _keys_equal_to_defaults(data, loaded, Config.model_validate({}, context={"base_dir": REPO}))


def test_local_yaml_only_overrides_defaults(tmp_path):
    restated = _defaults_restated(REPO / "conf" / "local.yaml")
    assert not restated, f"conf/local.yaml sets keys to their default (delete them): {', '.join(restated)}"
    # The check itself sees a restated default, in a nested section and in a mapping too.
    example = write(
        tmp_path,
        "als:\n  rank: 32\n  alpha: 2.0\nlakehouse:\n  root: lakehouse\n"
        "input:\n  columns:\n    user_id: user_id\n"
        "events:\n  types:\n    view: {weight: 1.0}\n    add_to_cart: {weight: 3.0}\n"
        "    purchase: {weight: 5.0, min_value: 1, max_value: 1000}\n"
        "    rating: {weight: 1.0, use_value: true, min_value: 0.5, max_value: 5}\n",
    )
    assert _keys_equal_to_defaults(
        yaml.safe_load(example.read_text()),
        load_config(example, base_dir=REPO),
        Config.model_validate({}, context={"base_dir": REPO}),
    ) == ["als.rank", "lakehouse.root", "input.columns.user_id", "events.types"]


def _models(model: type[BaseModel]) -> set[type[BaseModel]]:
    """``model`` and every model its fields hold, directly, optionally or as mapping values."""
    found = {model}
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found |= _models(annotation)
            stack += typing.get_args(annotation)
    return found


def test_every_field_has_a_description():
    missing = [
        f"{model.__name__}.{name}"
        for model in _models(Config)
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"fields without Field(description=...): {', '.join(sorted(missing))}"


def test_configuration_reference_is_up_to_date():
    reference = REPO / "docs" / "configuration.md"
    current = reference.read_text() if reference.exists() else ""
    assert current == reference_markdown(), f"docs/configuration.md is stale: regenerate it with {REGENERATE_REFERENCE}"


def test_overriding_one_event_type_keeps_the_others():
    types = load_config(REPO / "conf" / "local.yaml", ["events.types.purchase.weight=10"]).events.types
    assert (types["purchase"].weight, types["purchase"].max_value) == (10, 1000)
    assert set(types) == set(Config().events.types)
    # A file's own mapping replaces the default one, and overrides change it in place.
    movielens = load_config(
        REPO / "conf" / "movielens-100k.yaml", ["events.types.rating.use_value=true"], base_dir=REPO
    )
    assert set(movielens.events.types) == {"rating"} and movielens.events.types["rating"].use_value


def test_the_catalogue_is_optional_and_needs_content_columns():
    assert load_config(None).catalogue is None  # no section: nothing reads a catalogue
    loaded = load_config(
        None, ["catalogue.path=items.csv", "catalogue.tag_columns={genres: '|'}", "catalogue.flag_columns=[a, genres]"]
    ).catalogue
    assert loaded is not None and loaded.content_columns == ["genres", "a"] and loaded.id_column == "item_id"
    with pytest.raises(ConfigError, match="catalogue: .*at least one content column"):
        load_config(None, ["catalogue.path=items.csv"])
    with pytest.raises(ConfigError, match="catalogue: .*header line"):
        load_config(None, ["catalogue.path=items.csv", "catalogue.header=false", "catalogue.text_columns=[title]"])
    with pytest.raises(ConfigError, match="catalogue.path: "):
        load_config(None, ["catalogue.text_columns=[title]"])
