"""`hiermusic bundle WHAT RUN_DIR`: a finished training run's weights into
weights/ (or --weights DIR), stored as float16, where every service loads its
level's file by default. Bundled weights share one size budget (they travel
with the repository); a bundle that would break it is refused before anything
is written. A level's card carries its sampling settings: the run's, or the
defaults, every field stated. A semantic bundle carries its corpus's semantic
tokenizer beside it (semantic_tokenizer.safetensors and its card), so that a
corpus built later speaks the bundled planner's tokens (`data build
--semantic-tokenizer weights/semantic_tokenizer.safetensors`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open

from hiermusic.cli.train_command import TRAINERS
from hiermusic.corpus.semantic_tokenizer import SemanticTokenizer
from hiermusic.services.acoustic.sampling import CoarseSampling
from hiermusic.services.common.checkpoint import ModelCard, load_checkpoint, save_half
from hiermusic.services.common.level import sampling_settings
from hiermusic.services.semantic.sampling import SemanticSampling
from hiermusic.services.temporal.sampling import FineSampling

BUDGET_MB = 40.0
TOKENIZER = "semantic_tokenizer.safetensors"  # a corpus's file name, and the bundled copy's
# The sampling settings of each level's plugin; the codec and the text model have none.
SAMPLING = {"semantic": SemanticSampling, "acoustic": CoarseSampling, "temporal": FineSampling}


@dataclass
class Bundled:
    path: Path
    megabytes: float
    total_megabytes: float  # every .safetensors in the weights directory, this one included
    version: str


def half_megabytes(checkpoint: Path) -> float:
    """The tensor bytes of `checkpoint` once floats are stored as float16."""
    total = 0
    with safe_open(str(checkpoint), "pt") as f:
        for name in f.keys():
            value = f.get_slice(name)
            count = 1
            for n in value.get_shape():
                count *= n
            total += count * (2 if value.get_dtype().startswith(("F", "BF")) else _itemsize(value.get_dtype()))
    return total / 1e6


def _itemsize(dtype: str) -> int:
    return {"I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1}.get(dtype, 8)


def bundle(what: str, run_dir: Path, weights_dir: Path, budget_mb: float = BUDGET_MB,
           tokenizer: Path | None = None) -> Bundled:
    """Copies RUN_DIR/<what's weights> into weights_dir as float16; refuses
    an untrained checkpoint and one that would take the directory over budget.
    For the semantic level, also the semantic tokenizer its card names:
    `tokenizer`, or by default the one in the corpus the run trained on."""
    name = TRAINERS[what].produces
    source = Path(run_dir) / name
    _, card, _ = load_checkpoint(source)  # a missing card or file is refused here
    if not card.trained:
        raise ValueError(f"{source} is not a trained checkpoint (its card says trained: false)")
    card.sampling = sampling_section(what, card)  # a misspelt field is refused before anything is written
    speaks = semantic_tokenizer_for(card, tokenizer) if what == "semantic" else None
    target = Path(weights_dir) / name
    replaced = {name, TOKENIZER} if speaks else {name}
    others = sum(p.stat().st_size for p in Path(weights_dir).glob("*.safetensors") if p.name not in replaced) / 1e6 \
        if Path(weights_dir).is_dir() else 0.0
    size = half_megabytes(source) + (speaks[0].stat().st_size / 1e6 if speaks else 0.0)
    if others + size > budget_mb:
        raise ValueError(f"{name} would take {size:.1f} MB as float16; with the {others:.1f} MB already in "
                         f"{weights_dir} that is over the {budget_mb:g} MB budget of bundled weights")
    save_half(source, target, card)
    written = target.stat().st_size / 1e6
    if speaks:
        speaks[1].save(Path(weights_dir) / TOKENIZER)
        written += (Path(weights_dir) / TOKENIZER).stat().st_size / 1e6
    return Bundled(target, written, others + written, card.version)


def semantic_tokenizer_for(card: ModelCard, tokenizer: Path | None) -> tuple[Path, SemanticTokenizer]:
    """The tokenizer file a semantic card speaks, loaded: `tokenizer`, or the
    one in the corpus its card's `data` names; refused unless its id is the
    card's, since a planner's tokens mean nothing under another tokenizer."""
    wanted = card.token_space.get("semantic_tokenizer_id", "")
    if tokenizer is None:
        corpus = card.data.split(" (")[0] if card.data else ""
        if not corpus:
            raise ValueError(f"{card.version}: its card names no corpus; give the tokenizer it speaks "
                             f"({wanted}) with --tokenizer")
        tokenizer = Path(corpus) / TOKENIZER
    if not Path(tokenizer).is_file():
        raise ValueError(f"{tokenizer}: no semantic tokenizer there; give the one {card.version} speaks "
                         f"({wanted}) with --tokenizer")
    loaded = SemanticTokenizer.load(Path(tokenizer))
    if loaded.tokenizer_id != wanted:
        raise ValueError(f"{tokenizer} is {loaded.tokenizer_id}, but {card.version} speaks {wanted}")
    return Path(tokenizer), loaded


def sampling_section(what: str, card: ModelCard) -> dict[str, Any]:
    """The bundled card's sampling section: the run's card's over the
    defaults, every field stated; empty for what has no sampling settings."""
    return asdict(sampling_settings(SAMPLING[what], card, {})) if what in SAMPLING else {}
