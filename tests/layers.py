#!/usr/bin/env python3
"""The core's layers point one way: this check fails on an import that points up.

    domain  <-  ports  <-  services  <-  adapters and edges (store, objects, mail, publish,
                                         http, lambda, telemetry)  <-  app (the wiring)

Every `crate::…` path in a file of shared/src (in `use` items and inline) is read, and a file
may name only modules of its own layer or below. The lower layers may not use the crates of
the outside world (AWS SDKs, SQLite, axum, the Lambda runtime) either: those belong to adapters.
Non-test source files stay at most MAX_LINES lines.

Usage: tests/layers.py [SHARED_SRC] [--self-test]
"""

import pathlib
import re
import sys
import tempfile

LAYERS = {
    "domain": 1,
    "ports": 2,
    "services": 3,
    "store": 4,
    "objects": 4,
    "mail": 4,
    "publish": 4,
    "http": 4,
    "lambda": 4,
    "telemetry": 4,
    "app": 5,
}
NAMES = {1: "domain", 2: "ports", 3: "services", 4: "adapters and edges", 5: "the wiring"}
# Crates that do I/O with a particular outside system: adapters' business only.
ADAPTER_CRATES = re.compile(
    r"\b(aws_sdk_\w+|aws_config|aws_lambda_events|rusqlite|axum|lambda_http|lambda_runtime)::"
)
CRATE_PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
MAX_LINES = 600


def layer_of(path: pathlib.Path, root: pathlib.Path):
    parts = path.relative_to(root).parts
    top = parts[0].removesuffix(".rs")
    return LAYERS.get(top)


def strip_comments(text: str) -> str:
    """Drops line comments (docs name higher layers freely) and the inline test module."""
    text = text.split("#[cfg(test)]", 1)[0]
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def check(root: pathlib.Path) -> list:
    problems = []
    for path in sorted(root.rglob("*.rs")):
        layer = layer_of(path, root)
        raw = path.read_text()
        code_lines = raw.split("#[cfg(test)]", 1)[0].count("\n")
        if code_lines > MAX_LINES:
            problems.append(f"{path}: {code_lines} lines of code (at most {MAX_LINES})")
        if layer is None:
            continue  # lib.rs: the crate root only declares and re-exports
        code = strip_comments(raw)
        for number, line in enumerate(code.splitlines(), 1):
            for match in CRATE_PATH.finditer(line):
                target = LAYERS.get(match.group(1))
                if target is not None and target > layer:
                    problems.append(
                        f"{path}:{number}: {NAMES[layer]} imports crate::{match.group(1)} "
                        f"({NAMES[target]}), a layer above it"
                    )
            if layer < 4 and (found := ADAPTER_CRATES.search(line)):
                problems.append(
                    f"{path}:{number}: {NAMES[layer]} uses {found.group(1)}, an adapter's crate"
                )
    return problems


def self_test() -> None:
    """The check must fail on an upward import, an adapter crate in the core, and a long file."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "domain").mkdir()
        (root / "services").mkdir()
        (root / "domain" / "ok.rs").write_text("use crate::domain::x;\n")
        (root / "services" / "ok.rs").write_text("use crate::ports::store::Store;\n")
        assert check(root) == [], check(root)
        (root / "domain" / "up.rs").write_text("use crate::services::Helpdesk;\n")
        (root / "services" / "sdk.rs").write_text("fn f() { aws_sdk_s3::Client::new(); }\n")
        (root / "services" / "long.rs").write_text("fn f() {}\n" * (MAX_LINES + 1))
        (root / "domain" / "doc.rs").write_text("//! see crate::http\n")
        found = check(root)
        assert any("up.rs" in p and "crate::services" in p for p in found), found
        assert any("sdk.rs" in p and "aws_sdk_s3" in p for p in found), found
        assert any("long.rs" in p for p in found), found
        assert not any("doc.rs" in p for p in found), found


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--self-test"]
    self_test()
    root = pathlib.Path(args[0] if args else "shared/src")
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layering problem(s) in {root}", file=sys.stderr)
        return 1
    print(f"layers: every import in {root} points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
