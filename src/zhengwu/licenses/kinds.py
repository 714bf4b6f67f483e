"""Result kinds (结果类型): besides licenses, 证明, 批文 and 鉴定报告 are issued, sealed, verified and shared
through the same path; the kind names what a result is on screens and in the catalog, nothing else differs."""

from __future__ import annotations

from typing import Final

LICENSE: Final = "license"
PROOF: Final = "proof"
APPROVAL: Final = "approval"
APPRAISAL: Final = "appraisal"

LABELS: Final = {
    LICENSE: "证照",
    PROOF: "证明",
    APPROVAL: "批文",
    APPRAISAL: "鉴定报告",
}
KINDS: Final = tuple(LABELS)


def label(kind: str) -> str:
    """The Chinese word for a result kind."""
    return LABELS.get(kind, kind)
