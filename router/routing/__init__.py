"""Who may call what, and where it goes: caller keys, the model catalog, limits, fallbacks and cooldowns."""
