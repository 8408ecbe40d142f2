"""The documents Hearth opens (storage/documents/extract.py EXTENSIONS), as the desktops name
them: MIME types for Linux's hearth.desktop, Uniform Type Identifiers for macOS's Info.plist.
Hearth is offered in "Open with" for these, never made their default application."""

from __future__ import annotations

# kind (extract.py's) → (MIME types, UTIs)
DOCUMENT_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pdf": (("application/pdf",), ("com.adobe.pdf",)),
    "docx": (("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
             ("org.openxmlformats.wordprocessingml.document",)),
    "html": (("text/html", "application/xhtml+xml"), ("public.html", "public.xhtml")),
    "markdown": (("text/markdown", "text/x-markdown"), ("net.daringfireball.markdown",)),
    "csv": (("text/csv", "text/tab-separated-values"),
            ("public.comma-separated-values-text", "public.tab-separated-values-text")),
    "text": (("text/plain", "text/x-log", "text/x-rst", "text/org"),
             ("public.plain-text", "com.apple.log")),
    "code": (("text/x-python", "text/x-csrc", "text/x-chdr", "text/x-c++src", "text/x-java",
              "text/javascript", "application/javascript", "application/typescript",
              "text/x-go", "text/rust", "text/x-ruby", "application/x-php", "text/x-sql",
              "text/css", "application/json", "application/x-yaml", "application/toml",
              "application/xml", "text/xml", "application/x-shellscript", "text/x-tex",
              "text/x-diff", "text/x-patch", "text/x-makefile", "text/x-cmake"),
             ("public.source-code", "public.script", "public.json", "public.xml",
              "public.yaml")),
}


def mime_types() -> list[str]:
    return [m for mimes, _utis in DOCUMENT_TYPES.values() for m in mimes]


def utis() -> list[str]:
    return [u for _mimes, utis in DOCUMENT_TYPES.values() for u in utis]
