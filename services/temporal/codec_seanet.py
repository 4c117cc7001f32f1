"""The bundled codec: the `encodec` package's residual vector quantizer
between an encoder (the package's SEANet encoder over the waveform, or a
spectral encoder, stft_encoder.py) and a decoder (the package's SEANet
decoder, or a Vocos-style iSTFT head predicting magnitude and phase, or
magnitude only with Griffin-Lim phase: istft_decoder.py), sized so that
decoding a 5 s chunk costs a small fraction of the temporal level's budget on
a 2-core CPU. The bundled weights are the spectral encoder and the magnitude
decoder, the pair that learnt pitch within an hour on that CPU; the config
class keeps its name so older cards load."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from encodec.modules import SEANetDecoder, SEANetEncoder
from encodec.quantization import ResidualVectorQuantizer
from encodec.quantization.vq import QuantizedResult
from torch import nn

from hiermusic.services.common.level import load_or_init, state_digest
from hiermusic.services.temporal.codec import Codec, check_probs, expected_latent, quantizer_vectors, quiet_weight_norm
from hiermusic.services.temporal.istft_decoder import ISTFTDecoder
from hiermusic.services.temporal.stft_encoder import STFTEncoder

DECODERS = ("seanet", "istft", "magnitude")
ENCODERS = ("seanet", "stft")


@dataclass
class SeanetCodecConfig:
    sample_rate: int = 24000
    ratios: list[int] = field(default_factory=lambda: [8, 6, 5, 2])  # hop 480 -> 50 frames/s
    n_filters: int = 16
    dimension: int = 128
    lstm: int = 1  # one LSTM layer at the frame rate: context for little decode time
    codebooks: int = 8
    codebook_size: int = 1024
    # True when training from scratch: codebooks start empty and the trainer fits
    # them by k-means on its first crops (codebooks.kmeans_init) before the first
    # step. False gives random codebooks that decode at once (the untrained default).
    kmeans_init: bool = False
    # "seanet": the package's decoder, upsampling to the sample rate. "istft":
    # ConvNeXt blocks at the frame rate and an inverse STFT; trains and decodes faster.
    # "magnitude": the same blocks predicting the magnitude only, phase by
    # Griffin-Lim at decode; the only one of the three that keeps pitch after
    # an hour's training on a CPU (istft_decoder.py says why).
    decoder: str = "seanet"
    istft_dim: int = 256
    istft_layers: int = 6
    istft_n_fft: int = 1920  # 4 hops, as Vocos
    griffin_lim_iters: int = 32  # decoder "magnitude": phase refinements a decode
    # "seanet": the package's encoder over the waveform. "stft": ConvNeXt blocks
    # over each frame's log magnitude (stft_encoder.py), which learns pitch in
    # the steps a CPU has; it shares istft_n_fft with the decoder.
    encoder: str = "seanet"
    encoder_dim: int = 192
    encoder_layers: int = 4
    # Frames of the Hann window the residual left by the first
    # `coarse_codebooks` levels is averaged over before the fine levels
    # quantize it (odd; 1: not at all, as codecs made before it). Why: that
    # residual is nearly white from frame to frame (the bundled codec's level
    # 8 codes: lag-1 correlation 0.04), the noise of each frame's STFT
    # magnitude, so no model of the fine levels can predict it; averaged over
    # 5 frames (100 ms), a code's neighbours tell it (docs in the README).
    fine_smoothing: int = 1
    coarse_codebooks: int = 2

    def __post_init__(self) -> None:
        if self.fine_smoothing < 1 or self.fine_smoothing % 2 == 0:
            raise ValueError(f"fine_smoothing must be an odd number of frames >= 1, got {self.fine_smoothing}")
        if not 0 < self.coarse_codebooks <= self.codebooks:
            raise ValueError(f"coarse_codebooks must be in 1..{self.codebooks}, got {self.coarse_codebooks}")


class SeanetCodecModel(nn.Module):
    def __init__(self, config: SeanetCodecConfig) -> None:
        super().__init__()
        if config.decoder not in DECODERS:
            raise ValueError(f"unknown codec decoder {config.decoder!r}; use one of {', '.join(DECODERS)}")
        if config.encoder not in ENCODERS:
            raise ValueError(f"unknown codec encoder {config.encoder!r}; use one of {', '.join(ENCODERS)}")
        self.config = config
        seanet = dict(dimension=config.dimension, n_filters=config.n_filters, ratios=config.ratios, lstm=config.lstm)
        with quiet_weight_norm():
            self.encoder: nn.Module = SEANetEncoder(**seanet) if config.encoder == "seanet" else STFTEncoder(
                config.dimension, self.hop_length, config.encoder_dim, config.encoder_layers, config.istft_n_fft)
            self.decoder: nn.Module = SEANetDecoder(**seanet) if config.decoder == "seanet" else ISTFTDecoder(
                config.dimension, self.hop_length, config.istft_dim, config.istft_layers, config.istft_n_fft,
                learned_phase=config.decoder == "istft", griffin_lim_iters=config.griffin_lim_iters)
        self.quantizer = ResidualVectorQuantizer(
            dimension=config.dimension,
            n_q=config.codebooks,
            bins=config.codebook_size,
            kmeans_init=config.kmeans_init,
        )
        if config.encoder == "seanet":
            _variance_preserving_init(self.encoder)
        if config.decoder == "seanet":
            _variance_preserving_init(self.decoder)
            # Random weights then play at about -20 dBFS rather than clipping.
            self.decoder.model[-1].conv.conv.weight_g.data.mul_(0.25)

    @property
    def hop_length(self) -> int:
        return math.prod(self.config.ratios)

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.hop_length

    def forward(self, wav: torch.Tensor, codebooks: int | None = None) -> tuple[torch.Tensor, QuantizedResult]:
        """Training pass: wav [B, 1, N] -> reconstruction [B, 1, N] (decoder
        "magnitude": log STFT magnitude [B, F, T]) and the quantizer's result
        (codes [K, B, T], commitment penalty), through the first `codebooks`
        levels only when given (quantizer dropout)."""
        q = self.quantize(self.encoder(wav), codebooks)
        if isinstance(self.decoder, ISTFTDecoder) and not self.decoder.learned_phase:
            return self.decoder.log_magnitude(q.quantized), q  # Griffin-Lim is for decoding, not training
        return self.decoder(q.quantized)[..., : wav.shape[-1]], q

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


def codes_digest(model: SeanetCodecModel) -> str:
    """sha256 of the encoder's and quantizer's weights: what decides which
    code a sound gets, and so the token space, whatever the decoder."""
    h = hashlib.sha256()
    for part in (model.encoder, model.quantizer):
        h.update(state_digest(part).encode())
    if model.config.fine_smoothing > 1:  # it decides the fine codes too (1 left out: ids made before it stay)
        h.update(f"fine_smoothing={model.config.fine_smoothing},coarse={model.config.coarse_codebooks}".encode())
    return h.hexdigest()


def _variance_preserving_init(model: nn.Module) -> None:
    """LeCun-normal convolutions with zero bias. PyTorch's default init shrinks
    the signal ~3x per layer, so a random SEANet decoder emits a near-constant
    offset; this keeps untrained audio audible and is a sound start for training.
    Weight norm splits each weight into direction `weight_v` and gain `weight_g`."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            fan_in = m.in_channels * m.kernel_size[0]
            if isinstance(m, nn.ConvTranspose1d):
                fan_in //= m.stride[0]  # each output sample sees kernel / stride taps per input channel
            w = torch.randn_like(m.weight_v) / math.sqrt(fan_in)
            m.weight_v.data.copy_(w)
            m.weight_g.data.copy_(torch.norm_except_dim(w, 2, 0))
            m.bias.data.zero_()


