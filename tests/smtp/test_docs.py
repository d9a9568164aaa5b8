"""The guide's state tables are generated from the transition tables and must not drift from them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rfcmail.smtp import COMMANDS, OUTCOMES, Outcome, State

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "smtp_protocol.rst"


def _names(types: list[str]) -> str:
    return " ".join(sorted(types))


def commands_table() -> list[str]:
    """The COMMANDS table as RST list-table rows: state, then 'events -> state' groups."""
    rows: list[str] = []
    for state in State:
        by_target: dict[State, list[str]] = defaultdict(list)
        for (source, event), target in COMMANDS.items():
            if source is state:
                by_target[target].append(event.__name__)
        if not by_target:
            continue
        groups = "; ".join(f"{_names(events)} → {target.name}" for target, events in
                           sorted(by_target.items(), key=lambda item: item[0].name))
        rows.append(f"   * - {state.name}")
        rows.append(f"     - {groups}")
    return rows


def outcomes_table() -> list[str]:
    rows: list[str] = []
    grouped: dict[tuple[State, str], list[str]] = defaultdict(list)
    for (source, event, outcome), target in OUTCOMES.items():
        if source is target:
            continue
        grouped[(source, f"{event.__name__} {outcome.name}")].append(target.name)
    for state in State:
        entries = sorted(f"{key[1]} → {targets[0]}" for key, targets in grouped.items() if key[0] is state)
        if entries:
            rows.append(f"   * - {state.name}")
            rows.append(f"     - {'; '.join(entries)}")
    return rows


def test_guide_tables_match_code() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert "\n".join(commands_table()) in text, "\n" + "\n".join(commands_table())
    assert "\n".join(outcomes_table()) in text, "\n" + "\n".join(outcomes_table())
    assert Outcome.COMPLETED.name in text
