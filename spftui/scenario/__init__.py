"""Scenario files: the data model, the TOML loader and its located errors.

Headless: the standard library and attrs only (never Textual or Rich).
"""

from spftui.scenario.errors import ScenarioError
from spftui.scenario.files import (
    MAX_SCENARIO_BYTES,
    MAX_SCHEDULE_BYTES,
    bundled_scenarios_dir,
    read_text,
    resolve_scenario,
)
from spftui.scenario.loader import (
    dump_schedule,
    list_bundled,
    load_scenario,
    load_schedule_file,
    parse_entry,
    parse_op,
    parse_scenario,
    parse_schedule,
    parse_schedule_file,
    parse_schedule_meta,
)
from spftui.scenario.model import (
    EXPECT_VALUES,
    KERNEL_PRESETS,
    OP_KINDS,
    ORACLE_KINDS,
    PAGE_SIZE,
    POLICIES,
    PROTS,
    REUSE_RULES,
    ExpectTable,
    Mapping,
    Op,
    Process,
    Scenario,
    ScheduleEntry,
    ScheduleFile,
    Thread,
)

__all__ = [
    "EXPECT_VALUES",
    "KERNEL_PRESETS",
    "MAX_SCENARIO_BYTES",
    "MAX_SCHEDULE_BYTES",
    "OP_KINDS",
    "ORACLE_KINDS",
    "PAGE_SIZE",
    "POLICIES",
    "PROTS",
    "REUSE_RULES",
    "ExpectTable",
    "Mapping",
    "Op",
    "Process",
    "Scenario",
    "ScenarioError",
    "ScheduleEntry",
    "ScheduleFile",
    "Thread",
    "bundled_scenarios_dir",
    "dump_schedule",
    "list_bundled",
    "load_scenario",
    "load_schedule_file",
    "parse_entry",
    "parse_op",
    "parse_scenario",
    "parse_schedule",
    "parse_schedule_file",
    "parse_schedule_meta",
    "read_text",
    "resolve_scenario",
]
