"""Does a codec keep pitch? Harmonic tones (fundamental plus two harmonics,
2 s) across three octaves go through the codec (encode, then decode with
all codebooks) and the script prints, for each, the strongest frequency near
the fundamental before and after, its error in cents, and the loudest pitch
class (librosa's CQT chroma) before and after. The mode a listener hears
depends on pitch classes: a codec that moves notes by a semitone moves keys.
With `--stages` (the stft_magnitude codec) it also says where
pitch is lost: the true magnitude through Griffin-Lim, the decoder's
magnitude from the codes and from the encoder's latent before quantizing
(both through Griffin-Lim), and the decoder's magnitude from the codes with
the true phase.

    .venv/bin/python bench/codec_pitch.py [--stages] [--codec-plugin stft_magnitude] [--codec-checkpoint FILE]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from hiermusic.corpus.codec_tokens import encode_audio, load_codec
from hiermusic.services.common.bootstrap import bundled_checkpoint
from hiermusic.services.common.librosa_cache import librosa
from hiermusic.services.common.music import KEYS

SR = 24000
MIDI_NOTES = (48, 49, 50, 55, 56, 57, 61, 62, 69, 73, 74, 81)  # C3 .. A5


def tone(midi: int, seconds: float = 2.0) -> tuple[float, np.ndarray]:
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(int(SR * seconds)) / SR
    return f0, (0.3 * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))).astype(np.float32)


def strongest_near(audio: np.ndarray, f0: float) -> float:
    """The frequency (1 Hz resolution) with the most energy within a third of `f0`, over the middle second."""
    middle = audio[SR // 2 : SR // 2 + SR]
    spectrum = np.abs(np.fft.rfft(middle))
    freqs = np.fft.rfftfreq(len(middle), 1 / SR)
    band = (freqs > f0 * 0.8) & (freqs < f0 * 1.25)
    return float(freqs[band][spectrum[band].argmax()])


def loudest_pitch_class(audio: np.ndarray) -> tuple[str, float]:
    chroma = librosa.feature.chroma_cqt(y=audio[SR // 2 : -SR // 2], sr=SR).mean(1)
    return KEYS[int(chroma.argmax())], float(chroma.max() / chroma.sum())


def stages(codec, audio: np.ndarray) -> dict[str, np.ndarray]:
    """Audio rebuilt at each stage of the stft_magnitude codec's decoder."""
    model = codec.model
    decoder = model.decoder
    with torch.inference_mode():
        wav = torch.from_numpy(audio)[None, None]
        latent = model.encoder(wav)
        quantized = model.quantize(latent).quantized  # the fine residual smoothed as encode does
        true = decoder.stft(wav[:, 0])  # complex [1, F, T]
        coded = decoder.log_magnitude(quantized)[..., : true.shape[-1]].exp()
        unquantized = decoder.log_magnitude(latent)[..., : true.shape[-1]].exp()
        phase = true / true.abs().clamp_min(1e-8)
        out = {"true magnitude, Griffin-Lim": decoder.griffin_lim(true.abs()),
               "codes, Griffin-Lim": decoder.griffin_lim(coded),
               "latent before RVQ, Griffin-Lim": decoder.griffin_lim(unquantized),
               "codes, true phase": decoder.istft(coded * phase)}
    return {name: y[0].cpu().numpy() for name, y in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec-plugin", default="stft_magnitude")
    parser.add_argument("--codec-checkpoint", help="default: the bundled codec weights")
    parser.add_argument("--stages", action="store_true", help="where pitch is lost (stft_magnitude codec)")
    args = parser.parse_args()
    codec = load_codec(args.codec_plugin, args.codec_checkpoint or bundled_checkpoint("codec"))
    print("note      f0 Hz  out Hz  cents  pitch class in -> out (share of the chroma)")
    for midi in MIDI_NOTES:
        f0, audio = tone(midi)
        codes = torch.from_numpy(encode_audio(codec, audio).astype(np.int64))[None]
        with torch.inference_mode():
            out = codec.decode(codes)[0, 0].cpu().numpy()
        peak = strongest_near(out, f0)
        (pc_in, share_in), (pc_out, share_out) = loudest_pitch_class(audio), loudest_pitch_class(out)
        name = f"{KEYS[midi % 12]}{midi // 12 - 1}"
        print(f"{name:<5} {f0:9.1f} {peak:7.1f} {1200 * np.log2(peak / f0):+6.0f}  "
              f"{pc_in} ({share_in:.2f}) -> {pc_out} ({share_out:.2f})")
        if args.stages:
            for stage, rebuilt in stages(codec, audio).items():
                cents = 1200 * np.log2(strongest_near(rebuilt, f0) / f0)
                print(f"      {stage:<32} {cents:+6.0f} cents, heard as {loudest_pitch_class(rebuilt)[0]}")


if __name__ == "__main__":
    main()
