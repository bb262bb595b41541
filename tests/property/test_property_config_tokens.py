"""Property tests for config files and link tokens: valid result or the documented error."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.engagement.tokens import PURPOSES, InvalidToken, Keyring, LinkPayload, issue, parse_keyring, verify
from chalicelib.profiles.config import FILE_MODELS, ConfigError, parse_config_file
from chalicelib.scenarios.loader import ScenarioConfigError, parse_scenario
from chalicelib.scenarios.schedule import parse_cron, parse_duration

settings.register_profile(
    "one2one-config", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("one2one-config")

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
scenario_keys = st.sampled_from(["id", "name", "trigger", "steps", "channel", "enabled", "exit", "audience", "wait"])
scenario_like = st.dictionaries(scenario_keys, json_values, max_size=6)


@given(name=st.sampled_from(sorted(FILE_MODELS)), data=json_values)
def test_profile_config_files_parse_or_raise_config_error(name: str, data: Any) -> None:
    # GIVEN any JSON as a marketer's config file WHEN it is loaded THEN a model or a ConfigError naming the file
    try:
        parse_config_file(name, data)
    except ConfigError as exc:
        assert exc.file == f"{name}.json" and exc.problems


@given(data=json_values | scenario_like)
def test_scenario_files_parse_or_raise_scenario_config_error(data: Any) -> None:
    try:
        parse_scenario(data, "x.json")
    except ScenarioConfigError as exc:
        assert exc.source == "x.json" and exc.detail


@given(text=st.text(max_size=20) | st.from_regex(r"\d{1,6}[mhdw](\d{1,3}[mhdw])?", fullmatch=True))
def test_durations_parse_or_raise_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert parse_duration(text).total_seconds() >= 0


@given(expr=st.text(max_size=30) | st.from_regex(r"([0-9*/,\-]{1,6} ){4}[0-9*/,\-]{1,6}", fullmatch=True))
def test_cron_expressions_parse_or_raise_value_error(expr: str) -> None:
    try:
        sets = parse_cron(expr)
    except ValueError:
        return
    assert len(sets) == 5


# --- link tokens ----------------------------------------------------------------------------------------------------

RING = Keyring({"k2": b"a" * 32, "k1": b"b" * 32}, current="k2")
payloads = st.builds(
    LinkPayload,
    message_id=st.text(min_size=1, max_size=30),
    profile_id=st.text(min_size=1, max_size=30),
    url=st.just("https://shop.example/p/1") | st.text(min_size=1, max_size=40),
    topic=st.none() | st.text(max_size=10),
    expires_at=st.none(),
    channel=st.none() | st.sampled_from(["email", "sms"]),
)


@given(purpose=st.sampled_from(PURPOSES), payload=payloads)
def test_issued_tokens_verify_to_their_payload(purpose: str, payload: LinkPayload) -> None:
    token = issue(RING, purpose, payload)  # type: ignore[arg-type]
    verified = verify(RING, token, purpose)  # type: ignore[arg-type]
    assert (verified.message_id, verified.profile_id) == (payload.message_id, payload.profile_id)


@given(purpose=st.sampled_from(PURPOSES), payload=payloads, data=st.data())
def test_any_changed_character_fails_verification(purpose: str, payload: LinkPayload, data: st.DataObject) -> None:
    token = issue(RING, purpose, payload)  # type: ignore[arg-type]
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from("AQgw_-.x0").filter(lambda c: c != token[position]))
    forged = token[:position] + replacement + token[position + 1 :]
    try:
        verify(RING, forged, purpose)  # type: ignore[arg-type]
    except InvalidToken:
        return
    raise AssertionError(f"forged token verified: {forged}")


@given(token=st.text(max_size=120) | st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()))
def test_verify_of_arbitrary_text_raises_only_invalid_token(token: str) -> None:
    for purpose in PURPOSES:
        with contextlib.suppress(InvalidToken):
            verify(RING, token, purpose)  # type: ignore[arg-type]


@given(config=st.text(max_size=80))
def test_keyring_config_parses_or_raises_value_error(config: str) -> None:
    try:
        ring = parse_keyring(config)
    except ValueError:
        return
    assert ring.current in ring.keys
