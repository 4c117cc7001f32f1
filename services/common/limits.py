"""Names and limits every room agrees on: the levels, how long a piece and its
prompt may be, how large a gRPC message. Defined once, so the command line,
the Composer, the scheduler and the services cannot disagree about them."""
from __future__ import annotations

LEVELS = ("semantic", "acoustic", "temporal")

# The semantic model plans at most 600 s: 7500 tokens at 12.5/s (semantic_model.py).
# A piece is at least a second (1e-300 s once made an empty plan).
MIN_DURATION_S, MAX_DURATION_S = 1.0, 600.0
MAX_PROMPT_CHARS = 2000

# Chunk and overlap lengths a request may ask for (0: the scheduler's own):
# 0.04 s chunks would make a minute 1,500 level calls; past 30 s a chunk is
# longer than any level's context (their own limit refuses it there too).
MIN_CHUNK_S, MAX_CHUNK_S = 0.5, 30.0

# The plan context a scheduler may send beyond each side of a chunk (its
# semantic_margin_s, 1 s by default). The chunk levels bound the semantic
# tokens of a context by it (chunk_layout.max_semantic_tokens): 100k tokens
# once held the acoustic level for 9.7 s and 0.66 GB. The chunk models learn
# plan positions for 64 tokens (5.12 s) before a chunk; more tells them nothing.
MAX_SEMANTIC_MARGIN_S = 5.0

# Replicas of one level that `up`, `generate` and `eval` start on this machine.
MAX_LOCAL_REPLICAS = 8

# Far above what a song sends (a chunk's audio is under 1 MB); a bound, so a
# malformed or hostile message is refused before it is read.
MAX_MESSAGE_MB = 64
MAX_MESSAGE_BYTES = MAX_MESSAGE_MB * 1024 * 1024


def clipped(text: str, limit: int = 40) -> str:
    """A caller's string as an error message quotes it: cut to `limit`
    characters, so a string of megabytes cannot become a status message of
    megabytes (gRPC's trailers hold a few kilobytes)."""
    return text if len(text) <= limit else text[:limit] + "..."


def check_duration(duration_s: float, name: str = "duration_s") -> None:
    """Raises ValueError unless MIN_DURATION_S <= duration_s <= MAX_DURATION_S
    (NaN fails too); the message names the duration as its caller knows it (`name`)."""
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise ValueError(f"{name} {duration_s}: expected {MIN_DURATION_S:g} to {MAX_DURATION_S:g} seconds")


def check_piece(prompt: str, duration_s: float, duration_name: str = "duration_s") -> None:
    """What a piece asks for, checked where a request enters: a prompt with
    words in it and not past MAX_PROMPT_CHARS, and a duration in range.
    Raises ValueError with the message the user sees."""
    check_prompt(prompt)
    check_duration(duration_s, duration_name)


def check_prompt(prompt: str, name: str = "prompt") -> None:
    """Raises ValueError unless `prompt` has words in it and is not past MAX_PROMPT_CHARS."""
    if not prompt.strip():
        raise ValueError(f"{name} is empty; describe the music to make")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"{name} is {len(prompt)} characters long; at most {MAX_PROMPT_CHARS}")
