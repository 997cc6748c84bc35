"""One seeded random source per simulator: same seed, same run."""

from __future__ import annotations

import random


class SeededRandom(random.Random):
    def hex32(self) -> str:
        """A ServiceNow sys_id: 32 lowercase hex characters."""
        return f"{self.getrandbits(128):032x}"

    def object_id(self) -> str:
        """A BigPanda-style 24-hex object id (the same text as f"{bits:024x}", in a third of the time:
        the BigPanda simulator draws several per alert)."""
        return self.getrandbits(96).to_bytes(12, "big").hex()

    def uuid(self) -> str:
        h = self.hex32()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"

    def jitter(self, base: float, fraction: float = 0.2) -> float:
        return base * (1 + self.uniform(-fraction, fraction))
