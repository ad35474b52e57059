#!/usr/bin/env python3
"""Docs that cannot drift: the README's tour runs as written, and the docs name what exists.

    tests/docs.py HELPDESK_BINARY      all checks, the tour against a fresh `helpdesk serve`
    tests/docs.py --self-test          the checks' own tests (each must catch what it is for)

Checks:
1. README: the two commands are the ones the test command and `.ci/run` run, and the README
   stays short (the reference is in docs/).
2. docs/architecture.md: every repository path it names exists.
3. docs/api.md: every route of the OpenAPI description (`GET /openapi.json` of the server the
   tour starts) is named there with its method.
4. The tour: between `<!-- tour -->` and `<!-- /tour -->`, the `console` block's
   `helpdesk serve` is started in a fresh folder, then every `sh` block runs in order in bash,
   with the variables the blocks set carried from one block to the next. A `text` block right
   after an `sh` block is its expected output, line by line, `…` standing for any text. A block
   after `<!-- eventually -->` is run again until its output matches (up to 60 s), as for work
   the server does in the background. The one liberty taken: the server listens on a free port
   instead of 3000, and the blocks are given that address.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
README_MAX_LINES = 200
SERVE_COMMAND = "cargo run --release -p helpdesk -- serve"
TEST_COMMAND = "bash tests/run"
EVENTUALLY_SECONDS = 60


# ---------------------------------------------------------------------------------------------
# 1. The README's commands.
def readme_commands(readme: str) -> list[str]:
    """The commands of the README's "Two commands" block (comments and blank lines left out)."""
    section = readme.split("## Two commands", 1)
    if len(section) < 2:
        return []
    block = re.search(r"```sh\n(.*?)```", section[1], re.S)
    if not block:
        return []
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def check_readme(readme: str, ci_run: str) -> list[str]:
    problems = []
    lines = readme.count("\n")
    if lines > README_MAX_LINES:
        problems.append(f"README.md has {lines} lines; keep it under {README_MAX_LINES}, reference goes in docs/")
    commands = readme_commands(readme)
    if commands != [SERVE_COMMAND, TEST_COMMAND]:
        problems.append(f"README's two commands are {commands}, not [{SERVE_COMMAND!r}, {TEST_COMMAND!r}]")
    ci_lines = [
        line.strip()
        for line in ci_run.splitlines()
        if line.strip() and not line.strip().startswith("#")
        and not line.startswith(("set ", "cd "))
    ]
    if ci_lines != [TEST_COMMAND]:
        problems.append(f".ci/run runs {ci_lines}, not exactly [{TEST_COMMAND!r}]")
    return problems


# ---------------------------------------------------------------------------------------------
# 2. Paths named in docs/architecture.md.
TOP_LEVEL = ("shared/", "src/", "functions/", "tests/", "benches/", "infra/", "docs/", ".ci/")
TOP_FILES = ("Cargo.toml", "samconfig.toml", "Makefile", "README.md")


def named_paths(markdown: str) -> list[str]:
    """Repository paths in backticks: those that start at a top-level folder or file."""
    paths = []
    for token in re.findall(r"`([^`\s]+)`", markdown):
        token = token.rstrip(".,:;")
        if any(c in token for c in "*<…"):
            continue  # a pattern, not a path
        if token.startswith(TOP_LEVEL) or token in TOP_FILES:
            paths.extend(expand_braces(token))
    return paths