class SeanetSmallCodec(Codec):
    name = "seanet_small"
    # Untrained weights are seeded, so every replica shares this id's codes. Each
    # trained checkpoint is a token space of its own: its id carries the digest
    # of the weights that make the codes (encoder and quantizer), and models
    # trained on its tokens name it in their contract. A decoder trained again
    # behind the same encoder and quantizer keeps the id: same codes, new sound.
    UNTRAINED_ID = "seanet-small-24k"

    def __init__(self, checkpoint: Path | None, device: torch.device) -> None:
        loaded = load_or_init(self.name, "codec", SeanetCodecConfig, SeanetCodecModel, checkpoint, device)
        self._serve(loaded.module, loaded.version, loaded.digest, loaded.trained)  # type: ignore[arg-type]

    @classmethod
    def around(cls, model: SeanetCodecModel, version: str) -> SeanetSmallCodec:
        """The plugin over a model in memory (a trainer measuring its model
        between steps), so it is measured exactly as the service runs it."""
        codec = cls.__new__(cls)
        codec._serve(model, version, "", False)
        return codec

    def _serve(self, model: SeanetCodecModel, version: str, digest: str, trained: bool) -> None:
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
    def decode_expected(self, codes: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        check_probs(self, codes, probs)
        latent = expected_latent(self.model.quantizer, codes.to(self.device), probs.to(self.device))
        return self.model.decoder(latent)  # [B, 1, T * hop]

    def codebook_vectors(self) -> torch.Tensor:
        return quantizer_vectors(self.model.quantizer, self.codebooks)
