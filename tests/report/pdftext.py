"""The text and pages of a PDF, as a reader (or a search) sees them."""
from __future__ import annotations


def pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def pdf_pages(path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)
