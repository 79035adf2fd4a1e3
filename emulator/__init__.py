"""token-plan-emulator: an offline test double of Model Studio's Token Plan Team Edition."""

from __future__ import annotations

__version__ = "0.1.0"
