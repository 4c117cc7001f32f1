"""The bundled checkpoints: safetensors weights with a JSON model card each,
shipped as package data so an installed wheel serves the trained models."""
