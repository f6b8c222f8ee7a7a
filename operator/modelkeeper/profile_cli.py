"""`modelkeeper profile build`: a data scientist's way to turn training data into a profile.

Reads CSV or Parquet, calls `build_profile`, writes JSON. Every failure is one
line on stderr naming the file or column, and exit code 1; nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from modelkeeper.profile import DEFAULT_BINS, DEFAULT_TOP_K, ProfileError, build_profile

if TYPE_CHECKING:  # imported by `read_table`: every `modelkeeper` command imports this module
    import pandas as pd

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: Path) -> pd.DataFrame:
    """CSV, or Parquet by suffix; an empty or unreadable file is a ProfileError."""
    import pandas as pd

    if not path.is_file():
        raise ProfileError(f"{path}: no such file")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ProfileError(f"{path}: the file is empty") from None
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise ProfileError(f"{path}: cannot read it: {error}") from None


def _column_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_command(args: argparse.Namespace) -> int:
    try:
        frame = read_table(args.data)
        profile = build_profile(
            frame,
            bins=args.bins,
            categorical=args.categorical,
            target=args.target,
            top_k=args.top_k,
        )
    except ProfileError as error:
        print(f"modelkeeper profile build: {error}", file=sys.stderr)
        return 1
    args.out.write_text(profile.model_dump_json(indent=2) + "\n")
    print(f"wrote {args.out}: {len(profile.features)} features from {profile.rows} rows")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("profile", help="build reference profiles for drift monitoring")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="profile training data (CSV or Parquet) into profile.json",
        description="Profile every column of DATA: quantile bins for numeric columns, top "
        "categories for categorical ones. See docs/profile-format.md.",
    )
    build.add_argument("data", type=Path, metavar="DATA", help="CSV file, or .parquet/.pq file")
    build.add_argument("--out", type=Path, required=True, help="where to write the profile JSON")
    build.add_argument(
        "--bins", type=int, default=DEFAULT_BINS, help="quantile bins per numeric column"
    )
    build.add_argument(
        "--categorical",
        type=_column_list,
        default=[],
        metavar="COL[,COL...]",
        help="columns to treat as categorical even if numeric (non-numeric ones always are)",
    )
    build.add_argument("--target", help="the label column: profiled apart, not as a feature")
    build.add_argument(
        "--top-k", type=int, default=DEFAULT_TOP_K, help="categories kept per categorical column"
    )
    build.set_defaults(handler=build_command)
