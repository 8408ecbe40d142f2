"""Data files (stylesheets, icons, starter prompts). Read them through these functions, never by
path arithmetic: inside the packaged app they sit in the bundle (importlib.resources finds them
there as well as in a checkout)."""

from importlib.resources import files


def read_text(name: str) -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def starter_prompts() -> list[tuple[str, str]]:
    """The shipped prompt library: (file name, Markdown with front matter) pairs."""
    folder = files(__name__).joinpath("prompts")
    return sorted((f.name, f.read_text(encoding="utf-8")) for f in folder.iterdir()
                  if f.name.endswith(".md"))


ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)  # drawn by packaging/render_icons.py


def icon_files() -> dict[int, str]:
    """Hearth's icon: size in pixels → PNG file, for every size drawn."""
    folder = files(__name__).joinpath("icons")
    found = {size: folder.joinpath(f"hearth-{size}.png") for size in ICON_SIZES}
    return {size: str(path) for size, path in found.items() if path.is_file()}
