"""The semantic transformer: a decoder-only model over the semantic tokens of
the whole piece, cross-attending to the text and the section embeddings.
Each step also knows which section its frame lies in, that section's energy
and where the frame sits in the section and in the bar, so the plan's form
shows up in the tokens."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from hiermusic.v1 import levels_pb2
from hiermusic.services.common.contract import TokenSpaceConfig
from hiermusic.services.common.music import KEYS, MODES, SECTION_TYPES
from hiermusic.services.common.nn import KVCache, Transformer, TransformerConfig, floored, keep_top_k, sample
from hiermusic.corpus.song_spec import BORROW_FROM
from hiermusic.services.semantic.key_feedback import PITCH_CLASSES, KeyKeeper
from hiermusic.services.semantic.sampling import SemanticSampling


def _decoder_config() -> TransformerConfig:
    # 8192 positions hold a 600 s piece at 12.5 tokens/s (7500). Decoding one
    # token reads every weight once, so the size is set by speed: on the 2-core
    # CPU 750 tokens took 2.1 s at width 192 x 4 layers, 1.5 s at 192 x 3.
    return TransformerConfig(dim=192, layers=3, heads=4, max_len=8192, cross_attention=True)


@dataclass
class SemanticConfig:
    token_space: TokenSpaceConfig = field(default_factory=TokenSpaceConfig)
    transformer: TransformerConfig = field(default_factory=_decoder_config)
    section_position_bins: int = 32
    bar_position_bins: int = 16  # beat phase at 12.5 frames/s: ~3 frames a beat at 120 bpm
    # Whether the prompt asked for drums, asked them away or did not say
    # (levels_pb2.Drums) reaches every step, and sampling weighs each token by
    # how often it comes with drums or without in the corpus (see
    # `drums_evidence`). Why here: the acoustic level learns drums from the
    # semantic tokens (computed from the real audio, onset strength among
    # their features): given a drumless test song's true tokens it wrote
    # drumless audio 5 of 5 times, so a "no drums" prompt is kept only if these
    # tokens are drumless. False: models made before it.
    drums_input: bool = False
    # Sampling keeps the planned key by feedback on the chroma of the tokens
    # sampled so far (services/semantic/key_feedback.py); the model holds
    # each token's chroma and each mode's profile for it. False: models made
    # before it.
    key_feedback: bool = False


@dataclass
class FrameLayout:
    """Where each semantic frame sits in the form; frame t covers time t / rate."""

    frame_sections: torch.Tensor  # int64 [T], index of the section holding the frame
    section_position: torch.Tensor  # float32 [T], 0..1 through that section
    bar_position: torch.Tensor  # float32 [T], 0..1 through the current bar


def frame_layout(
    starts: Sequence[float], ends: Sequence[float], bar_s: float, num_frames: int, rate: float
) -> FrameLayout:
    """Maps frames onto contiguous sections [starts[i], ends[i])."""
    start = torch.tensor(starts, dtype=torch.float64)
    length = torch.tensor(ends, dtype=torch.float64) - start
    times = torch.arange(num_frames, dtype=torch.float64) / rate
    index = (torch.searchsorted(start, times, right=True) - 1).clamp(0, len(starts) - 1)
    into = times - start[index]
    return FrameLayout(
        frame_sections=index,
        section_position=(into / length[index]).clamp(0, 1).float(),
        bar_position=torch.remainder(into / bar_s, 1.0).float(),
    )


def repeat_pairs(frame_sections: torch.Tensor, repeat_of: Sequence[int]) -> torch.Tensor:
    """int64 [P, 2]: each frame of a section that brings back an earlier one
    (repeat_of[i] < i; a first occurrence names itself or -1) with the frame
    at the same offset into that earlier one, over the shorter of the two."""
    pairs = []
    for i, j in enumerate(repeat_of):
        if not 0 <= j < i:
            continue
        again, first = (torch.nonzero(frame_sections == k)[:, 0] for k in (i, j))
        n = min(len(again), len(first))
        pairs.append(torch.stack([again[:n], first[:n]], dim=1))
    return torch.cat(pairs) if pairs else torch.zeros(0, 2, dtype=torch.long)


def repeat_sources(frame_sections: torch.Tensor, repeat_of: Sequence[int]) -> torch.Tensor:
    """int64 [T]: for each frame, the frame of the first occurrence it repeats, -1 if none."""
    sources = torch.full_like(frame_sections, -1)
    pairs = repeat_pairs(frame_sections, repeat_of)
    sources[pairs[:, 0]] = pairs[:, 1]
    return sources


@dataclass
class PieceConditioning:
    """Everything the semantic tokens are conditioned on, batched."""

    text: torch.Tensor  # float32 [B, E] joint text embedding
    key: torch.Tensor  # int64 [B] pitch class
    mode: torch.Tensor  # int64 [B] index into MODES
    tempo_bpm: torch.Tensor  # float32 [B]
    section_types: torch.Tensor  # int64 [B, S] index into SECTION_TYPES
    section_energy: torch.Tensor  # float32 [B, S] 0..1
    frame_sections: torch.Tensor  # int64 [B, T]
    section_position: torch.Tensor  # float32 [B, T]
    bar_position: torch.Tensor  # float32 [B, T]
    section_mask: torch.Tensor | None = None  # bool [B, S], False = padding
    drums: torch.Tensor | None = None  # int64 [B], levels_pb2.Drums; None: unsaid
    # Where sections ask their own drums: int64 [B, T] per frame; None: `drums` throughout.
    frame_drums: torch.Tensor | None = None
    # Where sections have their own words: float32 [B, S, E], each section's
    # text embedding (the piece's for those without); None: the piece's throughout.
    section_text: torch.Tensor | None = None
    # Frames of sections the plan asks borrowed chords of (modal interchange):
    # bool [B, T]; None: none asked.
    frame_borrowed: torch.Tensor | None = None

    def drums_per_frame(self) -> torch.Tensor | None:
        """int64 [B, T], or None where nothing is said of drums."""
        if self.frame_drums is not None:
            return self.frame_drums
        return None if self.drums is None else self.drums[:, None].expand_as(self.frame_sections)


class SemanticTransformer(nn.Module):
    def __init__(self, config: SemanticConfig) -> None:
        super().__init__()
        self.config = config
        e, d = config.token_space.embedding_dim, config.transformer.dim
        self.vocab = config.token_space.semantic_vocab_size
        self.bos = self.vocab
        # Section embeddings: what a section is (type, the piece's text, key,
        # mode, tempo), not which occurrence, so a returning chorus gets the
        # same vector. Energy varies per occurrence and enters per step.
        self.section_type = nn.Embedding(len(SECTION_TYPES), d)
        self.key = nn.Embedding(len(KEYS), d)
        self.mode = nn.Embedding(len(MODES), d)
        self.tempo = nn.Linear(1, d)
        self.section_text = nn.Linear(e, d)
        self.section_out = nn.Sequential(nn.GELU(), nn.Linear(d, e))
        # Decoder side.
        self.memory_in = nn.Linear(e, d)
        self.section_in = nn.Linear(e, d)
        self.energy_in = nn.Linear(1, d)
        self.section_position = nn.Embedding(config.section_position_bins, d)
        self.bar_position = nn.Embedding(config.bar_position_bins, d)
        self.tokens = nn.Embedding(self.vocab + 1, d)
        self.decoder = Transformer(config.transformer)
        self.head = nn.Linear(d, self.vocab)
        if config.drums_input:
            self.drums = nn.Embedding(3, d)
            nn.init.zeros_(self.drums.weight)  # a warm start begins as the model it starts from
            # [Drums value, mode, token]: log p(drums said | token, mode) from
            # the training corpus (0 for unsaid), added to the logits when
            # sampling: with p(token | context, drums) ~ p(token | context)
            # p(drums | token, mode), the product of experts Bayes gives when
            # the token and the mode alone tell the drums. Per mode, because
            # the corpus's drumless songs are more often major (65% against
            # 52%): one table for all pulled "no drums" pieces towards major.
            # Teacher forcing leaves it out: the learnt flag gets little
            # gradient there (after a few frames the context already tells),
            # while at sampling the first frames decide the rest.
            self.register_buffer("drums_evidence", torch.zeros(3, len(MODES), self.vocab))
        if config.key_feedback:
            # Each token's chroma (its centroid's first twelve features) and
            # each mode's pitch-class profile from C, both from the training
            # corpus (semantic_batches.key_profiles).
            self.register_buffer("token_chroma", torch.zeros(self.vocab, PITCH_CLASSES))
            self.register_buffer("key_profiles", torch.zeros(len(MODES), PITCH_CLASSES))

    def section_embeddings(self, cond: PieceConditioning) -> torch.Tensor:
        """[B, S, E]: one vector per section, the very same for repeats of a
        type with the same words."""
        if cond.section_text is None:
            return self._typed_embeddings(cond, cond.text, cond.section_types)
        # One pass per distinct text, each section taking its own text's row:
        # repeats with the same words stay bit-identical.
        out = torch.empty(*cond.section_types.shape, self.config.token_space.embedding_dim,
                          device=cond.text.device)
        flat = cond.section_text.reshape(-1, cond.section_text.shape[-1])
        texts, which = torch.unique(flat, dim=0, return_inverse=True)
        which = which.reshape(cond.section_types.shape)
        for i, text in enumerate(texts):
            typed = self._typed_embeddings(cond, text[None].expand_as(cond.text), cond.section_types)
            out = torch.where((which == i)[..., None], typed, out)
        return out

    def _typed_embeddings(self, cond: PieceConditioning, text: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        tempo = torch.log2(cond.tempo_bpm / 120.0)[:, None]  # [B, 1], ~ -1..1
        piece = self.key(cond.key) + self.mode(cond.mode) + self.tempo(tempo) + self.section_text(text)
        # Each type's vector for this piece [B, types, E], then looked up: a
        # batched matmul over the sections could differ in the last bits per row.
        per_type = self.section_out(self.section_type.weight[None] + piece[:, None])
        index = types[..., None].expand(-1, -1, per_type.shape[-1])
        return torch.gather(per_type, 1, index)

    def _context(self, cond: PieceConditioning) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Cross-attention memory [B, 1+S, D] (text, sections), its mask, and
        each frame's conditioning [B, T, D]."""
        sections = self.section_embeddings(cond)  # [B, S, E]
        memory = self.memory_in(torch.cat([cond.text[:, None], sections], dim=1))
        mask = None
        if cond.section_mask is not None:
            mask = torch.cat([torch.ones_like(cond.section_mask[:, :1]), cond.section_mask], dim=1)
        per_section = self.section_in(sections) + self.energy_in(cond.section_energy[..., None])  # [B, S, D]
        frames = torch.gather(per_section, 1, cond.frame_sections[..., None].expand(-1, -1, per_section.shape[-1]))
        frames = frames + self.section_position(self._bin(cond.section_position, self.config.section_position_bins))
        frames = frames + self.bar_position(self._bin(cond.bar_position, self.config.bar_position_bins))
        drums = cond.drums_per_frame()
        if self.config.drums_input and drums is not None:
            frames = frames + self.drums(drums)
        return memory, mask, frames

    @staticmethod
    def _bin(fraction: torch.Tensor, bins: int) -> torch.Tensor:
        return (fraction * bins).long().clamp(0, bins - 1)

    def hidden(self, tokens: torch.Tensor, cond: PieceConditioning) -> torch.Tensor:
        """Teacher forcing: tokens [B, T] -> the decoder's states [B, T, D] that
        predict them. The hook for structure consistency: training pulls the
        frames of a repeat towards those of its first occurrence on these."""
        memory, mask, frames = self._context(cond)
        bos = torch.full_like(tokens[:, :1], self.bos)
        x = self.tokens(torch.cat([bos, tokens[:, :-1]], dim=1)) + frames
        return self.decoder(x, memory, mask)

    def forward(self, tokens: torch.Tensor, cond: PieceConditioning) -> torch.Tensor:
        """Teacher forcing: tokens [B, T] -> next-token logits [B, T, V]."""
        return self.head(self.hidden(tokens, cond))

    def generate(self, cond: PieceConditioning, generator: torch.Generator, sampling: SemanticSampling,
                 repeat_from: torch.Tensor | None = None) -> torch.Tensor:
        """The whole piece's tokens at once, int64 [T]: `tokens_in_order` collected."""
        steps = self.tokens_in_order(cond, generator, sampling, repeat_from)
        return torch.tensor(list(steps), dtype=torch.long)

    @torch.inference_mode()
    def tokens_in_order(
        self,
        cond: PieceConditioning,
        generator: torch.Generator,
        sampling: SemanticSampling,
        repeat_from: torch.Tensor | None = None,
    ) -> Iterator[int]:
        """Samples the piece's tokens step by step with a KV cache, yielding
        each as it is drawn, for the single piece in `cond` (B = 1): a caller
        can pass on the first seconds while the rest is sampled. Where `repeat_from` [T] names
        an earlier frame (>= 0), the frame takes that frame's token with
        probability `sampling.repeat_copy` instead of a sampled one: a section
        the plan repeats brings back its first occurrence's material, the
        model going on from the copied tokens as from its own.
        `sampling.key_weight` > 0 keeps the plan's key (a model with
        key_feedback): see KeyKeeper, over the last `key_window` frames; in
        sections asked borrowed chords (`cond.frame_borrowed`), towards the
        mode they borrow from (_borrowing_keeper).
        `drums_weight` scales the drums evidence (a model with drums_input,
        drums said): 1 is the product of experts Bayes gives, more trusts the
        evidence over the context; `drums_floor` > 0 keeps only the
        candidates whose evidence is at least that probability (all of them
        where none is)."""
        temperature, top_k = sampling.temperature, sampling.top_k
        memory, mask, frames = self._context(cond)
        num_frames = frames.shape[1]
        if repeat_from is not None and (repeat_from.shape != (num_frames,)
                                        or bool((repeat_from >= torch.arange(num_frames)).any())):
            raise ValueError(f"repeat_from must be [{num_frames}] frames earlier than each frame (or -1)")
        out = torch.empty(num_frames, dtype=torch.long)
        prev = torch.full((1, 1), self.bos, dtype=torch.long, device=frames.device)
        cache = KVCache(capacity=num_frames)
        # Each frame's drums evidence [T, V], zero where nothing is said of drums.
        evidence = None
        drums = cond.drums_per_frame()
        if self.config.drums_input and drums is not None and bool((drums[0] != levels_pb2.DRUMS_UNSAID).any()):
            evidence = sampling.drums_weight * self.drums_evidence[drums[0], cond.mode[0]]
            said = drums[0] != levels_pb2.DRUMS_UNSAID  # bool [T]
        keeper = None
        # A mode no training song had has no profile (zeros): nothing to keep,
        # and a zero target would push every piece away from its own profile.
        if self.config.key_feedback and sampling.key_weight > 0 and bool(self.key_profiles[int(cond.mode[0])].any()):
            keeper = KeyKeeper(self.token_chroma, self.key_profiles[int(cond.mode[0])], int(cond.key[0]),
                               sampling.key_weight, sampling.key_window)
        borrowing = self._borrowing_keeper(cond, sampling) if self.config.key_feedback else None
        for t in range(num_frames):
            x = self.tokens(prev) + frames[:, t : t + 1]
            logits = self.head(self.decoder(x, memory, mask, cache=cache)[:, -1])  # [1, V]
            drums_said = evidence is not None and bool(said[t])
            pull = borrowing if borrowing is not None and bool(cond.frame_borrowed[0, t]) else keeper
            if drums_said or pull is not None:
                # Among the tokens the model itself finds likely (its top k)
                # only: the evidence ignores the context (key, section), so
                # over the whole vocabulary it pulled in drumless tokens of
                # other keys.
                logits = keep_top_k(logits, top_k)
            if drums_said:
                if sampling.drums_floor > 0:
                    logits = floored(logits, evidence[t : t + 1], math.log(sampling.drums_floor))
                logits = logits + evidence[t : t + 1]
            if pull is not None:
                logits = logits + pull.bias(out[:t])
            prev = sample(logits, temperature, top_k, generator)[:, None]
            # Drawn at every frame, copied or not, so a frame's draw never
            # depends on how many frames before it were copies.
            if repeat_from is not None:
                copy = float(torch.rand((), generator=generator)) < sampling.repeat_copy
                if copy and repeat_from[t] >= 0:
                    prev = out[repeat_from[t]].reshape(1, 1).to(prev.device)
            out[t] = prev[0, 0]
            yield int(out[t])

    def _borrowing_keeper(self, cond: PieceConditioning, sampling: SemanticSampling) -> KeyKeeper | None:
        """The key keeping of sections asked borrowed chords: the same tonic,
        the profile of the mode the corpus borrows from (its parallel major
        or minor, corpus.song_spec.BORROW_FROM), so that those sections draw
        the tokens whose chroma carries the other mode's degrees. None where
        no section asks, or no training song had that mode."""
        if cond.frame_borrowed is None or not bool(cond.frame_borrowed.any()) or sampling.borrow_weight <= 0:
            return None
        source = BORROW_FROM.get(MODES[int(cond.mode[0])])
        profile = self.key_profiles[MODES.index(source)] if source else None
        if profile is None or not bool(profile.any()):
            return None
        return KeyKeeper(self.token_chroma, profile, int(cond.key[0]), sampling.borrow_weight, sampling.key_window)
