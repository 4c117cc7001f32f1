"""A plan sent up with a request (PlanRequest.plan), whole or partial, as the
planner reads it: what it states is kept, the rest is planned."""
from __future__ import annotations

from dataclasses import dataclass

from hiermusic.services.semantic.form_request import SectionRequest


@dataclass(frozen=True)
class AskedPlan:
    """None or empty where the plan leaves the choice to the planner."""
    sections: tuple[SectionRequest, ...] = ()  # the whole form in order; empty: the form is open
    tempo_bpm: float | None = None
    key: str | None = None
    mode: str | None = None
    drums: bool | None = None  # the piece's; a section's own drums are on its SectionRequest
    extended_intro: bool = False
    abrupt_ending: bool = False
    duration_s: float | None = None  # None: the request's, or the sections' total
