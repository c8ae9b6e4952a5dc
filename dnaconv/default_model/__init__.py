"""The embedded default model: model.safetensors + config.json, used when no --model is given."""
