"""Run the shell examples of a Markdown page and compare what they print (README, docs/).

A page's examples are the lines starting with ``$ `` in its code blocks
(indented or fenced); a command ending in ``\\`` continues on the next line;
the lines after a command, up to the next ``$ `` line or the end of the
block, are what it prints (stdout and stderr, as a terminal shows them). A
code block with no ``$ `` line right after a paragraph ending in
```name.ext`:`` is a file the examples use: it is written first.

What the runner does, so that the page and the code cannot drift:

* Every command runs, in order, in one bash session (variables carry over),
  in a fresh directory, with the virtualenv's ``qp-ledger`` first on PATH
  and no ``QP_LEDGER_*`` variables. ``echo $?`` sees the previous command's
  exit status.
* ``qp-ledger serve …`` (with or without ``&``) is run by the runner: on a
  fresh directory of its own (the session moves there, so tokens made next
  go to that server's database), on a free port that replaces ``8000`` in
  every later command and output, and the next command waits until
  ``/health`` answers. What the page shows under it is the start of the
  server's log.
* Before comparing, times, uuids, tokens, token ids, process ids and
  ``sha256:`` digests (they cover recorded times) are replaced by placeholders,
  in the page's text and in the output alike. In the page, a line that is
  just ``...`` or ``…`` stands for any number of lines, and ``…`` inside a
  line for any text.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
MARKER = "__TRANSCRIPT_DONE__"
ELLIPSIS_LINES = {"...", "…"}
BLOCK_INDENT = "    "

NORMALISE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<TIME>"),
    (re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\]"), "[<TIME>]"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<UUID>"),
    (re.compile(r"qpl_[A-Za-z0-9_-]+"), "<TOKEN>"),
    # Digests over events include their recorded times: they differ run to run.
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:<DIGEST>"),
    (re.compile(r"(?<=#)[0-9a-f]{12}\b"), "<TOKEN-ID>"),
    (re.compile(r"(?<=created token )[0-9a-f]{12}\b"), "<TOKEN-ID>"),
    (re.compile(r"(?m)(?<=\[)\d+(?=\])|(?<=\()\d{2,7}(?=\)$)|(?<=process )\d+"), "<PID>"),
]


def normalise(text: str, extra: list[tuple[re.Pattern[str], str]] | None = None) -> str:
    for pattern, placeholder in [*(extra or []), *NORMALISE]:
        text = pattern.sub(placeholder, text)
    return text


@dataclass
class Step:
    """One command of the page and what the page says it prints."""

    line: int  # 1-based line of the page, for the failure message
    command: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Page:
    steps: list[Step]
    files: dict[str, str]


def _blocks(text: str) -> list[tuple[int, list[str], str]]:
    """(first line number, lines, the paragraph just before) of every code block."""
    lines = text.splitlines()
    blocks: list[tuple[int, list[str], str]] = []
    paragraph: list[str] = []
    previous_blank = True
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            blocks.append((i + 2, lines[i + 1 : j], " ".join(paragraph)))
            paragraph, previous_blank, i = [], True, j + 1
            continue
        if line.startswith(BLOCK_INDENT) and previous_blank and line.strip():
            j = i
            while j < len(lines) and (lines[j].startswith(BLOCK_INDENT) or not lines[j].strip()):
                j += 1
            body = [entry[len(BLOCK_INDENT) :] for entry in lines[i:j]]
            while body and not body[-1].strip():
                body.pop()
            blocks.append((i + 1, body, " ".join(paragraph)))
            paragraph, previous_blank, i = [], True, j
            continue
        if line.strip():
            if previous_blank:
                paragraph = []
            paragraph.append(line.strip())
        previous_blank = not line.strip()
        i += 1
    return blocks


def parse(text: str) -> Page:
    steps: list[Step] = []
    files: dict[str, str] = {}
    for first, body, before in _blocks(text):
        if not any(line.startswith("$ ") for line in body):
            named = re.search(r"`([\w.-]+\.\w+)`:\s*$", before)
            if named:
                files[named.group(1)] = "\n".join(body) + "\n"
            continue
        k = 0
        while k < len(body):
            line = body[k]
            if not line.startswith("$ "):
                k += 1
                continue
            step = Step(first + k, line[2:])
            while step.command.endswith("\\") and k + 1 < len(body):
                k += 1
                step.command = step.command[:-1].rstrip() + " " + body[k].strip()
            k += 1
            while k < len(body) and not body[k].startswith("$ "):
                step.expected.append(body[k])
                k += 1
            while step.expected and not step.expected[-1].strip():
                step.expected.pop()
            steps.append(step)
    return Page(steps, files)


def pattern_for(expected: list[str]) -> re.Pattern[str]:
    parts = []
    for line in expected:
        stripped = line.strip()
        if stripped in ELLIPSIS_LINES:
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        pieces = [re.escape(piece) for piece in re.split(r"…|\.\.\.(?=[,}\]\"]|$)", line.rstrip())]
        parts.append(r"[^\n]*?".join(pieces) + r"[ \t]*\n")
    return re.compile("".join(parts))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mismatch(AssertionError):
    pass


class Session:
    """One bash session in a fresh directory, and the servers it started."""

    def __init__(self, workdir: Path, page_name: str) -> None:
        self.workdir = workdir
        self.page_name = page_name
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
        self.env.update(
            PATH=f"{BIN}{os.pathsep}{self.env.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
            LC_ALL="C.UTF-8",
            TERM="dumb",
        )
        self.env.pop("VIRTUAL_ENV", None)
        self.shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=workdir,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.servers: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.port: int | None = None
        self._send("__rc=0\n")

    def _send(self, text: str) -> None:
        assert self.shell.stdin is not None
        self.shell.stdin.write(text)
        self.shell.stdin.flush()

    def run(self, command: str, timeout: float = 600, *, quiet: bool = False) -> tuple[str, int]:
        """Run one command in the session: (stdout and stderr, exit status).

        ``quiet``: a command of the runner's own, which leaves ``$?`` as it was.
        """
        keep = "" if quiet else "__rc=$?; "
        self._send(f"(exit $__rc); {command}\n{keep}printf '\\n{MARKER}%s\\n' \"$__rc\"\n")
        assert self.shell.stdout is not None
        fd = self.shell.stdout.fileno()
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        received = b""
        end = f"\n{MARKER}".encode()
        deadline = time.monotonic() + timeout
        try:
            while end not in received or not received.endswith(b"\n"):
                if time.monotonic() > deadline:
                    raise Mismatch(f"{command!r} did not finish within {timeout}s: {received!r}")
                if selector.select(timeout=1):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        raise Mismatch(f"the shell ended during {command!r}: {received!r}")
                    received += chunk
        finally:
            selector.close()
        body, _, status = received.decode("utf-8", errors="replace").rpartition(f"\n{MARKER}")
        # The marker's own leading newline ends an unterminated last line.
        return body, int(status)

    def serve(self, command: str) -> str:
        """Start ``qp-ledger serve …`` on a fresh directory and a free port; its log so far."""
        args = command.rstrip("& ").split()[1:]
        if "--port" in args:
            del args[args.index("--port") : args.index("--port") + 2]
        self.port = free_port()
        directory = self.workdir / f"server-{len(self.servers) + 1}"
        directory.mkdir()
        log = directory / "server.log"
        process = subprocess.Popen(
            [str(BIN / "qp-ledger"), *args, "--port", str(self.port)],
            cwd=directory,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.servers.append((process, directory))
        self.run(f"cd {directory}", quiet=True)
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/health", timeout=5
                ) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise Mismatch(f"{command!r}: the server did not come up:\n{log.read_text()}")
            time.sleep(0.25)
        return log.read_text(errors="replace")

    def close(self) -> None:
        for process, _ in self.servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        if self.shell.poll() is None:
            assert self.shell.stdin is not None
            self.shell.stdin.close()
            try:
                self.shell.wait(30)
            except subprocess.TimeoutExpired:
                self.shell.kill()
                self.shell.wait()


def check_page(
    path: Path,
    workdir: Path,
    *,
    extra: list[tuple[re.Pattern[str], str]] | None = None,
) -> list[str]:
    """Run every example of the page at ``path``; return the failures (empty: it matches)."""
    page = parse(path.read_text(encoding="utf-8"))
    assert page.steps, f"{path} has no shell examples"
    for name, content in page.files.items():
        (workdir / name).write_text(content, encoding="utf-8")
    failures: list[str] = []
    session = Session(workdir, path.name)
    try:
        for step in page.steps:
            command = step.command
            expected = step.expected
            if session.port is not None:
                command = command.replace("127.0.0.1:8000", f"127.0.0.1:{session.port}")
                expected = [
                    e.replace("127.0.0.1:8000", f"127.0.0.1:{session.port}") for e in expected
                ]
            words = command.split()
            if words[:2] == ["qp-ledger", "serve"]:
                output = session.serve(command)
                if session.port is not None:
                    expected = [e.replace("8000", str(session.port)) for e in expected]
                pattern = pattern_for([*(normalise(e, extra) for e in expected), "..."])
                prefix_ok = pattern.match(normalise(output, extra) + "\n") is not None
                if not prefix_ok:
                    failures.append(
                        f"{path.name}:{step.line}: $ {step.command}\n"
                        f"--- the page shows (start of the server log)\n"
                        + "\n".join(expected)
                        + "\n--- the server logged\n"
                        + output
                    )
                continue
            if any(name in words for name in page.files):
                # The files the page shows are beside the command that reads one of them.
                here = Path(session.run("pwd", quiet=True)[0].strip())
                for name in page.files:
                    if not (here / name).exists():
                        shutil.copy(workdir / name, here / name)
            output, _ = session.run(command)
            output = output.replace("\r\n", "\n")  # HTTP headers (curl -i) end in CRLF
            actual = normalise(output, extra)
            wanted = [normalise(line, extra) for line in expected]
            if actual and not actual.endswith("\n"):
                actual += "\n"
            if pattern_for(wanted).fullmatch(actual) is None:
                failures.append(
                    f"{path.name}:{step.line}: $ {step.command}\n--- the page shows\n"
                    + "\n".join(expected)
                    + "\n--- it printed\n"
                    + output
                )
    finally:
        session.close()
    return failures
