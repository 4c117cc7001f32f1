"""The bundled codec: an STFT encoder (stft_encoder.py), the `encodec`
package's residual vector quantizer, and a magnitude decoder with
Griffin-Lim phase (magnitude_decoder.py), every layer at the frame rate, so
that decoding a 5 s chunk costs a small fraction of the temporal level's
budget on a 2-core CPU, and the pair learnt pitch within an hour of training
on that CPU (docs/experiments/codec.md)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from encodec.quantization import ResidualVectorQuantizer
from encodec.quantization.vq import QuantizedResult
from torch import nn

from hiermusic.services.common.level import load_or_init, state_digest
from hiermusic.services.temporal.codec import Codec, check_probs, expected_latent, quantizer_vectors
from hiermusic.services.temporal.magnitude_decoder import MagnitudeDecoder
from hiermusic.services.temporal.stft_encoder import STFTEncoder


@dataclass
class StftMagnitudeConfig:
    sample_rate: int = 24000
    hop_length: int = 480  # 50 frames/s
    n_fft: int = 1920  # the encoder's and the decoder's STFT frames: 4 hops, as Vocos
    dimension: int = 128  # the latent the quantizer codes
    encoder_dim: int = 192
    encoder_layers: int = 4
    decoder_dim: int = 192
    decoder_layers: int = 4
    griffin_lim_iters: int = 32  # phase refinements a decode
    codebooks: int = 8
    codebook_size: int = 1024
    # Frames of the Hann window the residual left by the first
    # `coarse_codebooks` levels is averaged over before the fine levels
    # quantize it (odd; 1: not at all). Why: unsmoothed, that residual
    # changes from frame to frame like noise (the detail of each frame's STFT
    # magnitude), so no model of the fine levels could predict it; averaged
    # over 5 frames (100 ms), a code's neighbours tell it
    # (docs/experiments/fine-levels.md).
    fine_smoothing: int = 5
    coarse_codebooks: int = 2
    # A linear path from spectrum to latent and back beside the blocks,
    # started from the corpus's principal components (stft_encoder.py says
    # why). The codec bundled before issue 28 has none.
    spectral_bridge: bool = False

    def __post_init__(self) -> None:
        if self.fine_smoothing < 1 or self.fine_smoothing % 2 == 0:
            raise ValueError(f"fine_smoothing must be an odd number of frames >= 1, got {self.fine_smoothing}")
        if not 0 < self.coarse_codebooks <= self.codebooks:
            raise ValueError(f"coarse_codebooks must be in 1..{self.codebooks}, got {self.coarse_codebooks}")


class StftMagnitudeModel(nn.Module):
    def __init__(self, config: StftMagnitudeConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = STFTEncoder(config.dimension, config.hop_length, config.encoder_dim, config.encoder_layers,
                                   config.n_fft, config.spectral_bridge)
        self.decoder = MagnitudeDecoder(config.dimension, config.hop_length, config.decoder_dim,
                                        config.decoder_layers, config.n_fft, config.griffin_lim_iters,
                                        config.spectral_bridge)
        # Random codebooks decode at once (an untrained codec); the trainer
        # starts them by k-means (codec_training.fit_codebooks).
        self.quantizer = ResidualVectorQuantizer(
            dimension=config.dimension, n_q=config.codebooks, bins=config.codebook_size, kmeans_init=False)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.hop_length

    def forward(self, wav: torch.Tensor, codebooks: int | None = None) -> tuple[torch.Tensor, QuantizedResult]:
        """Training pass: wav [B, 1, N] -> the decoder's log STFT magnitude
        [B, F, N / hop] (Griffin-Lim is for decoding, not training) and the
        quantizer's result (codes [K, B, T], commitment penalty), through the
        first `codebooks` levels only when given (quantizer dropout)."""
        q = self.quantize(self.encoder(wav), codebooks)
        return self.decoder.log_magnitude(q.quantized), q

    def quantize(self, latent: torch.Tensor, codebooks: int | None = None) -> QuantizedResult:
        """The package's residual quantization of latent [B, D, T] through the
        first `codebooks` levels (all when None), the residual smoothed
        (`smooth_fine`) where the fine levels take over. The package's own
        loop, with that one step added; decoding is the package's (a sum of
        the codes' vectors), so it needs no change."""
        levels = codebooks or self.config.codebooks
        residual, quantized, codes, penalties = latent, torch.zeros_like(latent), [], []
        for i, layer in enumerate(self.quantizer.vq.layers[:levels]):
            if i == self.config.coarse_codebooks:
                residual = self.smooth_fine(residual)
            q, indices, penalty = layer(residual)
            residual = residual - q
            quantized = quantized + q
            codes.append(indices)
            penalties.append(penalty)
        bandwidth = torch.tensor(levels * self.quantizer.get_bandwidth_per_quantizer(int(self.frame_rate)))
        return QuantizedResult(quantized, torch.stack(codes), bandwidth.to(latent), penalty=torch.stack(penalties).mean())

    def smooth_fine(self, residual: torch.Tensor) -> torch.Tensor:
        """residual [B, D, T] averaged over `fine_smoothing` frames (a
        normalised Hann window, ends padded by repetition); itself at 1."""
        w = self.config.fine_smoothing
        if w == 1:
            return residual
        kernel = torch.hann_window(w + 2, periodic=False, dtype=residual.dtype, device=residual.device)[1:-1]
        kernel = (kernel / kernel.sum()).expand(residual.shape[1], 1, w)  # one filter per channel
        padded = nn.functional.pad(residual, (w // 2, w // 2), mode="replicate")
        return nn.functional.conv1d(padded, kernel, groups=residual.shape[1])

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.quantize(self.encoder(wav)).codes.transpose(0, 1)  # [B, K, T]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.decode(codes.transpose(0, 1)))  # [B, 1, T * hop]


def codes_digest(model: StftMagnitudeModel) -> str:
    """sha256 of the encoder's and quantizer's weights: what decides which
    code a sound gets, and so the token space, whatever the decoder."""
    h = hashlib.sha256()
    for part in (model.encoder, model.quantizer):
        h.update(state_digest(part).encode())
    if model.config.fine_smoothing > 1:  # unsmoothed, the coarse split changes no code
        h.update(f"fine_smoothing={model.config.fine_smoothing},coarse={model.config.coarse_codebooks}".encode())
    return h.hexdigest()


class StftMagnitudeCodec(Codec):
    name = "stft_magnitude"
    # Untrained weights are seeded, so every replica shares this id's codes. Each
    # trained checkpoint is a token space of its own: its id carries the digest
    # of the weights that make the codes (encoder and quantizer), and models
    # trained on its tokens name it in their contract. A decoder trained again
    # behind the same encoder and quantizer keeps the id: same codes, new sound.
    # The name is older than the plugin's; every card and built corpus records
    # ids made from it.
    UNTRAINED_ID = "seanet-small-24k"

    def __init__(self, checkpoint: Path | None, device: torch.device) -> None:
        loaded = load_or_init(self.name, "codec", StftMagnitudeConfig, StftMagnitudeModel, checkpoint, device)
        self._serve(loaded.module, loaded.version, loaded.digest, loaded.trained)  # type: ignore[arg-type]

    @classmethod
    def around(cls, model: StftMagnitudeModel, version: str) -> StftMagnitudeCodec:
        """The plugin over a model in memory (a trainer measuring its model
        between steps), so it is measured exactly as the service runs it."""
        codec = cls.__new__(cls)
        codec._serve(model, version, "", False)
        return codec

    def _serve(self, model: StftMagnitudeModel, version: str, digest: str, trained: bool) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.sample_rate = model.config.sample_rate
        self.frame_rate = model.frame_rate
        self.codebooks = model.config.codebooks
        self.codebook_size = model.config.codebook_size
        self.version = version
        self.digest = digest
        self.trained = trained
        self.codec_id = f"{self.UNTRAINED_ID}-{codes_digest(model)[:8]}" if digest else self.UNTRAINED_ID

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model.encode(wav.to(self.device, torch.float32))  # [B, K, T]

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        self.check_codes(codes)
        return self.model.decode(codes.to(self.device))  # [B, 1, T * hop]

    @torch.inference_mode()
    def autoencode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(self.model.encoder(wav.to(self.device, torch.float32)))

    @torch.inference_mode()
    def decode_expected(self, codes: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        check_probs(self, codes, probs)
        latent = expected_latent(self.model.quantizer, codes.to(self.device), probs.to(self.device))
        return self.model.decoder(latent)  # [B, 1, T * hop]

    def codebook_vectors(self) -> torch.Tensor:
        return quantizer_vectors(self.model.quantizer, self.codebooks)
