"""The long results table: one row per measurement, stored as results.csv + results.jsonl + run.json.

A run directory written by `write_results` holds the same table twice (CSV for spreadsheets,
JSON lines for programs) and `run.json` with what produced it (configuration, package versions,
git commit, date), in the spirit of lm-evaluation-harness' results files.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

from xprompt.errors import DataError
from xprompt.files import atomic_write_text
from xprompt.shots import FULL, FULL_SHOTS

RESULT_COLUMNS = [
    "method", "model", "task", "source", "target",
    "shots", "adapt_shots", "seed", "metric", "value",
]
TEXT_COLUMNS = ("method", "model", "task", "source", "target", "metric")
COUNT_COLUMNS = ("shots", "adapt_shots")  # whole numbers >= 0
INT_COLUMNS = COUNT_COLUMNS + ("seed",)
MEASUREMENT_KEY = [c for c in RESULT_COLUMNS if c != "value"]
RESULTS_CSV, RESULTS_JSONL, RUN_JSON = "results.csv", "results.jsonl", "run.json"
VERSIONED_PACKAGES = ("torch", "transformers", "datasets", "pandas")
_MISSING_WORDS = {"", "nan", "na", "null", "none"}


# ----------------------------------------------------------------------------- validation
def validate_results(df: pd.DataFrame, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Check a long results table and return a copy with RESULT_COLUMNS first and clean dtypes.

    Text columns become str, shots/adapt_shots/seed int64, value float64 (NaN allowed: a metric
    can be undefined). Extra columns are kept after the standard ones. Raises DataError naming
    the file (when given), the column and the row at fault.
    """
    where = f"results table {path}" if path is not None else "results table"
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{where} must be a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{where} lacks column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
            f"a results table needs the columns {', '.join(RESULT_COLUMNS)}."
        )
    table = df[RESULT_COLUMNS + [c for c in df.columns if c not in RESULT_COLUMNS]]
    table = table.reset_index(drop=True).copy()
    for column in TEXT_COLUMNS:
        table[column] = _text_column(table[column], column, where)
    for column in INT_COLUMNS:
        table[column] = _int_column(table[column], column, where)
    table["value"] = _value_column(table["value"], where)
    _check_unique(table, where)
    return table


def _fail(where: str, column: str, series: pd.Series, bad: pd.Series, accepted: str) -> None:
    row = int(bad.to_numpy().nonzero()[0][0])
    raise DataError(
        f"column {column!r} of {where} holds {series.iloc[row]!r} in data row {row + 1}; "
        f"{column} must be {accepted}."
    )


def _text_column(series: pd.Series, column: str, where: str) -> pd.Series:
    bad = series.isna() | (series.astype(str).str.strip() == "")
    if bad.any():
        _fail(where, column, series, bad, "a non-empty name")
    return series.astype(str)


def _int_column(series: pd.Series, column: str, where: str) -> pd.Series:
    if column == "shots":  # `full` (the whole training split) is stored as a word, held as FULL_SHOTS
        series = series.mask(series.astype(str).str.strip() == FULL, FULL_SHOTS)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() | (numbers % 1 != 0)
    if column in COUNT_COLUMNS:
        bad |= numbers < 0
    if bad.any():
        accepted = "a whole number >= 0" if column in COUNT_COLUMNS else "a whole number"
        _fail(where, column, series, bad, accepted)
    return numbers.astype("int64")


def _value_column(series: pd.Series, where: str) -> pd.Series:
    words = series.astype(str).str.strip().str.lower()
    missing = series.isna() | words.isin(_MISSING_WORDS)
    numbers = pd.to_numeric(series.where(~missing), errors="coerce")
    bad = numbers.isna() & ~missing
    if bad.any():
        _fail(where, "value", series, bad, "a number (or empty when the metric is undefined)")
    return numbers.astype("float64")


def _check_unique(table: pd.DataFrame, where: str) -> None:
    repeated = table.duplicated(MEASUREMENT_KEY, keep=False)
    if repeated.any():
        first = table.loc[repeated.idxmax(), MEASUREMENT_KEY]
        key = ", ".join(f"{c}={first[c]}" for c in MEASUREMENT_KEY)
        raise DataError(
            f"{where} holds {int(repeated.sum())} rows for one measurement ({key}); "
            "each method/target/shots/adapt_shots/seed/metric must appear once."
        )