def expand_braces(token: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", token)
    if not match:
        return [token]
    head, tail = token[: match.start()], token[match.end():]
    return [p for part in match.group(1).split(",") for p in expand_braces(head + part + tail)]


def check_paths(markdown: str, root: pathlib.Path) -> list[str]:
    return [
        f"docs/architecture.md names `{path}`, which does not exist"
        for path in named_paths(markdown)
        if not (root / path.split("::")[0]).exists()
    ]


# ---------------------------------------------------------------------------------------------
# 3. Every route of the OpenAPI description in docs/api.md.
def check_routes(openapi: dict, api_doc: str) -> list[str]:
    problems = []
    for path, operations in openapi.get("paths", {}).items():
        # A line names a route when the path stands there whole (not as a prefix of another).
        pattern = re.compile(re.escape(path) + r"(?![\w/{])")
        lines = [line for line in api_doc.splitlines() if pattern.search(line)]
        for method in operations:
            if method.startswith("x-") or method == "parameters":
                continue
            if not any(re.search(rf"\b{method.upper()}\b", line) for line in lines):
                problems.append(f"docs/api.md does not name {method.upper()} {path}")
    return problems


# ---------------------------------------------------------------------------------------------
# 4. The tour.
class Block:
    def __init__(self, lang: str, code: str, eventually: bool):
        self.lang, self.code, self.eventually = lang, code, eventually
        self.expected: str | None = None


def tour_blocks(readme: str) -> list[Block]:
    start, end = readme.find("<!-- tour -->"), readme.find("<!-- /tour -->")
    if start < 0 or end < start:
        raise SystemExit("README.md has no <!-- tour --> … <!-- /tour --> region")
    tour = readme[start:end]
    blocks: list[Block] = []
    position = 0
    for match in re.finditer(r"```(\w+)\n(.*?)```", tour, re.S):
        between = tour[position:match.start()]
        position = match.end()
        lang, code = match.group(1), match.group(2)
        if lang == "text":
            if not blocks or blocks[-1].lang != "sh" or between.strip():
                raise SystemExit("a text block (expected output) must follow an sh block directly")
            blocks[-1].expected = code
            continue
        blocks.append(Block(lang, code, "<!-- eventually -->" in between))
    return blocks


def matches(expected: str, actual: str) -> bool:
    want = [line.rstrip() for line in expected.strip("\n").splitlines()]
    got = [line.rstrip() for line in actual.strip("\n").splitlines()]
    if len(want) != len(got):
        return False
    for w, g in zip(want, got):
        pattern = "^" + ".*".join(re.escape(part) for part in w.split("…")) + "$"
        if not re.match(pattern, g):
            return False
    return True


def assigned_names(blocks: list[Block]) -> list[str]:
    names = []
    for block in blocks:
        for name in re.findall(r"(?m)(?:^|;\s*)([A-Za-z_][A-Za-z0-9_]*)=", block.code):
            if name not in names:
                names.append(name)
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_tour(binary: pathlib.Path, readme: str) -> tuple[list[str], dict | None]:
    blocks = tour_blocks(readme)
    setup = [b for b in blocks if b.lang == "console"]
    serve = [line.strip() for b in setup for line in b.code.splitlines() if line.strip().startswith("helpdesk serve")]
    if serve != ["helpdesk serve"]:
        return [f"the tour's console block must start the server with `helpdesk serve`, found {serve}"], None
    port = free_port()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="helpdesk-tour-"))
    env = dict(os.environ)
    env["PATH"] = f"{binary.parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("HELPDESK_API_KEYS", "HELPDESK_DATA_DIR", "HELPDESK_PUBLIC_URL"):
        env.pop(name, None)
    log = open(folder / "serve.log", "w")
    server = subprocess.Popen(
        [str(binary), "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    problems: list[str] = []
    openapi = None
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.2)
        else:
            return [f"helpdesk serve did not answer within 20 s: {(folder / 'serve.log').read_text()}"], None
        openapi = json.load(urllib.request.urlopen(f"{base}/openapi.json", timeout=10))
        names = assigned_names(blocks)
        state = folder / ".tour-state"
        state.write_text("")
        for number, block in enumerate(b for b in blocks if b.lang == "sh"):
            problem = run_block(number + 1, block, folder, env, state, names, port)
            if problem:
                problems.append(problem)
                problems.append("server log:\n" + (folder / "serve.log").read_text()[-4000:])
                break
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if not problems:
            shutil.rmtree(folder, ignore_errors=True)
    return problems, openapi


def run_block(number, block, folder, env, state, names, port) -> str | None:
    code = block.code.replace("127.0.0.1:3000", f"127.0.0.1:{port}")
    script = (
        "set -euo pipefail\n"
        f"source {state}\n"
        f"{code}\n"
        f"declare -p {' '.join(names)} 2>/dev/null > {state}.next || true\n"
    )
    deadline = time.monotonic() + (EVENTUALLY_SECONDS if block.eventually else 0)
    while True:
        result = subprocess.run(
            ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )
        ok = result.returncode == 0 and (block.expected is None or matches(block.expected, result.stdout))
        if ok or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not ok:
        return (
            f"tour block {number} failed (exit {result.returncode}):\n{block.code}\n"
            f"expected:\n{block.expected}\ngot:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    pathlib.Path(f"{state}.next").replace(state)
    return None


# ---------------------------------------------------------------------------------------------
def self_test() -> None:
    assert matches("a …\nb", "a 123\nb\n")
    assert not matches("a …\nb", "a 1\nc")
    assert not matches("a", "a\nb")
    assert expand_braces("shared/src/store/{dynamodb,sqlite}") == ["shared/src/store/dynamodb", "shared/src/store/sqlite"]
    assert check_paths("`shared/src/no_such.rs` and `shared/src/lib.rs`", ROOT) == [
        "docs/architecture.md names `shared/src/no_such.rs`, which does not exist"
    ]
    openapi = {"paths": {"/customers": {"get": {}, "post": {}}, "/customers/{email}": {"get": {}}}}
    assert check_routes(openapi, "| `GET /customers/{email}` |\n| `POST /customers` |") == [
        "docs/api.md does not name GET /customers"
    ]
    two = "## Two commands\n```sh\n# x\ncargo run --release -p helpdesk -- serve\n\nbash tests/run\n```\n"
    assert check_readme(two, "#!/bin/bash\nset -e\ncd x\nbash tests/run\n") == []
    assert check_readme(two, "bash tests/run --quick\n") != []
    blocks = tour_blocks("<!-- tour -->\n```sh\nx=1\n```\n```text\n1\n```\n<!-- eventually -->\n```sh\necho $x\n```\n<!-- /tour -->")
    assert [b.eventually for b in blocks] == [False, True] and blocks[0].expected == "1\n"
    assert assigned_names(blocks) == ["x"]
    print("docs.py self-test: ok")


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = pathlib.Path(sys.argv[1]).resolve()
    readme = (ROOT / "README.md").read_text()
    problems = check_readme(readme, (ROOT / ".ci" / "run").read_text())
    problems += check_paths((ROOT / "docs" / "architecture.md").read_text(), ROOT)
    tour_problems, openapi = run_tour(binary, readme)
    problems += tour_problems
    if openapi is not None:
        problems += check_routes(openapi, (ROOT / "docs" / "api.md").read_text())
    for problem in problems:
        print(f"docs: {problem}", file=sys.stderr)
    if not problems:
        print("docs: README commands, architecture paths, API routes and the tour: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
