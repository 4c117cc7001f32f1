"""What one piece is asked, from its prompt and the plan a request may carry:
the form (services/semantic/form_request.py), the attributes stated
(services/semantic/prompt.py) and each section's own words. A plan's fields
win over the prompt's words: the plan is what the user edited last."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hiermusic.services.common.limits import check_duration
from hiermusic.services.semantic.form_request import FormRequest, parse_form
from hiermusic.services.semantic.plan_request import AskedPlan
from hiermusic.services.semantic.prompt import PromptAttributes, parse_prompt

_TAG = re.compile(r"\[[^\[\]]*\]")


@dataclass(frozen=True)
class PieceRequest:
    prompt: str
    duration_s: float | None  # None: as long as the form's stated bars
    form: FormRequest
    explicit: PromptAttributes  # the piece's own; a section's drums are on its SectionRequest


def piece_request(prompt: str, duration_s: float, asked: AskedPlan | None = None) -> PieceRequest:
    """`duration_s` 0 means the plan's, else the sections' total. Raises
    ValueError (FormError among them) naming what cannot be honoured."""
    asked = asked or AskedPlan()
    if not prompt.strip():
        raise ValueError("prompt is empty")
    duration = duration_s or asked.duration_s
    if duration is not None:
        check_duration(duration)
    if duration is None and not asked.sections:
        raise ValueError("duration_s is needed: no plan sections give the piece's length")
    # The piece's attributes from its words outside section tags: "[verse: no
    # drums]" is the verse's, not the piece's.
    said = parse_prompt(piece_words(prompt))
    explicit = PromptAttributes(
        tempo_bpm=asked.tempo_bpm if asked.tempo_bpm is not None else said.tempo_bpm,
        key=asked.key if asked.key is not None else said.key,
        mode=asked.mode if asked.mode is not None else said.mode,
        drums=asked.drums if asked.drums is not None else said.drums,
    )
    if asked.sections:
        form = FormRequest(
            sections=asked.sections,
            intro="long" if asked.extended_intro else None,
            ending="abrupt" if asked.abrupt_ending else None,
            # A plan's rule-breaks are its sections' own flags, not every section of their type.
        )
    else:
        form = parse_form(prompt)
        if asked.extended_intro:
            form = replace(form, intro="long")
        if asked.abrupt_ending:
            form = replace(form, ending="abrupt")
    return PieceRequest(prompt, duration, form, explicit)


def piece_words(prompt: str) -> str:
    """The prompt without its section tags."""
    return " ".join(_TAG.sub(" ", prompt).split())


def section_wording(prompt: str, description: str) -> str:
    """The text a section with its own words is embedded from: its words,
    then the piece's (style, mood, instruments), so a "quiet piano" verse of
    a rock song is still a rock verse."""
    rest = piece_words(prompt)
    return f"{description}. {rest}" if rest else description
