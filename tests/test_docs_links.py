"""Every relative link in the repository's markdown resolves in a fresh clone.

Only files git tracks exist in a clone, so links are checked against `git ls-files`, not
against whatever happens to lie in the working copy.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
# [text](target) and ![alt](target), target up to a space (an optional "title" follows) or ")".
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # https:, mailto:, s3:, ...


def tracked_files() -> set[PurePosixPath]:
    """The files a clone of this repository holds."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return {PurePosixPath(name) for name in listing.decode().split("\0") if name}


def tracked_folders(files: set[PurePosixPath]) -> set[PurePosixPath]:
    """Every folder that holds at least one tracked file."""
    return {parent for path in files for parent in path.parents}


def relative_links(markdown: str) -> list[str]:
    """The link targets of a markdown text that point into the repository (no code spans)."""
    prose = INLINE_CODE.sub("", FENCED_BLOCK.sub("", markdown))
    targets = INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)
    return [t for t in targets if not EXTERNAL.match(t) and not t.startswith("#")]


def resolve(source: PurePosixPath, target: str) -> PurePosixPath | None:
    """The repository path a link from `source` points at, or None when it leaves the repo."""
    parts: list[str] = []
    for part in (source.parent / target.split("#", 1)[0]).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def test_every_relative_markdown_link_resolves_to_a_tracked_file_or_folder():
    files = tracked_files()
    existing = files | tracked_folders(files)
    broken = [
        f"{source}: ({target})"
        for source in sorted(p for p in files if p.suffix == ".md")
        for target in relative_links((ROOT / source).read_text(encoding="utf-8"))
        if resolve(source, target) not in existing
    ]
    assert not broken, "links that do not resolve in a clone:\n" + "\n".join(broken)


def test_no_tracked_file_refers_to_the_shared_folder_outside_the_repository():
    this_file = PurePosixPath(Path(__file__).resolve().relative_to(ROOT).as_posix())
    mentions = [
        str(path)
        for path in sorted(tracked_files() - {this_file})
        if "../shared" in (ROOT / path).read_text(encoding="utf-8", errors="replace")
    ]
    assert not mentions, f"files pointing at ../shared, which a clone does not have: {mentions}"


def test_the_link_checker_sees_a_broken_link_and_ignores_code_and_urls():
    text = (
        "[ok](docs/a.md) [gone](docs/missing.md#part) ![img](pic.png)\n"
        "[web](https://example.com) [anchor](#top) `[code](x.md)`\n"
        "```\n[fenced](y.md)\n```\n[ref]: ../outside.md\n"
    )
    links = relative_links(text)
    assert links == ["docs/a.md", "docs/missing.md#part", "pic.png", "../outside.md"]
    assert resolve(PurePosixPath("README.md"), "docs/missing.md#part") == PurePosixPath(
        "docs/missing.md"
    )
    assert resolve(PurePosixPath("README.md"), "../outside.md") is None
