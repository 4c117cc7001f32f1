"""The bundled codec: a small SEANet encoder/decoder with a residual vector
quantizer, all from the `encodec` package, sized so that decoding a 5 s chunk
costs a small fraction of the temporal level's budget on a 2-core CPU."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from encodec.modules import SEANetDecoder, SEANetEncoder
from encodec.quantization import ResidualVectorQuantizer
from encodec.quantization.vq import QuantizedResult
from torch import nn

from services.common.level import load_or_init
from services.temporal.codec import Codec, quiet_weight_norm


@dataclass
class SeanetCodecConfig:
    sample_rate: int = 24000
    ratios: list[int] = field(default_factory=lambda: [8, 6, 5, 2])  # hop 480 -> 50 frames/s
    n_filters: int = 16
    dimension: int = 128
    lstm: int = 1  # one LSTM layer at the frame rate: context for little decode time
    codebooks: int = 8
    codebook_size: int = 1024
    # True when training from scratch: codebooks start from k-means on the first
    # batch. False gives random codebooks that decode at once (the untrained default).
    kmeans_init: bool = False


class SeanetCodecModel(nn.Module):
    def __init__(self, config: SeanetCodecConfig) -> None:
        super().__init__()
        self.config = config
        seanet = dict(dimension=config.dimension, n_filters=config.n_filters, ratios=config.ratios, lstm=config.lstm)
        with quiet_weight_norm():
            self.encoder = SEANetEncoder(**seanet)
            self.decoder = SEANetDecoder(**seanet)
        self.quantizer = ResidualVectorQuantizer(
            dimension=config.dimension,
            n_q=config.codebooks,
            bins=config.codebook_size,
            kmeans_init=config.kmeans_init,
        )
        _variance_preserving_init(self)
        # Random weights then play at about -20 dBFS rather than clipping.
        self.decoder.model[-1].conv.conv.weight_g.data.mul_(0.25)

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / math.prod(self.config.ratios)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, QuantizedResult]:
        """Training pass: wav [B, 1, N] -> reconstruction [B, 1, N] and the
        quantizer's result (codes [K, B, T], commitment penalty)."""
        q = self.quantizer(self.encoder(wav), int(self.frame_rate))
        return self.decoder(q.quantized)[..., : wav.shape[-1]], q

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        codes = self.quantizer.encode(self.encoder(wav), int(self.frame_rate))  # [K, B, T]
        return codes.transpose(0, 1)  # [B, K, T]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.decode(codes.transpose(0, 1)))  # [B, 1, T * hop]


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
    codec_id = "seanet-small-24k"

    def __init__(self, checkpoint: Path | None, device: torch.device) -> None:
        loaded = load_or_init(self.name, "codec", SeanetCodecConfig, SeanetCodecModel, checkpoint, device)
        self.model: SeanetCodecModel = loaded.module  # type: ignore[assignment]
        self.device = device
        cfg: SeanetCodecConfig = loaded.config
        self.sample_rate = cfg.sample_rate
        self.frame_rate = self.model.frame_rate
        self.codebooks = cfg.codebooks
        self.codebook_size = cfg.codebook_size
        self.version = loaded.version
        self.digest = loaded.digest
        self.trained = loaded.trained

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model.encode(wav.to(self.device, torch.float32))  # [B, K, T]

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        self.check_codes(codes)
        return self.model.decode(codes.to(self.device))  # [B, 1, T * hop]