# ----------------------------------------------------------------------------- run info
def collect_versions() -> dict[str, str | None]:
    """Versions of python and the packages that change results; None for one not installed."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except Exception:  # best-effort: a broken install must not stop a run from being saved
            versions[name] = None
    try:
        from xprompt import __version__
        versions["xprompt"] = __version__
    except Exception:
        versions["xprompt"] = None
    return versions


def git_commit(directory: str | os.PathLike | None = None) -> str | None:
    """`git rev-parse HEAD` of the xprompt checkout (or `directory`); None outside a repository."""
    cwd = Path(directory) if directory is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def complete_run_info(run_info: dict | None, table: pd.DataFrame) -> dict:
    """run_info plus what is missing of `date`, `versions`, `git_hash` and a `results` summary."""
    info = dict(run_info or {})
    info.setdefault("date", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    if "versions" not in info:
        info["versions"] = collect_versions()
    if "git_hash" not in info:
        info["git_hash"] = git_commit()
    info.setdefault("results", {
        "files": [RESULTS_CSV, RESULTS_JSONL],
        "rows": int(len(table)),
        "metrics": list(pd.unique(table["metric"])),
    })
    return info


# ----------------------------------------------------------------------------- writing
def shots_as_words(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose shots column writes `full` for the whole training split (FULL_SHOTS in memory)."""
    if "shots" not in table:
        return table
    stored = table.astype({"shots": object})
    stored["shots"] = [FULL if k == FULL_SHOTS else k for k in table["shots"]]
    return stored


def shots_from_words(table: pd.DataFrame) -> pd.DataFrame:
    """The inverse of shots_as_words, for tables read back from csv or jsonl."""
    if "shots" not in table or pd.api.types.is_numeric_dtype(table["shots"]):
        return table
    table = table.copy()
    table["shots"] = [FULL_SHOTS if str(k) == FULL else int(k) for k in table["shots"]]
    return table


def _jsonl(table: pd.DataFrame) -> str:
    lines = []
    for record in table.to_dict(orient="records"):
        clean = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
        lines.append(json.dumps(clean, ensure_ascii=False, default=str))
    return "".join(line + "\n" for line in lines)


def write_results(rows: list[dict] | pd.DataFrame, run_dir: str | os.PathLike,
                  run_info: dict | None = None) -> Path:
    """Write results.csv, results.jsonl and run.json into run_dir (each atomically); return run_dir.

    run_info is anything JSON-serialisable, conventionally {"config": {...}}; the keys `date`,
    `versions`, `git_hash` and `results` are filled in when absent.
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows
    else:
        rows = list(rows)
        frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=RESULT_COLUMNS)
    table = validate_results(frame)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stored = shots_as_words(table)
    atomic_write_text(run_dir / RESULTS_CSV, stored.to_csv(index=False))
    atomic_write_text(run_dir / RESULTS_JSONL, _jsonl(stored))
    info = complete_run_info(run_info, table)
    run_json = json.dumps(info, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write_text(run_dir / RUN_JSON, run_json)
    return run_dir


# ----------------------------------------------------------------------------- reading
def _results_file(path: Path) -> Path:
    if path.is_dir():
        for name in (RESULTS_CSV, RESULTS_JSONL):
            if (path / name).is_file():
                return path / name
        raise DataError(f"run directory {path} holds no {RESULTS_CSV} or {RESULTS_JSONL}; "
                        "give a run directory written by xprompt or a results file.")
    if not path.is_file():
        raise DataError(f"results file {path} does not exist; give a run directory or a "
                        ".csv, .tsv, .jsonl or .json results file.")
    return path


def _read_csv(path: Path) -> pd.DataFrame:
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:  # read everything as text so language codes such as "nan" or "NA" stay names
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"results file {path} cannot be read as a table: {error}.") from error
    for column in frame.columns.difference(RESULT_COLUMNS):
        with contextlib.suppress(ValueError, TypeError):
            frame[column] = pd.to_numeric(frame[column])
    return frame


def _read_json(path: Path) -> pd.DataFrame:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        lines = [(1, text)]
    else:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    records = []
    for number, line in lines:
        try:
            loaded = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"results file {path} line {number} is not valid JSON: {error}.") from error
        records.extend(loaded if isinstance(loaded, list) else [loaded])
    return pd.DataFrame(records) if records else pd.DataFrame(columns=RESULT_COLUMNS)


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a run directory (results.csv, else results.jsonl) or a .csv/.tsv/.jsonl/.json file.

    The returned frame is validated; `frame.attrs["path"]` records the file it came from.
    """
    file = _results_file(Path(path))
    suffix = file.suffix.lower()
    if suffix in (".csv", ".tsv"):
        frame = _read_csv(file)
    elif suffix in (".jsonl", ".json"):
        frame = _read_json(file)
    else:
        raise DataError(f"results file {file} has suffix {suffix!r}; "
                        "accepted: .csv, .tsv, .jsonl, .json.")
    table = validate_results(frame, file)
    table.attrs["path"] = str(file)
    return table
