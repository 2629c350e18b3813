"""Ruleset loading: refused with a clear message, and the watcher keeps the last good one."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from streams.scoring import DEFAULT_RULESET, RULE_IDS, Ruleset, RulesetError, RulesetWatcher


def default_data() -> dict:
    return yaml.safe_load(DEFAULT_RULESET.read_text())


def test_default_ruleset_has_every_contract_rule():
    rs = Ruleset.load(DEFAULT_RULESET)
    assert rs.version
    for rule_id in RULE_IDS:
        assert rs.rules.active(rule_id) is not None, rule_id
    assert rs.rules.trusted_trader.weight < 0


def refused(data: object) -> str:
    with pytest.raises(RulesetError) as info:
        Ruleset.from_dict(data, source="test.yaml")
    return str(info.value)


def test_bad_yaml_is_refused():
    with pytest.raises(RulesetError, match="not valid YAML"):
        Ruleset.from_yaml("version: 1\nrules: [unclosed", source="bad.yaml")


def test_unknown_rule_id_is_refused():
    data = default_data()
    data["rules"]["SMUGGLING_VIBES"] = {"weight": 10}
    msg = refused(data)
    assert "unknown rule id(s) SMUGGLING_VIBES" in msg and "WATCHLIST_PARTY" in msg


def test_unknown_setting_is_refused():
    data = default_data()
    data["rules"]["LATE_FILING"]["before_depature_h"] = {"SEA": 24}
    msg = refused(data)
    assert "before_depature_h" in msg and "LATE_FILING" in msg


def test_unknown_field_in_criterion_is_refused():
    data = default_data()
    data["criteria"].append({"id": "X", "when": "hs_cod startswith 8401", "lane": "RED"})
    msg = refused(data)
    assert f"criteria[{len(data['criteria']) - 1}] (X)" in msg and "unknown field 'hs_cod'" in msg and "hs_code" in msg


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["lanes"]["thresholds"].update(YELLOW=80, RED=60), "must be below RED"),
        (lambda d: d["lanes"]["thresholds"].update(RED=150), "within 0..100"),
        (lambda d: d["rules"]["TRUSTED_TRADER"].update(weight=10), "zero or negative"),
        (lambda d: d["rules"]["RANDOM_SELECTION"].update(rate=2), "RANDOM_SELECTION.rate"),
        (lambda d: d["rules"]["WATCHLIST_PARTY"].update(min_match_score=1.5), "within 0..1"),
        (lambda d: d["lanes"]["expected_rates"].update(RED=0.9, YELLOW=0.5), "more than 1"),
        (lambda d: d["rules"]["DUAL_USE_GOODS"].update(weight="heavy"), "DUAL_USE_GOODS"),
        (lambda d: d.update(version=""), "version"),
    ],
)
def test_bad_thresholds_are_refused(change, expected):
    data = default_data()
    change(data)
    assert expected in refused(data)


def test_not_a_mapping_is_refused():
    assert "must be a mapping" in refused(["version"])


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(RulesetError, match="cannot read"):
        Ruleset.load(tmp_path / "nope.yaml")


def _write(path: Path, data: dict, bump_mtime: int) -> None:
    path.write_text(yaml.safe_dump(data))
    st = path.stat()
    os.utime(path, (st.st_atime + bump_mtime, st.st_mtime + bump_mtime))


def test_watcher_swaps_valid_and_keeps_running_on_refusal(tmp_path, caplog):
    path = tmp_path / "rules.yaml"
    data = default_data()
    _write(path, data, 0)
    watcher = RulesetWatcher(path, poll_interval_s=0)
    assert watcher.current().version == data["version"]

    data["version"] = "v-next"
    data["rules"]["NEW_TRADER"]["weight"] = 22
    _write(path, data, 1)
    assert watcher.current().version == "v-next"
    assert watcher.current().rules.new_trader.weight == 22

    broken = dict(data, version="v-broken")
    broken["rules"] = dict(data["rules"], NOT_A_RULE={"weight": 1})
    with caplog.at_level(logging.ERROR):
        _write(path, broken, 2)
        assert watcher.current().version == "v-next"  # the running one stays in force
    assert watcher.refusals == 1 and "NOT_A_RULE" in (watcher.last_error or "")
    assert "keeping version v-next" in caplog.text

    path.write_text("{{{ not yaml")
    assert watcher.current().version == "v-next"
    assert watcher.refusals == 2

    data["version"] = "v-fixed"
    _write(path, data, 3)
    assert watcher.current().version == "v-fixed"
    assert watcher.reloads == 2 and watcher.last_error is None


def test_watcher_polls_only_after_interval(tmp_path):
    path = tmp_path / "rules.yaml"
    data = default_data()
    _write(path, data, 0)
    watcher = RulesetWatcher(path, poll_interval_s=3600)
    data["version"] = "later"
    _write(path, data, 1)
    assert watcher.current().version != "later"
    assert watcher.poll() is True
    assert watcher.current().version == "later"
