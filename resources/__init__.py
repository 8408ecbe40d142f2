"""Data files (stylesheets, icons). Read them through `read_text`, never by path arithmetic."""

from importlib.resources import files


def read_text(name: str) -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def starter_prompts() -> list[tuple[str, str]]:
    """The shipped prompt library: (file name, Markdown with front matter) pairs."""
    folder = files(__name__).joinpath("prompts")
    return sorted((f.name, f.read_text(encoding="utf-8")) for f in folder.iterdir()
                  if f.name.endswith(".md"))
