"""Training configuration: schema, YAML loading, defaults by model size, pre-flight."""

from nt_tui.config.loader import load_config, load_config_text
from nt_tui.config.schema import TrainingConfig

__all__ = ["TrainingConfig", "load_config", "load_config_text"]
