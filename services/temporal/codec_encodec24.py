"""The published 24 kHz EnCodec model at 6 kbps (8 codebooks of 1024, 75
frames/s). Its weights must be given as a local file: nothing at run time may
reach the network, so the package's download path is never used."""
from __future__ import annotations

from pathlib import Path

import torch
from encodec import EncodecModel

from hiermusic.services.common.checkpoint import file_digest
from hiermusic.services.temporal.codec import Codec, check_probs, expected_latent, quantizer_vectors, quiet_weight_norm

BANDWIDTH_KBPS = 6.0  # 8 codebooks at 75 frames/s


class Encodec24Codec(Codec):
    name = "encodec_24khz"
    codec_id = "encodec_24khz"

    def __init__(self, checkpoint: Path | None, device: torch.device) -> None:
        if checkpoint is None:
            raise ValueError(
                "codec encodec_24khz needs the published weights as a local file "
                "(encodec_24khz-d7cc33bc.th): set the codec checkpoint path; "
                "nothing is downloaded at run time"
            )
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"encodec_24khz checkpoint {path} does not exist")
        with quiet_weight_norm():
            model = EncodecModel.encodec_model_24khz(pretrained=False)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        model.set_target_bandwidth(BANDWIDTH_KBPS)
        self.model = model.to(device).eval()
        self.device = device
        self.sample_rate = model.sample_rate
        self.frame_rate = float(model.frame_rate)
        self.codebooks = model.quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, BANDWIDTH_KBPS)
        self.codebook_size = model.quantizer.bins
        self.digest = file_digest(path)
        self.version = f"encodec_24khz-{self.digest[:8]}"
        self.trained = True  # published weights; the digest tells which file

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        (codes, _scale), = self.model.encode(wav.to(self.device, torch.float32))  # one frame: no segmenting at 24 kHz
        return codes  # [B, K, T]

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        self.check_codes(codes)
        return self.model.decode([(codes.to(self.device), None)])  # [B, 1, T * hop]

    @torch.inference_mode()
    def autoencode(self, wav: torch.Tensor) -> torch.Tensor:
        frames = wav.shape[-1] // self.hop_length * self.hop_length
        return self.model.decoder(self.model.encoder(wav[..., :frames].to(self.device, torch.float32)))

    @torch.inference_mode()
    def decode_expected(self, codes: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        check_probs(self, codes, probs)
        # What EncodecModel.decode does with its frame's codes (24 kHz: one frame, no scale).
        return self.model.decoder(expected_latent(self.model.quantizer, codes.to(self.device), probs.to(self.device)))

    def codebook_vectors(self) -> torch.Tensor:
        return quantizer_vectors(self.model.quantizer, self.codebooks)
